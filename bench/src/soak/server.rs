//! The server soak: `server_hotswap_example` under `dx serve --hot-patch`,
//! with one WebSocket and one keep-alive connection open and background load.

use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use e2e_support::{free_port, http, Dx, Scratch};
use serde_json::json;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

use super::{wait_for_more, Edit, Tally, EDIT};
use crate::cleanup;
use crate::common::{load_average, ms, poll, secs, unix_secs};
use crate::progress;

const PACKAGE: &str = "server_hotswap_example";
const APP: &str = "server_hotswap_example/src/app.rs";
const GREETING: &str = "\"Hello from a hot-patched server!\"";
const REPLY: &str = "format!(\"echo: {text}\")";
/// The background load's pace: about 100 requests/s.
const LOAD_EVERY: Duration = Duration::from_millis(10);
const FIRST_BUILD: Duration = Duration::from_secs(30 * 60);

type Ws = WebSocket<MaybeTlsStream<TcpStream>>;

pub fn run(patches: usize) {
    let load_before = load_average();
    // The end-to-end test's scratch copy: its target/ is warm.
    let scratch = Scratch::new("server");
    let port = free_port();
    let mut dx = Dx::serve(
        &scratch,
        "soak-server",
        PACKAGE,
        &[],
        &[("PORT", port.to_string())],
    );
    let _registered = cleanup::group(dx.pid());
    progress!("soak server: dx's first build (log in target/e2e/soak-server-dx.log)");
    dx.wait_for_first_build(FIRST_BUILD);
    poll("the app under dx to answer GET /", FIRST_BUILD, || {
        dx.assert_running();
        http::get(port, "/").ok()
    });
    dx.wait_for_app_connected(EDIT);

    let mut tally = Tally::default();
    let mut keep_alive = http::Connection::open(port).expect("a keep-alive connection");
    let mut ws = open_ws(port);
    let load = Load::start(port);

    let stamp = unix_secs();
    let app = scratch.root().join(APP);
    let (mut greeting, mut reply) = (GREETING.to_string(), REPLY.to_string());
    for i in 1..=patches {
        let text = format!("Soak {i} of {stamp}");
        let new_greeting = format!("{text:?}");
        let new_reply = format!("format!(\"soak {i}: {{text}}\")");
        let hot_before = dx.count("Hot-patching:");
        let saved =
            e2e_support::edit_file(&app, &[(&greeting, &new_greeting), (&reply, &new_reply)]);
        greeting = new_greeting;
        reply = new_reply;

        let shown = e2e_support::poll_every(Duration::from_millis(10), "", EDIT, || {
            let answered = http::get(port, "/").is_ok_and(|response| response.body == text);
            (answered || saved.elapsed() > EDIT).then_some(answered)
        });
        let edit = Edit {
            ms: shown.then(|| ms(saved.elapsed())),
            // A new answer without a new "Hot-patching:" line is a full rebuild.
            hot: shown && wait_for_more(&dx, "Hot-patching:", hot_before),
        };
        tally.edits.push(edit);

        // What was open before the patch still works, with the new code once it landed.
        let expected = |body: &str| !shown || body == text;
        let kept = keep_alive.get("/").ok();
        if !kept.is_some_and(|response| response.status == 200 && expected(&response.body)) {
            progress!("patch {i}: the keep-alive connection failed; reopening it");
            tally.requests_failed += 1;
            keep_alive = http::Connection::open(port).expect("a keep-alive connection");
        }
        tally.requests_sent += 1;
        match ask(&mut ws, "ping") {
            None => {
                progress!("patch {i}: the WebSocket closed; reopening it");
                tally.reconnects += 1;
                ws = open_ws(port);
            }
            Some(answer) if shown && answer != format!("soak {i}: ping") => {
                progress!("patch {i}: the WebSocket answered {answer:?}, old code");
                tally.requests_failed += 1;
            }
            Some(_) => {}
        }
        tally.requests_sent += 1;
        progress!(
            "patch {i}/{patches}: {}{}",
            edit.ms.map_or("LOST".to_string(), secs),
            if edit.hot { "" } else { " (not a hot patch)" }
        );
    }
    let (sent, failed) = load.stop();
    tally.requests_sent += sent;
    tally.requests_failed += failed;
    let stats: serde_json::Value = http::get(port, "/stats")
        .ok()
        .and_then(|response| serde_json::from_str(&response.body).ok())
        .unwrap_or_default();
    if stats["ws_opened"].as_u64() > Some(1) {
        progress!(
            "the server counted {} WebSockets opened",
            stats["ws_opened"]
        );
    }
    tally.leftovers_removed = dx.leftovers_removed();
    tally.report(
        "server",
        "ms from the write of app.rs to GET / answering the new greeting",
        &load_before,
        json!({ "server_stats": stats }),
    );
}

fn open_ws(port: u16) -> Ws {
    let (ws, _) = tungstenite::connect(format!("ws://127.0.0.1:{port}/ws"))
        .unwrap_or_else(|err| panic!("cannot open ws://127.0.0.1:{port}/ws: {err}"));
    if let MaybeTlsStream::Plain(stream) = ws.get_ref() {
        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    }
    ws
}

fn ask(ws: &mut Ws, text: &str) -> Option<String> {
    ws.send(Message::text(text)).ok()?;
    loop {
        match ws.read().ok()? {
            Message::Text(reply) => return Some(reply.to_string()),
            _ => continue,
        }
    }
}

/// About 100 GET / per second on fresh connections, from a thread of its own.
struct Load {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    thread: std::thread::JoinHandle<()>,
}

impl Load {
    fn start(port: u16) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let (sent, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let thread = std::thread::spawn({
            let (stop, sent, failed) = (stop.clone(), sent.clone(), failed.clone());
            move || {
                let mut next = Instant::now();
                while !stop.load(Ordering::SeqCst) {
                    let ok = http::get(port, "/").is_ok_and(|response| response.status == 200);
                    sent.fetch_add(1, Ordering::SeqCst);
                    if !ok {
                        failed.fetch_add(1, Ordering::SeqCst);
                    }
                    next += LOAD_EVERY;
                    if let Some(wait) = next.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    } else {
                        next = Instant::now();
                    }
                }
            }
        });
        Load {
            stop,
            sent,
            failed,
            thread,
        }
    }

    /// Stop; returns (sent, failed).
    fn stop(self) -> (u64, u64) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.thread.join();
        (
            self.sent.load(Ordering::SeqCst),
            self.failed.load(Ordering::SeqCst),
        )
    }
}
