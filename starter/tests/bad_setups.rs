//! Each bad set-up is answered by the app's `./dev --check` (and so by `./dev`,
//! which runs the same checks first) with one line saying what and how to fix,
//! before dx would fail with a linker error. The tools are stand-ins here, on
//! PATH ahead of the real ones; the end-to-end tests run the real ones.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use e2e_support::{checkout_root, wait_until};
use starter::App;

#[test]
fn each_bad_setup_gets_one_line() {
    let page = App::create("web", "bad_setup_page");
    let server = App::create("server", "bad_setup_server");
    // Its ./dev runs wasm_mt_dev, not dx, and checks that instead.
    let threads = App::create("mt", "bad_setup_threads");
    let good = tools(&page, "good", &[]);

    for app in [&page, &server, &threads] {
        let ready = check(app, &good, &[]);
        assert!(ready.ok && ready.stdout.contains("ready"), "{ready:?}");
    }

    let old_dx = tools(&page, "old_dx", &[("dx", "dioxus 0.7.9 (stand-in)")]);
    for app in [&page, &server] {
        check(app, &old_dx, &[]).fails_with("dx is 0.7.9 but hot-patching needs dioxus-cli 0.7.10");
    }

    other_or_missing(&[&page, &server], "hotswap-link");
    other_or_missing(&[&threads], "wasm_mt_dev");

    let other_cli = tools(
        &page,
        "other_cli",
        &[("wasm-bindgen", "wasm-bindgen 0.2.100")],
    );
    for app in [&page, &threads] {
        check(app, &other_cli, &[])
            .fails_with("wasm-bindgen CLI is 0.2.100 but Cargo.lock has wasm-bindgen 0.2.127");
    }

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

/// A tool of hotswap's released with the library (`tool --version` says
/// `tool X.Y.Z`), of another release or missing: one line from each app.
fn other_or_missing(apps: &[&App], tool: &str) {
    let version = format!("{tool} 0.0.9");
    let old = tools(apps[0], &format!("old_{tool}"), &[(tool, &version)]);
    let missing = tools(apps[0], &format!("no_{tool}"), &[]);
    stand_in(&missing, tool, "exit 127");
    for app in apps {
        check(app, &old, &[]).fails_with(&format!(
            "{tool} is 0.0.9 but hotswap_runtime is {}: run hotswap's scripts/setup",
            runtime_version()
        ));
        check(app, &missing, &[]).fails_with(&format!(
            "{tool} not found ({tool}): run hotswap's scripts/setup"
        ));
    }
}

/// A toolchain that names symbols with the v0 scheme builds the app, and dx
/// then reports patches whose code never runs: `./dev` refuses it. The
/// stand-in rustc answers the probe with a v0 name and hands everything else
/// to the real one.
#[test]
fn a_toolchain_with_v0_symbol_names_gets_one_line() {
    let page = App::create("web", "v0_page");
    let server = App::create("server", "v0_server");
    let v0 = tools(&page, "v0_rustc", &[]);
    let real = which("rustc");
    stand_in(
        &v0,
        "rustc",
        &format!(
            r#"case " $* " in
  *" --emit=obj "*) while [ "$1" != -o ]; do shift; done; printf '_RNvCs1a_5probe13hotswap_probe' >"$2" ;;
  *" -V "*) echo 'rustc 1.97.0-nightly (stand-in)' ;;
  *) exec {} "$@" ;;
esac"#,
            real.display()
        ),
    );
    for app in [&page, &server] {
        check(app, &v0, &[]).fails_with(
            "rustc 1.97.0-nightly (stand-in) names symbols with the v0 scheme, which dx 0.7.10 cannot hot-patch",
        );
    }
}

/// Each app pins the toolchain it is built with, whatever the user's default:
/// a server or a page the version dx can patch (a nightly default names
/// symbols in the v0 scheme), a threaded page nightly (shared memory needs
/// std rebuilt with atomics).
#[test]
fn a_new_app_pins_its_toolchain() {
    assert_pinned(&App::create("server", "pinned_server"), "1.95.0");
    assert_pinned(&App::create("mt", "pinned_threads"), "nightly");
}

