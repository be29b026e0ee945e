//! The unit tests' compiler: the toolchain this workspace pins, on a source of
//! a few lines, in a folder of the test's own. The link and capture flags are
//! tested by what rustc and wasm-ld make of them, not by how they are spelled.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A fresh folder under the temp dir, named after the test.
pub(crate) fn folder(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wasm_mt_dev-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Compile `source` (written to `<dir>/<name>.rs`) with `args`; panics with
/// rustc's output if it fails.
pub(crate) fn rustc(dir: &Path, name: &str, source: &str, args: &[String]) {
    compile(Command::new("rustc"), dir, name, source, args);
}

/// Like [`rustc`], with nightly: what the tool compiles patches with, and
/// what unstable attributes (`#[thread_local]` without std) need.
pub(crate) fn nightly_rustc(dir: &Path, name: &str, source: &str, args: &[String]) {
    let mut command = Command::new("rustc");
    command.env("RUSTUP_TOOLCHAIN", "nightly");
    compile(command, dir, name, source, args);
}

/// Nightly's rustc itself (not rustup's proxy), as the tool finds it in a
/// recorded invocation.
pub(crate) fn nightly_rustc_path() -> PathBuf {
    let output = Command::new("rustc")
        .env("RUSTUP_TOOLCHAIN", "nightly")
        .args(["--print", "sysroot"])
        .output()
        .expect("cannot run rustc");
    PathBuf::from(String::from_utf8_lossy(&output.stdout).trim())
        .join("bin")
        .join("rustc")
}

fn compile(mut command: Command, dir: &Path, name: &str, source: &str, args: &[String]) {
    let file = dir.join(format!("{name}.rs"));
    std::fs::write(&file, source).unwrap();
    let output = command
        .args(args)
        .arg(&file)
        .current_dir(dir)
        .output()
        .expect("cannot run rustc");
    assert!(
        output.status.success(),
        "rustc {args:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `source` compiled with nightly as the tool compiles a patch's crates for
/// a shared memory (atomics, position-independent), at `-Copt-level=<opt>`;
/// returns the object's bytes.
pub(crate) fn pic_object(dir: &Path, name: &str, source: &str, opt: &str) -> Vec<u8> {
    let object = dir.join(format!("{name}.o"));
    let args = strings(&[
        "--target=wasm32-unknown-unknown",
        "--crate-type=lib",
        "--emit=obj",
        "-Ctarget-feature=+atomics,+bulk-memory,+mutable-globals",
        "-Crelocation-model=pic",
        &format!("-Copt-level={opt}"),
        "-o",
        object.to_str().unwrap(),
    ]);
    nightly_rustc(dir, name, source, &args);
    std::fs::read(&object).unwrap()
}

pub(crate) fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}
