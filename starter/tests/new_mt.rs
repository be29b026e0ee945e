//! End to end, the way the README tells a user: `scripts/new mt <dir>`
//! outside the checkout, `cd <dir> && ./dev`, edit `src/app.rs`. The real
//! `wasm_mt_dev` patches the page in headless Chromium: every rayon thread
//! runs the edited code, with no reload; a save that does not compile leaves
//! the page running, and the fix lands.
//!
//! "Every thread" is what the page itself shows: after each draw it runs
//! `app::color` once on every thread of the pool (at its safe point) and
//! lists each thread's answer. Only the edited code gives the new colour.
//!
//! Needs nightly with rust-src and wasm-bindgen-cli 0.2.127 (`scripts/test`
//! installs them). The first run compiles std for shared memory (minutes);
//! later runs reuse the app's `target/`.

use e2e_support::serde_json::json;
use e2e_support::{e2e_dir, free_port, overlay, Browser, MtDev, FIRST_BUILD, PATCH};
use starter::App;

#[test]
fn a_new_threaded_page_is_patched_in_every_thread_without_a_reload() {
    let app = App::create("mt", "my_threads");
    let port = free_port();
    let started = app.clone();
    let dev = move || {
        let mut dev = started.dev();
        dev.env("PORT", port.to_string());
        dev
    };
    let mut tool = MtDev::launch("starter-mt", dev, port);
    tool.wait_until_serving(FIRST_BUILD);

    let mut browser = Browser::launch();
    browser.goto(&format!("http://127.0.0.1:{port}/"));
    // The template's colour, `let blue = 160;`, from every thread.
    let threads = every_thread_answers(&mut browser, "a0", None);
    assert!(threads >= 2, "the pool has at least two threads");
    browser.wait_for(
        "the page to connect to wasm_mt_dev",
        "document.getElementById('hotswap-status')?.dataset.connects",
        PATCH,
    );
    // Kept only if the page is never reloaded.
    browser.eval("window.pageId = performance.timeOrigin");

    app.edit("src/app.rs", &[("let blue = 160;", "let blue = 7;")]);
    overlay::wait_for_patches(&mut browser, 1);
    every_thread_answers(&mut browser, "07", Some(threads));
    // The page's own render, rows from every thread, ran the new code too.
    assert_eq!(centre_pixel(&mut browser), json!([127, 127, 7, 255]));
    assert_same_page(&mut browser);

    // A save that does not compile: the overlay says so, the page keeps
    // running the last good code on every thread.
    app.edit("src/app.rs", &[("let blue = 7;", "let blue: u8 = 7.5;")]);
    overlay::wait_for_error(&mut browser, "build failed");
    tool.assert_running();
    assert_same_page(&mut browser);
    assert_eq!(overlay::count(&mut browser, "patches"), 1);

    // The fix lands as the next patch, in every thread: they all kept running.
    app.edit("src/app.rs", &[("let blue: u8 = 7.5;", "let blue = 99;")]);
    overlay::wait_for_patches(&mut browser, 2);
    every_thread_answers(&mut browser, "63", Some(threads));
    assert_eq!(centre_pixel(&mut browser), json!([127, 127, 99, 255]));
    assert_same_page(&mut browser);
    browser.screenshot(&e2e_dir().join("starter-mt-after-patches.png"));
}

/// Waits until the line under the picture lists every thread (`threads`, or
/// however many there are), in order, each with a colour whose blue is
/// `blue` (two hex digits); returns how many threads answered.
fn every_thread_answers(browser: &mut Browser, blue: &str, threads: Option<usize>) -> usize {
    let expression = format!(
        "(() => {{ const line = document.getElementById('threads')?.textContent || ''; \
           const answers = [...line.matchAll(/thread (\\d+): #([0-9a-f]{{6}})/g)]; \
           return answers.length > 0 \
             && answers.every(([, thread, colour], i) => Number(thread) === i && colour.endsWith('{blue}')) \
             && answers.length; }})()"
    );
    let what = format!("every thread to answer with blue {blue}");
    let answered = browser.wait_for(&what, &expression, PATCH);
    let answered = answered.as_u64().expect("a count") as usize;
    if let Some(threads) = threads {
        assert_eq!(answered, threads, "every thread of the pool answers");
    }
    answered
}

/// The canvas's centre pixel, RGBA: a row the page's render computed on some thread.
fn centre_pixel(browser: &mut Browser) -> e2e_support::serde_json::Value {
    browser.eval(
        "(() => { const c = document.getElementById('picture'); \
           return [...c.getContext('2d').getImageData(c.width / 2, c.height / 2, 1, 1).data]; })()",
    )
}

fn assert_same_page(browser: &mut Browser) {
    assert_eq!(
        browser.eval("window.pageId === performance.timeOrigin"),
        json!(true),
        "the page was reloaded"
    );
}
