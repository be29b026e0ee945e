//! What a client does with each dev-server frame, the same on native and web.
//!
//! The transports (a thread with tungstenite, a browser `WebSocket`) only move
//! frames; every decision lives here so it is written once and unit-tested with
//! a fake platform.

use std::collections::{HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, Once, PoisonError};

use subsecond::JumpTable;

use crate::after_patch;
use crate::message::{self, DevEvent, UnreadableMessage};
use crate::status::Status;

/// The platform-specific half of a client.
pub(crate) trait Platform: Send + Sync + 'static {
    /// Show a status to the user besides the log line (the page's overlay).
    fn show(&self, _status: &Status) {}
    /// Milliseconds on a monotonic clock.
    fn now_ms(&self) -> f64;
    /// Which `for_pid` a patch must carry to be ours: our pid natively, `None` on the web.
    fn own_pid(&self) -> Option<u32>;
    /// Which `for_build_id` a patch must carry to be ours (dx sets it for the app it launched).
    fn own_build_id(&self) -> u64 {
        dioxus_cli_config::build_id()
    }
    /// Hand the jump table to subsecond. It may land later (on the web it does).
    fn apply(&self, table: JumpTable) -> Result<(), String>;
    /// Reload the app after dx rebuilt it in full (the web does; a native app is restarted by dx).
    fn reload(&self) {}
}

/// A patch we applied and are waiting to see land.
struct InFlight {
    /// Which patch: a platform that knows which one failed says so by it.
    lib: PathBuf,
    received_ms: f64,
    /// When dx announced it started patching: what "patched in N ms" counts from.
    started_ms: f64,
    /// Already reported as failed. Kept all the same: if it lands after all,
    /// that is reported too, and counted.
    failed: bool,
}

#[derive(Default)]
struct State {
    /// The patches applied and not landed yet, oldest first. The web applies
    /// them in the background, so a save can come while others still load
    /// (threaded: one at a time, in order, behind a long render).
    in_flight: VecDeque<InFlight>,
    started_ms: Option<f64>,
    /// Kinds of unknown messages already logged (each is logged once).
    unknown: HashSet<String>,
    /// What identified the build dx served when we first connected (web).
    first_build: Option<String>,
    /// dx serves another build than ours: patches are refused.
    other_build: bool,
    /// The patch libraries applied so far: dx sends its latest one again to
    /// every client that (re)connects.
    applied: HashSet<PathBuf>,
    /// The latest patch applied: a page that reloads itself takes it along
    /// (dx 0.7.10 does not send it to the new page).
    last_applied: Option<JumpTable>,
}

/// One client's state: which patch is in flight, what was seen.
pub(crate) struct Session<P: Platform> {
    platform: Arc<P>,
    state: Arc<Mutex<State>>,
}

