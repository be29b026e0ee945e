//! State that outlives every patch.
//!
//! It is created once in `main` and only read and counted by hot code. Its
//! layout is fixed for the life of the process: adding a field is a struct
//! layout change, which needs a full rebuild, not a patch.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use serde::Serialize;

#[derive(Default)]
pub struct Stats {
    requests: AtomicU64,
    ws_opened: AtomicU64,
    ws_open: AtomicU64,
    ws_messages: AtomicU64,
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
}

impl Stats {
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
        self.ws_open.fetch_add(1, Relaxed);
        OpenSocket(self)
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            requests: self.requests.load(Relaxed),
            ws_opened: self.ws_opened.load(Relaxed),
            ws_open: self.ws_open.load(Relaxed),
            ws_messages: self.ws_messages.load(Relaxed),
            patches: self.patches.load(Relaxed),
        }
    }
}

pub struct OpenSocket<'a>(&'a Stats);

impl Drop for OpenSocket<'_> {
    fn drop(&mut self) {
        self.0.ws_open.fetch_sub(1, Relaxed);
    }
}
