//! In headless Chromium, the threaded ray tracer renders the reference scene on
//! several workers, cross-origin isolated, pixel for pixel like the native render.
//! Both ways of serving it are checked: `scripts/build-mt` + `coi_serve`, and dx.
//!
//! Needs the nightly toolchain with rust-src, wasm-bindgen-cli and dx:
//! `scripts/test` installs them.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use e2e_support::serde_json::Value;
use e2e_support::{checkout_root, free_port, wait_until, Browser, Dx, Scratch, FIRST_BUILD, PATCH};
use raytracer_core::{fnv1a64, hash_hex, render, Scene, REFERENCE_HEIGHT, REFERENCE_WIDTH};

/// Each test builds with both cores; running them side by side only slows both.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

#[test]
fn build_mt_serves_an_isolated_page_that_renders_on_several_workers() {
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let root = checkout_root();
    let status = Command::new(root.join("scripts/build-mt"))
        .current_dir(&root)
        .status()
        .expect("cannot run scripts/build-mt");
    assert!(
        status.success(),
        "scripts/build-mt failed (its output is above)"
    );
    let dist = root.join("dist/mt");

    let addr = coi_serve::Server::bind(&dist, 0).unwrap().spawn();
    let mut browser = Browser::launch();
    check_reference_render(&mut browser, &format!("http://{addr}/"));

    // Without COOP/COEP there is no SharedArrayBuffer: the page must say so plainly.
    let plain = PlainServer::start(&dist);
    browser.goto(&format!("http://127.0.0.1:{}/", plain.port));
    let refusal = browser.eval("window.mtReady.then(() => 'started', (err) => String(err))");
    let refusal = refusal.as_str().unwrap_or_default().to_lowercase();
    assert!(
        refusal.contains("cross-origin") || refusal.contains("isolat"),
        "without the headers the page should explain itself, it said: {refusal}"
    );
}

#[test]
fn dx_serves_an_isolated_page_that_renders_on_several_workers() {
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let scratch = Scratch::new("mt");
    let rustflags = Command::new(checkout_root().join("scripts/build-mt"))
        .arg("--print-rustflags")
        .output()
        .expect("cannot run scripts/build-mt --print-rustflags");
    let rustflags = String::from_utf8(rustflags.stdout)
        .unwrap()
        .trim()
        .to_string();
    let mut dx = Dx::serve_rebuilding(
        &scratch,
        "mt",
        "wasm_mt_hotswap_example",
        &[
            "--bundle",
            "web",
            "--target",
            "wasm32-unknown-unknown",
            "--cross-origin-policy",
            "--cargo-args=-Zbuild-std=std,panic_abort",
        ],
        &[
            ("RUSTUP_TOOLCHAIN", "nightly".into()),
            ("RUSTFLAGS", rustflags),
        ],
    );
    dx.wait_for_first_build(FIRST_BUILD);
    let mut browser = Browser::launch();
    check_reference_render(&mut browser, &format!("http://127.0.0.1:{}/", dx.port));
    let banner = browser.eval("document.body.textContent");
    assert!(
        banner.as_str().unwrap_or_default().contains("reload"),
        "the page must say that this example reloads instead of patching"
    );
}

fn check_reference_render(browser: &mut Browser, url: &str) {
    browser.goto(url);
    let ready = browser.eval("window.mtReady");
    assert_eq!(ready["crossOriginIsolated"], true, "{ready}");
    assert_eq!(
        browser.eval("crossOriginIsolated"),
        true,
        "the page is not cross-origin isolated: are COOP/COEP sent?"
    );
    let render_result: Value = wait_until("a reference render", PATCH, || {
        Some(browser.eval("window.renderReference()"))
    });
    let native = hash_hex(fnv1a64(&render(
        &Scene::reference(),
        REFERENCE_WIDTH,
        REFERENCE_HEIGHT,
    )));
    assert_eq!(render_result["hash"], native.as_str(), "{render_result}");
    assert_eq!(
        render_result["canvasHash"],
        native.as_str(),
        "{render_result}"
    );
    let workers = render_result["workersUsed"].as_array().map_or(0, Vec::len);
    assert!(
        workers > 1,
        "the render used {workers} worker(s): {render_result}"
    );
}

/// A static server without the isolation headers, as a careless set-up would have.
struct PlainServer {
    child: Child,
    port: u16,
}

impl PlainServer {
    fn start(dir: &Path) -> PlainServer {
        let port = free_port();
        let child = Command::new("python3")
            .args([
                "-m",
                "http.server",
                "--bind",
                "127.0.0.1",
                &port.to_string(),
            ])
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 is needed to serve the page without headers");
        wait_until("python's http.server", Duration::from_secs(30), || {
            e2e_support::http::get(port, "/").ok()
        });
        PlainServer { child, port }
    }
}

impl Drop for PlainServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
