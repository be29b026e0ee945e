//! End to end: the real `dx serve --hot-patch --bundle web` patches the page in
//! headless Chromium; the count survives and the page never reloads. Then an
//! edit that makes the page panic is shown in the overlay, and its fix runs in
//! a page the library reloads by itself, the count kept.
//!
//! Needs dx 0.7.10, the matching wasm-bindgen-cli, esbuild and Debian's
//! chromium: `scripts/test` installs them.

use e2e_support::serde_json::json;
use e2e_support::{e2e_dir, wait_until, Browser, Dx, Scratch, FIRST_BUILD, PATCH};

const VIEW: &str = "wasm_hotswap_example/src/view.rs";

#[test]
fn edits_patch_the_page_without_a_reload() {
    let scratch = Scratch::new("wasm");
    // As scripts/dev starts it: save_watch beside dx puts the compiler's
    // first error where the page's overlay reads it.
    let mut dx = Dx::serve_watched(
        &scratch,
        "wasm",
        "wasm_hotswap_example",
        &["--bundle", "web", "--target", "wasm32-unknown-unknown"],
        &[],
    );
    step("waiting for the first build");
    dx.wait_for_first_build(FIRST_BUILD);

    let mut browser = Browser::launch();
    browser.goto(&format!("http://127.0.0.1:{}/", dx.port));
    browser.wait_for(
        "the wasm app to render",
        "document.querySelector('#hotView')?.textContent.includes('clicks so far')",
        PATCH,
    );
    browser.wait_for(
        "the page to connect to dx",
        "document.querySelector('#hotswap-status')?.textContent.includes('connected')",
        PATCH,
    );
    // Marks that only survive if the page is never reloaded.
    browser
        .eval("window.__marker = 'set before the patch'; window.__origin = performance.timeOrigin");
    let clicks = click(&mut browser, 3);
    assert_eq!(clicks, "3");

    step("patching the increment step and the rendered label");
    scratch.edit_all(
        VIEW,
        &[
            ("record(1)", "record(10)"),
            ("Last counts (newest first)", "Recent counts"),
        ],
    );
    wait_for_patches(&mut browser, &mut dx, 1);
    let view = text(&mut browser, "#hotView");
    assert!(
        view.contains("Recent counts"),
        "the patch re-rendered the hot view without a click: {view}"
    );
    // Patched code reads the page's own static and thread-local (issue 15):
    // without hotswap-link it would read copies of its own, 0 and empty.
    assert!(
        view.contains("3 clicks in a static, steps adding up to 3 in a thread-local"),
        "the patched view shows the live static and thread-local: {view}"
    );
    statics_bound(&mut browser);
    assert_eq!(
        click(&mut browser, 1),
        "13",
        "the new step, on top of the old count"
    );
    let view = text(&mut browser, "#hotView");
    assert!(
        view.contains("4 clicks in a static, steps adding up to 13 in a thread-local"),
        "patched code counts on in the same static and thread-local: {view}"
    );
    assert_not_reloaded(&mut browser);
    browser.screenshot(&e2e_dir().join("wasm-after-patch.png"));

    step("saving an edit that does not compile");
    // A type error: dx 0.7.10 silently skips a save that does not even parse.
    scratch.edit(VIEW, "record(10)", "record(\"ten\")");
    browser.wait_for(
        "the overlay to show the build error",
        "document.querySelector('#hotswap-status')?.dataset.state === 'error'",
        PATCH,
    );
    let overlay = text(&mut browser, "#hotswap-status");
    assert!(overlay.contains("build failed"), "overlay says: {overlay}");
    assert_eq!(click(&mut browser, 1), "23", "the old code keeps running");
    // dx sends the page only "Cargo build failed - no output location"; the
    // compiler's own first error follows (the first `cargo check` of the
    // page's crates can take as long as a first build).
    let line = 1 + std::fs::read_to_string(scratch.root().join(VIEW))
        .unwrap()
        .lines()
        .position(|line| line.contains("record(\"ten\")"))
        .unwrap();
    let overlay = browser.wait_for(
        "the overlay to show the compiler's first error",
        &format!("{STATUS}?.textContent.includes('{VIEW}:{line}:') && {STATUS}.textContent"),
        FIRST_BUILD,
    );
    let overlay = overlay.as_str().unwrap_or_default();
    assert!(
        overlay.contains("mismatched types") && !overlay.contains("no output location"),
        "overlay says: {overlay}"
    );

    step("fixing the edit");
    scratch.edit(VIEW, "record(\"ten\")", "record(100)");
    wait_for_patches(&mut browser, &mut dx, 2);
    assert_eq!(click(&mut browser, 1), "123");
    assert_not_reloaded(&mut browser);

    step("saving an edit that makes the view panic");
    // The patch lands, then the page's re-render runs the new `render` and panics.
    scratch.edit(VIEW, PANIC_FREE, PANICKING);
    let overlay = browser.wait_for(
        "the overlay to show the panic",
        &format!("{STATUS}?.dataset.state === 'panicked' && {STATUS}.textContent"),
        PATCH,
    );
    let overlay = overlay.as_str().unwrap_or_default();
    for said in [
        "the page panicked at wasm_hotswap_example/src/view.rs:",
        "the view cannot draw 123 clicks",
        "save a fix and the page reloads to run it, keeping counter",
    ] {
        assert!(overlay.contains(said), "expected {said:?} in {overlay:?}");
    }
    // A click now panics too (the view's panic left the count borrowed): the
    // overlay keeps naming the first panic, and the count is untouched.
    browser.eval("document.querySelector('#incrementButton').click()");
    assert_eq!(text(&mut browser, "#hotswap-status"), overlay);
    assert_eq!(text(&mut browser, "#counter"), "123");

    step("fixing the panic: the page reloads by itself, with its count");
    let patches_before = dx.count("Hot-patching:");
    scratch.edit(VIEW, PANICKING, PANIC_FREE);
    wait_until("the page to reload to run the fix", PATCH, || {
        let reloaded =
            browser.try_eval("window.__marker === undefined && document.readyState === 'complete'");
        (reloaded == Ok(json!(true))).then_some(())
    });
    assert!(
        dx.count("Hot-patching:") > patches_before,
        "the fix was a hot patch"
    );
    // The page before handed the new one the latest patch (the fix).
    wait_for_patches(&mut browser, &mut dx, 1);
    assert_eq!(text(&mut browser, "#counter"), "123", "the count was kept");
    // The reloaded page runs the patched view, and clicks count again.
    assert_patched_view_then_click(&mut browser, "223");
    browser.screenshot(&e2e_dir().join("wasm-after-panic-fix.png"));

    step("changing a static's type (and size): a rebuild, never a second copy");
    browser.eval("window.__before_rebuild = true");
    dx.save_expecting_rebuild(
        "wasm_hotswap_example/src/view.rs: static CLICKS_SEEN changed type",
        || {
            scratch.edit_all(
                VIEW,
                &[
                    (
                        "use std::sync::atomic::{AtomicU64, Ordering};",
                        "use std::sync::atomic::{AtomicU32, Ordering};",
                    ),
                    (
                        "static CLICKS_SEEN: AtomicU64 = AtomicU64::new(0);",
                        "static CLICKS_SEEN: AtomicU32 = AtomicU32::new(0);",
                    ),
                ],
            )
        },
    );
    // dx reloads the page once the rebuild is built: fresh state, new code.
    wait_for_reload(
        &mut browser,
        "the page to reload with the rebuilt app",
        "window.__before_rebuild === undefined && \
         document.querySelector('#hotView')?.textContent.includes('0 clicks in a static')",
    );

    step("a field added in front of Counter: the layout guard makes it a rebuild, the count kept");
    let count = text(&mut browser, "#counter");
    assert_ne!(count, "0", "a count to keep");
    browser.eval("window.__before_layout = true");
    dx.save_expecting_rebuild(
        "wasm_hotswap_example/src/view.rs: struct Counter changed",
        || {
            scratch.edit(
                VIEW,
                "pub struct Counter {\n",
                "pub struct Counter {\n    #[serde(default)]\n    pub label: u8,\n",
            )
        },
    );
    wait_for_reload(
        &mut browser,
        "the page to reload with the rebuilt app",
        "window.__before_layout === undefined && !!document.querySelector('#hotView')",
    );
    // Saved by hotswap_runtime::keep as the page reloaded; the new field
    // (`#[serde(default)]`) takes its default.
    // (The page's HTML shows 0 until its module has started.)
    wait_for_reload(
        &mut browser,
        "the rebuilt page to show the kept count",
        &format!("document.querySelector('#counter')?.textContent === '{count}'"),
    );
    // Every save above was answered (patched, an error shown, a rebuild):
    // save_watch, beside dx all along, must not have cried wolf. (Saves held
    // by dx and dropped would have had their line after 5 s; the rebuild's
    // first build alone took longer.)
    let wolf = dx.log();
    let wolf: Vec<&str> = wolf
        .lines()
        .filter(|line| line.contains("dx did not react"))
        .collect();
    assert!(
        wolf.is_empty(),
        "save_watch reported answered saves: {wolf:?}"
    );
}

