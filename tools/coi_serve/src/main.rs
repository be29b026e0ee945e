//! `coi_serve [--dir DIR] [--port PORT]`: serves DIR (default `dist/mt`) on
//! 127.0.0.1:PORT (default `$PORT`, else 8090; 0 picks a free port) with the
//! cross-origin isolation headers. The first line on stdout is
//! `coi_serve: serving DIR at http://127.0.0.1:PORT/`, so a test that starts
//! it with `--port 0` can read the port it got.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: coi_serve [--dir DIR] [--port PORT]";

fn main() -> ExitCode {
    let mut dir = PathBuf::from("dist/mt");
    let mut port = std::env::var("PORT").unwrap_or_else(|_| "8090".into());
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        match (flag.as_str(), args.next()) {
            ("--dir", Some(value)) => dir = value.into(),
            ("--port", Some(value)) => port = value,
            _ => return fail(USAGE),
        }
    }
    let Ok(port) = port.parse::<u16>() else {
        return fail(&format!("bad port `{port}`\n{USAGE}"));
    };
    let server = match coi_serve::Server::bind(&dir, port) {
        Ok(server) => server,
        Err(e) => {
            return fail(&format!(
                "cannot serve {} on port {port}: {e}",
                dir.display()
            ))
        }
    };
    println!(
        "coi_serve: serving {} at http://{}/",
        dir.display(),
        server.addr()
    );
    let _ = std::io::stdout().flush();
    match server.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&format!("the server stopped: {e}")),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("coi_serve: {message}");
    ExitCode::FAILURE
}
