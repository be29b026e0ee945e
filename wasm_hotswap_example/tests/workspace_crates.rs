//! End to end: a save in a library crate of the app's own workspace patches
//! the page in headless Chromium without a reload, under the real `dx serve
//! --hot-patch --bundle web` with the dev commands' `save_watch`.
//!
//! The running total is written by `tally` (a direct dependency), which counts
//! with `plural` (a dependency of a dependency). A save in `tally` made before
//! any page connected reaches the page that connects later (dx sends it its
//! latest patch), so save_watch says nothing. A save in `tally` lands in the
//! same page (`performance.timeOrigin` unchanged, the count kept). dx 0.7.10
//! does not watch `plural` (dioxus #5314): a save there gets save_watch's one
//! line instead, and the page keeps the old code.
//!
//! Needs dx 0.7.10, the matching wasm-bindgen-cli, esbuild and Debian's
//! chromium: `scripts/test` installs them.

use e2e_support::serde_json::json;
use e2e_support::{Browser, Dx, Scratch, FIRST_BUILD, PATCH};

const TOTAL: &str = "document.querySelector('#hotView .total')?.textContent";

#[test]
fn a_save_in_a_direct_library_crate_patches_the_page_and_one_in_an_indirect_crate_gets_a_line() {
    // The scratch copy (and warm target/) browser_patch.rs uses: test binaries run one at a time.
    let scratch = Scratch::new("wasm");
    let mut dx = Dx::serve_watched(
        &scratch,
        "wasm-crates",
        "wasm_hotswap_example",
        &["--bundle", "web", "--target", "wasm32-unknown-unknown"],
        &[],
    );
    dx.wait_for_first_build(FIRST_BUILD);
    // A save once dx built the page but before any page connected: dx
    // builds its patch for nobody, and sends it to the page that connects
    // later. Answered, so save_watch stays silent (checked at the end).
    scratch.edit("tally/src/lib.rs", "\"{} so far\"", "\"{} so far (early)\"");
    dx.wait_for_line("Hot-patching: tally/src/lib.rs", 0, PATCH);

    let mut browser = Browser::launch();
    browser.goto(&format!("http://127.0.0.1:{}/", dx.port));
    browser.wait_for(
        "the page to connect to dx",
        "document.querySelector('#hotswap-status')?.textContent.includes('connected')",
        PATCH,
    );
    browser.eval("window.__origin = performance.timeOrigin");
    browser.eval("document.querySelector('#incrementButton').click()");
    browser.wait_for(
        "one click to count",
        &format!("{TOTAL} === '1 click so far (early)'"),
        PATCH,
    );

    eprintln!("saving tally/src/lib.rs (a direct dependency)");
    scratch.edit(
        "tally/src/lib.rs",
        "\"{} so far (early)\"",
        "\"{} so far (patched tally)\"",
    );
    browser.wait_for(
        "the page to show the patched tally",
        &format!("{TOTAL} === '1 click so far (patched tally)'"),
        PATCH,
    );
    dx.wait_for_line("Hot-patching: tally/src/lib.rs", 1, PATCH);
    assert_eq!(
        browser.eval("window.__origin === performance.timeOrigin"),
        json!(true),
        "the page was reloaded"
    );
    assert_eq!(
        browser.eval("document.querySelector('#counter').textContent"),
        json!("1")
    );

    eprintln!("saving plural/src/lib.rs (a dependency of a dependency)");
    dx.save_in_unwatched_plural(&scratch);
    assert_eq!(
        dx.count("dx did not react"),
        1,
        "the answered saves (the early one included) got no line"
    );
    browser.eval("document.querySelector('#incrementButton').click()");
    browser.wait_for(
        "a second click to count with the old plural",
        &format!("{TOTAL} === '2 clicks so far (patched tally)'"),
        PATCH,
    );
    assert_eq!(
        browser.eval("window.__origin === performance.timeOrigin"),
        json!(true),
        "the page was reloaded"
    );
}
