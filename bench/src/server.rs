//! `scripts/bench server`: from saving an edit to the server answering with
//! it, hot-patched by `dx serve --hot-patch` versus rebuilt by an
//! incremental `cargo build` and restarted.
//!
//! Both run at two sizes of the tip crate (the crate being edited): the
//! example as it is, and the example plus a generated module of 3,000 small
//! functions that the greeting calls, because a patch recompiles the whole
//! tip crate and that is where its cost grows.
//!
//! Each mode gets its own scratch copy and the edits alternate (patch,
//! rebuild, patch, ...), so load from other work on the machine falls on
//! both alike. Every scratch copy builds into its own `target/` (kept
//! between runs), so dx and cargo never wait on each other's lock, nor on
//! the end-to-end tests'.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use e2e_support::{free_port, http, Dx, Scratch};
use serde_json::{json, Value};

use crate::cleanup::{self, Registered};
use crate::common::{
    bind_ms, load_average, ms, poll, remove_save_temps_leftovers, round, runs, save, secs,
    summary_row, unix_secs, write_report, Summary, Table, BOUND,
};
use crate::progress;
use crate::settings::Settings;

const PACKAGE: &str = "server_hotswap_example";
const APP: &str = "server_hotswap_example/src/app.rs";
const MAIN: &str = "server_hotswap_example/src/main.rs";
const GENERATED: &str = "server_hotswap_example/src/generated.rs";
/// The greeting's string literal in the checkout; every edit replaces it.
const GREETING: &str = "Hello from a hot-patched server!";
const GENERATED_FUNCTIONS: usize = 3_000;
/// A first build with new settings compiles every dependency.
const FIRST_BUILD: Duration = Duration::from_secs(30 * 60);
const EDIT: Duration = Duration::from_secs(180);

#[derive(Clone, Copy, PartialEq)]
enum Size {
    Small,
    Large,
}

impl Size {
    fn name(self) -> &'static str {
        match self {
            Size::Small => "small",
            Size::Large => "large",
        }
    }

    fn functions(self) -> usize {
        match self {
            Size::Small => 0,
            Size::Large => GENERATED_FUNCTIONS,
        }
    }
}

/// `BENCH_SIZES=small`, `large` or `small,large` (the default).
fn sizes() -> Vec<Size> {
    let text = std::env::var("BENCH_SIZES").unwrap_or_else(|_| "small,large".into());
    text.split(',')
        .map(|name| match name.trim() {
            "small" => Size::Small,
            "large" => Size::Large,
            other => panic!("BENCH_SIZES: unknown size {other:?} (use small, large or both)"),
        })
        .collect()
}

struct SizeResult {
    size: Size,
    settings: Value,
    patch: Summary,
    /// What dx itself logged per patch ("Hot-patching: ... took N ms").
    dx_reported: Summary,
    /// dx's per-patch flamegraph phases, in the order dx printed them.
    phases: Vec<(String, Summary)>,
    rebuild: Summary,
    /// The `cargo build` part of each rebuild + restart.
    cargo_build: Summary,
    /// Files each patch left in dx's `deps/` (removed after it by `save_temps_sweep`).
    leftovers_per_patch: f64,
    /// hotswap-link's binding of each patch to the running statics.
    bind: Option<Summary>,
}

impl SizeResult {
    fn ratio(&self) -> f64 {
        self.rebuild.median / self.patch.median
    }
}

pub fn run() {
    let settings = Settings::from_env();
    let runs = runs();
    let load_before = load_average();
    let results: Vec<SizeResult> = sizes()
        .into_iter()
        .map(|size| bench_size(size, &settings, runs))
        .collect();

    let load_after = load_average();
    print_tables(&results, runs, &load_before, &load_after);

    let report = json!({
        "bench": "server",
        "unix_time": unix_secs(),
        "runs": runs,
        "measures": "ms from the edited file's write to the first GET / answering the new greeting",
        "settings": results[0].settings,
        "load_average_before": load_before,
        "load_average_after": load_after,
        "results": results.iter().map(|result| json!({
            "size": result.size.name(),
            "generated_functions": result.size.functions(),
            "hot_patch": result.patch.json(),
            "hot_patch_dx_reported": result.dx_reported.json(),
            "hot_patch_phases_median_ms": result.phases.iter()
                .map(|(label, summary)| (label.clone(), json!(round(summary.median))))
                .collect::<serde_json::Map<_, _>>(),
            "rebuild_restart": result.rebuild.json(),
            "rebuild_cargo_build": result.cargo_build.json(),
            "leftover_files_per_patch": (result.leftovers_per_patch * 10.0).round() / 10.0,
            "hotswap_link_bind": result.bind.as_ref().map(Summary::json),
            "hotswap_link_share_of_patch": result.bind.as_ref()
                .map(|bind| (bind.median / result.patch.median * 1000.0).round() / 1000.0),
            "ratio_rebuild_over_patch": (result.ratio() * 100.0).round() / 100.0,
        })).collect::<Vec<_>>(),
    });
    write_report("server", &report);
}

