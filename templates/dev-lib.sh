# The environment and the checks a `dx serve --hot-patch` session needs.
# Source it. Shared by this project's scripts (scripts/common.sh) and by every
# app `scripts/new` creates, which gets a copy next to its `dev` script so it
# runs without this checkout. Each check stops with one line: what is wrong
# and how to fix it, before dx would fail later with a linker error.

DX_VERSION=0.7.10        # subsecond and the wasm-bindgen pins must match this dx
ESBUILD_VERSION=0.27.3   # the esbuild this dx looks for

# subsecond patches need incremental compilation on.
export CARGO_INCREMENTAL=1
# Every native patch is a shared library that is dlopen'ed and takes a piece of
# glibc's static TLS reserve; without a bigger reserve, patch ~53 and every
# later one fail with "cannot allocate memory in static TLS block".
[[ "${GLIBC_TUNABLES:-}" == *optional_static_tls* ]] ||
  export GLIBC_TUNABLES="${GLIBC_TUNABLES:+$GLIBC_TUNABLES:}glibc.rtld.optional_static_tls=1048576"
export DX_TELEMETRY_ENABLED=false

say() { printf '\033[1m==>\033[0m %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

check_dx() {
  local have
  have="$(dx --version 2>/dev/null | awk '{print $2}' || true)"
  [ "$have" = "$DX_VERSION" ] ||
    die "dx is ${have:-missing} but hot-patching needs dioxus-cli $DX_VERSION exactly: cargo install dioxus-cli --version $DX_VERSION --locked --force"
}

# The wasm-bindgen version a Cargo.lock resolved (the first argument, default ./Cargo.lock).
lock_wasm_bindgen_version() {
  awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "${1:-Cargo.lock}"
}

installed_wasm_bindgen_version() {
  command -v wasm-bindgen >/dev/null 2>&1 && wasm-bindgen --version 2>/dev/null | awk '{print $2}'
}

# dx runs the wasm-bindgen CLI on the app's wasm: it must be exactly the library's version.
check_wasm_bindgen() {
  local lock="${1:-Cargo.lock}" want have
  [ -f "$lock" ] || die "$lock is missing: run 'cargo generate-lockfile' next to it"
  want="$(lock_wasm_bindgen_version "$lock")"
  have="$(installed_wasm_bindgen_version || true)"
  [ -n "$want" ] || die "$lock has no wasm-bindgen entry: run 'cargo generate-lockfile' next to it"
  [ "$want" = "$have" ] ||
    die "wasm-bindgen CLI is ${have:-missing} but $lock has wasm-bindgen $want: cargo install wasm-bindgen-cli --version =$want --locked --force"
}

# With NO_DOWNLOADS=1 dx takes esbuild from PATH instead of fetching it.
check_esbuild() {
  command -v esbuild >/dev/null 2>&1 ||
    die "esbuild is not on PATH and dx runs with NO_DOWNLOADS=1: npm install -g esbuild@$ESBUILD_VERSION"
}

# The toolchain that builds the app in this folder (rust-toolchain.toml included).
check_wasm32_target() {
  local sysroot
  sysroot="$(rustc --print sysroot 2>/dev/null)" || die "rustc not found: install Rust (https://rustup.rs)"
  [ -d "$sysroot/lib/rustlib/wasm32-unknown-unknown" ] ||
    die "$(rustc --version) has no wasm32-unknown-unknown target: rustup target add wasm32-unknown-unknown"
}

# dx 0.7.10 packs only the libraries under the workspace folder into a web
# build; with the target dir elsewhere the link fails with
# "rust-lld: error: unknown file type: .../libdeps-....a".
check_target_dir_inside() {
  local app target
  app="$(realpath "${1:-.}")"
  target="$(cd "$app" && cargo metadata --no-deps --format-version 1 2>/dev/null |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p' || true)"
  [ -n "$target" ] || die "cargo metadata failed in $app: run 'cargo metadata --no-deps' there to see why"
  case "$(realpath -m "$target")/" in
    "$app"/*) ;;
    *) die "the build goes to $target (CARGO_TARGET_DIR or build.target-dir), outside $app, and dx $DX_VERSION's web build then fails with 'rust-lld: error: unknown file type': unset CARGO_TARGET_DIR or point it inside $app" ;;
  esac
}

# dx builds with -Csave-temps: every patch leaves files in target/**/deps that
# nothing reads again and that slow every later patch down. save_temps_sweep
# (hotswap's tools/save_temps_sweep, which its scripts/setup installs) removes
# them now and after every patch, for as long as this shell's process runs
# (exec it into dx afterwards). SAVE_TEMPS_SWEEP names another build of it.
sweep_patch_leftovers() {
  local target="${1:-target}" sweeper="${SAVE_TEMPS_SWEEP:-save_temps_sweep}"
  if ! command -v "$sweeper" >/dev/null 2>&1; then
    say "save_temps_sweep not found, so long sessions slow down: run hotswap's scripts/setup (or: cargo install --path <hotswap>/tools/save_temps_sweep --locked)"
    return 0
  fi
  "$sweeper" "$target" --while-pid $$ &
}

# dx 0.7.10 drops some saves without a word: one made before the app
# connected, one that does not parse, one it held while a build ran that then
# failed, one in a crate it does not watch. save_watch (hotswap's
# tools/save_watch, which its scripts/setup installs) reads dx's log and says so
# in one line, in dx's own output. Arguments: the app's folder and package,
# dx's port, and --web for a page (the compiler's first error then reaches the
# page's overlay); it fills DX_LOG_ARGS,
# which the dx command line must carry (the log file dx writes for it).
# SAVE_WATCH names another build of it, SAVE_WATCH_WITHIN how many seconds dx
# may stay silent (default 5).
watch_saves() {
  local folder="$1" package="$2" port="$3" web="${4:-}" watcher="${SAVE_WATCH:-save_watch}" log
  DX_LOG_ARGS=()
  if ! command -v "$watcher" >/dev/null 2>&1; then
    say "save_watch not found, so a save dx drops goes unnoticed: run hotswap's scripts/setup (or: cargo install --path <hotswap>/tools/save_watch --locked)"
    return 0
  fi
  # Under target/ and named *.log: dx ignores both, so its own log never
  # looks like a save to it.
  log="$folder/target/hotswap-dx.log"
  mkdir -p "$folder/target" && rm -f "$log"
  "$watcher" "$folder" --package "$package" --log "$log" --dx-port "$port" --while-pid $$ $web \
    ${SAVE_WATCH_WITHIN:+--within "$SAVE_WATCH_WITHIN"} &
  # It creates the log once it watches: dx starts after that, so no save made
  # while dx runs slips past it (a watcher that failed has said why and left).
  local watcher_pid=$!
  while [ ! -e "$log" ] && kill -0 "$watcher_pid" 2>/dev/null; do sleep 0.05; done
  DX_LOG_ARGS=(--log-to-file "$log")
}

# dx 0.7.10 can only hot-patch symbols named with the legacy scheme (_ZN...). With v0
# names (_R..., nightly 1.97's default) the app builds and dx even logs
# "Hot-patching: ... took N ms", but the new code never runs (dioxus issue #5005).
# Compile a one-line probe in the app's folder (the first argument, default .), with
# the toolchain and RUSTFLAGS dx would use there, and stop with one line if its
# symbols come out v0.
check_symbol_mangling() {
  local folder="${1:-.}" probe
  probe="$(mktemp -d)"
  echo 'pub fn hotswap_probe() {}' >"$probe/probe.rs"
  # shellcheck disable=SC2086 # RUSTFLAGS is a list of flags
  (cd "$folder" && rustc ${RUSTFLAGS:-} --crate-type=lib --emit=obj -o "$probe/probe.o" "$probe/probe.rs") ||
    { rm -rf "$probe"; die "rustc cannot compile a one-line probe in $folder: check the toolchain (rustup show)"; }
  if grep -aq '_RNv' "$probe/probe.o"; then
    rm -rf "$probe"
    die "$(cd "$folder" && rustc -V) names symbols with the v0 scheme, which dx $DX_VERSION cannot hot-patch (the new code would never run): use the toolchain pinned in rust-toolchain.toml (unset RUSTUP_TOOLCHAIN, no +toolchain), or on nightly add '-Zunstable-options -Csymbol-mangling-version=legacy' to RUSTFLAGS"
  fi
  rm -rf "$probe"
}

# hotswap-link (hotswap's tools/hotswap_link, which its scripts/setup installs)
# is the linker .cargo/config.toml names: it binds every patch to the running
# program's statics. Without it, or with another version than the app's
# hotswap_runtime, patched code would count in copies of its own. HOTSWAP_LINK
# names another build of it (the linker script there prefers it).
check_hotswap_link() {
  check_released_with_runtime "${HOTSWAP_LINK:-hotswap-link}" hotswap-link hotswap_link \
    "without it every patch gets its own copy of each static" "${1:-Cargo.lock}"
}

# wasm_mt_dev (hotswap's tools/wasm_mt_dev, which its scripts/setup installs)
# builds, serves and patches a page whose threads share one memory; its page
# loader and the app's hotswap_runtime are one contract, so their versions
# must match. WASM_MT_DEV names another build of it.
check_wasm_mt_dev() {
  check_released_with_runtime "${WASM_MT_DEV:-wasm_mt_dev}" wasm_mt_dev wasm_mt_dev \
    "it is what builds, serves and hot-patches a threaded page" "${1:-Cargo.lock}"
}

# A tool of hotswap's released together with hotswap_runtime: installed, and
# of the version the app's Cargo.lock has. Arguments: the command, its name,
# its folder under hotswap's tools/, what is lost without it, the lock file.
check_released_with_runtime() {
  local command="$1" name="$2" folder="$3" without="$4" lock="$5" want have
  have="$("$command" --version 2>/dev/null | awk '{print $2}' || true)"
  [ -n "$have" ] ||
    die "$name not found ($command): run hotswap's scripts/setup (or: cargo install --path <hotswap>/tools/$folder --locked); $without"
  want="$(awk '/^name = "hotswap_runtime"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$lock" 2>/dev/null || true)"
  [ -z "$want" ] || [ "$have" = "$want" ] ||
    die "$name is $have but hotswap_runtime is $want: run hotswap's scripts/setup to install the matching $name"
}

# Threads that share one wasm memory need nightly with rust-src (std is
# rebuilt with atomics) and its wasm32 target.
check_nightly() {
  rustup run nightly rustc --version >/dev/null 2>&1 ||
    die "no nightly toolchain: run hotswap's scripts/setup (or: rustup toolchain install nightly)"
  rustup +nightly component list --installed 2>/dev/null | grep -q '^rust-src' ||
    die "nightly has no rust-src, which -Zbuild-std needs: run hotswap's scripts/setup (or: rustup +nightly component add rust-src)"
  rustup +nightly target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown ||
    die "nightly has no wasm32-unknown-unknown target: run hotswap's scripts/setup (or: rustup +nightly target add wasm32-unknown-unknown)"
}
