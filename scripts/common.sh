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
