//! The native client: a background thread that reads `/_dioxus` and applies patches.
//!
//! dx tells the app where it is through environment variables when it launches
//! it. Without them (plain `cargo run`) there is no dev server and we return at
//! once: no thread, no polling.

use std::time::Instant;

use subsecond::JumpTable;

use crate::backoff::Backoff;
use crate::session::{Platform, Session};
use crate::status::Status;

pub(crate) fn connect(on_patch: impl Fn() + Send + Sync + 'static) {
    if let Some(endpoint) = dioxus_cli_config::devserver_ws_endpoint() {
        connect_at(endpoint, on_patch);
    }
}

fn connect_at(endpoint: String, on_patch: impl Fn() + Send + Sync + 'static) {
    let session = Session::new(Native {
        started: Instant::now(),
    });
    session.on_landed(on_patch);
    let url = format!(
        "{endpoint}?aslr_reference={}&build_id={}&pid={}",
        subsecond::aslr_reference(),
        dioxus_cli_config::build_id(),
        std::process::id()
    );
    let spawned = std::thread::Builder::new()
        .name("hotswap-devserver".into())
        .spawn(move || run(&session, &endpoint, &url));
    if let Err(err) = spawned {
        crate::log_error(&format!(
            "cannot start the dev-server thread, hot-patching is off: {err}"
        ));
    }
}

/// Read frames until the connection drops, then reconnect with back-off.
///
/// dx restarts the app after a full rebuild, so a lost connection usually means
/// dx itself went away; retrying slowly costs nothing and covers a dx restart.
fn run(session: &Session<Native>, endpoint: &str, url: &str) {
    let mut backoff = Backoff::default();
    loop {
        match tungstenite::connect(url) {
            Ok((mut socket, _)) => {
                backoff.reset();
                session.platform().report(Status::Connected {
                    endpoint: endpoint.to_string(),
                });
                let reason = loop {
                    match socket.read() {
                        Ok(tungstenite::Message::Text(text)) => session.handle(&text),
                        Ok(tungstenite::Message::Close(_)) => break "closed by dx".to_string(),
                        Ok(_) => {}
                        Err(err) => break err.to_string(),
                    }
                };
                session.platform().report(Status::Disconnected { reason });
            }
            Err(err) if backoff.is_first() => session.platform().report(Status::Disconnected {
                reason: format!("cannot reach {endpoint}: {err}"),
            }),
            Err(_) => {}
        }
        std::thread::sleep(backoff.next());
    }
}

struct Native {
    started: Instant,
}

impl Platform for Native {
    fn report(&self, status: Status) {
        // dx shows a child's stderr as errors: keep good news on stdout.
        if status.is_error() {
            eprintln!("[hotswap] {status}");
        } else {
            println!("[hotswap] {status}");
        }
    }

    fn now_ms(&self) -> f64 {
        self.started.elapsed().as_secs_f64() * 1000.0
    }

    fn own_pid(&self) -> Option<u32> {
        Some(std::process::id())
    }

    fn apply(&self, table: JumpTable) -> Result<(), String> {
        let lib = table.lib.display().to_string();
        // subsecond unwraps a few lookups inside; a panic here must not take the
        // connection thread (and with it every later patch) down.
        let applied = std::panic::catch_unwind(|| {
            // SAFETY: the table comes from the dx that built this very process
            // (matching pid), which is the contract `apply_patch` asks for.
            unsafe { subsecond::apply_patch(table) }
        });
        let err = match applied {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(err)) => format!("{err} ({lib})"),
            Err(panic) => format!("{} ({lib})", crate::panic_message(&panic)),
        };
        if let Some(advice) = static_tls_advice(&err) {
            static ADVISED: std::sync::Once = std::sync::Once::new();
            ADVISED.call_once(|| crate::log_error(advice));
        }
        Err(err)
    }
}

/// What to do when glibc ran out of static TLS for patch libraries, if that is what `error` says.
///
/// Each patch is a shared library compiled like the executable, so its
/// thread-locals use static TLS, and every `dlopen` takes a piece of glibc's
/// small reserve for it: after some 50 patches the reserve is gone and every
/// later patch fails until the app restarts with a bigger one.
fn static_tls_advice(error: &str) -> Option<&'static str> {
    error.contains("static TLS").then_some(
        "glibc's reserve of static TLS for patch libraries is used up, so no more patches can load: \
         restart dx with GLIBC_TUNABLES=glibc.rtld.optional_static_tls=1048576 in its environment \
         (dx passes it to the app; scripts/dev sets it)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_tls_exhaustion_comes_with_advice() {
        let dlopen = "Failed to load library: /t/libapp-patch-1.so: cannot allocate memory in static TLS block";
        assert!(static_tls_advice(dlopen).is_some_and(|advice| advice.contains("GLIBC_TUNABLES")));
        assert_eq!(static_tls_advice("no such file"), None);
    }

    #[test]
    fn a_missing_library_is_a_failed_patch_not_a_crash() {
        let native = Native {
            started: Instant::now(),
        };
        let table = JumpTable {
            lib: "/nonexistent/libpatch.so".into(),
            map: Default::default(),
            aslr_reference: 0,
            new_base_address: 0,
            ifunc_count: 0,
        };
        let err = native.apply(table).unwrap_err();
        assert!(err.contains("/nonexistent/libpatch.so"), "{err}");
    }

    #[test]
    // The callback's error type is tungstenite's, not ours to shrink.
    #[allow(clippy::result_large_err)]
    fn survives_bad_frames_and_reconnects() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("ws://{}/_dioxus", listener.local_addr().unwrap());
        connect_at(endpoint, || {});

        let (stream, _) = listener.accept().unwrap();
        let mut query = String::new();
        let mut socket = tungstenite::accept_hdr(
            stream,
            |req: &tungstenite::handshake::server::Request, resp| {
                query = req.uri().query().unwrap_or_default().to_string();
                Ok(resp)
            },
        )
        .unwrap();
        assert!(
            query.contains(&format!("pid={}", std::process::id())),
            "{query}"
        );
        assert!(query.contains("aslr_reference="), "{query}");
        for frame in ["{garbage", "\"HotPatchStart\"", "\"SomethingNew\""] {
            socket.send(tungstenite::Message::text(frame)).unwrap();
        }
        socket.close(None).unwrap();
        while socket.read().is_ok() {}

        // The client thread lived through all of that and comes back.
        let (stream, _) = listener.accept().unwrap();
        tungstenite::accept(stream).unwrap();
    }
}
