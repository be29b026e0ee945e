//! `scripts/bench mt-patch`: from saving a new sky in the threaded ray
//! tracer's shading to every rayon thread running it, in headless Chromium.
//!
//! - hot patch, 1 and 2 threads: `wasm_mt_dev` (what `scripts/dev mt` runs)
//!   and the page with `?workers=1` or `?workers=2`. The patch is live when
//!   the overlay's `data-patches` goes up: the loader commits the jump table
//!   only after every thread has linked the patch. Each run then checks that
//!   every thread renders the new sky.
//! - rebuild + reload: plain `dx serve --cross-origin-policy` (no
//!   `--hot-patch`), what this example had before: every save is a full
//!   rebuild, then the page reloads. Done when a fresh document is ready
//!   (its pool started and its first picture drawn) with the new sky.
//!
//! The modes run one after the other, each page alone, so that no other page
//! loads the same patch in the background of the one being timed.

use std::time::{Duration, Instant};

use e2e_support::{Browser, Dx, MtDev, Scratch};
use serde_json::{json, Value};

use crate::cleanup::{self, Registered};
use crate::common::{
    load_average, ms, poll, runs, save, secs, summary_row, unix_secs, write_report, Summary, Table,
};
use crate::progress;

const SHADE: &str = "wasm_mt_hotswap_example/src/shade.rs";
const SKY: &str = "let k = 0.5 * (ray.dir.y + 1.0);";
const FIRST_BUILD: Duration = Duration::from_secs(40 * 60);
const EDIT: Duration = Duration::from_secs(300);
const PATCHES: &str = "Number(document.querySelector('#hotswap-status')?.dataset.patches || 0)";

/// The sky line of save `i` (from 1: save 0 would be the unchanged 0.500).
fn sky(i: usize) -> String {
    format!("let k = 0.{:03} * (ray.dir.y + 1.0);", 500 + i)
}

pub fn run() {
    let runs = runs();
    let load_before = load_average();

    progress!("hot patch: starting wasm_mt_dev (the first build compiles std for wasm: minutes)");
    let patch_scratch = Scratch::new("bench-mt-patch");
    let mut tool = MtDev::start(&patch_scratch, "bench-mt-patch");
    tool.wait_until_serving(FIRST_BUILD);

    // One page at a time: a second open page would load every patch too, in
    // the background of the one being timed.
    let mut current = SKY.to_string();
    let mut saves = 0;
    let mut patch_ms = Vec::new();
    for threads in [1, 2] {
        let mut page = PatchedPage::open(tool.port, threads);
        let mut samples = Vec::new();
        // Edit 0 warms up and is not counted.
        for i in 0..=runs {
            saves += 1;
            let next = sky(saves);
            let took = page.patch(&patch_scratch, &current, &next);
            current = next;
            progress!(
                "hot patch, {threads} thread(s), {}: {}",
                label(i, runs),
                secs(took)
            );
            if i > 0 {
                samples.push(took);
            }
        }
        patch_ms.push((threads, samples));
    }
    drop(tool);

    progress!("rebuild + reload: starting dx serve --cross-origin-policy (no --hot-patch)");
    let mut reload = ReloadedPage::start();
    let mut reload_ms = Vec::new();
    for i in 0..=runs {
        let took = reload.rebuild_and_reload(&sky(i + 1));
        progress!("rebuild + reload {}: {}", label(i, runs), secs(took));
        if i > 0 {
            reload_ms.push(took);
        }
    }

    let reloads = Summary::of(&reload_ms);
    let mut table = Table::new(&["mode", "min", "median", "p95", "vs rebuild + reload"]);
    let mut modes = Vec::new();
    for (threads, samples) in &patch_ms {
        let summary = Summary::of(samples);
        let label = format!("hot patch, {threads} thread(s)");
        let ratio = format!("{:.1}x faster", reloads.median / summary.median);
        table.row(summary_row(&label, &summary, ratio));
        modes.push(json!({ "mode": label, "threads": threads, "latency": summary.json() }));
    }
    table.row(summary_row("rebuild + reload", &reloads, String::new()));
    println!("\nmt-patch: save -> new shading live in every rayon thread, {runs} edits (one run)");
    println!(
        "load average before: {load_before}, after: {}",
        load_average()
    );
    println!("{}", table.render());
    write_report(
        "mt-patch",
        &json!({
            "bench": "mt-patch",
            "unix_time": unix_secs(),
            "runs": runs,
            "load_average_before": load_before,
            "load_average_after": load_average(),
            "hot_patch": modes,
            "rebuild_and_reload": reloads.json(),
        }),
    );
}

