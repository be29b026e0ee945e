//! `scripts/bench mt`: the multi-threaded ray tracer, rendered by 1 and by 2
//! Web Workers sharing one wasm memory (release build, headless Chromium),
//! next to the same scene rendered natively on 1 and 2 threads.
//!
//! Both sides report medians of `runs` timed renders after an untimed
//! warm-up (`window.mtBench` in the page, `native_bench` natively), so the
//! ratios compare like with like.

use std::process::{Command, Stdio};

use e2e_support::{checkout_root, Browser};
use serde_json::{json, Value};

use crate::cleanup;
use crate::common::{load_average, unix_secs, write_report, Table};
use crate::progress;

const THREADS: [u32; 2] = [1, 2];

/// `BENCH_MT_RUNS` (default 7).
fn runs() -> u32 {
    crate::common::count_from_env("BENCH_MT_RUNS", 7) as u32
}

pub fn run() {
    let runs = runs();
    let root = checkout_root();
    let load_before = load_average();

    progress!("building the page: scripts/build-mt --release");
    let status = Command::new(root.join("scripts").join("build-mt"))
        .arg("--release")
        .current_dir(&root)
        .stdin(Stdio::null())
        // Its progress is ours too; stdout stays for the table.
        .stdout(std::io::stderr())
        .status()
        .unwrap_or_else(|err| panic!("cannot run scripts/build-mt: {err}"));
    assert!(
        status.success(),
        "scripts/build-mt --release failed (its output is above)"
    );

    let dist = root.join("dist").join("mt");
    let addr = coi_serve::Server::bind(&dist, 0)
        .unwrap_or_else(|err| panic!("cannot serve {}: {err}", dist.display()))
        .spawn();
    let wasm = {
        let mut browser = Browser::launch();
        let _registered = cleanup::process(browser.pid());
        progress!("opening http://{addr}/ in headless Chromium");
        browser.goto(&format!("http://{addr}/"));
        let ready = browser.eval("window.mtReady");
        progress!("page ready: {ready}");
        progress!("wasm: timing {runs} renders on each of 1 and 2 workers");
        browser.eval(&format!(
            "window.mtBench({{ threads: {THREADS:?}, runs: {runs} }})"
        ))
    };
    // The browser is closed before the native runs, so they do not share the cores.

    progress!("native: timing {runs} renders on each of 1 and 2 threads (cargo run --release)");
    let threads = THREADS.map(|n| n.to_string()).join(",");
    let runs_text = runs.to_string();
    let output = Command::new("cargo")
        .args(["run", "--release", "-q", "-p", "wasm_mt_hotswap_example"])
        .args(["--example", "native_bench", "--"])
        .args(["--threads", &threads, "--runs", &runs_text])
        .current_dir(&root)
        .stdin(Stdio::null())
        .stderr(std::io::stderr())
        .output()
        .unwrap_or_else(|err| panic!("cannot run cargo ({err}): run scripts/setup"));
    assert!(
        output.status.success(),
        "native_bench failed (its output is above)"
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let native: Value = stdout
        .lines()
        .rev()
        .find_map(|line| serde_json::from_str(line).ok())
        .unwrap_or_else(|| panic!("native_bench printed no JSON line: {stdout:?}"));

    let median = |report: &Value, threads: u32| -> f64 {
        report["results"]
            .as_array()
            .and_then(|results| results.iter().find(|r| r["threads"] == threads))
            .and_then(|r| r["median_ms"].as_f64())
            .unwrap_or_else(|| panic!("no median for {threads} threads in {report}"))
    };
    let (wasm1, wasm2) = (median(&wasm, 1), median(&wasm, 2));
    let (native1, native2) = (median(&native, 1), median(&native, 2));
    let same_image = wasm["hash"] == native["hash"];

    println!(
        "\nmt: {}x{} reference scene, median of {runs} renders (one run, release builds)",
        wasm["width"], wasm["height"]
    );
    let load_after = load_average();
    println!("load average before: {load_before}, after: {load_after}");
    let mut table = Table::new(&["", "1 thread", "2 threads", "speed-up 1->2"]);
    table.row(vec![
        "wasm (Web Workers)".into(),
        format!("{wasm1:.1} ms"),
        format!("{wasm2:.1} ms"),
        format!("{:.2}x", wasm1 / wasm2),
    ]);
    table.row(vec![
        "native".into(),
        format!("{native1:.1} ms"),
        format!("{native2:.1} ms"),
        format!("{:.2}x", native1 / native2),
    ]);
    table.row(vec![
        "wasm / native".into(),
        format!("{:.2}x", wasm1 / native1),
        format!("{:.2}x", wasm2 / native2),
        String::new(),
    ]);
    println!("{}", table.render());
    println!(
        "same image from wasm and native: {}",
        if same_image {
            "yes"
        } else {
            "NO (hashes differ)"
        }
    );

    write_report(
        "mt",
        &json!({
            "bench": "mt",
            "unix_time": unix_secs(),
            "runs": runs,
            "load_average_before": load_before,
            "load_average_after": load_after,
            "wasm": wasm,
            "native": native,
            "speedup_wasm_1_to_2": ratio(wasm1, wasm2),
            "speedup_native_1_to_2": ratio(native1, native2),
            "wasm_over_native_1_thread": ratio(wasm1, native1),
            "wasm_over_native_2_threads": ratio(wasm2, native2),
            "same_image": same_image,
        }),
    );
}

fn ratio(a: f64, b: f64) -> f64 {
    (a / b * 100.0).round() / 100.0
}
