# Shared by the scripts in this folder: paths, tool versions, dx's environment.
# Source it; it does nothing on its own.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$HOME/.cargo/bin:$PATH"

# dx's version, the session environment and the set-up checks, shared with the
# apps `scripts/new` creates.
source "$ROOT/templates/dev-lib.sh"

# dx must never fetch tools at run time (this machine reaches package registries only).
export NO_DOWNLOADS=1

# The threaded example needs nightly with rust-src (it rebuilds std with atomics).
check_nightly() {
  rustup run nightly rustc --version >/dev/null 2>&1 ||
    die "no nightly toolchain: run scripts/setup (or: rustup toolchain install nightly)"
  rustup +nightly component list --installed 2>/dev/null | grep -q '^rust-src' ||
    die "nightly has no rust-src, which -Zbuild-std needs: run scripts/setup (or: rustup +nightly component add rust-src)"
  rustup +nightly target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown ||
    die "nightly has no wasm32-unknown-unknown target: run scripts/setup (or: rustup +nightly target add wasm32-unknown-unknown)"
}

# Free space, checked before a long build rather than met as "No space left on
# device" half an hour in. A first `scripts/test` builds about 12 GB: target/
# (5 GB), the scratch copies and new apps the end-to-end tests build in the
# temporary folder (6 GB), dx's and the nightly toolchain's additions. Later
# runs reuse all of it and grow by little.
check_disk() {
  local tmp="${TMPDIR:-/tmp}" need_gb=12 free_gb
  [ -d "$ROOT/target" ] && need_gb=3
  free_gb="$(df -Pk "$ROOT" "$tmp" | awk 'NR > 1 { gb = int($4 / 1048576); if (min == "" || gb < min) min = gb } END { print min }')"
  [ "$free_gb" -ge "$need_gb" ] ||
    die "only ${free_gb} GB free on $ROOT or $tmp; scripts/test needs about ${need_gb} GB there: free some space (or point TMPDIR at a larger disk) and rerun"
}
