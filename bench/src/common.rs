//! Helpers every benchmark uses: timed saves, fast polling, statistics,
//! tables and the JSON reports.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// A progress line on stderr, so stdout holds only the result tables.
#[macro_export]
macro_rules! progress {
    ($($arg:tt)*) => { eprintln!("[bench] {}", format!($($arg)*)) };
}

/// How many measured edits each mode gets (`BENCH_RUNS`, default 10).
pub fn runs() -> usize {
    count_from_env("BENCH_RUNS", 10)
}

/// A positive count from the environment variable `name`, or `default`.
pub fn count_from_env(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(text) => match text.parse() {
            Ok(count) if count > 0 => count,
            _ => panic!("{name}={text:?} is not a positive number"),
        },
        Err(_) => default,
    }
}

/// Replace the one `from` in `file` with `to`, like an editor's save, and
/// return the instant just before the write: every latency starts there.
pub fn save(file: &Path, from: &str, to: &str) -> Instant {
    e2e_support::edit_file(file, &[(from, to)])
}

/// Poll `check` every 10 ms (latencies are read to about that precision)
/// until it returns `Some`; panic after `timeout` saying what did not happen.
pub fn poll<T>(what: &str, timeout: Duration, check: impl FnMut() -> Option<T>) -> T {
    e2e_support::poll_every(Duration::from_millis(10), what, timeout, check)
}

/// A table row: a label, min / median / p95 in seconds, and a ratio.
pub fn summary_row(label: &str, summary: &Summary, ratio: String) -> Vec<String> {
    vec![
        label.to_string(),
        secs(summary.min),
        secs(summary.median),
        secs(summary.p95),
        ratio,
    ]
}

pub fn ms(elapsed: Duration) -> f64 {
    elapsed.as_secs_f64() * 1000.0
}

/// min / median / p95 of a list of milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub min: f64,
    pub median: f64,
    /// Nearest-rank 95th percentile: with 10 samples, the largest.
    pub p95: f64,
    pub samples: Vec<f64>,
}

impl Summary {
    pub fn of(samples: &[f64]) -> Summary {
        assert!(!samples.is_empty(), "no samples to summarise");
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let median = if n % 2 == 1 {
            sorted[n / 2]
        } else {
            (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
        };
        let rank = (0.95 * n as f64).ceil() as usize;
        Summary {
            min: sorted[0],
            median,
            p95: sorted[rank.max(1) - 1],
            samples: samples.to_vec(),
        }
    }

    pub fn json(&self) -> Value {
        json!({
            "min_ms": round(self.min),
            "median_ms": round(self.median),
            "p95_ms": round(self.p95),
            "samples_ms": self.samples.iter().map(|&ms| round(ms)).collect::<Vec<_>>(),
        })
    }
}

pub fn round(ms: f64) -> f64 {
    (ms * 10.0).round() / 10.0
}

/// A plain-text table: first column left-aligned, the others right-aligned.
pub struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Table {
        Table {
            rows: vec![header.iter().map(|cell| cell.to_string()).collect()],
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..columns)
            .map(|c| {
                self.rows
                    .iter()
                    .map(|row| row.get(c).map_or(0, |cell| cell.chars().count()))
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |row: &Vec<String>| {
            let cells: Vec<String> = (0..columns)
                .map(|c| {
                    let cell = row.get(c).map_or("", String::as_str);
                    if c == 0 {
                        format!("{cell:<width$}", width = widths[c])
                    } else {
                        format!("{cell:>width$}", width = widths[c])
                    }
                })
                .collect();
            cells.join("  ").trim_end().to_string()
        };
        let mut out = line(&self.rows[0]);
        out.push('\n');
        let total = widths.iter().sum::<usize>() + 2 * columns.saturating_sub(1);
        out.push_str(&"-".repeat(total));
        for row in &self.rows[1..] {
            out.push('\n');
            out.push_str(&line(row));
        }
        out
    }
}

/// Milliseconds as seconds with two decimals, e.g. `0.57 s`.
pub fn secs(ms: f64) -> String {
    format!("{:.2} s", ms / 1000.0)
}

/// Where the reports and the benchmark's own build trees go: `target/bench/`.
pub fn bench_dir() -> PathBuf {
    e2e_support::checkout_root().join("target").join("bench")
}

/// Write `report` to `target/bench/<name>.json` and say where.
pub fn write_report(name: &str, report: &Value) {
    let dir = bench_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.json"));
    let text = serde_json::to_string_pretty(report).unwrap();
    std::fs::write(&path, text + "\n")
        .unwrap_or_else(|err| panic!("cannot write {}: {err}", path.display()));
    println!("\nJSON report: {}", path.display());
}

/// Delete the `-Csave-temps` leftovers (see the `save_temps_sweep` crate) so
/// every run starts from the same state.
pub fn remove_save_temps_leftovers(name: &str, target: &Path) {
    use e2e_support::save_temps_sweep;
    let removed = save_temps_sweep::remove(target, save_temps_sweep::now());
    if removed > 0 {
        progress!(
            "{name}: removed {removed} files earlier patches left in {}/**/deps (they slow every later patch)",
            target.display()
        );
    }
}

/// The 1, 5 and 15 minute load averages (Linux), recorded next to the
/// results: on a shared machine they say how busy it was.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// Seconds since the Unix epoch, for the report and for edit strings that
/// never repeat across runs.
pub fn unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

/// What the app (log) and the page (overlay) say for each patch hotswap-link bound.
pub const BOUND: &str = "to the running program (";

/// The binding time in a line like `patch bound 3 statics and 1 thread-local
/// to the running program (21.4 ms)`.
pub fn bind_ms(line: &str) -> Option<f64> {
    let (_, rest) = line.split_once(BOUND)?;
    rest.split_once(" ms)")?.0.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_binding_time_the_app_and_the_page_say() {
        let logged = "  9.27s  INFO … hotswap_runtime::statics: patch bound 3 statics and 1 thread-local to the running program (21.4 ms)";
        assert_eq!(bind_ms(logged), Some(21.4));
        let overlay = "patched in 812 ms\npatch bound 2 statics to the running program (37.2 ms)";
        assert_eq!(bind_ms(overlay), Some(37.2));
        assert_eq!(bind_ms("Hot-patching: src/app.rs took 500ms"), None);
    }

    #[test]
    fn summarises_odd_and_even_counts() {
        let odd = Summary::of(&[5.0, 1.0, 3.0]);
        assert_eq!((odd.min, odd.median, odd.p95), (1.0, 3.0, 5.0));
        let ten: Vec<f64> = (1..=10).map(f64::from).collect();
        let even = Summary::of(&ten);
        assert_eq!((even.min, even.median, even.p95), (1.0, 5.5, 10.0));
        let twenty: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(Summary::of(&twenty).p95, 19.0);
    }

    #[test]
    fn renders_aligned_tables() {
        let mut table = Table::new(&["case", "median"]);
        table.row(vec!["small".into(), "0.57 s".into()]);
        table.row(vec!["large app".into(), "12.00 s".into()]);
        assert_eq!(
            table.render(),
            "case        median\n------------------\nsmall       0.57 s\nlarge app  12.00 s"
        );
    }

    #[test]
    fn save_replaces_exactly_once() {
        let file = std::env::temp_dir().join(format!("bench-save-{}", std::process::id()));
        std::fs::write(&file, "fn step() -> i64 {\n    1\n}\n").unwrap();
        save(&file, "{\n    1\n}", "{\n    2\n}");
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            "fn step() -> i64 {\n    2\n}\n"
        );
        std::fs::remove_file(&file).unwrap();
    }
}
