//! State that outlives every patch, and (the counters) every rebuild.
//!
//! It is created once in `main` and only read and counted by hot code. Its
//! layout is fixed for the life of the process: adding a field is a struct
//! layout change, which needs a full rebuild, not a patch.
//!
//! Across a rebuild the counters are kept through `hotswap_runtime::keep` as
//! JSON: `#[serde(default)]` lets a build that added a field read what the
//! previous build saved (the new field starts at 0, the others carry on).
//! What belongs to one process only is not saved: the sockets open now and
//! the patches this process has taken.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

#[derive(Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Stats {
    requests: AtomicU64,
    ws_opened: AtomicU64,
    ws_messages: AtomicU64,
    /// How many times a rebuilt process took these counters over.
    restarts: AtomicU64,
    #[serde(skip)]
    ws_open: watch::Sender<u64>,
    #[serde(skip)]
    patches: AtomicU64,
}

/// What `GET /stats` returns.
#[derive(Serialize)]
pub struct Snapshot {
    pub requests: u64,
    pub ws_opened: u64,
    pub ws_open: u64,
    pub ws_messages: u64,
    pub patches: u64,
    pub restarts: u64,
    /// Which process answered: a rebuild starts another.
    pub pid: u32,
}

impl Stats {
    /// The counters a previous process of this dev session kept, if any.
    pub fn restored(kept: Option<Stats>) -> Stats {
        match kept {
            Some(stats) => {
                stats.restarts.fetch_add(1, Relaxed);
                stats
            }
            None => Stats::default(),
        }
    }

    pub fn count_request(&self) {
        self.requests.fetch_add(1, Relaxed);
    }

    pub fn count_patch(&self) {
        self.patches.fetch_add(1, Relaxed);
    }

    pub fn count_message(&self) {
        self.ws_messages.fetch_add(1, Relaxed);
    }

    /// Count a WebSocket as open until the returned guard drops.
    pub fn open_socket(&self) -> OpenSocket<'_> {
        self.ws_opened.fetch_add(1, Relaxed);
        self.ws_open.send_modify(|open| *open += 1);
        OpenSocket(self)
    }

    /// Resolves once no WebSocket is open.
    pub async fn sockets_closed(&self) {
        let _ = self.ws_open.subscribe().wait_for(|open| *open == 0).await;
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            requests: self.requests.load(Relaxed),
            ws_opened: self.ws_opened.load(Relaxed),
            ws_open: *self.ws_open.borrow(),
            ws_messages: self.ws_messages.load(Relaxed),
            patches: self.patches.load(Relaxed),
            restarts: self.restarts.load(Relaxed),
            pid: std::process::id(),
        }
    }
}

pub struct OpenSocket<'a>(&'a Stats);

impl Drop for OpenSocket<'_> {
    fn drop(&mut self) {
        self.0.ws_open.send_modify(|open| *open -= 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_survive_json_and_per_process_state_does_not() {
        let stats = Stats::default();
        stats.count_request();
        stats.count_patch();
        let _open = stats.open_socket();
        let json = serde_json::to_string(&stats).unwrap();
        let back = Stats::restored(serde_json::from_str(&json).ok()).snapshot();
        assert_eq!((back.requests, back.ws_opened, back.restarts), (1, 1, 1));
        assert_eq!((back.ws_open, back.patches), (0, 0), "{json}");
    }

    #[test]
    fn a_build_with_another_field_reads_the_old_counters() {
        // What a build that added a field (or lost one) reads from the previous one.
        let old = r#"{"requests":7,"ws_opened":2,"gone":1}"#;
        let back: Stats = serde_json::from_str(old).unwrap();
        assert_eq!(back.snapshot().requests, 7);
        assert_eq!(back.snapshot().ws_messages, 0);
    }
}
