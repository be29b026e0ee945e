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

# dx 0.7.10 can only hot-patch symbols named with the legacy scheme (_ZN...). With v0
# names (_R..., nightly 1.97's default) the app builds and dx even logs
# "Hot-patching: ... took N ms", but the new code never runs (dioxus issue #5005).
# Compile a one-line probe with the toolchain and RUSTFLAGS dx would use and stop with
# one line if its symbols come out v0.
check_symbol_mangling() {
  local probe
  probe="$(mktemp -d)"
  echo 'pub fn hotswap_probe() {}' >"$probe/probe.rs"
  # shellcheck disable=SC2086 # RUSTFLAGS is a list of flags
  (cd "$ROOT" && rustc ${RUSTFLAGS:-} --crate-type=lib --emit=obj -o "$probe/probe.o" "$probe/probe.rs") ||
    { rm -rf "$probe"; die "rustc cannot compile a one-line probe in $ROOT: check the toolchain (rustup show)"; }
  if grep -aq '_RNv' "$probe/probe.o"; then
    rm -rf "$probe"
    die "$(cd "$ROOT" && rustc -V) names symbols with the v0 scheme, which dx $DX_VERSION cannot hot-patch (the new code would never run): use the toolchain pinned in rust-toolchain.toml (unset RUSTUP_TOOLCHAIN, no +toolchain), or on nightly add '-Zunstable-options -Csymbol-mangling-version=legacy' to RUSTFLAGS"
  fi
  rm -rf "$probe"
}
