//! What the threaded example's browser tests read from its page and, for the
//! patch tests, from a native build of the scratch copy they edit.
//!
//! "Every thread runs the new code" is checked by pixels: each rayon thread
//! renders the reference scene alone through the hot boundary, and each hash
//! must equal the native render of the edited scratch copy.

// Each test binary that includes this module uses part of it.
#![allow(dead_code)]

use std::process::Command;

use e2e_support::serde_json::{json, Value};
use e2e_support::{Browser, Scratch, PATCH};

/// Every rayon thread renders the reference alone and gets `expected`.
pub fn assert_every_thread_renders(browser: &mut Browser, workers: usize, expected: &str) {
    let hashes = browser.eval("window.mtThreadHashes()");
    let want: Vec<Value> = (0..workers)
        .map(|thread| json!({ "thread": thread, "hash": expected }))
        .collect();
    assert_eq!(hashes, json!(want), "each thread's reference render");
}

pub fn wait_until_thread_hashes(browser: &mut Browser, workers: usize, expected: &str) {
    let all = format!(
        "window.mtThreadHashes().then(h => h.length === {workers} \
           && h.every(t => t.hash === '{expected}') && h)"
    );
    browser.wait_for("every thread to run the last edit", &all, PATCH);
}

/// The reference render's hash from a native build of the scratch copy as it is now.
pub fn native_reference_hash(scratch: &Scratch) -> String {
    let report = native_bench(scratch, &["--width", "64", "--height", "48"]);
    report["hash"].as_str().expect("a hash").to_string()
}

/// Each row's hash of a `width` x `height` render by a native build of the
/// scratch copy as it is now (what `mtRender({rowHashes: true})` gives).
pub fn native_row_hashes(scratch: &Scratch, width: u32, height: u32) -> Vec<String> {
    let report = native_bench(
        scratch,
        &[
            "--width",
            &width.to_string(),
            "--height",
            &height.to_string(),
            "--row-hashes",
        ],
    );
    strings(&report["row_hashes"])
}

/// One render by `native_bench` in the scratch copy, on one thread; its JSON line.
fn native_bench(scratch: &Scratch, args: &[&str]) -> Value {
    let output = Command::new("cargo")
        .args([
            "run",
            "-q",
            "-p",
            "wasm_mt_hotswap_example",
            "--example",
            "native_bench",
            "--",
            "--runs",
            "1",
            "--threads",
            "1",
        ])
        .args(args)
        .current_dir(scratch.root())
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .expect("cannot run cargo");
    assert!(
        output.status.success(),
        "native_bench failed in the scratch copy:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines()
        .rev()
        .find_map(|line| e2e_support::serde_json::from_str(line).ok())
        .unwrap_or_else(|| panic!("no JSON line in {text:?}"))
}

pub fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

pub fn counts(value: &Value) -> Vec<u64> {
    value
        .as_array()
        .map(|runs| runs.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default()
}
