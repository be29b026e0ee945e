//! A save dx 0.7.10 drops gets one line from the dev command.
//!
//! The app made by `scripts/new server` runs under its `./dev`, which starts
//! `save_watch` beside dx (`watch_saves` in `templates/dev-lib.sh`). A save
//! made after the first build compiled the app but before the app connected
//! is dropped: dx has no ASLR reference to patch against, and says only
//! "Ignoring hotpatch since there is no ASLR reference. Is the client
//! connected?" (no file, no advice). The line must name the file and say to
//! save again; saving again once the app is connected patches it.
//!
//! The save is made once dx's log shows the fat link (rustc has read the
//! sources, so the build cannot have it): the link, the launch and the app's
//! start are the window before it connects.
//!
//! Needs dx 0.7.10 on PATH: `scripts/test` installs it.

use e2e_support::{free_port, http, wait_until, Dx, FIRST_BUILD, PATCH};
use starter::App;

#[test]
fn a_save_made_before_the_app_connected_gets_a_line_and_saving_again_patches() {
    // The folder (and its warm target/) new_server.rs uses: test binaries run one at a time.
    let app = App::create("server", "my_server");
    let (port, dx_port) = (free_port(), free_port());
    let mut dev = app.dev();
    dev.env("PORT", port.to_string())
        .env("DX_PORT", dx_port.to_string());
    // dx's own log, at every level (the file save_watch reads): the last
    // session's, kept with target/, must not be read as this one's.
    let log = app.path("target/hotswap-dx.log");
    let _ = std::fs::remove_file(&log);
    let mut dx = Dx::launch("starter-unanswered-save", dev, dx_port);

    wait_until("dx's first build to link the app", FIRST_BUILD, || {
        dx.assert_running();
        let text = std::fs::read_to_string(&log).ok()?;
        text.contains("Fat linking with args").then_some(())
    });
    app.edit(
        "src/app.rs",
        &[("\"Hello from a hot-patched server!\"", "\"Hello, early!\"")],
    );

    let line = dx.wait_for_line("dx did not react to the save of src/app.rs", 0, PATCH);
    assert!(
        line.contains("the app had not connected yet") && line.trim_end().ends_with("save again"),
        "the line says why and what to do: {line}"
    );
    assert!(
        dx.count("Ignoring hotpatch since there is no ASLR reference") > 0,
        "dx itself dropped the save"
    );
    assert_eq!(
        http::get(port, "/").unwrap().body,
        "Hello from a hot-patched server!",
        "the app runs without the dropped save"
    );

    dx.wait_for_app_connected(PATCH);
    app.edit(
        "src/app.rs",
        &[("\"Hello, early!\"", "\"Hello, saved again!\"")],
    );
    wait_until("GET / to answer with the text saved again", PATCH, || {
        dx.assert_running();
        http::get(port, "/")
            .ok()
            .filter(|response| response.body == "Hello, saved again!")
    });
}
