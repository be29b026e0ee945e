//! The native client: a background thread that reads `/_dioxus` and applies patches.
//!
//! dx tells the app where it is through environment variables when it launches
//! it. Without them (plain `cargo run`) there is no dev server and we return at
//! once: no thread, no polling.

use std::time::{Duration, Instant};

use subsecond::JumpTable;

use crate::backoff::Backoff;
use crate::session::{Platform, Session};
use crate::status::Status;

/// The name of the client's thread (tests look for it).
pub(crate) const THREAD_NAME: &str = "hotswap-devserver";

pub(crate) fn connect(on_patch: impl Fn() + Send + Sync + 'static) {
    if let Some(endpoint) = dioxus_cli_config::devserver_ws_endpoint() {
        let session = Session::new(Native {
            started: Instant::now(),
        });
        session.on_landed(on_patch);
        spawn(session, endpoint);
    }
}

fn spawn<P: Platform>(session: Session<P>, endpoint: String) {
    let url = format!(
        "{endpoint}?aslr_reference={}&build_id={}&pid={}",
        subsecond::aslr_reference(),
        dioxus_cli_config::build_id(),
        std::process::id()
    );
    let spawned = std::thread::Builder::new()
        .name(THREAD_NAME.into())
        .spawn(move || run(&session, &endpoint, &url));
    if let Err(err) = spawned {
        tracing::error!("cannot start the dev-server thread, hot-patching is off: {err}");
    }
}

/// Read frames until the connection drops, then reconnect with back-off.
///
/// dx restarts the app after a full rebuild, so a lost connection usually means
/// dx itself went away; retrying slowly costs nothing and covers a dx restart.
fn run<P: Platform>(session: &Session<P>, endpoint: &str, url: &str) {
    let mut backoff = Backoff::default();
    loop {
        match tungstenite::connect(url) {
            Ok((mut socket, _)) => {
                let opened = Instant::now();
                let hello = session.connected(endpoint);
                let mut nudge = Nudge::arm(&mut socket);
                let reason = match socket.send(tungstenite::Message::text(hello)) {
                    Err(err) => err.to_string(),
                    Ok(()) => loop {
                        let read = socket.read();
                        if nudge.fired(&mut socket, &read) {
                            continue;
                        }
                        match read {
                            Ok(tungstenite::Message::Text(text)) => session.handle_text(&text),
                            Ok(tungstenite::Message::Binary(bytes)) => {
                                session.handle_binary(&bytes)
                            }
                            Ok(tungstenite::Message::Close(_)) => break "closed by dx".to_string(),
                            Ok(_) => {}
                            Err(err) => break err.to_string(),
                        }
                    },
                };
                backoff.closed(Some(opened.elapsed()));
                session.report(Status::Disconnected { reason });
            }
            Err(err) => {
                if backoff.is_first() {
                    session.report(Status::Disconnected {
                        reason: format!("cannot reach {endpoint}: {err}"),
                    });
                }
                backoff.closed(None);
            }
        }
        let delay = backoff.next();
        tracing::debug!(?delay, "reconnecting to {endpoint}");
        std::thread::sleep(delay);
    }
}

/// dx 0.7.10 can leave a new connection unregistered until something else
/// happens: its dev server stops listening for clients when it sees one
/// close (the app it has just replaced, after a rebuild) in the same wait in
/// which this one arrives, until its main loop next wakes. Until then it
/// patches with the old process's addresses (`hotswap-link` refuses such a
/// patch, and dx rebuilds again). A line on stdout wakes that loop, so one is
/// printed shortly after connecting, once dx has had time to see the close,
/// and again a little later (see [`NUDGES`]) in case dx saw it later still
/// (a loaded machine), until dx sends anything: a frame shows it has us.
struct Nudge {
    opened: Instant,
    /// How many lines are printed.
    printed: usize,
}

/// When the lines are printed, after connecting (while dx has sent nothing).
const NUDGES: [Duration; 3] = [
    Duration::from_millis(300),
    Duration::from_secs(1),
    Duration::from_secs(3),
];

/// How long to wait for the next line once `printed` are out, `elapsed` after
/// connecting; `None` once all are. Never zero (not a valid read timeout).
fn next_nudge(printed: usize, elapsed: Duration) -> Option<Duration> {
    let at = NUDGES.get(printed)?;
    Some(at.saturating_sub(elapsed).max(Duration::from_millis(1)))
}

type Socket = tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<std::net::TcpStream>>;

