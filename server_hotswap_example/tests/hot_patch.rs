//! End to end: the real `dx serve --hot-patch` patches the running server while
//! a WebSocket and a keep-alive connection opened before the patches stay open.
//!
//! Needs `dx` (dioxus-cli 0.7.10) on PATH: `scripts/test` installs it.

use e2e_support::ws::Socket;
use e2e_support::{free_port, http, wait_until, Dx, Scratch, FIRST_BUILD, PATCH};
use serde_json::Value;

const APP: &str = "server_hotswap_example/src/app.rs";
const STATE: &str = "server_hotswap_example/src/state.rs";

#[test]
fn edits_patch_the_running_server_without_dropping_connections() {
    let scratch = Scratch::new("server");
    let port = free_port();
    let mut dx = Dx::serve(
        &scratch,
        "server",
        "server_hotswap_example",
        &[],
        &[("PORT", port.to_string())],
    );

    let mut server = Server { port, answered: 0 };

    step("waiting for the first build and the server to answer");
    dx.wait_for_first_build(FIRST_BUILD);
    let greeting = wait_until("the server to answer GET /", FIRST_BUILD, || {
        dx.assert_running();
        server.get("/").ok()
    });
    assert_eq!(greeting.body, "Hello from a hot-patched server!");
    dx.wait_for_app_connected(PATCH);

    let mut keep_alive = http::Connection::open(port).unwrap();
    assert_eq!(server.answer(keep_alive.get("/")).unwrap().status, 200);
    let mut ws = Socket::open(port, "/ws");
    assert_eq!(ws.ask("hi"), "echo: hi");
    let before = server.stats();
    let answered_before = server.answered;
    let (greeted_before, instance) = greeted(&mut server);
    assert!(
        greeted_before >= 2,
        "GET / counts in a static: {greeted_before}"
    );

    step("patching the greeting and the WebSocket reply in one save");
    scratch.edit_all(
        APP,
        &[
            (
                "\"Hello from a hot-patched server!\"",
                "\"Hello, patched!\"",
            ),
            (
                "format!(\"echo: {text}\")",
                "format!(\"patched echo: {text}\")",
            ),
            ("\"greeted {} times", "\"patched: greeted {} times"),
        ],
    );
    wait_for_body(&mut dx, &mut server, "/", "Hello, patched!");
    dx.wait_for_line("Hot-patching:", 0, PATCH);

    assert_eq!(
        ws.ask("hi"),
        "patched echo: hi",
        "the WebSocket opened before the patch must answer with the new code"
    );
    assert_eq!(
        server.answer(keep_alive.get("/")).unwrap().body,
        "Hello, patched!",
        "the keep-alive connection opened before the patch must still serve"
    );
    // The count goes on from before the patch: a restarted server would have
    // counted only (some of) the requests answered since.
    let answered = server.answered - answered_before;
    let after = server.stats();
    assert!(
        after["requests"].as_u64() > before["requests"].as_u64().map(|n| n + answered),
        "the request counter restarted: {before}, then {answered} answers, then {after}"
    );
    assert_eq!(after["ws_open"], 1, "{after}");
    assert!(after["patches"].as_u64() >= Some(1), "{after}");

    step("patched code counts in the running server's statics");
    // `index` (patched) counts GET / in a static; main.rs's service (never
    // patched) reads the same static into `x-greeted`; `/greeted` (patched)
    // reads it and the `LazyLock` made once at start-up.
    let by_unpatched = greeted_by_unpatched(&mut server);
    assert!(
        by_unpatched > greeted_before,
        "{greeted_before} then {by_unpatched}"
    );
    assert_eq!(
        greeted_by_unpatched(&mut server),
        by_unpatched + 1,
        "GET / in patched code must count where the never-patched service reads"
    );
    let report = server.get("/greeted").unwrap().body;
    assert_eq!(
        report,
        format!(
            "patched: greeted {} times by instance {instance}",
            by_unpatched + 1
        ),
        "patched code must see the running server's count and its one LazyLock value"
    );
    dx.wait_for_line("patch bound", 0, PATCH);

    step("adding a route in build_router, with a log line (a new static beside its kind)");
    scratch.edit(
        APP,
        ".route(\"/ws\", get(ws_upgrade))",
        ".route(\"/ws\", get(ws_upgrade))\n        .route(\"/added\", get(|| async { tracing::info!(\"added\"); \"a new route\" }))",
    );
    wait_for_body(&mut dx, &mut server, "/added", "a new route");

    step("saving an edit that does not compile");
    let failures_before = dx.count("Build failed");
    scratch.edit(APP, "\"Hello, patched!\"", "\"Hello, broken!\" + 1");
    dx.wait_for_line("Build failed", failures_before, PATCH);
    // Nothing to wait for: dx has given up on this edit. That the server did
    // not restart either shows in the counters below.
    assert_eq!(server.get("/").unwrap().body, "Hello, patched!");
    assert_eq!(ws.ask("still there?"), "patched echo: still there?");

    step("fixing the edit");
    scratch.edit(APP, "\"Hello, broken!\" + 1", "\"Hello, fixed!\"");
    wait_for_body(&mut dx, &mut server, "/", "Hello, fixed!");
    assert_eq!(
        server.answer(keep_alive.get("/")).unwrap().body,
        "Hello, fixed!"
    );
    assert_eq!(ws.ask("bye"), "patched echo: bye");

    let answered = server.answered - answered_before;
    let last = server.stats();
    assert!(
        last["requests"].as_u64() > before["requests"].as_u64().map(|n| n + answered),
        "the request counter restarted: {before}, then {answered} answers, then {last}"
    );
    assert_eq!(
        last["ws_opened"], 1,
        "the WebSocket never reconnected: {last}"
    );
    assert!(last["patches"].as_u64() >= Some(3), "{last}");
    assert!(
        dx.count("Hot-patching:") >= 3,
        "every good edit was a hot patch, not a rebuild"
    );

    step("a static whose type changes is not patched: dx rebuilds, nothing corrupts");
    let connections = dx.app_connections();
    dx.save_expecting_rebuild(
        "server_hotswap_example/src/app.rs: static GREETED changed type",
        || {
            scratch.edit_all(
                APP,
                &[
                    (
                        "static GREETED: AtomicU64 = AtomicU64::new(0);",
                        "static GREETED: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);",
                    ),
                    ("GREETED.load(Relaxed)\n", "GREETED.load(Relaxed) as u64\n"),
                ],
            )
        },
    );
    let fresh = wait_until("the rebuilt server to answer /greeted", FIRST_BUILD, || {
        dx.assert_running();
        server
            .get("/greeted")
            .ok()
            .filter(|r| !r.body.ends_with(&instance) && r.body.starts_with("patched: greeted"))
    });
    let restarted = server.stats();
    assert_eq!(
        restarted["patches"], 0,
        "a new process, not a patch: {restarted} ({})",
        fresh.body
    );
    let counted = greeted_by_unpatched(&mut server);
    let (count, instance) = greeted(&mut server);
    assert_eq!(count, counted, "the new process counts in its own one copy");

    dx.wait_for_app_reconnected(connections, PATCH);

    step("a body-only edit beside a struct definition still patches");
    let patches_before = dx.count("Hot-patching:");
    scratch.edit(
        STATE,
        "patches: self.patches.load(Relaxed),",
        "patches: self.patches.load(Relaxed) + 1000,",
    );
    dx.wait_for_line("Hot-patching:", patches_before, PATCH);
    let patched = wait_until("/stats to show the patched snapshot", PATCH, || {
        Some(server.stats()).filter(|stats| stats["patches"].as_u64() >= Some(1000))
    });
    assert_eq!(
        greeted(&mut server).1,
        instance,
        "patched, not restarted: {patched}"
    );

    step("a field added in front of Stats is rebuilt, not patched into the live object");
    dx.save_expecting_rebuild(
        "server_hotswap_example/src/state.rs: struct Stats changed",
        || {
            scratch.edit(
                STATE,
                "pub struct Stats {\n",
                "pub struct Stats {\n    started: AtomicU64,\n",
            )
        },
    );
    wait_until("the rebuilt server to answer /greeted", FIRST_BUILD, || {
        dx.assert_running();
        server
            .get("/greeted")
            .ok()
            .filter(|r| !r.body.ends_with(&instance))
    });
}

