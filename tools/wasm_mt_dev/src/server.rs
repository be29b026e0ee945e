//! The page, the patches and dx's two WebSockets, on 127.0.0.1, every response
//! with the cross-origin isolation headers (`coi_serve::isolated`).
//!
//! * `/`: the page (wasm-bindgen's output, index.html, loader.js), never cached;
//! * `/_hotswap/<file>`: the patches;
//! * `/_dioxus?build_id=N`: `DevserverMsg`s as JSON text frames;
//! * `/_dioxus/build_status`: dx's build status (`Building`, `Ready`, `BuildError`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use dioxus_devtools_types::DevserverMsg;
use serde::Deserialize;
use tokio::sync::broadcast;
use tower_http::services::ServeDir;

/// What the session tells connected pages.
#[derive(Debug, Clone)]
pub enum Outgoing {
    Devserver(String),
    Status(String),
}

/// Shared between the session thread and the connections.
pub struct Hub {
    tx: broadcast::Sender<Outgoing>,
    state: Mutex<HubState>,
}

struct HubState {
    build_id: u32,
    last_patch: Option<String>,
    status: String,
}

impl Hub {
    pub fn new(build_id: u32) -> Arc<Hub> {
        let (tx, _) = broadcast::channel(64);
        Arc::new(Hub {
            tx,
            state: Mutex::new(HubState {
                build_id,
                last_patch: None,
                status: status_json("Ready", None),
            }),
        })
    }

    pub fn send(&self, msg: &DevserverMsg) {
        let text = serde_json::to_string(msg).expect("dx's messages serialise");
        if matches!(msg, DevserverMsg::HotReload(_)) {
            self.state.lock().unwrap().last_patch = Some(text.clone());
        }
        let _ = self.tx.send(Outgoing::Devserver(text));
    }

    pub fn status(&self, kind: &str, data: Option<serde_json::Value>) {
        let text = status_json(kind, data);
        self.state.lock().unwrap().status = text.clone();
        let _ = self.tx.send(Outgoing::Status(text));
    }

    /// A new base: earlier patches are for the old one.
    pub fn new_base(&self, build_id: u32) {
        let mut state = self.state.lock().unwrap();
        state.build_id = build_id;
        state.last_patch = None;
    }
}

/// dx's `Status` JSON (`#[serde(tag = "type", content = "data")]`).
fn status_json(kind: &str, data: Option<serde_json::Value>) -> String {
    match data {
        Some(data) => serde_json::json!({ "type": kind, "data": data }).to_string(),
        None => serde_json::json!({ "type": kind }).to_string(),
    }
}

pub fn router(hub: Arc<Hub>, dist: PathBuf, patches: PathBuf) -> Router {
    coi_serve::isolated(
        Router::new()
            .route("/_dioxus", get(devserver_socket))
            .route("/_dioxus/build_status", get(status_socket))
            // A patch's name is never reused: it may be cached.
            .nest_service("/_hotswap", ServeDir::new(patches))
            .fallback_service(coi_serve::files(&dist))
            .with_state(hub),
    )
}

pub async fn serve(listener: tokio::net::TcpListener, router: Router) -> std::io::Result<()> {
    axum::serve(listener, router).await
}

pub fn local_addr(listener: &tokio::net::TcpListener) -> SocketAddr {
    listener
        .local_addr()
        .expect("a bound listener has an address")
}

#[derive(Deserialize)]
struct Connect {
    build_id: Option<u64>,
}

async fn devserver_socket(
    ws: WebSocketUpgrade,
    Query(connect): Query<Connect>,
    State(hub): State<Arc<Hub>>,
) -> Response {
    ws.on_upgrade(move |socket| async move {
        let rx = hub.tx.subscribe();
        let greeting = {
            let state = hub.state.lock().unwrap();
            match connect.build_id {
                // dx's own clients always say 0 on the web: no claim either way.
                None | Some(0) => None,
                Some(id) if id == state.build_id as u64 => state.last_patch.clone(),
                // A page of another build cannot be patched: it should reload.
                Some(_) => Some(serde_json::to_string(&DevserverMsg::FullReloadCommand).unwrap()),
            }
        };
        forward(socket, rx, greeting, |o| match o {
            Outgoing::Devserver(text) => Some(text),
            Outgoing::Status(_) => None,
        })
        .await;
    })
}

async fn status_socket(ws: WebSocketUpgrade, State(hub): State<Arc<Hub>>) -> Response {
    ws.on_upgrade(move |socket| async move {
        let rx = hub.tx.subscribe();
        let greeting = Some(hub.state.lock().unwrap().status.clone());
        forward(socket, rx, greeting, |o| match o {
            Outgoing::Status(text) => Some(text),
            Outgoing::Devserver(_) => None,
        })
        .await;
    })
}

async fn forward(
    mut socket: WebSocket,
    mut rx: broadcast::Receiver<Outgoing>,
    greeting: Option<String>,
    pick: impl Fn(Outgoing) -> Option<String>,
) {
    if let Some(text) = greeting {
        if socket.send(Message::Text(text.into())).await.is_err() {
            return;
        }
    }
    loop {
        tokio::select! {
            outgoing = rx.recv() => match outgoing {
                Ok(o) => {
                    if let Some(text) = pick(o) {
                        if socket.send(Message::Text(text.into())).await.is_err() {
                            return;
                        }
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return,
            },
            incoming = socket.recv() => match incoming {
                // The page may send logs (dx's ClientMsg); nothing to do with them.
                Some(Ok(_)) => continue,
                _ => return,
            },
        }
    }
}