impl Nudge {
    fn arm(socket: &mut Socket) -> Nudge {
        let mut nudge = Nudge {
            opened: Instant::now(),
            printed: 0,
        };
        nudge.rearm(socket);
        nudge
    }

    /// Wait for the next line, or for good once none is left (or it cannot time out).
    fn rearm(&mut self, socket: &mut Socket) {
        let wait = next_nudge(self.printed, self.opened.elapsed());
        if !set_read_timeout(socket, wait) {
            self.printed = NUDGES.len();
        }
    }

    /// Whether `read` was the armed timeout (and a line is now printed).
    /// Any frame from dx stops the lines.
    fn fired(
        &mut self,
        socket: &mut Socket,
        read: &tungstenite::Result<tungstenite::Message>,
    ) -> bool {
        if self.printed >= NUDGES.len() {
            return false;
        }
        let timed_out = matches!(read, Err(tungstenite::Error::Io(e))
            if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut));
        if !timed_out {
            if read.is_ok() {
                self.printed = NUDGES.len();
                set_read_timeout(socket, None);
            }
            return false;
        }
        if self.opened.elapsed() >= NUDGES[self.printed] {
            self.printed += 1;
            println!("hotswap_runtime: waiting for patches");
        }
        self.rearm(socket);
        true
    }
}

fn set_read_timeout(socket: &mut Socket, timeout: Option<Duration>) -> bool {
    match socket.get_mut() {
        tungstenite::stream::MaybeTlsStream::Plain(stream) => {
            stream.set_read_timeout(timeout).is_ok()
        }
        _ => false,
    }
}

struct Native {
    started: Instant,
}

impl Platform for Native {
    fn now_ms(&self) -> f64 {
        self.started.elapsed().as_secs_f64() * 1000.0
    }

    fn own_pid(&self) -> Option<u32> {
        Some(std::process::id())
    }

    fn apply(&self, table: JumpTable) -> Result<(), String> {
        let lib_path = table.lib.clone();
        let lib = table.lib.display().to_string();
        let started = Instant::now();
        // subsecond unwraps a few lookups inside; a panic here must not take the
        // connection thread (and with it every later patch) down.
        let mut applied = Ok(());
        let caught = crate::after_patch::catch(|| {
            // SAFETY: the table comes from the dx that built this very process
            // (matching pid), which is the contract `apply_patch` asks for.
            applied = unsafe { subsecond::apply_patch(table) }.map_err(|err| err.to_string());
        });
        let err = match caught.and(applied) {
            Ok(()) => {
                tracing::debug!(lib, took = ?started.elapsed(), "patch library loaded");
                crate::statics::log_patch(&lib_path);
                // subsecond's handler only noted the landing: the rebuilds and
                // `on_patch` run here, once subsecond has let go of its lock.
                crate::after_patch::run_pending();
                return Ok(());
            }
            Err(err) => format!("{err} ({lib})"),
        };
        if let Some(advice) = static_tls_advice(&err) {
            static ADVISED: std::sync::Once = std::sync::Once::new();
            ADVISED.call_once(|| tracing::error!("{advice}"));
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

/// How long a unit test waits for the client before it fails instead of hanging.
#[cfg(test)]
const TEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::tests::{patch_for, Fake};
    use std::net::{TcpListener, TcpStream};
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn the_nudges_back_off_then_stop() {
        let ms = Duration::from_millis;
        assert_eq!(next_nudge(0, Duration::ZERO), Some(ms(300)));
        assert_eq!(next_nudge(1, ms(300)), Some(ms(700)));
        assert_eq!(next_nudge(2, ms(1000)), Some(ms(2000)));
        assert_eq!(next_nudge(3, ms(3000)), None);
        // Late (a busy thread): due at once, yet never a zero timeout.
        assert_eq!(next_nudge(1, ms(1500)), Some(ms(1)));
        assert!(NUDGES.windows(2).all(|pair| pair[0] < pair[1]));
    }

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

    /// A fake dev server on a fixed port, which can be stopped and started again.
    struct FakeDx {
        port: u16,
        listener: Option<TcpListener>,
    }

    type Socket = tungstenite::WebSocket<TcpStream>;

    impl FakeDx {
        fn start() -> FakeDx {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let port = listener.local_addr().unwrap().port();
            FakeDx {
                port,
                listener: Some(listener),
            }
        }

        fn endpoint(&self) -> String {
            format!("ws://127.0.0.1:{}/_dioxus", self.port)
        }

        /// Accept the client's next connection, failing (not hanging) after a while.
        /// Returns the socket and the query the client connected with.
        #[allow(clippy::result_large_err)]
        fn accept(&self) -> (Socket, String) {
            let stream = self.accept_tcp();
            let mut query = String::new();
            let socket = tungstenite::accept_hdr(
                stream,
                |req: &tungstenite::handshake::server::Request, resp| {
                    query = req.uri().query().unwrap_or_default().to_string();
                    Ok(resp)
                },
            )
            .unwrap();
            (socket, query)
        }

        /// The client's next TCP connection, before any handshake.
        fn accept_tcp(&self) -> TcpStream {
            let listener = self.listener.as_ref().expect("started");
            listener.set_nonblocking(true).unwrap();
            let deadline = Instant::now() + TEST_TIMEOUT;
            let stream = loop {
                match listener.accept() {
                    Ok((stream, _)) => break stream,
                    Err(_) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(20))
                    }
                    Err(err) => panic!("the client did not connect within {TEST_TIMEOUT:?}: {err}"),
                }
            };
            stream.set_nonblocking(false).unwrap();
            stream.set_read_timeout(Some(TEST_TIMEOUT)).unwrap();
            stream
        }

        /// dx stops: the port is closed until `restart`.
        fn stop(&mut self) {
            self.listener = None;
        }

        fn restart(&mut self) {
            self.listener = Some(TcpListener::bind(("127.0.0.1", self.port)).unwrap());
        }
    }

