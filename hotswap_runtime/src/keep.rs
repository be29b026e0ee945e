//! State an app keeps when the library has to start it again during a dev
//! session, so that a mistake costs a reload, not the state.
//!
//! In the browser the library reloads the page itself when it must: when a
//! save fixes a panic (a panic aborts on wasm32 and may leave the app's
//! `RefCell`s borrowed for ever, so the fix runs in a fresh page), and when dx
//! rebuilt the whole app. Just before, it saves every value registered with
//! [`on_restart`] (as JSON, in the tab's `sessionStorage`); the new page
//! takes each back with [`restored`].
//!
//! Natively dx restarts the process itself after a full rebuild and nothing is
//! saved yet: [`restored`] returns `None`. In a release build both do nothing.
//!
//! ```ignore
//! let counter: Counter = hotswap_runtime::keep::restored("counter").unwrap_or_default();
//! // ... later, once the state lives in `page`:
//! hotswap_runtime::keep::on_restart("counter", move || page.counter.borrow().clone());
//! ```

use serde::de::DeserializeOwned;
use serde::Serialize;

/// The value saved under `key` just before the library restarted the app,
/// if it did, taken out of storage (a later manual reload starts afresh).
/// `None` as well when it does not read as a `T` any more (its type changed):
/// that is logged, and the app starts from its default.
pub fn restored<T: DeserializeOwned>(key: &str) -> Option<T> {
    #[cfg(all(debug_assertions, target_arch = "wasm32"))]
    {
        let json = crate::web::keep::take(key)?;
        match serde_json::from_str(&json) {
            Ok(value) => Some(value),
            Err(err) => {
                tracing::warn!("cannot restore the kept {key:?}, starting without it: {err}");
                None
            }
        }
    }
    #[cfg(not(all(debug_assertions, target_arch = "wasm32")))]
    {
        let _ = key;
        None
    }
}

/// Save `snapshot()` under `key` each time the library restarts the app, for
/// [`restored`] to take back. A later call with the same key replaces it.
pub fn on_restart<T: Serialize + 'static>(key: &str, snapshot: impl Fn() -> T + 'static) {
    #[cfg(all(debug_assertions, target_arch = "wasm32"))]
    crate::web::keep::register(key, move || serde_json::to_string(&snapshot()));
    #[cfg(not(all(debug_assertions, target_arch = "wasm32")))]
    drop((key.to_string(), snapshot));
}
