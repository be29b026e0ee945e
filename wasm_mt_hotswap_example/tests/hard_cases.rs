//! The hard cases of patching a page whose threads share one memory, each in
//! headless Chromium through `wasm_mt_dev`, in one session (one tool, one
//! page, one phase after the other; a second page at the end):
//!
//! 1. a patch that fails to load on one thread: every thread keeps the old
//!    code, the overlay names the thread and the reason, and the next save
//!    lands, counted once, with tables of one length on every thread;
//! 2. `memory.grow` failing: one line, and the next save still lands;
//! 3. three saves while a patch waits for the threads: all land, in order,
//!    each counted once; a failed first one leaves the overlay on the
//!    landing of the next, not red;
//! 4. a save during long renders: no row of any frame mixes old and new
//!    code, and every frame started after the landing is all new;
//! 5. threads that never reach a safe point: the patch fails after
//!    `PATCH_WAIT` with one line saying how many, and the next save lands;
//! 6. a dropped connection: on reconnecting the page is sent the last patch
//!    again and applies nothing twice (memory and table sizes unchanged);
//! 7. a tab opened after all these patches renders the patched scene on
//!    every thread;
//! 8. a panic on a rayon thread (which `panic_abort` ends): the overlay names
//!    the thread, the place and the message, and the fix's save reloads the
//!    page, whose threads all run the fix.
//!
//! Test hooks used: `window.__hotswapFailNextPatchOn` (hotswap_runtime's
//! loader, debug builds), and the example's `mtHold`/`mtRelease`,
//! `mtWasmSizes` and `mtRender({rowHashes})`.

mod mt_page;

use std::time::{Duration, Instant};

use e2e_support::{overlay, Browser, MtDev, Scratch, FIRST_BUILD, PATCH};
use mt_page::{assert_every_thread_renders, native_reference_hash, native_row_hashes, strings};

const SHADE: &str = "wasm_mt_hotswap_example/src/shade.rs";
const WORKERS: usize = 2;

/// The size of the long renders of case 4: over a second a frame in a debug
/// build on two threads.
const LONG_WIDTH: u32 = 640;
const LONG_HEIGHT: u32 = 1200;

/// Records the page's `/_dioxus` sockets and how many patches each brought,
/// from before the page's own scripts run.
const WATCH_SOCKETS: &str = r#"(() => {
  const Native = window.WebSocket;
  window.__devSockets = [];
  window.__patchFrames = 0;
  window.WebSocket = function (url, protocols) {
    const ws = protocols === undefined ? new Native(url) : new Native(url, protocols);
    if (String(url).includes("/_dioxus?")) {
      window.__devSockets.push(ws);
      ws.addEventListener("message", ({ data }) => {
        if (typeof data === "string" && data.includes('"HotReload"')) window.__patchFrames += 1;
      });
    }
    return ws;
  };
  window.WebSocket.prototype = Native.prototype;
  for (const name of ["CONNECTING", "OPEN", "CLOSING", "CLOSED"]) window.WebSocket[name] = Native[name];
})()"#;

