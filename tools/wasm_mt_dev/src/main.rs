//! `wasm_mt_dev [--workspace DIR] [--package NAME] [--bin NAME] [--port PORT]`
//! (`wasm_mt_dev --version` prints its version, hotswap_runtime's: the page
//! loader in both is one contract)
//!
//! Builds a threaded wasm app, serves it on http://127.0.0.1:PORT/ (default
//! `$PORT`, else 8090; 0 picks a free one) and hot-patches it on every save.
//! The app is a package of the Cargo workspace of DIR (default: here), found
//! with `cargo metadata` (`locate`): `--package` if given, else the
//! workspace's only package with a binary; its binary `--bin`, else the only
//! one, its `default-run` or the one named like the package.
//! The line `wasm_mt_dev: serving http://127.0.0.1:PORT/ (build id N)` says
//! when it is ready. Run by `scripts/dev mt`.
//!
//! Cargo also runs this binary as the rustc wrapper of the base build (see
//! `capture`), which is what `WASM_MT_DEV_CAPTURE` in the environment means.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use dioxus_devtools_types::DevserverMsg;
use wasm_mt_dev::base::{BuildError, Config};
use wasm_mt_dev::locate::locate;
use wasm_mt_dev::server::{self, Hub};
use wasm_mt_dev::session::{error_html, Outcome, Session};
use wasm_mt_dev::watch::{package_folders, Saves};
use wasm_mt_dev::{capture, preflight, say};

const USAGE: &str =
    "usage: wasm_mt_dev [--workspace DIR] [--package NAME] [--bin NAME] [--port PORT]";

fn main() -> ExitCode {
    if let Some(dir) = std::env::var_os(capture::CAPTURE_DIR_VAR) {
        return capture::run_wrapper(&PathBuf::from(dir), std::env::args().skip(1).collect());
    }
    if std::env::args().skip(1).eq(["--version"]) {
        println!("wasm_mt_dev {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    let mut workspace = PathBuf::from(".");
    let mut package = None;
    let mut bin = None;
    let mut port = std::env::var("PORT").unwrap_or_else(|_| "8090".into());
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        match (flag.as_str(), args.next()) {
            ("--workspace", Some(v)) => workspace = v.into(),
            ("--package", Some(v)) => package = Some(v),
            ("--bin", Some(v)) => bin = Some(v),
            ("--port", Some(v)) => port = v,
            _ => return fail(USAGE),
        }
    }
    let Ok(port) = port.parse::<u16>() else {
        return fail(&format!("bad port `{port}`\n{USAGE}"));
    };
    let Ok(workspace) = workspace.canonicalize() else {
        return fail(&format!("no folder {}", workspace.display()));
    };
    let app = match locate(&workspace, package.as_deref(), bin.as_deref()) {
        Ok(app) => app,
        Err(e) => return fail(&e),
    };
    if let Err(e) = preflight::check(&app.workspace) {
        return fail(&e);
    }
    let Ok(wrapper) = std::env::current_exe() else {
        return fail("cannot find my own executable to use as the rustc wrapper");
    };
    let config = Config::new(&app, wrapper);
    match run(config, port) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

fn fail(message: &str) -> ExitCode {
    say(message);
    ExitCode::FAILURE
}

fn run(config: Config, port: u16) -> Result<(), String> {
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(("127.0.0.1", port)))
        .map_err(|e| format!("cannot listen on 127.0.0.1:{port}: {e}"))?;
    let addr = server::local_addr(&listener);

    let mut session = first_build(config)?;
    let hub = Hub::new(session.build_id());
    let router = server::router(
        Arc::clone(&hub),
        session.config.dist_dir(),
        session.config.patches_dir(),
    );
    runtime.spawn(async move {
        if let Err(e) = server::serve(listener, router).await {
            say(format!("the server stopped: {e}"));
        }
    });
    say(format!(
        "serving http://{addr}/ (build id {})",
        session.build_id()
    ));

    let saves = Saves::watch(&session.source_dirs()).map_err(|e| e.to_string())?;
    session.warm_up();
    while let Some((files, saved_at)) = saves.next() {
        handle(&mut session, &hub, &files, saved_at);
    }
    Ok(())
}

/// The first build, retried after each save until it compiles (a page cannot be
/// served without it).
fn first_build(config: Config) -> Result<Session, String> {
    loop {
        match Session::start(config.clone()) {
            Ok(session) => return Ok(session),
            Err(BuildError::Compile(errors)) => {
                eprint!("{errors}");
                say("the first build failed; fix the code and save to retry");
                let saves =
                    Saves::watch(&package_folders(&config.workspace)).map_err(|e| e.to_string())?;
                saves.next();
            }
            Err(BuildError::Tool(e)) => return Err(e.to_string()),
        }
    }
}

fn handle(session: &mut Session, hub: &Hub, files: &[PathBuf], saved_at: std::time::Instant) {
    hub.send(&DevserverMsg::HotPatchStart);
    hub.status(
        "Building",
        Some(serde_json::json!({"progress": 0.0, "build_message": "Hot-patching..."})),
    );
    match session.on_change(files, saved_at) {
        Outcome::Patched { message, .. } => {
            hub.send(&message);
            hub.status("Ready", None);
        }
        Outcome::CompileError(errors) => {
            eprint!("{errors}");
            say("the save does not compile; the page keeps running the last good code");
            hub.send(&DevserverMsg::FullReloadFailed);
            hub.status(
                "BuildError",
                Some(serde_json::json!({"error": error_html(&errors)})),
            );
        }
        Outcome::NeedsRebuild(reason) => {
            say(format!("cannot hot-patch this save ({reason}): rebuilding"));
            hub.send(&DevserverMsg::FullReloadStart);
            match session.rebuild() {
                Ok(()) => {
                    session.warm_up();
                    hub.new_base(session.build_id());
                    hub.status("Ready", None);
                    hub.send(&DevserverMsg::FullReloadCommand);
                }
                Err(BuildError::Compile(errors)) => {
                    eprint!("{errors}");
                    hub.send(&DevserverMsg::FullReloadFailed);
                    hub.status(
                        "BuildError",
                        Some(serde_json::json!({"error": error_html(&errors)})),
                    );
                }
                Err(BuildError::Tool(e)) => {
                    say(format!("the rebuild failed: {e}"));
                    hub.send(&DevserverMsg::FullReloadFailed);
                    hub.status(
                        "BuildError",
                        Some(serde_json::json!({"error": error_html(&e.to_string())})),
                    );
                }
            }
        }
        Outcome::Ignored => hub.status("Ready", None),
    }
}
