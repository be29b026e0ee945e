//! `scripts/bench rebuild`: a save that can never be a patch, under load.
//!
//! The server example serves about 100 requests/s (`e2e_support::load`: a
//! keep-alive client, a client on fresh connections, a slow request nearly
//! always in flight) with one WebSocket open, and then a field is added in
//! front of `Stats`. Three setups, each in its own scratch copy, interleaved
//! run by run so that the machine's noise falls on all of them:
//!
//! - **this project**: `hotswap-link`'s layout guard refuses the patch, dx
//!   rebuilds, and `hotswap_runtime` keeps the listener, the counters and
//!   tells the WebSocket (1012);
//! - **dx's rebuild alone**: the same guard, with `HOTSWAP_RESTART=plain`: what
//!   a rebuild costs without the restart support (the process binds its own
//!   port, keeps nothing and ends on dx's `SIGTERM`);
//! - **plain dx**: no linker wrapper either (the scratch copy's
//!   `.cargo/config.toml` loses it): dx 0.7.10 patches the new layout into
//!   the live `Stats`.
//!
//! Per run: rebuilt or patched, failed requests, the longest request while
//! the change was under way (from the save until the new code answered),
//! whether the counters carried on, the WebSocket's close code and how long
//! a client took to get a new one answering.

use std::time::{Duration, Instant};

use e2e_support::load::{Client, Load};
use e2e_support::ws::Socket;
use e2e_support::{free_port, http, Dx, Scratch};
use serde_json::{json, Value};

use crate::common::{count_from_env, load_average, ms, poll, round, write_report, Summary, Table};
use crate::progress;
use crate::settings::{remove_section, HOST_SECTION};

const STATE: &str = "server_hotswap_example/src/state.rs";
const FIELD_IN_FRONT: (&str, &str) = (
    "pub struct Stats {\n",
    "pub struct Stats {\n    added: std::sync::atomic::AtomicU64,\n",
);
const FIRST_BUILD: Duration = Duration::from_secs(900);
const CHANGE: Duration = Duration::from_secs(300);

#[derive(Clone, Copy, PartialEq, Debug)]
enum Setup {
    Project,
    RebuildAlone,
    PlainDx,
}

impl Setup {
    const ALL: [Setup; 3] = [Setup::Project, Setup::RebuildAlone, Setup::PlainDx];

    fn label(self) -> &'static str {
        match self {
            Setup::Project => "this project",
            Setup::RebuildAlone => "dx's rebuild alone (HOTSWAP_RESTART=plain)",
            Setup::PlainDx => "plain dx (no hotswap-link, HOTSWAP_RESTART=plain)",
        }
    }

    fn scratch(self) -> Scratch {
        let name = match self {
            Setup::Project => "bench-rebuild",
            Setup::RebuildAlone => "bench-rebuild-alone",
            Setup::PlainDx => "bench-rebuild-plain",
        };
        let scratch = Scratch::new(name);
        if self == Setup::PlainDx {
            let config = scratch.root().join(".cargo").join("config.toml");
            let text = std::fs::read_to_string(&config).unwrap_or_default();
            std::fs::write(&config, remove_section(&text, HOST_SECTION)).unwrap();
        }
        scratch
    }
}

/// What one run saw.
struct Run {
    rebuilt: bool,
    failed: usize,
    sent: usize,
    /// The longest `GET /` (keep-alive or fresh connection), and `/slow` (300 ms of it in the handler).
    longest_ms: f64,
    longest_slow_ms: f64,
    /// `None` when patched: the live object is read through the new layout.
    counters_kept: Option<bool>,
    /// `None`: closed with no close frame; `Some(None)`: still open (patched).
    close_code: Option<Option<u16>>,
    reconnect_ms: Option<f64>,
    change_ms: f64,
}