fn print_tables(results: &[SizeResult], runs: usize, load_before: &str, load_after: &str) {
    println!("\nserver: save -> first GET / with the new greeting ({runs} edits per row, one run)");
    println!("settings: {}", Settings::one_line(&results[0].settings));
    println!("load average before: {load_before}, after: {load_after}");
    let mut table = Table::new(&["case", "min", "median", "p95", "rebuild/patch"]);
    for result in results {
        let name = result.size.name();
        table.row(summary_row(
            &format!("{name}  hot patch"),
            &result.patch,
            String::new(),
        ));
        table.row(summary_row(
            &format!("{name}  rebuild+restart"),
            &result.rebuild,
            format!("{:.2}x", result.ratio()),
        ));
    }
    println!("{}", table.render());

    println!("\nwhere the time goes (medians; dx's own figures from `dx serve --verbose`)");
    let mut table = Table::new(&["part", "small", "large"]);
    // Each row: a label, a unit and what to read from a size's result.
    let mut add = |label: &str, unit: &str, pick: &dyn Fn(&SizeResult) -> Option<f64>| {
        let cell = |size: Size| {
            results
                .iter()
                .find(|result| result.size == size)
                .and_then(pick)
                .map_or(String::from("-"), |value| format!("{value:.0} {unit}"))
        };
        table.row(vec![
            label.to_string(),
            cell(Size::Small),
            cell(Size::Large),
        ]);
    };
    add("hot patch, save to new answer", "ms", &|r| {
        Some(r.patch.median)
    });
    add("  dx: Hot-patching took", "ms", &|r| {
        Some(r.dx_reported.median)
    });
    let labels: Vec<String> = results
        .iter()
        .flat_map(|result| result.phases.iter().map(|(label, _)| label.clone()))
        .fold(Vec::new(), |mut labels, label| {
            if !labels.contains(&label) {
                labels.push(label);
            }
            labels
        });
    for label in &labels {
        add(&format!("    phase: {label}"), "ms", &|r| {
            r.phases
                .iter()
                .find(|(name, _)| name == label)
                .map(|(_, summary)| summary.median)
        });
    }
    add("  hotswap-link: binding the statics", "ms", &|r| {
        r.bind.as_ref().map(|bind| bind.median)
    });
    add("    share of the patch", "%", &|r| {
        r.bind
            .as_ref()
            .map(|bind| bind.median / r.patch.median * 100.0)
    });
    add("  files each patch left in deps/", "files", &|r| {
        Some(r.leftovers_per_patch)
    });
    add("rebuild+restart, save to new answer", "ms", &|r| {
        Some(r.rebuild.median)
    });
    add("  cargo build", "ms", &|r| Some(r.cargo_build.median));
    println!("{}", table.render());
}

fn bench_size(size: Size, settings: &Settings, runs: usize) -> SizeResult {
    let name = size.name();
    let base = match size {
        Size::Small => "bench-server",
        Size::Large => "bench-server-large",
    };
    progress!("{name}: preparing scratch copies {base} and {base}-rebuild");
    let patch_copy = prepare(base, size, settings);
    let rebuild_copy = prepare(&format!("{base}-rebuild"), size, settings);
    let described = Settings::describe(&patch_copy);
    progress!("{name}: settings {}", Settings::one_line(&described));

    let mut rebuild = Rebuilder::new(&rebuild_copy);
    rebuild.warm_up(name);
    let mut patch = Patcher::start(&patch_copy, base);

    let stamp = unix_secs();
    let (mut patched, mut rebuilt) = (GREETING.to_string(), GREETING.to_string());
    let mut samples = Samples::default();
    // Edit 0 warms both paths up (dx's first patch loads its caches) and is not counted.
    for i in 0..=runs {
        let label = if i == 0 {
            "warm-up".to_string()
        } else {
            format!("{i}/{runs}")
        };

        let text = format!("Hello, patch {i} of {stamp}!");
        let sample = patch.edit(&patched, &text);
        patched = text;
        progress!(
            "{name} hot patch {label}: {} (dx: {} ms)",
            secs(sample.total),
            sample.dx_ms
        );

        let text = format!("Hello, rebuild {i} of {stamp}!");
        let (total, build) = rebuild.edit(&rebuilt, &text);
        rebuilt = text;
        progress!(
            "{name} rebuild+restart {label}: {} (cargo build {})",
            secs(total),
            secs(build)
        );

        if i > 0 {
            samples.add(sample, total, build);
        }
    }
    let leftovers_per_patch = patch.dx.leftovers_removed() as f64 / (runs + 1) as f64;
    samples.finish(size, described, leftovers_per_patch)
}