impl<P: Platform> Session<P> {
    pub(crate) fn new(platform: P) -> Self {
        Session {
            platform: Arc::new(platform),
            state: Arc::default(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Log `status` and show it.
    pub(crate) fn report(&self, status: Status) {
        status.log();
        self.platform.show(&status);
    }

    /// Run `on_patch` after patches land (after the `Rebuilt` values were
    /// rebuilt), and report each landing.
    ///
    /// subsecond calls its handlers only once the new jump table is committed,
    /// which on the web is well after `apply_patch` returned.
    pub(crate) fn on_landed(&self, on_patch: impl Fn() + Send + Sync + 'static) {
        let session = Session {
            platform: self.platform.clone(),
            state: self.state.clone(),
        };
        after_patch::hooks().set_landed(move |landings| session.landed(landings, &on_patch));
    }

    /// `landings` patches have landed since the hooks last ran: report each,
    /// once, with how long it took, then run the app's callback once
    /// (reported first: in the browser a panic in the callback aborts, and
    /// the patches did land).
    fn landed(&self, landings: usize, on_patch: &dyn Fn()) {
        let now = self.platform.now_ms();
        let landed: Vec<InFlight> = {
            let mut state = self.state();
            (0..landings)
                .filter_map(|_| take_landed(&mut state.in_flight))
                .collect()
        };
        for patch in landed {
            let ms = (now - patch.started_ms).max(0.0);
            self.report(Status::Patched {
                ms: ms.round() as u64,
            });
        }
        if let Err(message) = after_patch::catch(on_patch) {
            self.report(Status::CallbackPanicked { message });
        }
    }

    /// The connection is up. Returns a frame to send to dx: a log line dx
    /// prints once it has registered this client (see `HELLO`).
    pub(crate) fn connected(&self, endpoint: &str) -> String {
        self.report(Status::Connected {
            endpoint: endpoint.to_string(),
        });
        serde_json::json!({ "Log": { "level": "info", "messages": [HELLO] } }).to_string()
    }

    /// Act on one text frame from `/_dioxus` (the page hands every frame to
    /// `handle_binary`: it may have held it as bytes first).
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    pub(crate) fn handle_text(&self, text: &str) {
        self.handle(message::parse(text));
    }

    /// Act on one binary frame: read as text, the same on every platform.
    pub(crate) fn handle_binary(&self, bytes: &[u8]) {
        self.handle(message::parse_binary(bytes));
    }

    fn handle(&self, event: Result<DevEvent, UnreadableMessage>) {
        let event = match event {
            Ok(event) => event,
            Err(err) => {
                return self.report(Status::Ignored {
                    reason: err.to_string(),
                })
            }
        };
        match event {
            DevEvent::PatchStarted => {
                self.state().started_ms = Some(self.platform.now_ms());
                self.report(Status::PatchStarted)
            }
            DevEvent::Patch {
                table,
                for_pid,
                for_build_id,
                dx_ms,
            } => self.patch(*table, for_pid, for_build_id, dx_ms),
            DevEvent::BuildFailed => self.report(Status::BuildFailed { details: None }),
            DevEvent::FullRebuildStarted => self.report(Status::FullRebuild),
            DevEvent::ReloadRequested => {
                self.report(Status::Reloading);
                self.platform.reload()
            }
            DevEvent::Unknown { kind } => {
                if self.state().unknown.insert(kind.clone()) {
                    tracing::info!(
                        kind,
                        "ignoring dev-server messages of a kind this version does not know \
                         (from a newer dx?); logged once"
                    );
                }
            }
            DevEvent::Shutdown | DevEvent::NothingToDo => {}
        }
    }

    /// What identifies the build dx serves now (web: how the dev server
    /// describes the page's `.wasm`). The first one is ours; another one later
    /// means dx restarted and built anew, and its patches would not fit.
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) fn served_build(&self, fingerprint: &str) {
        let mut state = self.state();
        match &state.first_build {
            None => state.first_build = Some(fingerprint.to_string()),
            Some(first) if first != fingerprint && !state.other_build => {
                state.other_build = true;
                drop(state);
                self.report(Status::OtherBuild);
            }
            Some(_) => {}
        }
    }

    /// Whether a patch was applied and has not landed yet.
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) fn patch_in_flight(&self) -> bool {
        self.state().in_flight.iter().any(|patch| !patch.failed)
    }

    /// The build this page loaded (the first answer of the build check) and
    /// the latest patch applied to it: what a page that reloads itself hands
    /// to the next one.
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) fn build_and_patch(&self) -> Option<(String, JumpTable)> {
        let state = self.state();
        Some((state.first_build.clone()?, state.last_applied.clone()?))
    }

