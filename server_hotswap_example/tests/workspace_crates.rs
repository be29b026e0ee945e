//! End to end: a save in a library crate of the app's own workspace, under
//! the real `dx serve --hot-patch` with the dev commands' `save_watch`.
//!
//! `/summary` is written by `summary` (a direct dependency), which writes its
//! counts with `plural` (a dependency of a dependency). A save in `summary`
//! patches the running server: same process (the `/greeted` instance and the
//! request count go on), the WebSocket opened before stays open. dx 0.7.10
//! does not watch `plural` (dioxus #5314): a save there gets save_watch's one
//! line instead, and the server keeps running the old code.
//!
//! Needs `dx` (dioxus-cli 0.7.10) on PATH: `scripts/test` installs it.

use e2e_support::ws::Socket;
use e2e_support::{free_port, http, wait_until, Dx, Scratch, FIRST_BUILD, PATCH};

#[test]
fn a_save_in_a_direct_library_crate_patches_and_one_in_an_indirect_crate_gets_a_line() {
    // The scratch copy (and warm target/) hot_patch.rs uses: test binaries run one at a time.
    let scratch = Scratch::new("server");
    let port = free_port();
    let mut dx = Dx::serve_watched(
        &scratch,
        "server-crates",
        "server_hotswap_example",
        &[],
        &[("PORT", port.to_string())],
    );
    dx.wait_for_first_build(FIRST_BUILD);
    let first = wait_until("the server to answer GET /summary", FIRST_BUILD, || {
        dx.assert_running();
        http::get(port, "/summary").ok()
    });
    assert!(
        first.body.ends_with("answered, 0 WebSockets open"),
        "{}",
        first.body
    );
    dx.wait_for_app_connected(PATCH);
    let mut ws = Socket::open(port, "/ws");
    assert_eq!(ws.ask("hi"), "echo: hi");
    let instance = http::get(port, "/greeted").unwrap().body;
    let requests_before = requests(&http::get(port, "/summary").unwrap().body);

    eprintln!("saving summary/src/lib.rs (a direct dependency)");
    scratch.edit(
        "summary/src/lib.rs",
        "\"{} answered, {} open\"",
        "\"{} answered (patched summary), {} open\"",
    );
    let patched = wait_until("/summary to show the patched summary", PATCH, || {
        dx.assert_running();
        http::get(port, "/summary")
            .ok()
            .filter(|response| response.body.contains("(patched summary)"))
    });
    dx.wait_for_line("Hot-patching: summary/src/lib.rs", 0, PATCH);
    assert!(
        patched
            .body
            .ends_with("(patched summary), 1 WebSocket open"),
        "the WebSocket opened before the patch is still open: {}",
        patched.body
    );
    assert_eq!(ws.ask("hi"), "echo: hi", "and it still answers");
    assert!(
        requests(&patched.body) > requests_before,
        "the request count goes on: {} then {}",
        requests_before,
        patched.body
    );
    assert_eq!(
        http::get(port, "/greeted").unwrap().body.rsplit(' ').next(),
        instance.rsplit(' ').next(),
        "the same process answers"
    );

    eprintln!("saving plural/src/lib.rs (a dependency of a dependency)");
    scratch.edit(
        "plural/src/lib.rs",
        "format!(\"{n} {noun}s\")",
        "format!(\"{n} {noun}s (patched plural)\")",
    );
    let line = dx.wait_for_line(
        "dx did not react to the save of plural/src/lib.rs",
        0,
        PATCH,
    );
    assert!(
        line.contains("does not watch plural") && line.contains("#5314"),
        "the line names the limit: {line}"
    );
    let body = http::get(port, "/summary").unwrap().body;
    assert!(
        !body.contains("(patched plural)"),
        "dx 0.7.10 did patch plural: update save_watch, the README's limit and this test: {body}"
    );
    assert_eq!(ws.ask("hi"), "echo: hi", "the server runs on");
}

/// The request count at the start of a `/summary` body.
fn requests(summary: &str) -> u64 {
    summary
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {summary:?}"))
}
