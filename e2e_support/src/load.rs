//! A steady load on the server example while something happens to it (a
//! rebuild, in `tests/rebuild.rs` and `scripts/bench rebuild`): three
//! clients, about 100 requests/s in all, each request timed and every failure
//! kept. `GET /` on one keep-alive connection, `GET /` on a fresh connection
//! each time, and `GET /slow` (300 ms in the handler) back to back, so one is
//! nearly always in flight.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::http;

/// The pause between two requests of one client: about 100 requests/s in all.
pub const PACE: Duration = Duration::from_millis(20);

/// One request: which client sent it, when, and how long it took.
#[derive(Clone, Copy)]
pub struct Sample {
    pub client: Client,
    pub sent: Instant,
    pub took: Duration,
}

#[derive(Default)]
pub struct Report {
    pub samples: Vec<Sample>,
    pub failures: Vec<String>,
    /// Requests sent again on a fresh connection because the server closed
    /// the idle keep-alive one while they were on their way.
    pub retried: usize,
}

impl Report {
    /// The requests in flight at some point between `from` and `to`.
    pub fn during(&self, from: Instant, to: Instant) -> Vec<Sample> {
        self.samples
            .iter()
            .filter(|sample| sample.sent <= to && sample.sent + sample.took >= from)
            .copied()
            .collect()
    }
}

/// Three clients sending requests until stopped.
pub struct Load {
    stop: Arc<AtomicBool>,
    report: Arc<Mutex<Report>>,
    clients: Vec<JoinHandle<()>>,
}

impl Load {
    pub fn start(port: u16) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let report = Arc::new(Mutex::new(Report::default()));
        let clients = [Client::KeepAlive, Client::Fresh, Client::Slow]
            .into_iter()
            .map(|kind| {
                let (stop, report) = (stop.clone(), report.clone());
                std::thread::spawn(move || client(port, kind, &stop, &report))
            })
            .collect();
        Load {
            stop,
            report,
            clients,
        }
    }

    pub fn answered(&self) -> usize {
        self.report.lock().unwrap().samples.len()
    }

    pub fn stop(self) -> Report {
        self.stop.store(true, Ordering::SeqCst);
        for client in self.clients {
            client.join().unwrap();
        }
        std::mem::take(&mut *self.report.lock().unwrap())
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Client {
    /// `GET /` on one connection, kept alive.
    KeepAlive,
    /// `GET /` on a new connection each time.
    Fresh,
    /// `GET /slow` (300 ms) on a new connection each time, back to back: one
    /// is nearly always in flight, so the old process must finish one.
    Slow,
}

fn client(port: u16, kind: Client, stop: &AtomicBool, report: &Mutex<Report>) {
    let mut connection: Option<http::Connection> = None;
    while !stop.load(Ordering::SeqCst) {
        let sent = Instant::now();
        let mut retried = false;
        let answer = if let Client::KeepAlive = kind {
            // Like a pooling client: a connection the server closed while idle is not reused.
            connection = connection.filter(|open| !open.closed_by_server());
            let reused = connection.is_some();
            let first = match connection.take() {
                Some(mut open) => open.get("/").map(|response| (response, open)),
                None => http::Connection::open(port)
                    .and_then(|mut open| open.get("/").map(|response| (response, open))),
            };
            match first {
                // The server closed the idle connection while this request
                // was on its way (it stops that way; HTTP/1.1 has no way to
                // warn): send it again on a new one, once, as clients do for a GET.
                Err(_) if reused => {
                    retried = true;
                    http::Connection::open(port)
                        .and_then(|mut open| open.get("/").map(|response| (response, open)))
                }
                other => other,
            }
            .map(|(response, open)| {
                if response.header("connection") != Some("close") {
                    connection = Some(open);
                }
                response
            })
        } else if let Client::Slow = kind {
            http::get(port, "/slow")
        } else {
            http::get(port, "/")
        };
        let took = sent.elapsed();
        let mut report = report.lock().unwrap();
        report.retried += retried as usize;
        let failed = !matches!(&answer, Ok(response) if response.status == 200);
        match answer {
            Ok(response) if response.status == 200 => report.samples.push(Sample {
                client: kind,
                sent,
                took,
            }),
            Ok(response) => report.failures.push(format!(
                "{kind:?} client: status {} after {took:?}",
                response.status
            )),
            Err(err) => report
                .failures
                .push(format!("{kind:?} client: {err} after {took:?}")),
        }
        drop(report);
        // The slow client sends back to back, but a refused connection is
        // instant: pace it too, or one gap counts thousands of failures.
        if failed || !matches!(kind, Client::Slow) {
            std::thread::sleep(PACE);
        }
    }
}
