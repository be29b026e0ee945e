//! A package with a library and a binary: dx 0.7.10 reports a patch of the
//! library's code ("Hot-patching: src/lib.rs took N ms") and the app keeps
//! running the old code (dioxus #5778). The dev command says so: once at
//! start, and for each such save.
//!
//! The app made by `scripts/new server` gets a `src/lib.rs` its `app.rs`
//! uses, as a user splitting an app into a library and a binary would.
//!
//! Needs dx 0.7.10 on PATH: `scripts/test` installs it.

use e2e_support::{free_port, http, wait_until, Dx, FIRST_BUILD, PATCH};
use starter::App;

#[test]
fn a_save_in_the_library_of_a_package_with_a_binary_gets_a_line() {
    // The folder (and its warm target/) new_server.rs uses: test binaries run one at a time.
    let app = App::create("server", "my_server");
    std::fs::write(
        app.path("src/lib.rs"),
        "pub fn words() -> String {\n    \"from the library\".to_string()\n}\n",
    )
    .unwrap();
    app.edit(
        "src/app.rs",
        &[(
            "\"Hello from a hot-patched server!\".to_string()",
            "format!(\"Hello {}\", my_server::words())",
        )],
    );
    let (port, dx_port) = (free_port(), free_port());
    let mut dev = app.dev();
    dev.env("PORT", port.to_string())
        .env("DX_PORT", dx_port.to_string());
    let mut dx = Dx::launch("starter-lib-and-binary", dev, dx_port);
    let warned = dx.wait_for_line("my_server has a library and a binary", 0, FIRST_BUILD);
    assert!(warned.contains("#5778"), "{warned}");

    dx.wait_for_first_build(FIRST_BUILD);
    dx.wait_for_app_connected(PATCH);
    let answer = wait_until("the app to answer GET /", PATCH, || {
        http::get(port, "/").ok()
    });
    assert_eq!(answer.body, "Hello from the library");

    app.edit(
        "src/lib.rs",
        &[("from the library", "from the patched library")],
    );
    let line = dx.wait_for_line("the save of src/lib.rs did not reach the app", 0, PATCH);
    assert!(line.contains("#5778"), "the line names the limit: {line}");
    assert!(dx.count("Hot-patching:") >= 1, "dx reported a patch");
    assert_eq!(
        http::get(port, "/").unwrap().body,
        "Hello from the library",
        "dx 0.7.10 patched the library after all: update save_watch, the README and this test"
    );
}