    fn read_text(socket: &mut Socket) -> String {
        match socket.read().expect("a frame from the client") {
            tungstenite::Message::Text(text) => text.to_string(),
            other => panic!("expected text, got {other:?}"),
        }
    }

    fn wait_for(fake: &Fake, what: &str, check: impl Fn(&[Status]) -> bool) {
        let deadline = Instant::now() + TEST_TIMEOUT;
        while !check(&fake.shown()) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; shown: {:?}",
                fake.shown()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn client(dx: &FakeDx) -> Arc<Fake> {
        let fake = Arc::new(Fake::default());
        spawn(Session::new(fake.clone()), dx.endpoint());
        fake
    }

    #[test]
    fn reports_bad_frames_and_goes_on_reading() {
        let dx = FakeDx::start();
        let fake = client(&dx);
        let (mut socket, query) = dx.accept();
        assert!(
            query.contains(&format!("pid={}", std::process::id())),
            "{query}"
        );
        assert!(query.contains("aslr_reference="), "{query}");
        assert!(read_text(&mut socket).contains(crate::session::HELLO));
        socket.send(tungstenite::Message::text("{garbage")).unwrap();
        socket
            .send(tungstenite::Message::binary(vec![0xff, 0x00]))
            .unwrap();
        socket
            .send(tungstenite::Message::text("\"SomethingNew\""))
            .unwrap();
        socket
            .send(tungstenite::Message::binary(&b"\"HotPatchStart\""[..]))
            .unwrap();
        wait_for(&fake, "the frames to be handled", |shown| {
            shown.contains(&Status::PatchStarted)
        });
        let shown = fake.shown();
        let ignored: Vec<&String> = shown
            .iter()
            .filter_map(|status| match status {
                Status::Ignored { reason } => Some(reason),
                _ => None,
            })
            .collect();
        assert_eq!(ignored.len(), 2, "{shown:?}");
        assert!(ignored[0].contains("cannot read"), "{}", ignored[0]);
        assert!(ignored[1].contains("not UTF-8"), "{}", ignored[1]);
    }

    #[test]
    fn applies_patches_again_after_dx_restarts() {
        let mut dx = FakeDx::start();
        let fake = client(&dx);
        let (mut socket, _) = dx.accept();
        read_text(&mut socket);

        // dx stops: the connection drops and the port is closed.
        dx.stop();
        drop(socket);
        wait_for(&fake, "the drop to be reported", |shown| {
            shown
                .iter()
                .any(|status| matches!(status, Status::Disconnected { .. }))
        });

        // dx comes back, still starting: it drops the first attempt before
        // the handshake. The client must try again after that failure too.
        dx.restart();
        drop(dx.accept_tcp());
        let (mut socket, _) = dx.accept();
        read_text(&mut socket);
        let patch = patch_for(77, 0);
        socket.send(tungstenite::Message::text(patch)).unwrap();
        wait_for(&fake, "the patch after the restart", |_| {
            fake.applied.load(std::sync::atomic::Ordering::SeqCst) == 1
        });
        let connects = fake
            .shown()
            .iter()
            .filter(|status| matches!(status, Status::Connected { .. }))
            .count();
        assert_eq!(connects, 2);
    }
}
