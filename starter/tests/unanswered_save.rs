//! A save dx 0.7.10 drops without a word gets one line from the dev command.
//!
//! The app made by `scripts/new server` runs under its `./dev`, which starts
//! `save_watch` beside dx (`watch_saves` in `templates/dev-lib.sh`). A save
//! made while dx's first build runs is held by dx and then dropped, because
//! the app has not connected yet (dx's own warning, "Ignoring hotpatch since
//! there is no ASLR reference. Is the client connected?", names neither the
//! file nor what to do): the line must say so. Saving again once the app is
//! connected patches it, as the line advises.
//!
//! Needs dx 0.7.10 on PATH: `scripts/test` installs it.

use e2e_support::{free_port, http, wait_until, Dx, FIRST_BUILD, PATCH};
use starter::App;

#[test]
fn a_save_made_before_the_app_connected_gets_a_line_and_saving_again_patches() {
    // The folder (and its warm target/) new_server.rs uses too: test binaries run one at a time.
    let app = App::create("server", "my_server");
    let (port, dx_port) = (free_port(), free_port());
    let mut dev = app.dev();
    dev.env("PORT", port.to_string())
        .env("DX_PORT", dx_port.to_string());
    let mut dx = Dx::launch("starter-unanswered-save", dev, dx_port);

    // dx's first line comes once its watcher is up; the first build follows
    // (the app is new, so its crate compiles: seconds at least).
    dx.wait_for_line("Serving your app", 0, FIRST_BUILD);
    assert_eq!(
        dx.count("Build completed successfully"),
        0,
        "the save must come before the first build ends"
    );
    app.edit(
        "src/app.rs",
        &[("\"Hello from a hot-patched server!\"", "\"Hello, early!\"")],
    );

    let line = dx.wait_for_line("dx did not react to the save of src/app.rs", 0, FIRST_BUILD);
    assert!(
        line.contains("the app had not connected yet") && line.trim_end().ends_with("save again"),
        "the line says why and what to do: {line}"
    );
    assert!(
        dx.count("Ignoring hotpatch since there is no ASLR reference") > 0,
        "dx itself dropped the save (not the watcher's guess)"
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