#[test]
fn the_hard_cases_of_threaded_patching() {
    // The same copy as the other threaded tests: one warm target/mt-dev.
    let scratch = Scratch::new("wasm_mt_dev");
    let mut tool = MtDev::start(&scratch, "mt-hard");
    tool.wait_until_serving(FIRST_BUILD);
    let mut page = Browser::launch();
    page.before_each_document(WATCH_SOCKETS);
    page.goto(&format!(
        "http://127.0.0.1:{}/?workers={WORKERS}",
        tool.port
    ));
    let ready = page.eval("window.mtReady");
    page.wait_for(
        "the page to connect to wasm_mt_dev",
        "document.getElementById('hotswap-status')?.dataset.connects",
        PATCH,
    );
    let mut session = Session {
        tool,
        scratch,
        page,
        sky: "0.5".to_string(),
        current: ready["referenceHash"].as_str().unwrap().to_string(),
    };
    let phases: [(&str, Phase); 9] = [
        (
            "1 a patch that fails on one thread",
            Session::a_patch_that_fails_on_one_thread,
        ),
        (
            "2 a memory that cannot grow",
            Session::a_memory_that_cannot_grow,
        ),
        (
            "3 three saves while a patch waits",
            Session::three_saves_while_a_patch_waits,
        ),
        (
            "3 a failed patch queued before a good one",
            Session::a_failed_patch_queued_before_a_good_one,
        ),
        (
            "4 a save during long renders",
            Session::a_save_during_long_renders,
        ),
        (
            "5 threads that never reach a safe point",
            Session::threads_that_never_reach_a_safe_point,
        ),
        (
            "6 a reconnection applies nothing twice",
            Session::a_reconnection_applies_nothing_twice,
        ),
        (
            "7 a tab opened later catches up",
            Session::a_tab_opened_later_catches_up,
        ),
        (
            "8 a panic on a rayon thread",
            Session::a_panic_on_a_rayon_thread,
        ),
    ];
    for (name, phase) in phases {
        let started = Instant::now();
        phase(&mut session);
        eprintln!("case {name}: {:.1} s", started.elapsed().as_secs_f64());
    }
}

/// One case, run on the session the cases before it left.
type Phase = fn(&mut Session);

struct Session {
    tool: MtDev,
    scratch: Scratch,
    page: Browser,
    /// The factor of the sky's gradient in the scratch copy now.
    sky: String,
    /// The reference render's hash with the code every thread runs now.
    current: String,
}

impl Session {
    /// Case 1: the loader's test hook makes rayon thread 1 fail to link the
    /// patch, after it grew its table for it.
    fn a_patch_that_fails_on_one_thread(&mut self) {
        let patches = self.patches();
        self.page
            .eval("window.__hotswapFailNextPatchOn = 'rayon thread 1'");
        self.save_sky("0.45");
        let text = overlay::wait_for_error(&mut self.page, "patch failed");
        assert!(
            text.contains("rayon thread 1") && text.contains("__hotswapFailNextPatchOn"),
            "the overlay names the thread and the reason: {text}"
        );
        assert_eq!(
            self.page.eval("'__hotswapFailNextPatchOn' in window"),
            false,
            "the hook fails one patch"
        );
        // Nothing was committed: the page and every thread run the old code.
        self.every_thread_runs_the_current_code();
        let page = self.page.eval("window.renderReference()");
        assert_eq!(page["hash"], self.current.as_str(), "{page}");
        assert_eq!(self.patches(), patches);

        // The next save is neither held back by the failed one nor retries it.
        self.save_sky("0.4");
        self.lands_alone(patches + 1);
        self.every_thread_runs_the_saved_code();
        self.tables_agree();
    }

    /// Case 2: the page cannot grow its memory for a patch (a browser at
    /// the memory's maximum): one line, and the queue goes on.
    fn a_memory_that_cannot_grow(&mut self) {
        let patches = self.patches();
        self.page.eval(
            "(() => { const grow = WebAssembly.Memory.prototype.grow; \
               WebAssembly.Memory.prototype.grow = function () { \
                 WebAssembly.Memory.prototype.grow = grow; \
                 throw new RangeError('WebAssembly.Memory.grow(): Maximum memory size exceeded'); \
               }; })()",
        );
        self.save_sky("0.35");
        let text = overlay::wait_for_error(&mut self.page, "cannot grow the shared memory");
        assert!(text.contains("Maximum memory size exceeded"), "{text}");
        self.every_thread_runs_the_current_code();
        self.save_sky("0.3");
        self.lands_alone(patches + 1);
        self.every_thread_runs_the_saved_code();
    }