pub fn run() {
    // Each run is a first build and a rebuild per setup: fewer than the patch benchmarks.
    let runs = count_from_env("BENCH_RUNS", 3);
    progress!(
        "{runs} run(s) of each setup, interleaved; load average {}",
        load_average()
    );
    let mut results: Vec<(Setup, Vec<Run>)> = Setup::ALL.iter().map(|&s| (s, Vec::new())).collect();
    for round_no in 1..=runs {
        for (setup, runs_of) in &mut results {
            progress!("run {round_no}/{runs}: {}", setup.label());
            runs_of.push(one(*setup));
        }
    }

    let mut table = Table::new(&[
        "setup",
        "rebuilt",
        "failed requests",
        "longest GET / (median)",
        "longest /slow (median)",
        "counters kept",
        "WebSocket",
        "reconnect (median)",
        "save -> new code (median)",
    ]);
    let mut report = serde_json::Map::new();
    for (setup, runs_of) in &results {
        let n = runs_of.len();
        let rebuilt = runs_of.iter().filter(|r| r.rebuilt).count();
        let failed: usize = runs_of.iter().map(|r| r.failed).sum();
        let sent: usize = runs_of.iter().map(|r| r.sent).sum();
        let longest = Summary::of(&runs_of.iter().map(|r| r.longest_ms).collect::<Vec<_>>());
        let longest_slow = Summary::of(
            &runs_of
                .iter()
                .map(|r| r.longest_slow_ms)
                .collect::<Vec<_>>(),
        );
        let change = Summary::of(&runs_of.iter().map(|r| r.change_ms).collect::<Vec<_>>());
        let kept = runs_of
            .iter()
            .filter(|r| r.counters_kept == Some(true))
            .count();
        let judged = runs_of.iter().filter(|r| r.counters_kept.is_some()).count();
        let reconnects: Vec<f64> = runs_of.iter().filter_map(|r| r.reconnect_ms).collect();
        let codes: Vec<String> = runs_of.iter().map(|r| close_text(r.close_code)).collect();
        let mut codes_seen = codes.clone();
        codes_seen.dedup();
        table.row(vec![
            setup.label().to_string(),
            format!("{rebuilt}/{n}"),
            format!("{failed} of {sent}"),
            format!("{:.0} ms", longest.median),
            format!("{:.0} ms", longest_slow.median),
            if judged == 0 {
                "n/a: patched into the live object".to_string()
            } else {
                format!("{kept}/{judged}")
            },
            codes_seen.join(", "),
            if reconnects.is_empty() {
                "-".to_string()
            } else {
                format!("{:.0} ms", Summary::of(&reconnects).median)
            },
            format!("{:.2} s", change.median / 1000.0),
        ]);
        report.insert(
            setup.label().to_string(),
            json!({
                "runs": n,
                "rebuilt": rebuilt,
                "failed_requests": failed,
                "requests_sent_during_change": sent,
                "longest_get": longest.json(),
                "longest_slow": longest_slow.json(),
                "save_to_new_code": change.json(),
                "counters_kept": kept,
                "counters_judged": judged,
                "websocket": codes,
                "reconnect_ms": reconnects.iter().map(|&ms| round(ms)).collect::<Vec<_>>(),
            }),
        );
    }
    println!(
        "A field added in front of the server example's Stats, under ~100 requests/s and one WebSocket\n"
    );
    println!("{}", table.render());
    println!(
        "the longest requests are those in flight between the save and the first answer of the new\n\
         code (/slow spends 300 ms in its handler); \"counters kept\": /stats carried on from before\n\
         the save."
    );
    report.insert("load_average".into(), Value::String(load_average()));
    write_report("rebuild", &Value::Object(report));
}

fn close_text(code: Option<Option<u16>>) -> String {
    match code {
        Some(None) => "stays open".to_string(),
        Some(Some(code)) => format!("closed {code}"),
        None => "cut (no close frame)".to_string(),
    }
}

