//! Which build of the app dx serves: a page must not take patches built for another.
//!
//! A restarted dx builds the app anew and patches against that build. A page
//! still running the old build would apply them to code they were not made
//! for. Each time the page (re)connects, it asks the dev server, with a `HEAD`
//! request, how it describes the `.wasm` this page loaded (`ETag`,
//! `Last-Modified`, `Content-Length`), and holds dx's frames until the answer
//! came: the first answer, just after the page loaded, is its own build; if a
//! later one differs, the session refuses patches and tells the user to
//! reload. (If dx finishes its new build while the page is connected, dx
//! itself tells the page to reload.)

use std::rc::Rc;

use js_sys::Array;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{PerformanceEntry, RequestCache, RequestInit, Response};

use crate::session::Session;

use super::Web;

/// Ask which build dx serves, tell `session`, then call `done` (also when
/// it cannot tell): the page holds dx's frames until then.
pub(super) fn check(session: Rc<Session<Web>>, done: impl FnOnce() + 'static) {
    let Some(url) = wasm_url() else {
        tracing::debug!("cannot tell which .wasm this page loaded; not checking its build");
        return done();
    };
    wasm_bindgen_futures::spawn_local(async move {
        match fingerprint(&url).await {
            Some(fingerprint) => session.served_build(&fingerprint),
            None => {
                tracing::debug!("the dev server does not describe {url}; not checking its build")
            }
        }
        done();
    });
}

/// The `.wasm` this page loaded, from the browser's list of fetched resources.
fn wasm_url() -> Option<String> {
    let performance = web_sys::window()?.performance()?;
    let entries: Array = performance.get_entries_by_type("resource");
    entries
        .iter()
        .filter_map(|entry| entry.dyn_into::<PerformanceEntry>().ok())
        .map(|entry| entry.name())
        .find(|name| {
            name.split('?')
                .next()
                .is_some_and(|path| path.ends_with(".wasm"))
                && !name.contains("-patch-")
        })
}

async fn fingerprint(url: &str) -> Option<String> {
    let init = RequestInit::new();
    init.set_method("HEAD");
    init.set_cache(RequestCache::NoStore);
    let response = JsFuture::from(web_sys::window()?.fetch_with_str_and_init(url, &init))
        .await
        .ok()?
        .dyn_into::<Response>()
        .ok()?;
    if !response.ok() {
        return None;
    }
    let headers = response.headers();
    let parts: Vec<String> = ["etag", "last-modified", "content-length"]
        .iter()
        .map(|name| headers.get(name).ok().flatten().unwrap_or_default())
        .collect();
    parts
        .iter()
        .any(|part| !part.is_empty())
        .then(|| parts.join(" | "))
}
