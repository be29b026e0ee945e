# Shared by the scripts in this folder: paths, tool versions, dx's environment.
# Source it; it does nothing on its own.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$HOME/.cargo/bin:$PATH"

DX_VERSION=0.7.10
ESBUILD_VERSION=0.27.3   # the esbuild dx 0.7.10 looks for

# dx must never fetch tools at run time (this machine reaches package registries only),
# and sends no telemetry.
export NO_DOWNLOADS=1
export DX_TELEMETRY_ENABLED=false
# subsecond patches need incremental compilation on.
export CARGO_INCREMENTAL=1
# Every native patch is a shared library loaded with dlopen, and its thread-locals
# take a piece of glibc's small reserve for dlopen'ed static TLS: without more of it
# a long session fails from about the 50th patch on ("cannot allocate memory in
# static TLS block"). dx passes its environment to the app it launches.
# e2e_support::Dx sets the same for the tests and benchmarks.
export GLIBC_TUNABLES="${GLIBC_TUNABLES:+$GLIBC_TUNABLES:}glibc.rtld.optional_static_tls=1048576"

say() { printf '\033[1m==>\033[0m %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# The wasm-bindgen version Cargo.lock resolved: the CLI must be exactly this one.
lock_wasm_bindgen_version() {
  awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$ROOT/Cargo.lock"
}

installed_wasm_bindgen_version() {
  command -v wasm-bindgen >/dev/null 2>&1 && wasm-bindgen --version 2>/dev/null | awk '{print $2}'
}

# Stop with one line if the wasm-bindgen CLI does not match the library in Cargo.lock.
check_wasm_bindgen() {
  local want have
  want="$(lock_wasm_bindgen_version)"
  have="$(installed_wasm_bindgen_version || true)"
  [ -n "$want" ] || die "Cargo.lock has no wasm-bindgen entry; run 'cargo generate-lockfile' in $ROOT"
  [ "$want" = "$have" ] || die "wasm-bindgen CLI is ${have:-missing} but Cargo.lock has wasm-bindgen $want; run scripts/setup (or: cargo install wasm-bindgen-cli --version =$want --locked --force)"
}

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