    /// Case 3: every thread held in a job while three saves are made, one
    /// patch each; released, the three land, in order, each counted once.
    fn three_saves_while_a_patch_waits(&mut self) {
        let patches = self.patches();
        self.hold();
        for sky in ["0.25", "0.2", "0.15"] {
            self.save_sky_and_wait_for_its_patch(sky);
        }
        self.wait_for_patch_frames_received();
        assert_eq!(self.patches(), patches, "none can land while held");
        self.release();
        self.lands_alone(patches + 3);
        // In order: the last one's code is what every thread runs.
        self.every_thread_runs_the_saved_code();
    }

    /// Case 3, with the first of two queued patches failing on one thread:
    /// the second lands, and the overlay says so last.
    fn a_failed_patch_queued_before_a_good_one(&mut self) {
        let patches = self.patches();
        self.hold();
        self.page
            .eval("window.__hotswapFailNextPatchOn = 'rayon thread 0'");
        for sky in ["0.6", "0.65"] {
            self.save_sky_and_wait_for_its_patch(sky);
        }
        self.wait_for_patch_frames_received();
        self.release();
        self.lands_alone(patches + 1);
        self.every_thread_runs_the_saved_code();
    }

    /// Case 4: frames rendered back to back on every thread while a save
    /// lands: each row is the old code's or the new code's, and every frame
    /// started after the landing is the new code's alone.
    fn a_save_during_long_renders(&mut self) {
        let old = native_row_hashes(&self.scratch, LONG_WIDTH, LONG_HEIGHT);
        let patches = self.patches();
        self.page.eval(&format!(
            "(() => {{ \
               const s = document.getElementById('hotswap-status'); \
               window.__landings = []; \
               new MutationObserver(() => window.__landings.push(performance.now())) \
                 .observe(s, {{ attributeFilter: ['data-patches'] }}); \
               window.__frames = []; window.__stopFrames = false; \
               window.__rendering = (async () => {{ \
                 while (!window.__stopFrames) {{ \
                   const started = performance.now(); \
                   const stats = await window.mtRender({{ width: {LONG_WIDTH}, \
                     height: {LONG_HEIGHT}, threads: {WORKERS}, rowHashes: true }}); \
                   window.__frames.push({{ started, ended: performance.now(), rows: stats.rowHashes }}); \
                 }} \
               }})(); \
             }})()"
        ));
        self.page
            .wait_for("a first long frame", "window.__frames.length > 0", PATCH);
        self.save_sky("0.7");
        overlay::wait_for_patches(&mut self.page, patches + 1);
        self.page.wait_for(
            "a frame started after the landing to end",
            "window.__frames.some(f => f.started > window.__landings[0])",
            PATCH,
        );
        let seen = self.page.eval(
            "(async () => { window.__stopFrames = true; await window.__rendering; \
               return { frames: window.__frames, landed: window.__landings[0] }; })()",
        );
        let new = native_row_hashes(&self.scratch, LONG_WIDTH, LONG_HEIGHT);
        let changed = old.iter().zip(&new).filter(|(old, new)| old != new).count();
        assert!(
            changed > LONG_HEIGHT as usize / 4,
            "the edit changes the sky's rows ({changed} of {LONG_HEIGHT}), or old and new cannot be told apart"
        );
        self.every_thread_runs_the_saved_code();
        let landed = seen["landed"].as_f64().unwrap();
        let frames = seen["frames"].as_array().unwrap();
        let mut mixed = 0;
        for (index, frame) in frames.iter().enumerate() {
            let rows = strings(&frame["rows"]);
            assert_eq!(rows.len(), LONG_HEIGHT as usize);
            let (mut old_rows, mut new_rows) = (0, 0);
            for (y, row) in rows.iter().enumerate() {
                match (row == &old[y], row == &new[y]) {
                    (true, true) => {}
                    (true, false) => old_rows += 1,
                    (false, true) => new_rows += 1,
                    (false, false) => panic!("frame {index}, row {y}: neither old nor new code"),
                }
            }
            if frame["started"].as_f64().unwrap() > landed {
                assert_eq!(old_rows, 0, "frame {index} started after the landing");
            }
            if old_rows > 0 && new_rows > 0 {
                mixed += 1;
            }
        }
        let first = &frames[0];
        eprintln!(
            "long renders: {} frames, the first in {:.0} ms; {mixed} with rows of both",
            frames.len(),
            first["ended"].as_f64().unwrap() - first["started"].as_f64().unwrap()
        );
    }