#[derive(Default)]
struct Samples {
    patch: Vec<f64>,
    dx: Vec<f64>,
    phases: Vec<(String, Vec<f64>)>,
    rebuild: Vec<f64>,
    build: Vec<f64>,
    bind: Vec<f64>,
}

impl Samples {
    fn add(&mut self, patch: PatchSample, rebuild: f64, build: f64) {
        self.patch.push(patch.total);
        self.dx.push(patch.dx_ms);
        self.bind.extend(patch.bind_ms);
        for (label, ms) in patch.phases {
            match self.phases.iter_mut().find(|(name, _)| *name == label) {
                Some((_, list)) => list.push(ms),
                None => self.phases.push((label, vec![ms])),
            }
        }
        self.rebuild.push(rebuild);
        self.build.push(build);
    }

    fn finish(self, size: Size, settings: Value, leftovers_per_patch: f64) -> SizeResult {
        SizeResult {
            size,
            settings,
            patch: Summary::of(&self.patch),
            dx_reported: Summary::of(&self.dx),
            phases: self
                .phases
                .into_iter()
                .map(|(label, list)| (label, Summary::of(&list)))
                .collect(),
            rebuild: Summary::of(&self.rebuild),
            cargo_build: Summary::of(&self.build),
            bind: (!self.bind.is_empty()).then(|| Summary::of(&self.bind)),
            leftovers_per_patch,
        }
    }
}

/// A fresh scratch copy with the settings under test and, for the large
/// size, the generated module wired into the greeting.
fn prepare(name: &str, size: Size, settings: &Settings) -> Scratch {
    let scratch = Scratch::new(name);
    settings.apply(&scratch);
    if size == Size::Large {
        std::fs::write(
            scratch.root().join(GENERATED),
            generated_module(GENERATED_FUNCTIONS),
        )
        .unwrap();
        scratch.edit(MAIN, "mod app;\n", "mod app;\nmod generated;\n");
        scratch.edit(
            APP,
            &format!("{GREETING:?}.to_string()"),
            &format!("format!(\"{{}} ({{}})\", {GREETING:?}, crate::generated::entry(7))"),
        );
    }
    scratch
}

/// `count` small functions, each doing a little arithmetic and calling the
/// next, so that all of them are reached from `entry` and none is dead code.
fn generated_module(count: usize) -> String {
    let mut out = String::from(
        "//! Written by hotswap_bench (`scripts/bench server`): a big tip crate.\n\
         //! `entry` calls f0, each function calls the next, so none is dead code.\n\n\
         pub fn entry(seed: u64) -> u64 {\n    f0(seed)\n}\n",
    );
    for i in 0..count {
        let next = if i + 1 < count {
            format!("f{}", i + 1)
        } else {
            "std::convert::identity".to_string()
        };
        let k = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 16;
        let body = match i % 3 {
            0 => format!(
                "    let y = x.wrapping_mul(6364136223846793005).wrapping_add({k});\n    \
                 match y % 5 {{\n        \
                 0 => {next}(y ^ {i}),\n        \
                 1 => {next}(y.rotate_left({r})),\n        \
                 2 => {next}(y.wrapping_sub({k})),\n        \
                 3 => {next}(y / 3 + {i}),\n        \
                 _ => {next}(y.wrapping_add(x >> 3)),\n    }}\n",
                r = i % 63 + 1
            ),
            1 => format!(
                "    let mut acc = x;\n    \
                 for step in 0..(x % 4 + 1) {{\n        \
                 acc = acc.rotate_left(step as u32 + 1) ^ {k};\n    }}\n    \
                 {next}(acc)\n"
            ),
            _ => format!(
                "    let pair = (x & 0xffff, x >> 16);\n    \
                 let mixed = if pair.0 > pair.1 {{\n        \
                 pair.0.wrapping_mul(pair.1 | 1)\n    }} else {{\n        \
                 pair.1.wrapping_add({k})\n    }};\n    \
                 {next}(mixed ^ x)\n"
            ),
        };
        out.push_str(&format!("\nfn f{i}(x: u64) -> u64 {{\n{body}}}\n"));
    }
    out
}