fn assert_pinned(app: &App, toolchain: &str) {
    let output = Command::new("rustup")
        .args(["show", "active-toolchain"])
        .current_dir(&app.root)
        .env_remove("RUSTUP_TOOLCHAIN")
        .output()
        .expect("cannot run rustup");
    let active = String::from_utf8_lossy(&output.stdout);
    let pin = app.path("rust-toolchain.toml");
    assert!(
        active.starts_with(toolchain) && active.contains(&*pin.to_string_lossy()),
        "the app's toolchain should be {toolchain}, from {}: rustup says {active:?}",
        pin.display()
    );
}

/// `scripts/dev wasm` refuses a target dir outside the checkout before it
/// installs, builds or starts anything: dx's web build would fail to link.
#[test]
fn the_wasm_example_refuses_a_target_dir_outside_the_checkout() {
    let outside = std::env::temp_dir().join("hotswap-dev-elsewhere");
    let mut dev = Command::new(checkout_root().join("scripts/dev"));
    dev.arg("wasm")
        .env("CARGO_TARGET_DIR", &outside)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut dev = Group(dev.spawn().expect("cannot run scripts/dev"));
    let status = wait_until(
        "scripts/dev wasm to refuse an outside CARGO_TARGET_DIR",
        Duration::from_secs(60),
        || dev.0.try_wait().unwrap(),
    );
    let mut output = String::new();
    dev.0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut output)
        .unwrap();
    Outcome {
        ok: status.success(),
        stdout: String::new(),
        stderr: output,
    }
    .fails_with("(CARGO_TARGET_DIR or build.target-dir), outside");
}

/// A process group stopped when the test ends, whatever happened: a
/// `scripts/dev` that did not refuse goes on to start dx.
struct Group(Child);

impl Drop for Group {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.0.wait();
    }
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
        // The stand-ins on PATH, whatever the caller's shell points at.
        .env_remove("HOTSWAP_LINK")
        .env_remove("WASM_MT_DEV")
        .envs(envs.iter().copied())
        .output()
        .unwrap_or_else(|err| panic!("cannot run the dev script: {err}"))
        .into()
}

/// hotswap_runtime's version, which the apps' Cargo.lock has and the wrapper
/// must match (the workspace's version: the two are released together).
fn runtime_version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// A folder of stand-in tools that answer `--version` like the right ones
/// (dx 0.7.10, wasm-bindgen 0.2.127, esbuild 0.27.3, the hotswap-link and
/// wasm_mt_dev of this workspace), except for `versions`.
fn tools(app: &App, name: &str, versions: &[(&str, &str)]) -> PathBuf {
    let bin = app.path("target/stand-ins").join(name);
    std::fs::create_dir_all(&bin).unwrap();
    let link = format!("hotswap-link {}", runtime_version());
    let mt_dev = format!("wasm_mt_dev {}", runtime_version());
    for (tool, version) in [
        ("dx", "dioxus 0.7.10 (stand-in)"),
        ("wasm-bindgen", "wasm-bindgen 0.2.127"),
        ("esbuild", "0.27.3"),
        ("hotswap-link", link.as_str()),
        ("wasm_mt_dev", mt_dev.as_str()),
    ] {
        let version = versions
            .iter()
            .find(|(other, _)| *other == tool)
            .map_or(version, |(_, version)| *version);
        stand_in(&bin, tool, &format!("echo '{version}'"));
    }
    bin
}

/// Where `tool` is on this test's PATH.
fn which(tool: &str) -> PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(tool))
        .find(|path| path.is_file())
        .unwrap_or_else(|| panic!("{tool} is not on PATH"))
}

fn stand_in(bin: &Path, tool: &str, script: &str) {
    let path = bin.join(tool);
    std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}
