# Shared by the scripts in this folder: paths, tool versions, dx's environment.
# Source it; it does nothing on its own.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$HOME/.cargo/bin:$PATH"

# dx's version, the session environment and the set-up checks, shared with the
# apps `scripts/new` creates.
source "$ROOT/templates/dev-lib.sh"

# dx must never fetch tools at run time (this machine reaches package registries only).
export NO_DOWNLOADS=1

