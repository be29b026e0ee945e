//! A release build carries no dev-server code: `hotswap_runtime::connect` is
//! empty without `debug_assertions`, so the client never reaches the binary.

use std::path::PathBuf;
use std::process::Command;

use e2e_support::checkout_root;

/// Strings only the dev-server client contains.
const CLIENT_MARKERS: [&str; 2] = ["hotswap-devserver", "connected to the dev server at"];

#[test]
fn release_binary_has_no_dev_server_client_and_debug_binary_has_one() {
    let release = build(&["--release"], "release");
    let debug = build(&[], "debug");
    for marker in CLIENT_MARKERS {
        assert!(
            contains(&debug, marker),
            "the debug build should carry the dev-server client ({marker:?} not found), else this test proves nothing"
        );
        assert!(
            !contains(&release, marker),
            "the release build carries dev-server code: found {marker:?} in {}",
            release.display()
        );
    }
}

fn build(profile: &[&str], name: &str) -> PathBuf {
    let root = checkout_root();
    // Its own target dir: the outer `cargo test` may still hold the main one.
    let target = root.join("target").join("release-check");
    let status = Command::new(env!("CARGO"))
        .args(["build", "-q", "-p", "server_hotswap_example"])
        .args(profile)
        .arg("--target-dir")
        .arg(&target)
        .current_dir(&root)
        .status()
        .expect("cannot run cargo");
    assert!(status.success(), "cargo build {profile:?} failed");
    target.join(name).join("server_hotswap_example")
}

fn contains(binary: &PathBuf, needle: &str) -> bool {
    let bytes = std::fs::read(binary).unwrap();
    bytes
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}