    /// Make `table` the patch a page that reloads itself hands to the next
    /// one, though it was never applied here (a page that reloads to run it).
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) fn take_along(&self, table: JumpTable) {
        self.state().last_applied = Some(table);
    }

    /// Apply again, in a reloaded page, the patch the page before it had:
    /// only if both loaded `build`.
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) fn reapply(&self, build: &str, table: JumpTable) {
        if self.state().first_build.as_deref() == Some(build) {
            self.apply_now(table, 0);
        } else {
            tracing::info!(
                "dx serves another build since the reload: not applying the patch from before it"
            );
        }
    }

    /// Report a patch that was applied but has not landed within `timeout_ms`.
    /// Only the web needs it: natively a patch lands before `apply` returns.
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) fn fail_if_stuck(&self, timeout_ms: f64) {
        let now = self.platform.now_ms();
        let mut stuck = 0;
        for patch in self.state().in_flight.iter_mut() {
            if !patch.failed && now - patch.received_ms > timeout_ms {
                patch.failed = true;
                stuck += 1;
            }
        }
        for _ in 0..stuck {
            self.report_failure(&format!(
                "the patch did not land within {} s (see the errors above)",
                timeout_ms / 1000.0
            ));
        }
    }

    /// A patch in flight failed on its way in, we do not know which (the web
    /// sees an error on the page): the oldest one still loading.
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) fn fail_in_flight(&self, reason: &str) {
        let oldest = self
            .state()
            .in_flight
            .iter_mut()
            .find(|patch| !patch.failed)
            .map(|patch| {
                patch.failed = true;
            });
        if oldest.is_some() {
            self.report_failure(reason);
        }
    }

    /// The patch `lib` starts loading only now, after the patches queued
    /// before it: the landing timeout counts from here, not from its receipt.
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) fn loading_starts(&self, lib: &Path) {
        let now = self.platform.now_ms();
        if let Some(patch) = self.state().in_flight.iter_mut().find(|p| p.lib == lib) {
            patch.received_ms = now;
        }
    }

    /// The patch `lib` failed for certain and will not land (the threaded
    /// loader knows): it is no longer in flight, whatever came after it.
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) fn fail_patch(&self, lib: &Path, reason: &str) {
        let removed = {
            let mut state = self.state();
            let at = state.in_flight.iter().position(|patch| patch.lib == lib);
            at.and_then(|at| state.in_flight.remove(at))
        };
        // Reported already if it timed out first.
        if removed.is_some_and(|patch| !patch.failed) {
            self.report_failure(reason);
        }
    }

    fn report_failure(&self, reason: &str) {
        self.report(Status::PatchFailed {
            reason: with_advice(reason),
        });
    }

    fn patch(&self, table: JumpTable, for_pid: Option<u32>, for_build: Option<u64>, dx_ms: u64) {
        let (own_pid, own_build) = (self.platform.own_pid(), self.platform.own_build_id());
        if self.state().other_build {
            return self.report(Status::OtherBuild);
        }
        if self.state().applied.contains(&table.lib) {
            return tracing::debug!(
                "dx sent {} again, as it does when a client connects: already applied",
                table.lib.display()
            );
        }
        if for_pid.is_none() && own_pid.is_some() {
            // dx re-sends its latest patch on a reconnection without a process
            // id; one this process missed while away cannot be told apart
            // from one built for another process.
            return tracing::warn!(
                "dx re-sent a patch this process has not applied ({}), naming no process: \
                 not applying it; save again to patch this process",
                table.lib.display()
            );
        }
        if for_pid != own_pid || for_build.is_some_and(|build| build != own_build) {
            // dx sends every patch to every client; this one was built for another process.
            return self.report(Status::Ignored {
                reason: format!(
                    "ignoring a patch built for process {} build {} (this is {} build {own_build})",
                    describe_pid(for_pid),
                    for_build.map_or("-".to_string(), |build| build.to_string()),
                    describe_pid(own_pid),
                ),
            });
        }
        self.apply_now(table, dx_ms);
    }

    /// Apply `table`, a patch for this build, and wait for it to land.
    fn apply_now(&self, table: JumpTable, dx_ms: u64) {
        let received_ms = self.platform.now_ms();
        let mut state = self.state();
        // Without a start message (we connected mid-patch), dx's compile time is the best guess.
        let started_ms = state.started_ms.take();
        state.in_flight.push_back(InFlight {
            lib: table.lib.clone(),
            received_ms,
            started_ms: started_ms.unwrap_or(received_ms - dx_ms as f64),
            failed: false,
        });
        state.applied.insert(table.lib.clone());
        state.last_applied = Some(table.clone());
        drop(state);
        let lib = table.lib.clone();
        if let Err(reason) = self.platform.apply(table) {
            self.fail_patch(&lib, &reason);
        }
    }
}

