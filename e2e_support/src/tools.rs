//! The workspace's own tools a dev session needs beside dx, built from this
//! checkout so tests always run the current source.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// `hotswap-link` (tools/hotswap_link), the linker every scratch copy's
/// `.cargo/config.toml` names through `tools/hotswap_link/linker`; dx's
/// sessions find it through `HOTSWAP_LINK`. Built once per test process, in
/// a target folder of its own (the tests' own cargo may hold `target/`).
pub fn hotswap_link() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let root = crate::checkout_root();
            let target = root.join("target").join("e2e-tools");
            let status = Command::new("cargo")
                .current_dir(&root)
                .args(["build", "-q", "-p", "hotswap_link", "--bin", "hotswap-link"])
                .arg("--target-dir")
                .arg(&target)
                .env_remove("CARGO_TARGET_DIR")
                .status()
                .expect("cannot run cargo to build hotswap-link");
            assert!(status.success(), "building tools/hotswap_link failed");
            target.join("debug").join("hotswap-link")
        })
        .clone()
}
