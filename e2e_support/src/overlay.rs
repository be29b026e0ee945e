//! What `hotswap_runtime`'s overlay (`#hotswap-status`) says in a page: its
//! state, its text and its counters (`data-patches`, `data-connects`, ...).
//! A wait that times out panics with what the overlay shows instead.

use std::time::{Duration, Instant};

use crate::{Browser, PATCH};

/// What the overlay shows.
pub struct Overlay {
    pub state: String,
    pub text: String,
    pub patches: u64,
}

/// What the overlay shows now (empty strings and 0 before it exists).
pub fn now(browser: &mut Browser) -> Overlay {
    let value = browser.eval(
        "(() => { const s = document.getElementById('hotswap-status'); \
           return [s?.dataset.state || '', s?.textContent || '', \
                   Number(s?.dataset.patches || 0)]; })()",
    );
    let part = |i: usize| value[i].as_str().unwrap_or_default().to_string();
    Overlay {
        state: part(0),
        text: part(1),
        patches: value[2].as_u64().unwrap_or(0),
    }
}

/// The overlay's counter `data-<name>` (0 when there is none yet).
pub fn count(browser: &mut Browser, name: &str) -> u64 {
    let value = browser.eval(&format!(
        "Number(document.getElementById('hotswap-status')?.dataset.{name} || 0)"
    ));
    value.as_u64().unwrap_or(0)
}

/// Wait (up to [`PATCH`]) until `patches` patches in all have landed in the
/// page and the overlay says "patched"; returns its text.
pub fn wait_for_patches(browser: &mut Browser, patches: u64) -> String {
    let text = wait_until(browser, &format!("patch {patches} to land"), |shown| {
        shown.patches >= patches
    });
    assert!(text.contains("patched"), "{text}");
    text
}

/// Wait (up to [`PATCH`]) until the overlay shows an error whose text
/// contains `needle`; returns the text.
pub fn wait_for_error(browser: &mut Browser, needle: &str) -> String {
    wait_until(
        browser,
        &format!("the overlay to show an error with `{needle}`"),
        |shown| shown.state == "error" && shown.text.contains(needle),
    )
}

/// Poll the overlay until `done`, and return its text.
pub fn wait_until(browser: &mut Browser, what: &str, done: impl Fn(&Overlay) -> bool) -> String {
    let deadline = Instant::now() + PATCH;
    loop {
        let shown = now(browser);
        if done(&shown) {
            return shown.text;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {PATCH:?} waiting for {what}; the overlay shows [{}] {}",
            shown.state,
            shown.text
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