fn label(i: usize, runs: usize) -> String {
    if i == 0 {
        "warm-up".into()
    } else {
        format!("{i}/{runs}")
    }
}

/// A page served by wasm_mt_dev with a pool of `threads` rayon threads.
struct PatchedPage {
    browser: Browser,
    _registered: Registered,
}

impl PatchedPage {
    fn open(port: u16, threads: u32) -> PatchedPage {
        let mut browser = Browser::launch();
        let registered = cleanup::process(browser.pid());
        browser.goto(&format!("http://127.0.0.1:{port}/?workers={threads}"));
        let ready = browser.eval("window.mtReady");
        assert_eq!(ready["workers"], threads, "{ready}");
        browser.wait_for(
            "the page to connect to wasm_mt_dev",
            "document.getElementById('hotswap-status')?.dataset.connects",
            EDIT,
        );
        browser.eval("window.pageId = performance.timeOrigin");
        PatchedPage {
            browser,
            _registered: registered,
        }
    }

    /// Saves `to` in place of `from` and returns the milliseconds until the
    /// patch is live in every thread of this page.
    fn patch(&mut self, scratch: &Scratch, from: &str, to: &str) -> f64 {
        let before = self.browser.eval(PATCHES).as_u64().unwrap_or(0);
        let saved = save(&scratch.root().join(SHADE), from, to);
        let browser = &mut self.browser;
        poll("the patch to land in every thread", EDIT, || {
            (browser.eval(PATCHES).as_u64().unwrap_or(0) > before).then_some(())
        });
        let took = ms(saved.elapsed());
        // Untimed: every thread runs the same, new code, and the page never reloaded.
        let hashes = self.browser.eval("window.mtThreadHashes()");
        let distinct: std::collections::HashSet<String> = hashes
            .as_array()
            .map(|all| all.iter().map(|t| t["hash"].to_string()).collect())
            .unwrap_or_default();
        assert_eq!(
            distinct.len(),
            1,
            "threads disagree after the patch: {hashes}"
        );
        assert_eq!(
            self.browser
                .eval("window.pageId === performance.timeOrigin"),
            true,
            "the page reloaded"
        );
        took
    }
}

/// The same page under plain `dx serve`: every save rebuilds it and reloads the page.
struct ReloadedPage {
    scratch: Scratch,
    current: String,
    _dx: Dx,
    browser: Browser,
    _registered: Registered,
}

impl ReloadedPage {
    fn start() -> ReloadedPage {
        let scratch = Scratch::new("bench-mt-reload");
        let mut dx = Dx::serve_threaded_rebuilding(&scratch, "bench-mt-reload");
        dx.wait_for_first_build(FIRST_BUILD);
        let mut browser = Browser::launch();
        let registered = cleanup::process(browser.pid());
        browser.goto(&format!("http://127.0.0.1:{}/?workers=2", dx.port));
        browser.eval("window.mtReady");
        ReloadedPage {
            scratch,
            current: SKY.to_string(),
            _dx: dx,
            browser,
            _registered: registered,
        }
    }

    fn rebuild_and_reload(&mut self, to: &str) -> f64 {
        let before = self.browser.eval("performance.timeOrigin");
        let old_hash = self
            .browser
            .eval("window.renderReference().then(r => r.hash)");
        let saved: Instant = save(&self.scratch.root().join(SHADE), &self.current, to);
        self.current = to.to_string();
        let browser = &mut self.browser;
        poll("the rebuilt page to be ready", EDIT, || {
            let fresh = browser.try_eval("performance.timeOrigin").ok()?;
            if fresh == before {
                return None;
            }
            // A fresh document: ready once its pool is up and the picture drawn.
            let ready: Value = browser
                .try_eval(
                    "window.mtReady && Promise.race([window.mtReady.then(() => true), \
                           new Promise(r => setTimeout(() => r(false), 50))])",
                )
                .ok()?;
            (ready == true).then_some(())
        });
        let took = ms(saved.elapsed());
        let new_hash = self
            .browser
            .eval("window.renderReference().then(r => r.hash)");
        assert_ne!(
            new_hash, old_hash,
            "the reloaded page does not show the edit"
        );
        took
    }
}