/// Wait for dx to reload the page with the rebuilt app, until `reloaded`
/// holds; while the page navigates Chromium refuses to evaluate, which is
/// not yet an answer.
fn wait_for_reload(browser: &mut Browser, what: &str, reloaded: &str) {
    wait_until(what, FIRST_BUILD, || {
        (browser.try_eval(reloaded) == Ok(json!(true))).then_some(())
    });
}

const STATUS: &str = "document.querySelector('#hotswap-status')";
/// The start of `render`, and the same with a panic whenever there is a count to draw.
const PANIC_FREE: &str = "    let items: String = counter";
const PANICKING: &str = "    if counter.count > 0 {\n        \
    panic!(\"the view cannot draw {} clicks\", counter.count);\n    }\n    let items: String = counter";

/// The hot view shows the patched label, and one click gives `count`.
fn assert_patched_view_then_click(browser: &mut Browser, count: &str) {
    let view = text(browser, "#hotView");
    assert!(
        view.contains("Recent counts"),
        "not the patched view: {view}"
    );
    assert_eq!(click(browser, 1), count, "one click with the patched step");
}

fn step(what: &str) {
    eprintln!("== {what}");
}

fn click(browser: &mut Browser, times: usize) -> String {
    for _ in 0..times {
        browser.eval("document.querySelector('#incrementButton').click()");
    }
    text(browser, "#counter")
}

