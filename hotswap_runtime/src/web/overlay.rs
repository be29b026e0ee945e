//! A small status box the library draws itself, no framework needed.
//!
//! It lives in one `div#hotswap-status`, found again by id on every update so
//! nothing holds DOM handles across patches. Tests read its `data-state`,
//! `data-patches` and `data-connects` attributes.

use std::cell::RefCell;

use wasm_bindgen::{closure::Closure, JsCast};
use web_sys::{Document, HtmlElement};

use crate::status::Status;

const ID: &str = "hotswap-status";
const STYLE: &str = "position:fixed;right:12px;bottom:12px;z-index:2147483647;max-width:min(70ch,90vw);\
max-height:40vh;overflow:auto;padding:8px 12px;border-radius:6px;font:13px/1.4 ui-monospace,monospace;\
white-space:pre-wrap;color:#fff;box-shadow:0 2px 8px #0006;transition:opacity .6s;pointer-events:none";

thread_local! {
    // What hotswap-link said of the patch on its way in, shown with its
    // "patched" line: (the line, how many statics it bound; `None` when the
    // patch was linked without it).
    static STATICS: RefCell<Option<(String, Option<usize>)>> = const { RefCell::new(None) };
}

/// Shows `line` with the next patch that lands; tests read the count as
/// `data-statics` (`none` when the wrapper did not link the patch).
pub(super) fn note_statics(line: String, bound: Option<usize>) {
    STATICS.with(|statics| *statics.borrow_mut() = Some((line, bound)));
}

pub(super) fn show(status: &Status) {
    let Some(document) = web_sys::window().and_then(|window| window.document()) else {
        return;
    };
    let Some(element) = element(&document) else {
        return;
    };
    let (state, background, linger_ms) = match status {
        Status::PatchStarted => ("patching", "#1d4ed8", None),
        Status::Patched { .. } => ("patched", "#15803d", Some(2_500)),
        Status::Connected { .. } => ("connected", "#374151", Some(1_500)),
        Status::Reloading | Status::FullRebuild => ("rebuilding", "#92400e", None),
        Status::Disconnected { .. } => ("disconnected", "#374151", Some(4_000)),
        // Errors stay long enough to read; the next patch replaces them.
        Status::PatchFailed { .. }
        | Status::BuildFailed { .. }
        | Status::Ignored { .. }
        | Status::CallbackPanicked { .. } => ("error", "#b91c1c", Some(15_000)),
        // Stays until the page reloads: no patch reaches it any more.
        Status::OtherBuild => ("error", "#b91c1c", None),
        // Stays until the fix lands and the page reloads.
        Status::Panicked { .. } => ("panicked", "#b91c1c", None),
        Status::ReloadingAfterPanic { .. } => ("reloading", "#92400e", None),
    };
    // Counters tests and benchmarks read: patches landed, connections made.
    let counter = match status {
        Status::Patched { .. } => Some("data-patches"),
        Status::Connected { .. } => Some("data-connects"),
        _ => None,
    };
    if let Some(name) = counter {
        let count = attr_number(&element, name) + 1;
        let _ = element.set_attribute(name, &count.to_string());
    }
    let shown = attr_number(&element, "data-shown") + 1;
    let _ = element.set_attribute("data-shown", &shown.to_string());
    let _ = element.set_attribute("data-state", state);
    let mut text = status.to_string();
    if let Status::Patched { .. } = status {
        if let Some((line, bound)) = STATICS.with(|statics| statics.borrow_mut().take()) {
            text = format!("{text}\n{line}");
            let count = bound.map_or("none".to_string(), |n| n.to_string());
            let _ = element.set_attribute("data-statics", &count);
        }
    }
    element.set_text_content(Some(&text));
    let style = element.style();
    let _ = style.set_property("background", background);
    let _ = style.set_property("opacity", "0.95");
    if let Some(ms) = linger_ms {
        fade_later(shown, ms);
    }
}

fn element(document: &Document) -> Option<HtmlElement> {
    if let Some(found) = document.get_element_by_id(ID) {
        return found.dyn_into().ok();
    }
    let element: HtmlElement = document.create_element("div").ok()?.dyn_into().ok()?;
    element.set_id(ID);
    let _ = element.set_attribute("style", STYLE);
    let _ = element.set_attribute("role", "status");
    document.body()?.append_child(&element).ok()?;
    Some(element)
}

/// Fade out after `ms`, unless something newer was shown meanwhile.
fn fade_later(shown: u64, ms: i32) {
    let Some(window) = web_sys::window() else {
        return;
    };
    let fade = Closure::once_into_js(move || {
        let Some(document) = web_sys::window().and_then(|window| window.document()) else {
            return;
        };
        if let Some(element) = element(&document) {
            if attr_number(&element, "data-shown") == shown {
                let _ = element.style().set_property("opacity", "0");
            }
        }
    });
    let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(fade.unchecked_ref(), ms);
}

fn attr_number(element: &HtmlElement, name: &str) -> u64 {
    element
        .get_attribute(name)
        .and_then(|value| value.parse().ok())
        .unwrap_or(0)
}
