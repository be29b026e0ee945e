//! The hot part: edit anything here and save while `./dev` runs.

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use hotswap_runtime::subsecond::HotFn;

pub fn router(_: ()) -> Router {
    Router::new()
        .route("/", get(|| async { greeting() }))
        .route("/ws", get(ws_upgrade))
}

fn greeting() -> String {
    "Hello from a hot-patched server!".to_string()
}

async fn ws_upgrade(ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(ws_session)
}

/// Lives as long as the connection, so it stays old code after a patch: it
/// enters the new code through a hot boundary for every message.
async fn ws_session(mut socket: WebSocket) {
    while let Some(Ok(message)) = socket.recv().await {
        let Message::Text(text) = message else {
            continue;
        };
        // Pass the function you edit, not a closure that calls it.
        let reply = HotFn::current(ws_reply).call((text.as_str(),));
        if socket.send(Message::text(reply)).await.is_err() {
            break;
        }
    }
}

fn ws_reply(text: &str) -> String {
    format!("echo: {text}")
}
