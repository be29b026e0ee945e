//! `scripts/bench wasm`: from saving a new `increment_step` to the page in
//! headless Chromium running it.
//!
//! - hot patch: `dx serve --hot-patch`; the patch has landed when the
//!   overlay's `#hotswap-status[data-patches]` goes up (then a click checks
//!   the new step is live and `window` shows the page was never reloaded);
//! - rebuild + reload: plain `dx serve`, which is what a user without
//!   hot-patching runs: every save is a full rebuild, then dx tells the page
//!   to reload. Done when a fresh document has drawn the view and a click
//!   adds the new step.
//!
//! Each mode has its own scratch copy, dx and browser; the edits alternate
//! between them so background load falls on both alike.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use e2e_support::{Browser, Dx, Scratch};
use serde_json::{json, Value};

use crate::cleanup::{self, Registered};
use crate::common::{
    bind_ms, load_average, ms, poll, remove_save_temps_leftovers, runs, save, secs, summary_row,
    unix_secs, write_report, Summary, Table,
};
use crate::progress;
use crate::settings::Settings;

// What the benchmarks know of the wasm example (the soak uses them too).
pub(crate) const PACKAGE: &str = "wasm_hotswap_example";
pub(crate) const VIEW: &str = "wasm_hotswap_example/src/view.rs";
pub(crate) const WEB: [&str; 4] = ["--bundle", "web", "--target", "wasm32-unknown-unknown"];
pub(crate) const FIRST_BUILD: Duration = Duration::from_secs(30 * 60);
const EDIT: Duration = Duration::from_secs(180);

pub(crate) const RENDERED: &str =
    "document.querySelector('#hotView')?.textContent.includes('clicks so far')";
const PATCHES: &str = "Number(document.querySelector('#hotswap-status')?.dataset.patches || 0)";
/// Click once and return how much the counter went up.
pub(crate) const CLICK_STEP: &str = "(() => { const counter = document.querySelector('#counter'); \
    const before = Number(counter.textContent); \
    document.querySelector('#incrementButton').click(); \
    return Number(counter.textContent) - before; })()";

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Patch,
    Reload,
}

pub fn run() {
    let settings = Settings::from_env();
    let runs = runs();
    let load_before = load_average();
    let mut patch = Page::start(Mode::Patch, "bench-wasm", &settings);
    let mut reload = Page::start(Mode::Reload, "bench-wasm-reload", &settings);
    let described = Settings::describe(&patch.scratch);

    let (mut patch_ms, mut dx_patch_ms, mut bind) = (Vec::new(), Vec::new(), Vec::new());
    let (mut reload_ms, mut dx_build_ms) = (Vec::new(), Vec::new());
    // Edit 0 warms both up and is not counted; steps 2, 3, ... are all new values.
    for i in 0..=runs {
        let label = if i == 0 {
            "warm-up".to_string()
        } else {
            format!("{i}/{runs}")
        };
        let step = i as i64 + 2;
        let (total, dx_ms, bind_ms) = patch.patch(step);
        progress!("hot patch {label}: {} (dx: {dx_ms:.0} ms)", secs(total));
        let (reloaded, build_ms) = reload.rebuild_and_reload(step);
        progress!(
            "rebuild+reload {label}: {} (dx: build {build_ms:.0} ms)",
            secs(reloaded)
        );
        if i > 0 {
            patch_ms.push(total);
            dx_patch_ms.push(dx_ms);
            bind.extend(bind_ms);
            reload_ms.push(reloaded);
            dx_build_ms.push(build_ms);
        }
    }
    drop((patch, reload));

    let patch = Summary::of(&patch_ms);
    let dx_patch = Summary::of(&dx_patch_ms);
    let reload = Summary::of(&reload_ms);
    let dx_build = Summary::of(&dx_build_ms);
    let ratio = reload.median / patch.median;
    let bind = (!bind.is_empty()).then(|| Summary::of(&bind));
    println!("\nwasm: save -> new increment_step live in the page ({runs} edits per row, one run)");
    println!("settings: {}", Settings::one_line(&described));
    let load_after = load_average();
    println!("load average before: {load_before}, after: {load_after}");
    let mut table = Table::new(&["case", "min", "median", "p95", "rebuild/patch"]);
    table.row(summary_row("hot patch (page kept)", &patch, String::new()));
    table.row(summary_row(
        "  dx: Hot-patching took",
        &dx_patch,
        String::new(),
    ));
    if let Some(bind) = &bind {
        table.row(summary_row(
            "  hotswap-link: binding the statics",
            bind,
            format!("{:.1}% of the patch", bind.median / patch.median * 100.0),
        ));
    }
    table.row(summary_row(
        "rebuild + page reload",
        &reload,
        format!("{ratio:.2}x"),
    ));
    table.row(summary_row(
        "  dx: Build completed in",
        &dx_build,
        String::new(),
    ));
    println!("{}", table.render());

    write_report(
        "wasm",
        &json!({
            "bench": "wasm",
            "unix_time": unix_secs(),
            "runs": runs,
            "measures": "ms from the edited file's write to the page running the new increment_step",
            "settings": described,
            "load_average_before": load_before,
            "load_average_after": load_after,
            "hot_patch": patch.json(),
            "hot_patch_dx_reported": dx_patch.json(),
            "hotswap_link_bind": bind.as_ref().map(Summary::json),
            "hotswap_link_share_of_patch": bind.as_ref()
                .map(|bind| (bind.median / patch.median * 1000.0).round() / 1000.0),
            "rebuild_reload": reload.json(),
            "rebuild_dx_reported": dx_build.json(),
            "ratio_rebuild_over_patch": (ratio * 100.0).round() / 100.0,
        }),
    );
}