    /// Case 5: every rayon thread stays in one job past `PATCH_WAIT`: the
    /// patch fails, saying how many threads did not get there, nothing is
    /// committed, and once they are free the next save lands.
    fn threads_that_never_reach_a_safe_point(&mut self) {
        let patches = self.patches();
        self.hold();
        self.save_sky("0.75");
        let text = overlay::wait_for_error(&mut self.page, "did not reach a safe point");
        assert!(
            text.contains(&format!("{WORKERS} of {WORKERS} rayon threads")),
            "{text}"
        );
        self.release();
        self.every_thread_runs_the_current_code();
        self.save_sky("0.8");
        self.lands_alone(patches + 1);
        self.every_thread_runs_the_saved_code();
        self.tables_agree();
    }

    /// Case 6: the page's socket closes; it reconnects and wasm_mt_dev sends
    /// it the last patch again, which it already has.
    fn a_reconnection_applies_nothing_twice(&mut self) {
        let sizes = self.page.eval("window.mtWasmSizes()");
        let patches = self.patches();
        let connects = overlay::count(&mut self.page, "connects");
        let frames = self.page.eval("window.__patchFrames").as_u64().unwrap();
        self.page.eval("window.__devSockets.at(-1).close()");
        self.page.wait_for(
            "the page to reconnect and get the last patch again",
            &format!(
                "Number(document.getElementById('hotswap-status').dataset.connects) > {connects} \
                   && window.__patchFrames > {frames}"
            ),
            PATCH,
        );
        // Had it been applied again, it would have landed by now.
        std::thread::sleep(Duration::from_secs(3));
        assert_eq!(self.page.eval("window.mtWasmSizes()"), sizes);
        assert_eq!(self.patches(), patches);
        let shown = overlay::now(&mut self.page);
        assert_ne!(shown.state, "error", "{}", shown.text);
    }

    /// Case 7: a tab opened now gets the last patch and loads it into each of
    /// its own threads.
    fn a_tab_opened_later_catches_up(&mut self) {
        let mut late = Browser::launch();
        late.goto(&format!("http://127.0.0.1:{}/?workers=3", self.tool.port));
        assert_eq!(late.eval("window.mtReady.then(r => r.workers)"), 3);
        // Patches are cumulative: the last one alone brings it up to date.
        overlay::wait_for_patches(&mut late, 1);
        assert_every_thread_renders(&mut late, 3, &self.current);
        let page = late.eval("window.renderReference()");
        assert_eq!(page["hash"], self.current.as_str(), "{page}");
        std::thread::sleep(Duration::from_secs(1));
        assert_eq!(overlay::count(&mut late, "patches"), 1);
    }

