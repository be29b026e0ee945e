//! Where [`crate::keep`] saves natively: one JSON file per key in dx's
//! session folder (`DIOXUS_SESSION_CACHE_DIR/hotswap_runtime/keep/`).
//!
//! A file, not the holder: it works for any app under dx (one that listens on
//! no socket too), it survives the old process being killed right after the
//! save, and dx makes that folder once per `dx serve` and never reuses it, so
//! state can only come from an earlier process of the same session. A value is
//! taken (deleted) when read, so a process that crashes before it saves again
//! starts afresh rather than from older state.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

type Snapshot = Box<dyn Fn() -> serde_json::Result<String> + Send + Sync>;

static SNAPSHOTS: Mutex<Vec<(String, Snapshot)>> = Mutex::new(Vec::new());

pub(crate) fn register(
    key: &str,
    snapshot: impl Fn() -> serde_json::Result<String> + Send + Sync + 'static,
) {
    if dir().is_none() || !super::stop::catch_sigterm() {
        return;
    }
    let mut snapshots = SNAPSHOTS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    snapshots.retain(|(other, _)| other != key);
    snapshots.push((key.to_string(), Box::new(snapshot)));
}

/// The JSON saved under `key`, removed from the folder.
pub(crate) fn take(key: &str) -> Option<String> {
    take_from(&dir()?, key)
}

fn take_from(dir: &Path, key: &str) -> Option<String> {
    let path = dir.join(file_name(key));
    let json = std::fs::read_to_string(&path).ok()?;
    let _ = std::fs::remove_file(&path);
    Some(json)
}

/// Save every registered value, for the next process.
pub(super) fn save_all() {
    if let Some(dir) = dir() {
        let snapshots = SNAPSHOTS
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        save_to(&dir, &snapshots);
    }
}

fn save_to(dir: &Path, snapshots: &[(String, Snapshot)]) {
    if snapshots.is_empty() {
        return;
    }
    if let Err(err) = std::fs::create_dir_all(dir) {
        return tracing::warn!(
            "cannot keep anything for the next process: {}: {err}",
            dir.display()
        );
    }
    let mut kept = Vec::new();
    for (key, snapshot) in snapshots {
        let path = dir.join(file_name(key));
        // Written aside and renamed: the next process reads all of it or nothing.
        let partial = path.with_extension("partial");
        let saved = snapshot()
            .map_err(|err| err.to_string())
            .and_then(|json| std::fs::write(&partial, json).map_err(|err| err.to_string()))
            .and_then(|()| std::fs::rename(&partial, &path).map_err(|err| err.to_string()));
        match saved {
            Ok(()) => kept.push(key.as_str()),
            Err(err) => tracing::warn!("cannot keep {key:?} for the next process: {err}"),
        }
    }
    tracing::info!("kept {kept:?} for the next process");
}

fn dir() -> Option<PathBuf> {
    Some(
        super::dev::session_dir()?
            .join("hotswap_runtime")
            .join("keep"),
    )
}

/// Any key as a file name: hex, so no key can name another folder.
fn file_name(key: &str) -> String {
    let hex: String = key.bytes().map(|byte| format!("{byte:02x}")).collect();
    format!("{hex}.json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_cannot_leave_the_folder() {
        assert_eq!(file_name("../x"), "2e2e2f78.json");
        assert_eq!(file_name(""), ".json");
    }

    #[test]
    fn a_saved_value_is_taken_once_and_a_failing_one_costs_only_itself() {
        let dir = std::env::temp_dir().join(format!("hotswap-kept-test-{}", std::process::id()));
        let snapshots: Vec<(String, Snapshot)> = vec![
            ("count".into(), Box::new(|| serde_json::to_string(&41))),
            (
                "broken".into(),
                Box::new(|| serde_json::to_string(&std::collections::HashMap::from([((1, 2), 3)]))),
            ),
        ];
        save_to(&dir, &snapshots);
        assert_eq!(take_from(&dir, "count").as_deref(), Some("41"));
        assert_eq!(take_from(&dir, "count"), None, "taken, not copied");
        assert_eq!(
            take_from(&dir, "broken"),
            None,
            "a map with tuple keys is not JSON"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
