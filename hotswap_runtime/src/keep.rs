//! State an app keeps when it has to start again during a dev session, so
//! that a rebuild or a mistake costs a restart, not the state.
//!
//! The app registers each value to keep with [`on_restart`] and takes it back
//! at start with [`restored`]. Values travel as JSON (serde), so a type may
//! change between two builds: with `#[serde(default)]` on it, a field added
//! since takes its default and the others come back; a value that no longer
//! reads as the new type is dropped with one line naming it, and the app
//! starts from its default. Nothing here panics.
//!
//! - **In the browser** the library reloads the page itself when it must: when
//!   a save fixes a panic (a panic aborts on wasm32 and may leave the app's
//!   `RefCell`s borrowed for ever, so the fix runs in a fresh page), and when
//!   dx rebuilt the whole app. Just before, it saves every registered value
//!   in the tab's `sessionStorage`.
//! - **Natively** (Linux) dx stops the app with `SIGTERM` before it starts a
//!   rebuilt one: the library catches it, saves every registered value in dx's
//!   session folder (a file per key) and then lets the app stop (see
//!   [`crate::restart`]). The snapshot runs on the library's own thread, so it
//!   must be `Send + Sync`.
//!
//! In a release build, outside dx, and natively off Linux, both do nothing:
//! [`restored`] returns `None`.
//!
//! ```ignore
//! let counter: Counter = hotswap_runtime::keep::restored("counter").unwrap_or_default();
//! // ... later, once the state lives in `page`:
//! hotswap_runtime::keep::on_restart("counter", move || page.counter.borrow().clone());
//! ```

use serde::de::DeserializeOwned;
use serde::Serialize;

/// The value saved under `key` just before the app was started again, if it
/// was, taken out of storage (a later manual restart starts afresh). `None`
/// as well when it does not read as a `T` any more (its type changed): that
/// is logged, naming `key`, and the app starts from its default.
pub fn restored<T: DeserializeOwned>(key: &str) -> Option<T> {
    #[cfg(not(target_arch = "wasm32"))]
    crate::restart::hold_if_holder();
    let json = saved(key)?;
    match serde_json::from_str(&json) {
        Ok(value) => Some(value),
        Err(err) => {
            tracing::warn!("cannot restore the kept {key:?}, starting without it: {err}");
            None
        }
    }
}

#[allow(clippy::needless_return)]
fn saved(key: &str) -> Option<String> {
    #[cfg(all(debug_assertions, target_arch = "wasm32"))]
    return crate::web::keep::take(key);
    #[cfg(all(debug_assertions, target_os = "linux"))]
    return crate::restart::kept::take(key);
    #[cfg(not(any(
        all(debug_assertions, target_arch = "wasm32"),
        all(debug_assertions, target_os = "linux")
    )))]
    {
        let _ = key;
        None
    }
}

/// Save `snapshot()` under `key` each time the app is about to start again,
/// for [`restored`] to take back. A later call with the same key replaces it.
#[cfg(target_arch = "wasm32")]
pub fn on_restart<T: Serialize + 'static>(key: &str, snapshot: impl Fn() -> T + 'static) {
    #[cfg(debug_assertions)]
    crate::web::keep::register(key, move || serde_json::to_string(&snapshot()));
    #[cfg(not(debug_assertions))]
    drop((key.to_string(), snapshot));
}

/// Save `snapshot()` under `key` when dx stops the process to start a
/// rebuilt one, for [`restored`] in the new process to take back. A later
/// call with the same key replaces it.
#[cfg(not(target_arch = "wasm32"))]
pub fn on_restart<T: Serialize + 'static>(
    key: &str,
    snapshot: impl Fn() -> T + Send + Sync + 'static,
) {
    crate::restart::hold_if_holder();
    #[cfg(all(debug_assertions, target_os = "linux"))]
    crate::restart::kept::register(key, move || serde_json::to_string(&snapshot()));
    #[cfg(not(all(debug_assertions, target_os = "linux")))]
    drop((key.to_string(), snapshot));
}
