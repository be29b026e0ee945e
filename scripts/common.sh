# Shared by the scripts in this folder: paths, tool versions, dx's environment.
# Source it; it does nothing on its own.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$HOME/.cargo/bin:$PATH"

# dx's version, the session environment and the set-up checks, shared with the
# apps `scripts/new` creates.
source "$ROOT/templates/dev-lib.sh"

# dx must never fetch tools at run time (this machine reaches package registries only).
export NO_DOWNLOADS=1

# Free space, checked before a long build rather than met as "No space left on
# device" half an hour in. A first `scripts/test` builds about 12 GB: target/
# (5 GB), the scratch copies and new apps the end-to-end tests build in the
# temporary folder (6 GB), dx's and the nightly toolchain's additions. Later
# runs reuse all of it and grow by little.
check_disk() {
  local tmp="${TMPDIR:-/tmp}" need_gb=12 free_gb
  [ -d "$tmp" ] || die "TMPDIR=$tmp is not a folder: create it or unset TMPDIR"
  # Built before: the end-to-end tests' scratch copies are there too.
  [ -d "$ROOT/target/debug" ] && [ -n "$(ls -d "$tmp"/hotswap-e2e-* 2>/dev/null)" ] && need_gb=3
  free_gb="$(df -Pk "$ROOT" "$tmp" | awk 'NR > 1 { gb = int($4 / 1048576); if (min == "" || gb < min) min = gb } END { print min }')"
  [ "$free_gb" -ge "$need_gb" ] ||
    die "only ${free_gb} GB free on $ROOT or $tmp; scripts/test needs about ${need_gb} GB there: free some space (or point TMPDIR at a larger disk) and rerun"
}
