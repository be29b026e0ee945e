//! The workspace's own tools a dev session needs beside dx, built from this
//! checkout (as the dev scripts build them) so tests run the current source.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Builds the binary `bin` of the workspace package `package` and returns its path.
pub fn workspace_binary(package: &str, bin: &str) -> PathBuf {
    let checkout = crate::checkout_root();
    let built = Command::new("cargo")
        .args(["build", "-q", "-p", package, "--bin", bin])
        .current_dir(&checkout)
        .status()
        .expect("cannot run cargo");
    assert!(built.success(), "cargo build -p {package} failed");
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| checkout.join("target"), Into::into);
    target.join("debug").join(bin)
}

/// `save_watch` (tools/save_watch), which the dev commands run beside dx.
/// Built once per test process, next to `hotswap-link`, so an app's `./dev`
/// finds this checkout's build first on PATH (see `Dx::launch`).
pub fn save_watch() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| workspace_binary("save_watch", "save_watch"))
        .clone()
}

/// `hotswap-link` (tools/hotswap_link), the linker every scratch copy's
/// `.cargo/config.toml` names through `tools/hotswap_link/linker`; dx's
/// sessions find it through `HOTSWAP_LINK`. Built once per test process.
pub fn hotswap_link() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| workspace_binary("hotswap_link", "hotswap-link"))
        .clone()
}

/// This process's PATH with `dir` first: an app's dev script then finds
/// this checkout's builds before any installed tool.
pub(crate) fn path_with(dir: &Path) -> OsString {
    let mut path = OsString::from(dir);
    path.push(":");
    path.push(std::env::var_os("PATH").unwrap_or_default());
    path
}