fn one(setup: Setup) -> Run {
    let scratch = setup.scratch();
    let port = free_port();
    let mut envs = vec![("PORT", port.to_string())];
    if setup != Setup::Project {
        envs.push(("HOTSWAP_RESTART", "plain".to_string()));
    }
    let mut dx = Dx::serve(
        &scratch,
        "bench-rebuild",
        "server_hotswap_example",
        &[],
        &envs,
    );
    dx.wait_for_first_build(FIRST_BUILD);
    poll("the server to answer GET /", FIRST_BUILD, || {
        dx.assert_running();
        http::get(port, "/").ok()
    });
    dx.wait_for_app_connected(CHANGE);
    let mut ws = Socket::open(port, "/ws");
    assert_eq!(ws.ask("hi"), "echo: hi");
    let load = Load::start(port);
    poll("the clients to be answered", CHANGE, || {
        (load.answered() >= 20).then_some(())
    });
    let before = stats(port).expect("/stats before the save");

    let patches = dx.count("Hot-patching:");
    let rebuilds = dx.count("Starting full rebuild");
    let saved = e2e_support::edit_file(&scratch.root().join(STATE), &[FIELD_IN_FRONT]);
    let rebuilt = poll("dx to patch or rebuild", CHANGE, || {
        dx.assert_running();
        if dx.count("Starting full rebuild") > rebuilds {
            Some(true)
        } else if dx.count("Hot-patching:") > patches {
            Some(false)
        } else {
            None
        }
    });
    let closed = rebuilt.then(|| {
        std::thread::spawn(move || {
            let code = ws.wait_for_close(FIRST_BUILD);
            (code, Instant::now())
        })
    });
    // The new code answers: a new process after a rebuild, at once after a patch.
    let after = poll("the new code to answer /stats", FIRST_BUILD, || {
        dx.assert_running();
        let now = stats(port)?;
        (!rebuilt || now["pid"] != before["pid"]).then_some(now)
    });
    let changed_at = Instant::now();
    let answered = load.answered();
    poll("the clients to go on", CHANGE, || {
        (load.answered() >= answered + 20).then_some(())
    });
    let load_report = load.stop();
    let during = load_report.during(saved, changed_at);

    let (close_code, reconnect_ms) = match closed {
        None => (Some(None), None),
        Some(waiter) => {
            let (code, closed_at) = waiter.join().unwrap();
            let reconnected = poll("a new WebSocket to answer", CHANGE, || {
                let mut socket = Socket::try_open(port, "/ws").ok()?;
                (socket.ask("back") == "echo: back").then(Instant::now)
            });
            (code.map(Some), Some(ms(reconnected - closed_at)))
        }
    };
    // Carried on: at least the requests counted before the save, and not more
    // than were sent since (a layout read shifted gives another field's value).
    let counted = |stats: &Value| stats["requests"].as_u64().unwrap_or(0);
    let sent_since = load_report.samples.len() + load_report.failures.len() + 100;
    let counters_kept = rebuilt.then(|| {
        counted(&after) >= counted(&before)
            && counted(&after) <= counted(&before) + sent_since as u64
    });
    if let Some(first) = load_report.failures.first() {
        progress!(
            "{} requests failed, the first: {first}",
            load_report.failures.len()
        );
    }
    let run = Run {
        rebuilt,
        failed: load_report.failures.len(),
        sent: during.len() + load_report.failures.len(),
        longest_ms: during
            .iter()
            .filter(|s| s.client != Client::Slow)
            .map(|s| ms(s.took))
            .fold(0.0, f64::max),
        longest_slow_ms: during
            .iter()
            .filter(|s| s.client == Client::Slow)
            .map(|s| ms(s.took))
            .fold(0.0, f64::max),
        counters_kept,
        close_code,
        reconnect_ms,
        change_ms: ms(changed_at - saved),
    };
    progress!(
        "{}: {}, {} failed, longest GET / {:.0} ms, /slow {:.0} ms, counters {} (before {}, after {}), WebSocket {}",
        setup.label(),
        if rebuilt { "rebuilt" } else { "patched" },
        run.failed,
        run.longest_ms,
        run.longest_slow_ms,
        match counters_kept {
            Some(true) => "kept",
            Some(false) => "lost",
            None => "read through the new layout",
        },
        counted(&before),
        counted(&after),
        close_text(close_code)
    );
    drop(dx);
    run
}

fn stats(port: u16) -> Option<Value> {
    let response = http::get(port, "/stats").ok()?;
    serde_json::from_str(&response.body).ok()
}
