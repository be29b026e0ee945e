//! End to end: a save in a library crate of the app's own workspace, under
//! the real `dx serve --hot-patch` with the dev commands' `save_watch`.
//!
//! `/summary` is written by `summary` (a direct dependency), which writes its
//! counts with `plural` (a dependency of a dependency). A save in `summary`
//! patches the running server: same process (the `/greeted` instance and the
//! request count go on), the WebSocket opened before stays open. dx 0.7.10
//! does not watch `plural` (dioxus #5314): a save there gets save_watch's one
//! line instead, and the server keeps running the old code. A save that
//! does not parse gets a line; saves that change no code (back to what runs,
//! a comment) get none. A save in
//! `hotswap_runtime`, which the other examples use too, fails in dx
//! (dioxus #5540: it cannot replay the members it did not build) and gets a
//! line naming that.
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

    // (In app.rs: dx's late word on the save of summary/src/lib.rs just
    // patched, which can come after a save made at once, names that file only.)
    eprintln!("saving app.rs with a syntax error, then as it was, then with a comment");
    let app = scratch.root().join("server_hotswap_example/src/app.rs");
    let app_text = std::fs::read_to_string(&app).unwrap();
    std::fs::write(&app, format!("{app_text}\nfn broken( {{\n")).unwrap();
    let line = dx.wait_for_line(
        "dx did not react to the save of server_hotswap_example/src/app.rs",
        0,
        PATCH,
    );
    assert!(line.contains("does not parse"), "{line}");
    // Back to what the server runs, then a comment: no code changed, so
    // neither needs an answer (dx ignores both, save_watch stays silent:
    // counted below, once a later line shows time has passed).
    std::fs::write(&app, &app_text).unwrap();
    std::fs::write(&app, format!("{app_text}\n// a comment\n")).unwrap();

    eprintln!("saving plural/src/lib.rs (a dependency of a dependency)");
    dx.save_in_unwatched_plural(&scratch);
    assert_eq!(
        dx.count("dx did not react"),
        2,
        "only the syntax error and plural got a line"
    );
    let body = http::get(port, "/summary").unwrap().body;
    assert!(
        !body.contains("(patched plural)"),
        "dx 0.7.10 did patch plural: update save_watch, the README's limit and this test: {body}"
    );
    assert_eq!(ws.ask("hi"), "echo: hi", "the server runs on");

    // Last: once dx has failed to patch a crate, every later patch carries it.
    eprintln!("saving hotswap_runtime/src/lib.rs (a direct dependency the other examples use too)");
    let lib = scratch.root().join("hotswap_runtime/src/lib.rs");
    let text = std::fs::read_to_string(&lib).unwrap();
    // Code, not a comment: dx ignores a save whose syntax tree did not change.
    std::fs::write(
        &lib,
        format!("{text}\n#[doc(hidden)]\npub fn saved_by_workspace_crates_test() {{}}\n"),
    )
    .unwrap();
    let line = dx.wait_for_line(
        "the save of hotswap_runtime/src/lib.rs did not reach the app",
        0,
        PATCH,
    );
    assert!(
        line.contains("#5540") && dx.count("Missing rustc args for replay") > 0,
        "dx could not replay a member it did not build, and the line says so: {line}"
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
