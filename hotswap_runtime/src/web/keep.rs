//! Where [`crate::keep`] saves in the browser: the tab's `sessionStorage`,
//! which outlives a reload and ends with the tab.

use std::cell::RefCell;

use subsecond::JumpTable;
use web_sys::Storage;

type Snapshot = Box<dyn Fn() -> serde_json::Result<String>>;

thread_local! {
    static SNAPSHOTS: RefCell<Vec<(String, Snapshot)>> = const { RefCell::new(Vec::new()) };
}

const PREFIX: &str = "hotswap_runtime.keep.";
/// The library's own: the latest patch, for the page after a reload.
const PATCH: &str = "hotswap_runtime.patch";

pub(crate) fn register(key: &str, snapshot: impl Fn() -> serde_json::Result<String> + 'static) {
    SNAPSHOTS.with(|snapshots| {
        let mut snapshots = snapshots.borrow_mut();
        snapshots.retain(|(other, _)| other != key);
        snapshots.push((key.to_string(), Box::new(snapshot)));
    });
}

/// What the app asked to keep, by name.
pub(super) fn keys() -> Vec<String> {
    SNAPSHOTS.with(|snapshots| {
        snapshots
            .borrow()
            .iter()
            .map(|(key, _)| key.clone())
            .collect()
    })
}

pub(crate) fn take(key: &str) -> Option<String> {
    let storage = storage()?;
    let name = format!("{PREFIX}{key}");
    let json = storage.get_item(&name).ok().flatten()?;
    let _ = storage.remove_item(&name);
    Some(json)
}

/// Save every registered value, just before the page reloads.
pub(super) fn save_all() {
    let Some(storage) = storage() else {
        return tracing::warn!("no sessionStorage here: the page reloads without its kept state");
    };
    SNAPSHOTS.with(|snapshots| {
        for (key, snapshot) in snapshots.borrow().iter() {
            let saved = snapshot().map_err(|err| err.to_string()).and_then(|json| {
                storage
                    .set_item(&format!("{PREFIX}{key}"), &json)
                    .map_err(|err| format!("{err:?}"))
            });
            if let Err(err) = saved {
                tracing::warn!("cannot keep {key:?} across the reload: {err}");
            }
        }
    });
}

fn storage() -> Option<Storage> {
    web_sys::window()?.session_storage().ok().flatten()
}

/// Hand the next page the latest patch and the build it is for.
pub(super) fn save_patch(build: &str, table: &JumpTable) {
    let saved = serde_json::to_string(&(build, table)).map_err(|err| err.to_string());
    let stored = saved.and_then(|json| {
        storage()
            .ok_or_else(|| "no sessionStorage".to_string())?
            .set_item(PATCH, &json)
            .map_err(|err| format!("{err:?}"))
    });
    if let Err(err) = stored {
        tracing::warn!("the reloaded page will run the code it loads, not the latest patch: {err}");
    }
}

/// The patch the page before this one had, with its build, taken out of storage.
pub(super) fn take_patch() -> Option<(String, JumpTable)> {
    let storage = storage()?;
    let json = storage.get_item(PATCH).ok().flatten()?;
    let _ = storage.remove_item(PATCH);
    serde_json::from_str(&json).ok()
}