/// The greeting as it appears in `app.rs`: a string literal.
fn literal(text: &str) -> String {
    format!("{text:?}")
}

/// Does `GET /` answer with greeting `text`? (The large size appends a number.)
fn answers(port: u16, text: &str) -> bool {
    http::get(port, "/").is_ok_and(|response| response.body.starts_with(text))
}

struct PatchSample {
    total: f64,
    dx_ms: f64,
    phases: Vec<(String, f64)>,
    /// What hotswap-link took to bind the patch to the running statics, as
    /// the app logged it ("patch bound N statics … (X ms)").
    bind_ms: Option<f64>,
}

/// `dx serve --hot-patch` on one scratch copy, and the app it runs.
struct Patcher {
    dx: Dx,
    _registered: Registered,
    port: u16,
    app: PathBuf,
}

impl Patcher {
    fn start(scratch: &Scratch, name: &str) -> Patcher {
        let target = scratch.root().join("target");
        remove_save_temps_leftovers(name, &target);
        let port = free_port();
        let mut dx = Dx::serve(
            scratch,
            name,
            PACKAGE,
            // --verbose makes dx print a flamegraph of each patch's phases.
            &["--verbose"],
            &[("PORT", port.to_string())],
        );
        let registered = cleanup::group(dx.pid());
        progress!(
            "{name}: dx's first build (of every dependency too if the settings are new; log in target/e2e/{name}-dx.log)"
        );
        let started = Instant::now();
        poll("the app under dx to answer GET /", FIRST_BUILD, || {
            dx.assert_running();
            http::get(port, "/").ok()
        });
        dx.wait_for_app_connected(EDIT);
        progress!(
            "{name}: dx is serving after {}",
            secs(ms(started.elapsed()))
        );
        Patcher {
            dx,
            _registered: registered,
            port,
            app: scratch.root().join(APP),
        }
    }

    fn edit(&mut self, from: &str, to: &str) -> PatchSample {
        let patches = self.dx.count("Hot-patching:");
        let binds = self.dx.count(BOUND);
        let flamegraphs = self.dx.count("Flamegraph for thin");
        let start = save(&self.app, &literal(from), &literal(to));
        let mut polls = 0u32;
        let (dx, port) = (&mut self.dx, self.port);
        poll(&format!("GET / to answer {to:?}"), EDIT, || {
            polls += 1;
            if polls.is_multiple_of(100) {
                dx.assert_running();
            }
            answers(port, to).then_some(())
        });
        let total = ms(start.elapsed());

        // A new answer without a new "Hot-patching:" line would be a full
        // rebuild, which must not count as a patch: this times out instead.
        let dx_ms = self.dx.wait_for_patch(patches, EDIT);
        // The flamegraph comes with the patch's last log lines; give it a moment.
        let mut phases = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Some(found) = flamegraph(&self.dx.log(), flamegraphs) {
                phases = found;
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let bind_ms = (self.dx.count(BOUND) > binds)
            .then(|| self.dx.log().lines().rev().find_map(bind_ms))
            .flatten();
        // Let dx go idle so the next save starts a patch of its own.
        std::thread::sleep(Duration::from_millis(300));
        PatchSample {
            total,
            dx_ms,
            phases,
            bind_ms,
        }
    }
}

/// The phases of dx's `nth` "Flamegraph for thin" block, e.g.
/// `   1112ms  89.0% Compiling            |████     |`.
fn flamegraph(log: &str, nth: usize) -> Option<Vec<(String, f64)>> {
    let mut lines = log
        .lines()
        .skip_while({
            let mut seen = 0;
            move |line| {
                if line.contains("Flamegraph for thin") {
                    seen += 1;
                    seen <= nth
                } else {
                    true
                }
            }
        })
        .skip(1);
    let mut phases = Vec::new();
    for line in lines.by_ref() {
        let Some((ms, rest)) = line.trim().split_once("ms ") else {
            break;
        };
        let (Ok(ms), Some((_, rest))) = (ms.trim().parse::<f64>(), rest.split_once('%')) else {
            break;
        };
        let mut label = rest.split('|').next().unwrap_or("").trim().to_string();
        // dx runs some phases twice per patch ("Extracting assets"): keep both apart.
        let repeats = phases.iter().filter(|(seen, _)| seen == &label).count();
        if repeats > 0 {
            label = format!("{label} ({})", repeats + 1);
        }
        phases.push((label, ms));
    }
    (!phases.is_empty()).then_some(phases)
}

/// The same edits applied without dx: incremental `cargo build`, then the
/// old server killed and the new binary started, as a developer would.
struct Rebuilder {
    root: PathBuf,
    app: PathBuf,
    target: PathBuf,
    port: u16,
    server: Option<(Child, Registered)>,
}

impl Rebuilder {
    fn new(scratch: &Scratch) -> Rebuilder {
        Rebuilder {
            root: scratch.root().to_path_buf(),
            app: scratch.root().join(APP),
            // The copy's own target/, whatever CARGO_TARGET_DIR the caller has.
            target: scratch.root().join("target"),
            port: free_port(),
            server: None,
        }
    }