/// Which of `in_flight` a landing was, taken out: the oldest still loading
/// (patches land in the order they were applied), else the oldest reported
/// failed (it landed after all). Failed ones before it are dropped: a later
/// patch landed, so they never will, or no longer matter.
fn take_landed(in_flight: &mut VecDeque<InFlight>) -> Option<InFlight> {
    let at = in_flight
        .iter()
        .position(|patch| !patch.failed)
        .unwrap_or(0);
    in_flight.drain(..at);
    in_flight.pop_front()
}

/// The log line a client sends dx right after connecting. dx prints it only
/// after it has registered the client (and with it, natively, the app's
/// address it needs for patches), so tests wait for it before the first edit.
pub const HELLO: &str = "hotswap_runtime: connected, ready for patches";

/// A failure reason, with what to do when the cause is a known one.
fn with_advice(reason: &str) -> String {
    if reason.contains("__wbindgen_placeholder__") {
        // dioxus issue #5005: dx 0.7.10 cannot patch wasm built with v0 symbol names.
        format!(
            "{reason} (this toolchain names symbols with the v0 scheme, which dx 0.7.10 cannot \
             patch: build with the toolchain pinned in rust-toolchain.toml)"
        )
    } else {
        reason.to_string()
    }
}

fn describe_pid(pid: Option<u32>) -> String {
    pid.map_or_else(|| "the browser".to_string(), |pid| pid.to_string())
}

