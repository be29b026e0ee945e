//! End to end, the way the README tells a user: `scripts/new web <dir>`
//! outside the checkout, `cd <dir> && ./dev`, edit `src/app.rs`. The real dx
//! patches the page in headless Chromium: it shows the new text without a
//! reload, and keeps its click count.
//!
//! Needs dx 0.7.10, wasm-bindgen-cli 0.2.127, esbuild and Debian's chromium:
//! `scripts/test` installs them.

use e2e_support::serde_json::json;
use e2e_support::{e2e_dir, free_port, Browser, Dx, FIRST_BUILD, PATCH};
use starter::App;

#[test]
fn a_new_page_is_patched_without_a_reload() {
    let app = App::create("web", "my_page");
    let port = free_port();
    let mut dev = app.dev();
    dev.env("PORT", port.to_string());
    let mut dx = Dx::launch("starter-page", dev, port);
    dx.wait_for_first_build(FIRST_BUILD);

    let mut browser = Browser::launch();
    browser.goto(&format!("http://127.0.0.1:{port}/"));
    browser.wait_for(
        "the new page to render",
        "document.querySelector('#view')?.textContent.includes('Hello from a hot-patched page!')",
        PATCH,
    );
    browser.wait_for(
        "the page to connect to dx",
        "document.querySelector('#hotswap-status')?.textContent.includes('connected')",
        PATCH,
    );
    // A mark that only survives if the page is never reloaded.
    browser.eval("window.__marker = 'set before the patch'");
    for _ in 0..2 {
        browser.eval("document.querySelector('#button').click()");
    }

    app.edit(
        "src/app.rs",
        &[("Hello from a hot-patched page!", "Hello, patched page!")],
    );
    dx.assert_running();
    browser.wait_for(
        "the page to show the new text",
        "document.querySelector('#view')?.textContent.includes('Hello, patched page!')",
        PATCH,
    );
    let view = browser.eval("document.querySelector('#view').textContent");
    assert!(
        view.as_str().unwrap_or_default().contains("2 clicks"),
        "the page kept its state: {view}"
    );
    assert_eq!(
        browser.eval("window.__marker"),
        json!("set before the patch"),
        "the page was reloaded"
    );
    assert!(dx.count("Hot-patching:") >= 1, "a patch, not a rebuild");
    browser.screenshot(&e2e_dir().join("starter-page-after-patch.png"));
}