    fn warm_up(&mut self, name: &str) {
        progress!(
            "{name}: first cargo build of the rebuild copy (of every dependency too if the settings are new)"
        );
        let started = Instant::now();
        self.build();
        self.restart();
        let port = self.port;
        poll("the rebuilt server to answer GET /", EDIT, || {
            self.assert_running();
            http::get(port, "/").ok()
        });
        progress!(
            "{name}: cargo-built server answering after {}",
            secs(ms(started.elapsed()))
        );
    }

    /// Returns (save to new answer, the cargo build part), in ms.
    fn edit(&mut self, from: &str, to: &str) -> (f64, f64) {
        let start = save(&self.app, &literal(from), &literal(to));
        self.build();
        let build = ms(start.elapsed());
        self.restart();
        let port = self.port;
        poll(
            &format!("the rebuilt server to answer {to:?}"),
            EDIT,
            || {
                self.assert_running();
                answers(port, to).then_some(())
            },
        );
        (ms(start.elapsed()), build)
    }

    fn build(&self) {
        let output = Command::new("cargo")
            .args(["build", "-p", PACKAGE])
            .current_dir(&self.root)
            .env("CARGO_TARGET_DIR", &self.target)
            .env("CARGO_INCREMENTAL", "1")
            .env("CARGO_TERM_COLOR", "never")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .unwrap_or_else(|err| panic!("cannot run cargo ({err}): run scripts/setup"));
        if !output.status.success() {
            eprintln!("{}", String::from_utf8_lossy(&output.stderr));
            panic!(
                "cargo build of the rebuild copy in {} failed (its output is above)",
                self.root.display()
            );
        }
    }

    fn restart(&mut self) {
        self.stop();
        let binary = self.target.join("debug").join(PACKAGE);
        let child = Command::new(&binary)
            .env("PORT", self.port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {}: {err}", binary.display()));
        let registered = cleanup::process(child.id());
        self.server = Some((child, registered));
    }

    fn assert_running(&mut self) {
        if let Some((child, _)) = &mut self.server {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("the cargo-built server exited with {status}");
            }
        }
    }

    fn stop(&mut self) {
        if let Some((mut child, _registered)) = self.server.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Rebuilder {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_flamegraph_of_each_patch() {
        let log = "  1.0s DEBUG Flamegraph for thin - time taken: 500ms\n     \
                   400ms  80.0% Compiling   |████ |\n     \
                   100ms  20.0% Linking     |    █|\n     \
                   1ms  0.1% Linking     |    █|\n  1.1s  INFO next\n\
                   Flamegraph for thin - time taken: 300ms\n     \
                   300ms 100.0% Compiling   |█████|\n";
        assert_eq!(
            flamegraph(log, 0),
            Some(vec![
                ("Compiling".into(), 400.0),
                ("Linking".into(), 100.0),
                ("Linking (2)".into(), 1.0)
            ])
        );
        assert_eq!(flamegraph(log, 1), Some(vec![("Compiling".into(), 300.0)]));
        assert_eq!(flamegraph(log, 2), None);
    }

    #[test]
    fn generates_a_chain_of_functions() {
        let module = generated_module(4);
        assert!(module.contains("pub fn entry(seed: u64) -> u64 {\n    f0(seed)\n}"));
        assert!(module.contains("fn f2(x: u64)"));
        assert!(module.contains("std::convert::identity("));
        assert!(!module.contains("fn f4("));
    }
}
