//! Hot patches of the threaded ray tracer in headless Chromium, through the
//! project's own pipeline (`wasm_mt_dev`, what `scripts/dev mt` runs): an edit
//! of the shading that every rayon thread runs lands in every thread, with no
//! reload, the same pool, and the page's state kept; two quick edits land in
//! order; a non-compiling edit leaves the page running and its fix patches;
//! main-thread code patches too; a second page gets the same patches, applied
//! to its own threads.
//!
//! "Every thread runs the new code" is checked by pixels (`mt_page`).

mod mt_page;

use e2e_support::{overlay, Browser, MtDev, Scratch, FIRST_BUILD, PATCH};
use mt_page::{
    assert_every_thread_renders, counts, native_reference_hash, wait_until_thread_hashes,
};

const SHADE: &str = "wasm_mt_hotswap_example/src/shade.rs";
const SKY: &str = "let k = 0.5 * (ray.dir.y + 1.0);";
const PAGE: &str = "wasm_mt_hotswap_example/src/web/page.rs";

#[test]
fn edits_of_worker_code_land_in_every_thread_without_a_reload() {
    // The same copy as wasm_mt_dev's own test: its target/mt-dev (std built
    // for wasm with atomics, minutes from cold) serves both.
    let scratch = Scratch::new("wasm_mt_dev");
    let mut tool = MtDev::start(&scratch, "mt-patch");
    tool.wait_until_serving(FIRST_BUILD);
    let mut browser = Browser::launch();
    browser.goto(&format!("http://127.0.0.1:{}/", tool.port));
    let ready = browser.eval("window.mtReady");
    let workers = ready["workers"].as_u64().expect("mtReady.workers") as usize;
    assert!(workers >= 2, "{ready}");
    browser.wait_for(
        "the page to connect to wasm_mt_dev",
        "document.getElementById('hotswap-status')?.dataset.connects",
        PATCH,
    );
    browser.eval("window.pageId = performance.timeOrigin");
    // A second page of the same app, with a memory of its own: it gets every
    // patch too, applied to its own threads.
    let mut second = Browser::launch();
    second.goto(&format!("http://127.0.0.1:{}/?workers=3", tool.port));
    assert_eq!(second.eval("window.mtReady.then(r => r.workers)"), 3);
    second.wait_for(
        "the second page to connect",
        "document.getElementById('hotswap-status')?.dataset.connects",
        PATCH,
    );
    let before = browser.eval("window.mtSafePoint()");
    let rows_before = rows_rendered(&mut browser);
    let frame_before = browser.eval("window.renderStats.frame").as_u64().unwrap();

    // One edit of code every rayon thread runs: the sky upside down.
    scratch.edit(SHADE, SKY, "let k = 0.5 * (1.0 - ray.dir.y);");
    overlay::wait_for_patches(&mut browser, 1);
    // The page's own callback draws again after the patch, with no call from here.
    browser.wait_for(
        "the patch to re-render the page",
        &format!("window.renderStats.frame > {frame_before}"),
        PATCH,
    );
    let upside_down = native_reference_hash(&scratch);
    assert_every_thread_renders(&mut browser, workers, &upside_down);
    // And the page's own render. Which thread renders which rows is rayon's
    // choice (right after a patch, the page's re-render may still keep one
    // busy); the per-thread hashes above are what prove every thread.
    let render = browser.eval("window.renderReference()");
    assert_eq!(render["hash"], upside_down.as_str(), "{render}");

    // Same page, same pool, state in shared memory kept.
    assert_eq!(
        browser.eval("window.pageId === performance.timeOrigin"),
        true,
        "the page reloaded"
    );
    // The threads that answer now are the ones counted before, each having
    // kept its count in shared memory.
    let after = browser.eval("window.mtSafePoint()");
    let mut answered = counts(&after["threads"]);
    answered.sort_unstable();
    assert_eq!(answered, (0..workers as u64).collect::<Vec<_>>(), "{after}");
    let kept: Vec<u64> = counts(&before["runs"]).iter().map(|n| n + 1).collect();
    assert_eq!(
        counts(&after["runs"]),
        kept,
        "safe-point counters: {before} then {after}"
    );

    // Two saves in quick succession (300 ms apart, more than the tool's 60 ms
    // wait for a save's last write, so two saves): both land, the second last.
    let patches = overlay::count(&mut browser, "patches");
    scratch.edit(
        SHADE,
        "let k = 0.5 * (1.0 - ray.dir.y);",
        "let k = 0.25 * (1.0 - ray.dir.y);",
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    scratch.edit(
        SHADE,
        "let k = 0.25 * (1.0 - ray.dir.y);",
        "let k = 0.75 * (1.0 - ray.dir.y);",
    );
    let quick = native_reference_hash(&scratch);
    overlay::wait_for_patches(&mut browser, patches + 2);
    wait_until_thread_hashes(&mut browser, workers, &quick);

    // A save that does not compile: the page keeps running the last good code.
    let patches = overlay::count(&mut browser, "patches");
    scratch.edit(
        SHADE,
        "let k = 0.75 * (1.0 - ray.dir.y);",
        "let k: u32 = 0.75 * (1.0 - ray.dir.y);",
    );
    overlay::wait_for_error(&mut browser, "build failed");
    assert_every_thread_renders(&mut browser, workers, &quick);
    scratch.edit(SHADE, "let k: u32 = 0.75 * (1.0 - ray.dir.y);", SKY);
    overlay::wait_for_patches(&mut browser, patches + 1);
    assert_every_thread_renders(&mut browser, workers, &native_reference_hash(&scratch));

    // The second page followed every patch, on its own three threads.
    wait_until_thread_hashes(&mut second, 3, &native_reference_hash(&scratch));

    // Code of the page's own thread patches too: the line under the picture.
    patch_page(
        &mut browser,
        &scratch,
        "rayon threads (took part",
        "rayon threads, patched (took part",
    );
    browser.wait_for(
        "the page to draw its stats line with the new code",
        "document.getElementById('stats').textContent.includes('rayon threads, patched')",
        PATCH,
    );
    assert_eq!(
        browser.eval("window.pageId === performance.timeOrigin"),
        true,
        "the page reloaded"
    );

    // Worker code behind the hot boundary counted every row it rendered in a
    // private static, through every patch: a patched read shows the sum, the
    // same as the page's never-patched code reads (issue 15). With a copy of
    // the static per patch, the two would count different rows.
    patch_page(
        &mut browser,
        &scratch,
        "        frame_number\n    )\n}",
        "        frame_number\n    ) + &format!(\" · {} rows so far\", render::rows_rendered())\n}",
    );
    let line = browser
        .eval("window.renderReference().then(() => document.getElementById('stats').textContent)");
    let line = line.as_str().unwrap_or_default().to_string();
    let shown: u64 = line
        .rsplit(" · ")
        .next()
        .and_then(|tail| tail.strip_suffix(" rows so far"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no row count in the patched stats line: {line}"));
    let live = rows_rendered(&mut browser);
    assert_eq!(
        shown, live,
        "the patched stats line and the page's own code read one static"
    );
    // Every thread rendered the reference (48 rows) at least once per patch.
    assert!(
        live >= rows_before + 48 * workers as u64,
        "rows counted before the patches: {rows_before}, after: {live}"
    );
    browser.screenshot(&e2e_support::e2e_dir().join("mt-after-patches.png"));
}

/// Saves an edit of the page's own (main-thread) code and waits for its patch.
fn patch_page(browser: &mut Browser, scratch: &Scratch, from: &str, to: &str) {
    let patches = overlay::count(browser, "patches");
    scratch.edit(PAGE, from, to);
    overlay::wait_for_patches(browser, patches + 1);
}

fn rows_rendered(browser: &mut Browser) -> u64 {
    let rows = browser.eval("window.mtRowsRendered()");
    rows.as_u64()
        .unwrap_or_else(|| panic!("mtRowsRendered: {rows}"))
}
