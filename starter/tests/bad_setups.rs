//! Each bad set-up is answered by the app's `./dev --check` (and so by `./dev`,
//! which runs the same checks first) with one line saying what and how to fix,
//! before dx would fail with a linker error. The tools are stand-ins here, on
//! PATH ahead of the real ones; the end-to-end tests run the real ones.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use e2e_support::checkout_root;
use starter::App;

#[test]
fn each_bad_setup_gets_one_line() {
    let page = App::create("web", "bad_setup_page");
    let server = App::create("server", "bad_setup_server");
    let good = tools(&page, "good", &[]);

    let ready = check(&page, &good, &[]);
    assert!(ready.ok && ready.stdout.contains("ready"), "{ready:?}");
    let ready = check(&server, &good, &[]);
    assert!(ready.ok && ready.stdout.contains("ready"), "{ready:?}");

    let old_dx = tools(&page, "old_dx", &[("dx", "dioxus 0.7.9 (stand-in)")]);
    for app in [&page, &server] {
        check(app, &old_dx, &[]).fails_with("dx is 0.7.9 but hot-patching needs dioxus-cli 0.7.10");
    }

    let old_link = tools(&page, "old_link", &[("hotswap-link", "hotswap-link 0.0.9")]);
    check(&server, &old_link, &[]).fails_with(
        "hotswap-link is 0.0.9 but hotswap_runtime is 0.1.0: run hotswap's scripts/setup",
    );
    let no_link = tools(&page, "no_link", &[]);
    stand_in(&no_link, "hotswap-link", "exit 127");
    check(&server, &no_link, &[])
        .fails_with("hotswap-link not found (hotswap-link): run hotswap's scripts/setup");

    let other_cli = tools(
        &page,
        "other_cli",
        &[("wasm-bindgen", "wasm-bindgen 0.2.100")],
    );
    check(&page, &other_cli, &[])
        .fails_with("wasm-bindgen CLI is 0.2.100 but Cargo.lock has wasm-bindgen 0.2.127");

    let outside = std::env::temp_dir().join("hotswap-starter-elsewhere");
    let outside = outside.to_str().unwrap();
    check(&page, &good, &[("CARGO_TARGET_DIR", outside)])
        .fails_with("(CARGO_TARGET_DIR or build.target-dir), outside");
    let inside = page.path("target/elsewhere");
    let inside = check(
        &page,
        &good,
        &[("CARGO_TARGET_DIR", inside.to_str().unwrap())],
    );
    assert!(inside.ok, "a target dir inside the app is fine: {inside:?}");
    // Native builds link wherever the target dir is.
    assert!(check(&server, &good, &[("CARGO_TARGET_DIR", outside)]).ok);

    let sysroot = page.path("target/empty-sysroot");
    std::fs::create_dir_all(&sysroot).unwrap();
    let no_wasm32 = tools(&page, "no_wasm32", &[]);
    stand_in(
        &no_wasm32,
        "rustc",
        &format!(
            "case \"$1\" in --print) echo {};; *) echo 'rustc 1.95.0 (stand-in)';; esac",
            sysroot.display()
        ),
    );
    check(&page, &no_wasm32, &[]).fails_with(
        "rustc 1.95.0 (stand-in) has no wasm32-unknown-unknown target: rustup target add wasm32-unknown-unknown",
    );
}

#[test]
fn the_starter_refuses_a_folder_inside_the_checkout() {
    let inside = checkout_root().join("target").join("new-app");
    let output = Command::new(checkout_root().join("scripts/new"))
        .arg("server")
        .arg(&inside)
        .output()
        .unwrap();
    let result = Outcome::from(output);
    result.fails_with("is inside this checkout: pick a folder outside it");
    assert!(!inside.exists());
}

#[derive(Debug)]
struct Outcome {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl From<std::process::Output> for Outcome {
    fn from(output: std::process::Output) -> Outcome {
        Outcome {
            ok: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl Outcome {
    /// Failed, with exactly one line on stderr, an error that says `what`.
    fn fails_with(&self, what: &str) {
        assert!(!self.ok, "expected a failure saying {what:?}: {self:?}");
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one line, not {}: {self:?}", lines.len());
        assert!(
            lines[0].starts_with("error: ") && lines[0].contains(what),
            "expected {what:?} in {:?}",
            lines[0]
        );
    }
}

/// `./dev --check` with the stand-ins in `bin` first on PATH.
fn check(app: &App, bin: &Path, envs: &[(&str, &str)]) -> Outcome {
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    app.dev()
        .arg("--check")
        .env("PATH", path)
        .envs(envs.iter().copied())
        .output()
        .unwrap_or_else(|err| panic!("cannot run the dev script: {err}"))
        .into()
}

/// A folder of stand-in tools that answer `--version` like the right ones
/// (dx 0.7.10, wasm-bindgen 0.2.127, esbuild 0.27.3, hotswap-link 0.1.0),
/// except for `versions`.
fn tools(app: &App, name: &str, versions: &[(&str, &str)]) -> PathBuf {
    let bin = app.path("target/stand-ins").join(name);
    std::fs::create_dir_all(&bin).unwrap();
    for (tool, version) in [
        ("dx", "dioxus 0.7.10 (stand-in)"),
        ("wasm-bindgen", "wasm-bindgen 0.2.127"),
        ("esbuild", "0.27.3"),
        ("hotswap-link", "hotswap-link 0.1.0"),
    ] {
        let version = versions
            .iter()
            .find(|(other, _)| *other == tool)
            .map_or(version, |(_, version)| version);
        stand_in(&bin, tool, &format!("echo '{version}'"));
    }
    bin
}

fn stand_in(bin: &Path, tool: &str, script: &str) {
    let path = bin.join(tool);
    std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}
