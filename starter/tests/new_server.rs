//! End to end, the way the README tells a user: `scripts/new server <dir>`
//! outside the checkout, `cd <dir> && ./dev`, edit `src/app.rs`. The real dx
//! patches the new app: `/` answers with the new text, and a WebSocket opened
//! before the patch stays open and answers with the new code.
//!
//! Needs dx 0.7.10 on PATH: `scripts/test` installs it.

use e2e_support::ws::Socket;
use e2e_support::{free_port, http, wait_until, Dx, FIRST_BUILD, PATCH};
use starter::App;

#[test]
fn a_new_server_app_is_patched_while_a_websocket_stays_open() {
    let app = App::create("server", "my_server");
    let (port, dx_port) = (free_port(), free_port());
    let mut dev = app.dev();
    dev.env("PORT", port.to_string())
        .env("DX_PORT", dx_port.to_string());
    let mut dx = Dx::launch("starter-server", dev, dx_port);

    dx.wait_for_first_build(FIRST_BUILD);
    let greeting = wait_until("the new app to answer GET /", FIRST_BUILD, || {
        dx.assert_running();
        http::get(port, "/").ok()
    });
    assert_eq!(greeting.body, "Hello from a hot-patched server!");
    dx.wait_for_app_connected(PATCH);
    let mut ws = Socket::open(port, "/ws");
    assert_eq!(ws.ask("hi"), "echo: hi");

    app.edit(
        "src/app.rs",
        &[
            (
                "\"Hello from a hot-patched server!\"",
                "\"Hello, patched!\"",
            ),
            (
                "format!(\"echo: {text}\")",
                "format!(\"patched echo: {text}\")",
            ),
        ],
    );
    wait_until("GET / to answer with the new text", PATCH, || {
        dx.assert_running();
        http::get(port, "/")
            .ok()
            .filter(|response| response.body == "Hello, patched!")
    });
    dx.wait_for_line("Hot-patching:", 0, PATCH);
    // The app's log subscriber (templates/server/src/main.rs) carries the
    // library's report of each patch to dx's output: a failed patch shows there too.
    dx.wait_for_line("patched in", 0, PATCH);
    assert_eq!(
        ws.ask("hi"),
        "patched echo: hi",
        "the WebSocket opened before the patch stays open and runs the new code"
    );
}