fn text(browser: &mut Browser, selector: &str) -> String {
    let value = browser.eval(&format!("document.querySelector('{selector}').textContent"));
    value.as_str().unwrap_or_default().to_string()
}

/// Wait until the overlay has counted `patches` landed patches.
fn wait_for_patches(browser: &mut Browser, dx: &mut Dx, patches: u64) {
    dx.assert_running();
    browser.wait_for(
        &format!("patch number {patches} to land in the page"),
        &format!("Number(document.querySelector('#hotswap-status')?.dataset.patches) >= {patches}"),
        PATCH,
    );
}

/// The overlay says how many statics hotswap-link bound the patch to (from
/// the report it wrote beside the patch): the view's static and
/// thread-local at least.
fn statics_bound(browser: &mut Browser) {
    let bound = browser.eval("document.querySelector('#hotswap-status')?.dataset.statics");
    let count: u64 = bound.as_str().and_then(|n| n.parse().ok()).unwrap_or(0);
    let overlay = text(browser, "#hotswap-status");
    eprintln!("overlay after the patch: {overlay}");
    assert!(
        count >= 2 && overlay.contains(&format!("patch bound {count} statics")),
        "overlay: {overlay} (data-statics {bound})"
    );
}

fn assert_not_reloaded(browser: &mut Browser) {
    assert_eq!(
        browser.eval("window.__marker"),
        json!("set before the patch"),
        "the page was reloaded"
    );
    assert_eq!(
        browser.eval("window.__origin === performance.timeOrigin"),
        json!(true),
        "the page was reloaded"
    );
}
