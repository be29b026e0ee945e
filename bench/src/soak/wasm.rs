//! The wasm soak: `wasm_hotswap_example` under `dx serve --hot-patch --bundle
//! web`, one page in headless Chromium clicked between patches.

use std::time::Duration;

use e2e_support::{Browser, Dx, Scratch};
use serde_json::json;

use super::{wait_for_more, Edit, Tally, EDIT};
use crate::cleanup;
use crate::common::{load_average, ms, secs};
use crate::progress;
use crate::wasm::{step_source, CLICK_STEP, FIRST_BUILD, PACKAGE, RENDERED, VIEW, WEB};

const STATUS: &str = "document.querySelector('#hotswap-status')";
/// Survives only as long as the page is not reloaded.
const MARKER: &str = "window.__soakMarker === 'set once'";

fn counter(browser: &mut Browser, name: &str) -> u64 {
    browser
        .try_eval(&format!("Number({STATUS}?.dataset.{name} || 0)"))
        .ok()
        .and_then(|value| value.as_u64())
        .unwrap_or(0)
}

pub fn run(patches: usize) {
    let load_before = load_average();
    // The end-to-end test's scratch copy: its target/ is warm.
    let scratch = Scratch::new("wasm");
    let mut dx = Dx::serve(&scratch, "soak-wasm", PACKAGE, &WEB, &[]);
    let _dx_registered = cleanup::group(dx.pid());
    progress!("soak wasm: dx's first build (log in target/e2e/soak-wasm-dx.log)");
    dx.wait_for_first_build(FIRST_BUILD);

    let mut browser = Browser::launch();
    let _browser_registered = cleanup::process(browser.pid());
    browser.goto(&format!("http://127.0.0.1:{}/", dx.port));
    browser.wait_for("the wasm app to render", RENDERED, EDIT);
    browser.wait_for(
        "the page to connect to dx",
        &format!("Number({STATUS}?.dataset.connects || 0) >= 1"),
        EDIT,
    );
    browser.eval("window.__soakMarker = 'set once'");
    let connects_at_start = counter(&mut browser, "connects");

    let mut tally = Tally::default();
    let view = scratch.root().join(VIEW);
    let mut step = 1;
    for i in 1..=patches {
        let new_step = i + 1;
        let landed_before = counter(&mut browser, "patches");
        let hot_before = dx.count("Hot-patching:");
        let saved = e2e_support::edit_file(
            &view,
            &[(&step_source(step as i64), &step_source(new_step as i64))],
        );
        step = new_step;
        let shown = e2e_support::poll_every(Duration::from_millis(10), "", EDIT, || {
            let landed = counter(&mut browser, "patches") > landed_before;
            (landed || saved.elapsed() > EDIT).then_some(landed)
        });
        let elapsed = ms(saved.elapsed());
        // The click proves the new step runs (and that the page still works).
        let clicked = browser.try_eval(CLICK_STEP).ok();
        let works = shown && clicked == Some(json!(new_step));
        let edit = Edit {
            ms: works.then_some(elapsed),
            hot: shown && wait_for_more(&dx, "Hot-patching:", hot_before),
        };
        tally.edits.push(edit);
        if browser.try_eval(MARKER).ok() != Some(json!(true)) {
            progress!("patch {i}: the page was reloaded");
            tally.reloads += 1;
            browser.wait_for("the reloaded page to render", RENDERED, EDIT);
            browser.eval("window.__soakMarker = 'set once'");
        }
        progress!(
            "patch {i}/{patches}: {}{}",
            edit.ms
                .map_or(format!("LOST (click added {clicked:?})"), secs),
            if edit.hot { "" } else { " (not a hot patch)" }
        );
    }
    tally.reconnects = counter(&mut browser, "connects").saturating_sub(connects_at_start);
    tally.leftovers_removed = dx.leftovers_removed();
    tally.report(
        "wasm",
        "ms from the write of view.rs to the page counting the patch as landed",
        &load_before,
        json!({}),
    );
}
