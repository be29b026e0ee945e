//! In headless Chromium, the threaded ray tracer renders the reference scene
//! with rayon on several Web Workers, cross-origin isolated, pixel for pixel
//! like the native rayon render; the pool's safe point runs once on every
//! thread, also during a render; and the page stays responsive while it
//! renders. Both ways of serving it are checked: `scripts/build-mt` +
//! `coi_serve`, and dx.
//!
//! Needs the nightly toolchain with rust-src, wasm-bindgen-cli and dx:
//! `scripts/test` installs them.

mod mt_page;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use e2e_support::serde_json::json;
use e2e_support::{free_port, wait_until, Browser, Dx, Scratch, FIRST_BUILD, PATCH};
use mt_page::counts;
use raytracer_core::{fnv1a64, hash_hex};
use wasm_mt_hotswap_example::render::{render_native, REFERENCE_HEIGHT, REFERENCE_WIDTH};

/// Each test builds with both cores; running them side by side only slows both.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

#[test]
fn build_mt_serves_an_isolated_page_that_renders_on_several_workers() {
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    // The scratch copy's own scripts/build-mt: its dist/ and target/mt, not the checkout's.
    let scratch = Scratch::new("mt");
    let status = Command::new(scratch.root().join("scripts/build-mt"))
        .current_dir(scratch.root())
        .env_remove("CARGO_TARGET_DIR")
        .status()
        .expect("cannot run scripts/build-mt");
    assert!(
        status.success(),
        "scripts/build-mt failed (its output is above)"
    );
    let dist = scratch.root().join("dist/mt");

    let addr = coi_serve::Server::bind(&dist, 0).unwrap().spawn();
    let mut browser = Browser::launch();
    check_reference_render(&mut browser, &format!("http://{addr}/?workers=3"));
    assert_eq!(browser.eval("window.mtReady.then(r => r.workers)"), 3);
    check_safe_point(&mut browser, 3);
    check_page_stays_responsive(&mut browser);
    check_thread_slider(&mut browser);
    browser.eval("window.mtRender({ threads: 3 })");
    browser.screenshot(&e2e_support::e2e_dir().join("mt-rayon.png"));

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
    let mut dx = Dx::serve_threaded_rebuilding(&scratch, "mt");
    dx.wait_for_first_build(FIRST_BUILD);
    let mut browser = Browser::launch();
    check_reference_render(&mut browser, &format!("http://127.0.0.1:{}/", dx.port));
    let workers = browser.eval("window.mtReady.then(r => r.workers)");
    check_safe_point(&mut browser, workers.as_u64().unwrap() as usize);

    // dx cannot patch shared memory: a save rebuilds the app and the page
    // reloads with the new code (the library listens for dx's reload).
    let before = browser.eval("performance.timeOrigin");
    let old_hash = browser.eval("window.renderReference().then(r => r.hash)");
    scratch.edit(
        "wasm_mt_hotswap_example/src/shade.rs",
        "let k = 0.5 * (ray.dir.y + 1.0);",
        "let k = 0.5 * (1.0 - ray.dir.y);",
    );
    wait_until("the page to reload after dx's rebuild", PATCH, || {
        let now = browser.try_eval("performance.timeOrigin").ok()?;
        (now != before).then_some(())
    });
    let new_hash =
        browser.eval("window.mtReady.then(() => window.renderReference()).then(r => r.hash)");
    assert_ne!(
        new_hash, old_hash,
        "the reloaded page does not run the edit"
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
    let render_result = browser.eval("window.renderReference()");
    let native = hash_hex(fnv1a64(
        &render_native(REFERENCE_WIDTH, REFERENCE_HEIGHT, 2).pixels,
    ));
    assert_eq!(render_result["hash"], native.as_str(), "{render_result}");
    assert_eq!(
        render_result["canvasHash"],
        native.as_str(),
        "{render_result}"
    );
    // A view-sized render: at 64x48 the first thread may finish every share
    // before another wakes up to take one, which rayon is free to do.
    let view = browser.eval("window.mtRender({ threads: 2 })");
    let workers = view["workersUsed"].as_array().map_or(0, Vec::len);
    assert!(
        workers > 1,
        "a 640x480 render used {workers} rayon thread(s): {view}"
    );
    let native = hash_hex(fnv1a64(&render_native(640, 480, 2).pixels));
    assert_eq!(view["hash"], native.as_str(), "{view}");
}

/// The safe point runs exactly once on every rayon thread, idle or busy: a
/// call made while a long render runs is neither skipped on a busy thread
/// nor run twice.
fn check_safe_point(browser: &mut Browser, threads: usize) {
    let all: Vec<usize> = (0..threads).collect();
    let idle = browser.eval("window.mtSafePoint()");
    assert_eq!(idle["threads"], json!(all), "{idle}");
    let before: Vec<u64> = counts(&idle["runs"]);
    assert_eq!(before.len(), threads, "{idle}");

    let during = browser.eval(
        "(async () => {
            // The render's work goes to the pool first; the safe point,
            // asked for right after, reaches threads that are rendering.
            const render = window.mtRender({ width: 1200, height: 900 });
            const safe = await window.mtSafePoint();
            return { safe, render: await render };
        })()",
    );
    // (When it returns depends on how rayon split the render: a thread whose
    // share is one long job runs the safe point only after it, so only the
    // count per thread is certain.)
    assert_eq!(during["safe"]["threads"], json!(all), "{during}");
    let after = counts(&during["safe"]["runs"]);
    let expected: Vec<u64> = before.iter().map(|n| n + 1).collect();
    assert_eq!(
        after, expected,
        "once per thread, also mid-render: {during}"
    );
    assert!(
        during["render"]["workersUsed"]
            .as_array()
            .map_or(0, Vec::len)
            > 1,
        "{during}"
    );
}

/// A long render runs on the workers while the page's own timers keep firing.
fn check_page_stays_responsive(browser: &mut Browser) {
    let result = browser.eval(
        "(async () => {
            let ticks = 0;
            const timer = setInterval(() => ticks++, 10);
            const started = performance.now();
            await window.mtRender({ width: 1600, height: 1200 });
            const ms = performance.now() - started;
            clearInterval(timer);
            return { ticks, ms };
        })()",
    );
    let ms = result["ms"].as_f64().unwrap();
    let ticks = result["ticks"].as_u64().unwrap();
    // A timer every 10 ms: a page that blocked for the render would see none.
    assert!(
        ticks as f64 >= (ms / 10.0) / 4.0 && ticks >= 3,
        "the page's timer fired {ticks} times during a {ms:.0} ms render"
    );
}

/// The slider picks how many of the pool's threads render.
fn check_thread_slider(browser: &mut Browser) {
    let one = browser.eval(
        "(async () => {
            const slider = document.getElementById('threads');
            slider.value = 1;
            slider.dispatchEvent(new Event('change'));
            return await window.mtRender();
        })()",
    );
    assert_eq!(one["threads"], 1, "{one}");
    assert_eq!(
        one["workersUsed"].as_array().map(Vec::len),
        Some(1),
        "{one}"
    );
    let stats = browser.wait_for(
        "the page to show the one-thread render",
        "document.getElementById('stats').textContent.includes('on 1 of 3 rayon threads') \
            && document.getElementById('stats').textContent",
        Duration::from_secs(30),
    );
    assert!(stats.as_str().unwrap().contains(" ms "), "{stats}");
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
