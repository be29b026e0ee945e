//! End to end: `wasm_mt_dev` serves an app it was not written around. In a
//! scratch copy the threaded example's binary is renamed (`ray-view`), its
//! `index.html` loses the loader marker, and it gains a build script that sets
//! a variable for the crate; the tool is started with a secret in its
//! environment. The page still starts every thread in headless Chromium, a
//! save is patched into it, and nothing under `target/` holds the secret.

use std::path::Path;
use std::process::Command;

use e2e_support::{http, Browser, MtDev, Scratch, FIRST_BUILD, PATCH};

const MANIFEST: &str = "wasm_mt_hotswap_example/Cargo.toml";
const SKY_FILE: &str = "wasm_mt_hotswap_example/src/shade.rs";
const SKY: &str = "let k = 0.5 * (ray.dir.y + 1.0);";
const SECRET: &str = "hunter2-do-not-record";

#[test]
fn any_binary_name_a_page_without_marker_a_build_script_and_no_secrets_on_disk() {
    // The copy wasm_mt_dev's other tests use: its std built for wasm with
    // atomics (minutes from cold) serves this one too.
    let scratch = Scratch::new("wasm_mt_dev");
    // Without --package the tool cannot choose among this workspace's binaries.
    let refused = Command::new(e2e_support::workspace_binary("wasm_mt_dev", "wasm_mt_dev"))
        .arg("--workspace")
        .arg(scratch.root())
        .output()
        .expect("cannot run wasm_mt_dev");
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(said.trim().lines().count(), 1, "{said}");
    assert!(said.contains("pick one with --package"), "{said}");

    scratch.edit(
        MANIFEST,
        "[package]\n",
        "[package]\nautobins = false\nbuild = \"build.rs\"\n",
    );
    append(
        &scratch.root().join(MANIFEST),
        "\n[[bin]]\nname = \"ray-view\"\npath = \"src/main.rs\"\n",
    );
    std::fs::write(
        scratch.root().join("wasm_mt_hotswap_example/build.rs"),
        "fn main() { println!(\"cargo:rustc-env=RAY_VIEW_BUILT=by-build-rs\"); }\n",
    )
    .unwrap();
    scratch.edit(
        "wasm_mt_hotswap_example/index.html",
        "<!-- build-mt: loader -->",
        "",
    );

    let mut tool = MtDev::start_with(
        &scratch,
        "any-package",
        &["--package", "wasm_mt_hotswap_example"],
        &[("HOTSWAP_TEST_TOKEN", SECRET)],
    );
    tool.wait_until_serving(FIRST_BUILD);
    let glue = http::get(tool.port, "/ray-view.js").unwrap();
    assert_eq!(glue.status, 200, "the glue is named after the binary");
    let page = http::get(tool.port, "/").unwrap();
    assert!(
        page.body
            .contains(r#"<script type="module" src="./loader.js"></script>"#),
        "the loader was not added to the page: {}",
        page.body
    );

    let mut browser = Browser::launch();
    browser.goto(&format!("http://127.0.0.1:{}/", tool.port));
    let ready = browser.eval("window.mtReady");
    assert!(ready["workers"].as_u64().unwrap_or(0) >= 2, "{ready}");
    browser.wait_for(
        "the page to connect to wasm_mt_dev",
        "document.getElementById('hotswap-status')?.dataset.connects",
        PATCH,
    );
    scratch.edit(SKY_FILE, SKY, "let k = 0.5 * (1.0 - ray.dir.y);");
    tool.wait_for_patch(0, PATCH);
    browser.wait_for(
        "the patch to land on the page",
        "Number(document.getElementById('hotswap-status')?.dataset.patches || 0) >= 1",
        PATCH,
    );

    let records = scratch.root().join("target/mt-dev/hotpatch/rustc-args");
    let mut found_build_env = false;
    for entry in std::fs::read_dir(&records).unwrap().flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap();
        assert!(
            !text.contains(SECRET),
            "{} holds the environment's secret",
            entry.path().display()
        );
        found_build_env |= text.contains("by-build-rs");
    }
    assert!(
        found_build_env,
        "no record holds the variable the build script set for the crate"
    );
}

fn append(path: &Path, text: &str) {
    let mut all = std::fs::read_to_string(path).unwrap();
    all.push_str(text);
    std::fs::write(path, all).unwrap();
}