    /// Case 8: a save whose sky panics. The page draws again after the
    /// landing, a rayon thread panics and is gone; the overlay says which,
    /// where and why, and the fix's save reloads the page, which gets the fix
    /// from wasm_mt_dev and runs it on every thread. (Last: the page reloads.)
    fn a_panic_on_a_rayon_thread(&mut self) {
        let patches = self.patches();
        let page_id = self.page.eval("performance.timeOrigin");
        let sky = format!("let k = {} * (ray.dir.y + 1.0);", self.sky);
        let panics = "let k: f32 = panic!(\"hard case 8: no sky\");";
        self.scratch.edit(SHADE, &sky, panics);
        // It lands (counted), then the page's redraw panics.
        let text = overlay::wait_until(&mut self.page, "a rayon thread's panic", |shown| {
            shown.state == "panicked" && shown.patches == patches + 1
        });
        assert!(
            text.contains("rayon thread") && text.contains("hard case 8: no sky"),
            "the overlay names the thread and the message: {text}"
        );
        assert!(text.contains("shade.rs:"), "and the place: {text}");
        let stopped = self
            .page
            .eval("window.mtThreadHashes().then(() => 'rendered', e => String(e))");
        assert!(
            stopped
                .as_str()
                .is_some_and(|s| s.contains("the pool stopped")),
            "work asked of the pool fails at once: {stopped}"
        );

        // The fix: a sky no page has had, so it is this patch that renders.
        self.sky = "0.85".to_string();
        let fixed = format!("let k = {} * (ray.dir.y + 1.0);", self.sky);
        self.scratch.edit(SHADE, panics, &fixed);
        let page = &mut self.page;
        e2e_support::wait_until("the fix's save to reload the page", PATCH, || {
            let now = page.try_eval("performance.timeOrigin").ok()?;
            (now != page_id).then_some(())
        });
        page.wait_for("the reloaded page's threads", "window.mtReady", PATCH);
        self.lands_alone(1);
        self.every_thread_runs_the_saved_code();
    }

    /// Saves the sky's gradient with `factor`, replacing the current one.
    fn save_sky(&mut self, factor: &str) {
        let line = |factor: &str| format!("let k = {factor} * (ray.dir.y + 1.0);");
        self.scratch.edit(SHADE, &line(&self.sky), &line(factor));
        self.sky = factor.to_string();
    }

    /// [`Session::save_sky`], then wait until wasm_mt_dev has made its patch,
    /// so that the next save makes a patch of its own.
    fn save_sky_and_wait_for_its_patch(&mut self, factor: &str) {
        let made = self.tool.count("ready in");
        self.save_sky(factor);
        self.tool.wait_for_patch(made, PATCH);
    }

    /// Every rayon thread renders with the code of the last patch that landed.
    fn every_thread_runs_the_current_code(&mut self) {
        assert_every_thread_renders(&mut self.page, WORKERS, &self.current);
    }

    /// Every rayon thread renders with the code saved in the scratch copy
    /// now, which becomes the current code.
    fn every_thread_runs_the_saved_code(&mut self) {
        self.current = native_reference_hash(&self.scratch);
        self.every_thread_runs_the_current_code();
    }

    fn patches(&mut self) -> u64 {
        overlay::count(&mut self.page, "patches")
    }

    /// Waits until `patches` have landed, then a moment more: no more land,
    /// and the overlay's last word is the landing.
    fn lands_alone(&mut self, patches: u64) {
        overlay::wait_for_patches(&mut self.page, patches);
        std::thread::sleep(Duration::from_secs(1));
        assert_eq!(self.patches(), patches, "each patch counted once");
        let shown = overlay::now(&mut self.page);
        assert_eq!(shown.state, "patched", "{}", shown.text);
    }

    /// Keeps every rayon thread in one job (`mtHold`) until [`Session::release`].
    fn hold(&mut self) {
        self.page
            .eval("window.__held = window.mtHold().then(() => 'released'); true");
    }

    fn release(&mut self) {
        let released = self.page.eval("window.mtRelease(); window.__held");
        assert_eq!(released, "released");
    }

    /// Every patch wasm_mt_dev made has reached the page's socket.
    fn wait_for_patch_frames_received(&mut self) {
        let made = self.tool.count("ready in");
        self.page.wait_for(
            "the page to receive every patch",
            &format!("window.__patchFrames >= {made}"),
            PATCH,
        );
    }

    /// The page and every rayon thread have function tables of one length.
    fn tables_agree(&mut self) {
        let sizes = self.page.eval("window.mtWasmSizes()");
        let page = sizes["pageTable"].as_u64().unwrap();
        let threads = mt_page::counts(&sizes["threadTables"]);
        assert_eq!(threads, vec![page; WORKERS], "{sizes}");
    }
}
