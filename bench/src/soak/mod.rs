//! `scripts/bench soak server|wasm [N]`: one long dev session, N consecutive
//! edits of hot code (a different text each time, default 200), and for each
//! one: save-to-effect latency, whether it was a hot patch, and whether
//! anything was lost on the way.
//!
//! - server: while patching, one WebSocket and one keep-alive connection stay
//!   open (checked after every patch) and another thread sends about 100
//!   requests/s on fresh connections the whole time;
//! - wasm: one page in headless Chromium, clicked between patches; a reload
//!   or a reconnection of the page's dev-server socket is counted.
//!
//! A lost patch does not stop the run: it is counted and the next edit goes
//! on. The report (stdout, and `target/bench/soak-<app>-<N>.json`) gives
//! patches landed / attempted, how many were hot patches, failed requests /
//! sent, reconnects, reloads and the latency medians of the first 20 and the
//! last 20 patches (drift). `bench/tests/soak.rs` runs a short one in
//! `scripts/test` and fails on anything lost (never on timing).

mod server;
mod wasm;

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::{load_average, round, secs, unix_secs, write_report, Summary};

/// How long one edit may take to show before it counts as lost.
const EDIT: Duration = Duration::from_secs(90);
/// How many patches at each end the drift compares.
const ENDS: usize = 20;

/// Has dx printed `needle` more than `seen` times (waiting a little for the line)?
/// Waiting for dx's "Hot-patching:" line also lets dx go idle, so that the next
/// save starts a patch of its own.
fn wait_for_more(dx: &e2e_support::Dx, needle: &str, seen: usize) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if dx.count(needle) > seen {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

pub fn run(args: &[String]) {
    let patches = match args.get(1) {
        None => 200,
        Some(text) => match text.parse() {
            Ok(n) if n > 0 => n,
            _ => panic!("soak: {text:?} is not a positive number of patches"),
        },
    };
    match args.first().map(String::as_str) {
        Some("server") => server::run(patches),
        Some("wasm") => wasm::run(patches),
        other => panic!("soak: unknown app {other:?} (use server or wasm)"),
    }
}

/// One edit's outcome.
#[derive(Debug, Clone, Copy, Default)]
pub struct Edit {
    /// Save to effect, in ms; `None` if it never showed (lost).
    ms: Option<f64>,
    /// dx logged a hot patch for it (not a rebuild).
    hot: bool,
}

/// Everything a soak run counts.
#[derive(Debug, Default)]
pub struct Tally {
    edits: Vec<Edit>,
    requests_sent: u64,
    requests_failed: u64,
    reconnects: u64,
    reloads: u64,
    /// `-Csave-temps` leftovers removed after the patches (see `save_temps_sweep`).
    leftovers_removed: usize,
}

impl Tally {
    fn landed(&self) -> usize {
        self.edits.iter().filter(|edit| edit.ms.is_some()).count()
    }

    fn hot(&self) -> usize {
        self.edits.iter().filter(|edit| edit.hot).count()
    }

    /// Median latency of the first and the last `ENDS` landed patches.
    fn ends(&self) -> Option<(Summary, Summary)> {
        let landed: Vec<f64> = self.edits.iter().filter_map(|edit| edit.ms).collect();
        let n = ENDS.min(landed.len() / 2);
        (n > 0).then(|| {
            (
                Summary::of(&landed[..n]),
                Summary::of(&landed[landed.len() - n..]),
            )
        })
    }

    /// Print the report and write `target/bench/soak-<app>-<N>.json`.
    fn report(&self, app: &str, what: &str, load_before: &str, extra: Value) {
        let attempted = self.edits.len();
        let load_after = load_average();
        let all: Vec<f64> = self.edits.iter().filter_map(|edit| edit.ms).collect();
        println!("\nsoak {app}: {attempted} consecutive edits in one session ({what})");
        println!("load average before: {load_before}, after: {load_after}");
        println!(
            "patches landed / attempted   {} / {attempted}",
            self.landed()
        );
        println!("  of them hot patches        {}", self.hot());
        if app == "server" {
            println!(
                "failed requests / sent       {} / {}",
                self.requests_failed, self.requests_sent
            );
            println!("WebSocket reconnects         {}", self.reconnects);
        } else {
            println!("page reloads                 {}", self.reloads);
            println!("dev-server reconnects        {}", self.reconnects);
        }
        let ends = self.ends();
        if let Some((first, last)) = &ends {
            println!(
                "latency median, first {} vs last {}   {} vs {} (drift {:.2}x)",
                first.samples.len(),
                last.samples.len(),
                secs(first.median),
                secs(last.median),
                last.median / first.median
            );
        }
        if !all.is_empty() {
            let summary = Summary::of(&all);
            println!(
                "latency all patches          min {}, median {}, p95 {}",
                secs(summary.min),
                secs(summary.median),
                secs(summary.p95)
            );
        }
        println!(
            "leftover files removed after patches   {}",
            self.leftovers_removed
        );
        let mut report = json!({
            "bench": format!("soak-{app}"),
            "unix_time": unix_secs(),
            "measures": what,
            "load_average_before": load_before,
            "load_average_after": load_after,
            "attempted": attempted,
            "landed": self.landed(),
            "hot_patches": self.hot(),
            "requests_sent": self.requests_sent,
            "requests_failed": self.requests_failed,
            "reconnects": self.reconnects,
            "reloads": self.reloads,
            "leftovers_removed": self.leftovers_removed,
            "latency_ms": self.edits.iter().map(|edit| edit.ms.map(round)).collect::<Vec<_>>(),
            "hot": self.edits.iter().map(|edit| edit.hot).collect::<Vec<_>>(),
        });
        if let Some((first, last)) = ends {
            report["first_median_ms"] = json!(round(first.median));
            report["last_median_ms"] = json!(round(last.median));
            report["drift"] = json!((last.median / first.median * 100.0).round() / 100.0);
            report["ends"] = json!(first.samples.len());
        }
        if let Value::Object(extra) = extra {
            report.as_object_mut().unwrap().extend(extra);
        }
        write_report(&format!("soak-{app}-{attempted}"), &report);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally_of(latencies: &[Option<f64>]) -> Tally {
        Tally {
            edits: latencies
                .iter()
                .map(|&ms| Edit {
                    ms,
                    hot: ms.is_some(),
                })
                .collect(),
            ..Tally::default()
        }
    }

    #[test]
    fn compares_the_first_and_last_landed_patches() {
        let mut latencies: Vec<Option<f64>> = (0..50).map(|i| Some(100.0 + i as f64)).collect();
        latencies[3] = None;
        let tally = tally_of(&latencies);
        assert_eq!((tally.landed(), tally.hot()), (49, 49));
        let (first, last) = tally.ends().unwrap();
        assert_eq!(first.samples.len(), ENDS);
        assert_eq!(first.samples[3], 104.0, "the lost patch is skipped");
        assert_eq!(last.samples.last(), Some(&149.0));
    }

    #[test]
    fn a_short_run_compares_halves() {
        let tally = tally_of(&[Some(1.0), Some(2.0), Some(3.0), None]);
        let (first, last) = tally.ends().unwrap();
        assert_eq!((first.median, last.median), (1.0, 3.0));
        assert!(tally_of(&[None]).ends().is_none());
    }
}