/// `increment_step`'s body as it is written in view.rs (which records each
/// step in a static and a thread-local).
pub(crate) fn step_source(step: i64) -> String {
    format!("-> i64 {{\n    record({step})\n}}")
}

/// One scratch copy served by one dx and open in one browser.
struct Page {
    scratch: Scratch,
    dx: Dx,
    browser: Browser,
    view: PathBuf,
    step: i64,
    // Declared last: dropped after dx and the browser are stopped.
    _registered: [Registered; 2],
}

impl Page {
    fn start(mode: Mode, name: &str, settings: &Settings) -> Page {
        progress!("{name}: preparing the scratch copy");
        let scratch = Scratch::new(name);
        settings.apply(&scratch);
        // Same start for every run (see save_temps_leftovers).
        remove_save_temps_leftovers(name, &scratch.root().join("target"));
        let mut dx = match mode {
            Mode::Patch => Dx::serve(&scratch, name, PACKAGE, &WEB, &[]),
            Mode::Reload => Dx::serve_rebuilding(&scratch, name, PACKAGE, &WEB, &[]),
        };
        let dx_registered = cleanup::group(dx.pid());
        progress!(
            "{name}: dx's first build (of every dependency too if the settings are new; log in target/e2e/{name}-dx.log)"
        );
        let started = Instant::now();
        dx.wait_for_line("Build completed successfully", 0, FIRST_BUILD);

        let mut browser = Browser::launch();
        let browser_registered = cleanup::process(browser.pid());
        browser.goto(&format!("http://127.0.0.1:{}/", dx.port));
        browser.wait_for("the wasm app to render", RENDERED, EDIT);
        browser.wait_for(
            "the page to connect to dx",
            "document.querySelector('#hotswap-status')?.textContent.includes('connected')",
            EDIT,
        );
        // Survives only if the page is never reloaded.
        browser.eval("window.__benchMarker = 'before every patch'");
        progress!("{name}: page ready after {}", secs(ms(started.elapsed())));
        Page {
            view: scratch.root().join(VIEW),
            scratch,
            dx,
            browser,
            step: 1,
            _registered: [dx_registered, browser_registered],
        }
    }

    /// Save `step` and wait for the patch to land; returns (total ms, dx's
    /// ms, and hotswap-link's binding time as the overlay shows it).
    fn patch(&mut self, step: i64) -> (f64, f64, Option<f64>) {
        let landed = self.browser.eval(PATCHES).as_f64().unwrap_or(0.0);
        let patches = self.dx.count("Hot-patching:");
        let start = save(&self.view, &step_source(self.step), &step_source(step));
        let browser = &mut self.browser;
        poll(&format!("patch to step {step} to land"), EDIT, || {
            let now = browser.eval(PATCHES).as_f64()?;
            (now > landed).then_some(())
        });
        let total = ms(start.elapsed());
        self.step = step;

        assert_eq!(
            self.browser.eval(CLICK_STEP),
            json!(step),
            "after the patch a click must add the new step"
        );
        assert_eq!(
            self.browser.eval("window.__benchMarker"),
            json!("before every patch"),
            "the page reloaded: dx fell back to a full rebuild instead of patching"
        );
        let dx_ms = self.dx.wait_for_patch(patches, EDIT);
        let overlay = self
            .browser
            .eval("document.querySelector('#hotswap-status')?.textContent");
        let bind = overlay.as_str().and_then(bind_ms);
        // Let dx go idle so the next save starts a patch of its own.
        std::thread::sleep(Duration::from_millis(300));
        (total, dx_ms, bind)
    }

    /// Save `step` and wait until a reloaded page runs it; returns (total
    /// ms, dx's "Build completed in" ms).
    fn rebuild_and_reload(&mut self, step: i64) -> (f64, f64) {
        self.browser.eval("window.__benchBefore = true");
        let builds = self.dx.count("Build completed in");
        let start = save(&self.view, &step_source(self.step), &step_source(step));
        // Only a new document lacks the flag; once it has drawn the view its
        // click listener is in place, and a click tells which code runs.
        let check = format!(
            "(() => {{ if (window.__benchBefore || !({RENDERED})) return null; return {CLICK_STEP}; }})()"
        );
        let browser = &mut self.browser;
        poll(
            &format!("a reloaded page with step {step}"),
            EDIT,
            || match browser.try_eval(&check) {
                // Evaluating during the reload fails now and then: try again.
                Ok(Value::Number(added)) => (added.as_i64() == Some(step)).then_some(()),
                _ => None,
            },
        );
        let total = ms(start.elapsed());
        self.step = step;
        let line = self.dx.wait_for_line("Build completed in", builds, EDIT);
        let took = line.rsplit("in ").next().unwrap_or("").trim();
        let dx_ms = match took.strip_suffix("ms") {
            Some(ms) => ms.parse().ok(),
            None => took
                .trim_end_matches('s')
                .parse()
                .ok()
                .map(|s: f64| s * 1000.0),
        }
        .unwrap_or(f64::NAN);
        std::thread::sleep(Duration::from_millis(300));
        (total, dx_ms)
    }
}
