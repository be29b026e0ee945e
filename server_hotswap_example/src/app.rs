//! The hot part of the server: edit anything here while `scripts/dev server` runs.
//!
//! Two hot boundaries reach this code:
//! - `build_router` runs again after every patch (see `main.rs`), so route
//!   changes and every handler reached from the router are new at once;
//! - an open WebSocket calls `ws_reply` through `HotFn` for every message, so
//!   a connection opened before a patch answers its next message with the new code.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, LazyLock};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::ws::{close_code, CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use hotswap_runtime::subsecond::HotFn;

use crate::state::{Snapshot, Stats};

/// State in statics works like state you own: the workspace's linker wrapper
/// (`tools/hotswap_link`) binds every patch to these very copies, so patched
/// code keeps counting where the running server was.
static GREETED: AtomicU64 = AtomicU64::new(0);

/// Made once, the first time it is read; a patch never makes it again.
static INSTANCE: LazyLock<String> = LazyLock::new(|| {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format!("{:08x}", nanos.subsec_nanos() ^ std::process::id())
});

pub fn build_router(stats: Arc<Stats>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/greeted", get(greeted_report))
        .route("/stats", get(stats_json))
        .route("/slow", get(slow))
        .route("/summary", get(summary))
        .route("/ws", get(ws_upgrade))
        .with_state(stats)
}

async fn index() -> String {
    GREETED.fetch_add(1, Relaxed);
    greeting()
}

/// How often `/` answered, as counted in the statics.
pub fn greeted() -> u64 {
    GREETED.load(Relaxed)
}

async fn greeted_report() -> String {
    format!("greeted {} times by instance {}", greeted(), *INSTANCE)
}

fn greeting() -> String {
    "Hello from a hot-patched server!".to_string()
}

/// A request that takes a while: one in flight when dx stops the server
/// for a rebuild is finished before the process exits.
async fn slow() -> &'static str {
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    "slow, but answered"
}

/// The counters in a sentence, from the workspace's `summary` crate (which
/// counts with `plural`).
async fn summary(State(stats): State<Arc<Stats>>) -> String {
    let now = stats.snapshot();
    summary::summary(now.requests, now.ws_open)
}

async fn stats_json(State(stats): State<Arc<Stats>>) -> Json<Snapshot> {
    Json(stats.snapshot())
}

async fn ws_upgrade(ws: WebSocketUpgrade, State(stats): State<Arc<Stats>>) -> Response {
    ws.on_upgrade(move |socket| ws_session(socket, stats))
}

/// Runs for as long as the connection lives, so it is old code after a patch:
/// it must enter the new code through the hot boundary for every message.
///
/// When dx stops the server to start a rebuilt one, the client is told so
/// with close code 1012 (service restart) rather than losing the connection.
async fn ws_session(mut socket: WebSocket, stats: Arc<Stats>) {
    let _open = stats.open_socket();
    let mut stopping = hotswap_runtime::stopping();
    loop {
        let message = tokio::select! {
            message = socket.recv() => message,
            () = &mut stopping => {
                let restart = CloseFrame {
                    code: close_code::RESTART,
                    reason: "server restarting".into(),
                };
                let _ = socket.send(Message::Close(Some(restart))).await;
                break;
            }
        };
        let Some(Ok(message)) = message else {
            break;
        };
        let Message::Text(text) = message else {
            continue;
        };
        stats.count_message();
        // Hand subsecond the function item itself, not a closure that calls
        // it: an unchanged closure would keep calling the old `ws_reply`.
        let reply = HotFn::current(ws_reply).call((text.as_str(),));
        if socket.send(Message::text(reply)).await.is_err() {
            break;
        }
    }
}

/// The per-message logic of `/ws`.
fn ws_reply(text: &str) -> String {
    format!("echo: {text}")
}