/// GET /, counted by patched code in a static, and that static as the
/// never-patched service read it (`x-greeted`).
fn greeted_by_unpatched(server: &mut Server) -> u64 {
    let response = server.get("/").unwrap();
    response.header("x-greeted").unwrap().parse().unwrap()
}

/// `/greeted`'s count and instance id.
fn greeted(server: &mut Server) -> (u64, String) {
    let body = server.get("/greeted").unwrap().body;
    let words: Vec<&str> = body.split(' ').collect();
    match words[..] {
        [.., "greeted", count, "times", "by", "instance", id] => {
            (count.parse().unwrap(), id.to_string())
        }
        _ => panic!("unexpected /greeted: {body:?}"),
    }
}

fn step(what: &str) {
    eprintln!("== {what}");
}

fn wait_for_body(dx: &mut Dx, server: &mut Server, path: &str, body: &str) {
    wait_until(&format!("GET {path} to answer {body:?}"), PATCH, || {
        dx.assert_running();
        server
            .get(path)
            .ok()
            .filter(|response| response.body == body)
    });
}

/// The server under test, and how many of the test's requests it answered.
struct Server {
    port: u16,
    answered: u64,
}

impl Server {
    fn get(&mut self, path: &str) -> std::io::Result<http::Response> {
        let response = http::get(self.port, path);
        self.answer(response)
    }

    /// Count a response from any connection to the server.
    fn answer(
        &mut self,
        response: std::io::Result<http::Response>,
    ) -> std::io::Result<http::Response> {
        if response.is_ok() {
            self.answered += 1;
        }
        response
    }

    fn stats(&mut self) -> Value {
        serde_json::from_str(&self.get("/stats").unwrap().body).unwrap()
    }
}