/// Run `f` only the first time: an app calls `connect` once, but a second call must not double every patch.
pub(crate) fn first_connect(f: impl FnOnce()) {
    static CONNECTED: Once = Once::new();
    CONNECTED.call_once(f);
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// A platform that records what it was asked to show and apply.
    #[derive(Default)]
    pub(crate) struct Fake {
        pub(crate) shown: Mutex<Vec<Status>>,
        pub(crate) applied: AtomicU64,
        pub(crate) fail_with: Option<String>,
    }

    impl Fake {
        pub(crate) fn shown(&self) -> Vec<Status> {
            self.shown.lock().unwrap().clone()
        }
    }

    impl Platform for Arc<Fake> {
        fn show(&self, status: &Status) {
            self.shown.lock().unwrap().push(status.clone());
        }
        fn now_ms(&self) -> f64 {
            1000.0
        }
        fn own_pid(&self) -> Option<u32> {
            Some(77)
        }
        fn own_build_id(&self) -> u64 {
            0
        }
        fn apply(&self, _table: JumpTable) -> Result<(), String> {
            self.applied.fetch_add(1, Ordering::SeqCst);
            match &self.fail_with {
                Some(reason) => Err(reason.clone()),
                None => Ok(()),
            }
        }
    }

    pub(crate) fn patch_for(pid: u32, build: u64) -> String {
        format!(
            r#"{{"HotReload":{{"templates":[],"assets":[],"ms_elapsed":300,"jump_table":{{"lib":"/nonexistent.so","map":{{}},"aslr_reference":0,"new_base_address":0,"ifunc_count":0}},"for_build_id":{build},"for_pid":{pid}}}}}"#
        )
    }

    fn session(fake: &Arc<Fake>) -> Session<Arc<Fake>> {
        Session::new(fake.clone())
    }

    #[test]
    fn applies_patches_for_this_process_and_build_only() {
        let fake = Arc::new(Fake::default());
        let session = session(&fake);
        session.handle_text(&patch_for(12, 0));
        session.handle_text(&patch_for(77, 1));
        assert_eq!(fake.applied.load(Ordering::SeqCst), 0);
        let shown = fake.shown();
        assert!(
            matches!(&shown[0], Status::Ignored { reason } if reason.contains("process 12 build 0 (this is 77 build 0)")),
            "{shown:?}"
        );
        assert!(matches!(&shown[1], Status::Ignored { reason } if reason.contains("build 1")));
        session.handle_text(&patch_for(77, 0));
        assert_eq!(fake.applied.load(Ordering::SeqCst), 1);
        assert_eq!(session.state().in_flight.len(), 1);
    }

    #[test]
    fn a_patch_sent_again_on_reconnection_is_not_an_error() {
        let fake = Arc::new(Fake::default());
        let session = session(&fake);
        session.handle_text(&patch_for(77, 0));
        // dx's re-send: the same library, no process id.
        let again = patch_for(77, 0).replace(r#""for_pid":77"#, r#""for_pid":null"#);
        session.handle_text(&again);
        session.handle_text(&again.replace("nonexistent.so", "missed.so"));
        assert_eq!(fake.applied.load(Ordering::SeqCst), 1);
        assert!(
            fake.shown().iter().all(|status| !status.is_error()),
            "{:?}",
            fake.shown()
        );
    }

    #[test]
    fn a_reloaded_page_applies_the_patch_of_the_page_before_only_on_the_same_build() {
        let fake = Arc::new(Fake::default());
        let before = session(&fake);
        before.served_build("etag-1");
        assert!(before.build_and_patch().is_none(), "no patch yet");
        before.handle_text(&patch_for(77, 0));
        let (build, table) = before.build_and_patch().unwrap();
        assert_eq!(build, "etag-1");

        let other = session(&fake);
        other.served_build("etag-2");
        other.reapply(&build, table.clone());
        assert_eq!(
            fake.applied.load(Ordering::SeqCst),
            1,
            "not on another build"
        );

        let same = session(&fake);
        same.served_build("etag-1");
        same.reapply(&build, table);
        assert_eq!(fake.applied.load(Ordering::SeqCst), 2);
        assert!(same.patch_in_flight());
    }

    #[test]
    fn a_failed_patch_is_reported_with_its_reason() {
        let fake = Arc::new(Fake {
            fail_with: Some("cannot open library".into()),
            ..Fake::default()
        });
        let session = session(&fake);
        session.handle_text(&patch_for(77, 0));
        assert_eq!(
            fake.shown().last(),
            Some(&Status::PatchFailed {
                reason: "cannot open library".into()
            })
        );
        assert!(!session.patch_in_flight());
    }

    #[test]
    fn a_patch_that_never_lands_is_reported_once() {
        let fake = Arc::new(Fake::default());
        let session = session(&fake);
        session.handle_text(&patch_for(77, 0));
        session.fail_if_stuck(5_000.0);
        assert!(fake.shown().is_empty(), "not stuck yet");
        session.state().in_flight[0].received_ms = -10_000.0;
        session.fail_if_stuck(5_000.0);
        session.fail_if_stuck(5_000.0);
        let shown = fake.shown();
        assert_eq!(shown.len(), 1);
        assert!(
            matches!(&shown[0], Status::PatchFailed { reason } if reason.contains("did not land"))
        );
    }

    #[test]
    fn a_patch_that_fails_to_load_in_the_page_says_why_and_what_to_do() {
        let fake = Arc::new(Fake::default());
        let session = session(&fake);
        session.handle_text(&patch_for(77, 0));
        session.fail_in_flight(
            "TypeError: Failed to resolve module specifier \"__wbindgen_placeholder__\"",
        );
        session.fail_in_flight("reported once");
        let shown = fake.shown();
        assert_eq!(shown.len(), 1);
        assert!(
            matches!(&shown[0], Status::PatchFailed { reason } if reason.contains("rust-toolchain.toml")),
            "{shown:?}"
        );
    }

    #[test]
    fn a_patch_blamed_for_an_error_that_lands_after_all_is_reported_as_landed() {
        let fake = Arc::new(Fake::default());
        let session = session(&fake);
        session.handle_text(&patch_for(77, 0));
        session.fail_in_flight("an error elsewhere on the page");
        assert!(!session.patch_in_flight());
        session.fail_if_stuck(0.0);
        session.landed(1, &|| {});
        let shown = fake.shown();
        assert!(matches!(&shown[0], Status::PatchFailed { .. }), "{shown:?}");
        assert!(matches!(&shown[1], Status::Patched { .. }), "{shown:?}");
        assert_eq!(shown.len(), 2, "reported failed once: {shown:?}");
    }

    fn patch_named(lib: &str) -> String {
        patch_for(77, 0).replace("/nonexistent.so", lib)
    }

    #[test]
    fn patches_queued_behind_one_still_loading_are_each_reported_once_in_order() {
        let fake = Arc::new(Fake::default());
        let session = session(&fake);
        for lib in ["/1.wasm", "/2.wasm", "/3.wasm"] {
            session.handle_text(&patch_named(lib));
        }
        assert_eq!(fake.applied.load(Ordering::SeqCst), 3);
        let calls = AtomicU64::new(0);
        let on_patch = || {
            calls.fetch_add(1, Ordering::SeqCst);
        };
        session.landed(1, &on_patch);
        assert!(session.patch_in_flight(), "two still loading");
        // The other two land before the page's timer runs the hooks once.
        session.landed(2, &on_patch);
        assert!(!session.patch_in_flight());
        session.landed(1, &on_patch);
        let patched = fake
            .shown()
            .iter()
            .filter(|status| matches!(status, Status::Patched { .. }))
            .count();
        assert_eq!(patched, 3, "{:?}", fake.shown());
        assert_eq!(
            calls.load(Ordering::SeqCst),
            3,
            "the app's callback once per run"
        );
    }

    #[test]
    fn a_failed_patch_is_no_longer_in_flight_and_the_next_one_is_reported_landed() {
        let fake = Arc::new(Fake::default());
        let session = session(&fake);
        session.handle_text(&patch_named("/1.wasm"));
        session.handle_text(&patch_named("/2.wasm"));
        session.fail_patch(
            Path::new("/1.wasm"),
            "rayon thread 1: cannot link the patch",
        );
        session.fail_patch(Path::new("/1.wasm"), "reported once");
        assert!(session.patch_in_flight(), "the second is still loading");
        session.landed(1, &|| {});
        assert!(!session.patch_in_flight());
        let shown = fake.shown();
        assert!(
            matches!(&shown[..], [Status::PatchFailed { reason }, Status::Patched { .. }]
                if reason.contains("rayon thread 1")),
            "the last word is the landing: {shown:?}"
        );
    }

    #[test]
    fn a_stuck_patch_fails_alone_and_the_one_behind_it_still_lands() {
        let fake = Arc::new(Fake::default());
        let session = session(&fake);
        session.handle_text(&patch_named("/1.wasm"));
        session.state().in_flight[0].received_ms = -10_000.0;
        session.handle_text(&patch_named("/2.wasm"));
        session.fail_if_stuck(5_000.0);
        session.fail_patch(Path::new("/1.wasm"), "timed out, reported already");
        session.landed(1, &|| {});
        let shown = fake.shown();
        assert_eq!(shown.len(), 2, "{shown:?}");
        assert!(
            matches!(&shown[0], Status::PatchFailed { reason } if reason.contains("did not land"))
        );
        assert!(matches!(&shown[1], Status::Patched { .. }));
        assert!(!session.patch_in_flight());
    }

    #[test]
    fn a_patch_queued_behind_slow_ones_is_timed_from_when_it_starts_loading() {
        let fake = Arc::new(Fake::default());
        let session = session(&fake);
        session.handle_text(&patch_named("/1.wasm"));
        session.handle_text(&patch_named("/2.wasm"));
        // Both came 15 s ago; the second waited behind the first till now.
        for patch in session.state().in_flight.iter_mut() {
            patch.received_ms = -14_000.0;
        }
        session.loading_starts(Path::new("/2.wasm"));
        session.fail_if_stuck(10_000.0);
        let shown = fake.shown();
        assert_eq!(shown.len(), 1, "only the first is stuck: {shown:?}");
        assert!(
            matches!(&shown[0], Status::PatchFailed { reason } if reason.contains("did not land"))
        );
        session.landed(1, &|| {});
        assert!(matches!(fake.shown().last(), Some(Status::Patched { .. })));
    }

    #[test]
    fn malformed_frames_are_reported_and_the_session_goes_on() {
        let fake = Arc::new(Fake::default());
        let session = session(&fake);
        session.handle_text("{ definitely not dx");
        session.handle_binary(&[0xff, 0x00]);
        session.handle_binary(br#""HotPatchStart""#);
        session.handle_text(r#""FullReloadFailed""#);
        let shown = fake.shown();
        assert!(matches!(&shown[0], Status::Ignored { reason } if reason.contains("cannot read")));
        assert!(matches!(&shown[1], Status::Ignored { reason } if reason.contains("not UTF-8")));
        assert_eq!(shown[2], Status::PatchStarted);
        assert_eq!(shown[3], Status::BuildFailed { details: None });
    }

    #[test]
    fn messages_of_a_newer_dx_are_not_shown() {
        let fake = Arc::new(Fake::default());
        let session = session(&fake);
        session.handle_text(r#""SomethingNew""#);
        session.handle_text(r#"{"SomethingNew":{"x":1}}"#);
        assert!(fake.shown().is_empty());
        assert_eq!(session.state().unknown.len(), 1, "remembered, logged once");
    }

    #[test]
    fn no_patch_for_another_build_after_dx_restarted() {
        let fake = Arc::new(Fake::default());
        let session = session(&fake);
        session.served_build("etag-1");
        session.served_build("etag-1");
        session.handle_text(&patch_for(77, 0));
        assert_eq!(fake.applied.load(Ordering::SeqCst), 1);

        session.served_build("etag-2");
        session.handle_text(&patch_for(77, 0));
        assert_eq!(fake.applied.load(Ordering::SeqCst), 1, "not applied");
        let shown = fake.shown();
        assert_eq!(shown, [Status::OtherBuild, Status::OtherBuild]);
    }

    #[test]
    fn a_panicking_callback_is_reported_after_the_landing() {
        let fake = Arc::new(Fake::default());
        let session = session(&fake);
        session.handle_text(r#""HotPatchStart""#);
        session.handle_text(&patch_for(77, 0));
        session.landed(1, &|| panic!("on_patch failed"));
        session.handle_text(&patch_for(77, 0).replace("nonexistent.so", "next.so"));
        session.landed(1, &|| {});
        let shown = fake.shown();
        assert_eq!(
            shown[1..],
            [
                Status::Patched { ms: 0 },
                Status::CallbackPanicked {
                    message: "on_patch failed".into()
                },
                Status::Patched { ms: 300 },
            ]
        );
    }

    #[test]
    fn the_hello_frame_is_a_client_log_dx_understands() {
        let fake = Arc::new(Fake::default());
        let hello = session(&fake).connected("ws://127.0.0.1:1/_dioxus");
        let msg: dioxus_devtools_types::ClientMsg = serde_json::from_str(&hello).unwrap();
        let dioxus_devtools_types::ClientMsg::Log { messages, .. } = msg else {
            panic!("not a log: {msg:?}")
        };
        assert_eq!(messages, [HELLO]);
    }
}
