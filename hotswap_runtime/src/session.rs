//! What a client does with each dev-server frame, the same on native and web.
//!
//! The transports (a thread with tungstenite, a browser `WebSocket`) only move
//! text; every decision lives here so it is written once and unit-tested with a
//! fake platform.

use std::sync::{Arc, Mutex, Once};

use subsecond::JumpTable;

use crate::message::{self, DevEvent};
use crate::status::Status;

/// The platform-specific half of a client.
pub(crate) trait Platform: Send + Sync + 'static {
    /// Tell the user (log line, overlay).
    fn report(&self, status: Status);
    /// Milliseconds on a monotonic clock.
    fn now_ms(&self) -> f64;
    /// Which `for_pid` a patch must carry to be ours: our pid natively, `None` on the web.
    fn own_pid(&self) -> Option<u32>;
    /// Hand the jump table to subsecond. It may land later (on the web it does).
    fn apply(&self, table: JumpTable) -> Result<(), String>;
    /// Reload the app after dx rebuilt it in full (the web does; a native app is restarted by dx).
    fn reload(&self) {}
}

/// The patch we applied and are waiting to see land.
struct InFlight {
    received_ms: f64,
    /// When dx announced it started patching: what "patched in N ms" counts from.
    started_ms: f64,
}

/// One client's state: which patch is in flight.
pub(crate) struct Session<P: Platform> {
    platform: Arc<P>,
    in_flight: Arc<Mutex<Option<InFlight>>>,
    started_ms: Mutex<Option<f64>>,
}

impl<P: Platform> Session<P> {
    pub(crate) fn new(platform: P) -> Self {
        Session {
            platform: Arc::new(platform),
            in_flight: Arc::new(Mutex::new(None)),
            started_ms: Mutex::new(None),
        }
    }

    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    pub(crate) fn platform(&self) -> &P {
        &self.platform
    }

    /// Run `on_patch` after every patch that lands, and report the landing.
    ///
    /// subsecond calls its handlers only once the new jump table is committed,
    /// which on the web is well after `apply_patch` returned.
    pub(crate) fn on_landed(&self, on_patch: impl Fn() + Send + Sync + 'static) {
        let platform = self.platform.clone();
        let in_flight = self.in_flight.clone();
        subsecond::register_handler(Arc::new(move || {
            on_patch();
            if let Some(patch) = in_flight.lock().unwrap().take() {
                let ms = (platform.now_ms() - patch.started_ms).max(0.0);
                platform.report(Status::Patched {
                    ms: ms.round() as u64,
                });
            }
        }));
    }

    /// Act on one text frame from `/_dioxus`.
    pub(crate) fn handle(&self, text: &str) {
        let event = match message::parse(text) {
            Ok(event) => event,
            Err(err) => {
                return self.platform.report(Status::Ignored {
                    reason: err.to_string(),
                })
            }
        };
        match event {
            DevEvent::PatchStarted => {
                *self.started_ms.lock().unwrap() = Some(self.platform.now_ms());
                self.platform.report(Status::PatchStarted)
            }
            DevEvent::Patch {
                table,
                for_pid,
                dx_ms,
            } => self.patch(*table, for_pid, dx_ms),
            DevEvent::BuildFailed => self.platform.report(Status::BuildFailed { details: None }),
            DevEvent::FullRebuildStarted => self.platform.report(Status::FullRebuild),
            DevEvent::ReloadRequested => self.platform.reload(),
            DevEvent::Shutdown | DevEvent::NothingToDo => {}
        }
    }

    /// Report a patch that was applied but has not landed within `timeout_ms`.
    /// Only the web needs it: natively a patch lands before `apply` returns.
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) fn fail_if_stuck(&self, timeout_ms: f64) {
        let mut in_flight = self.in_flight.lock().unwrap();
        let stuck = in_flight
            .as_ref()
            .is_some_and(|patch| self.platform.now_ms() - patch.received_ms > timeout_ms);
        if stuck {
            in_flight.take();
            drop(in_flight);
            self.platform.report(Status::PatchFailed {
                reason: format!(
                    "the patch did not land within {} s (see the errors above)",
                    timeout_ms / 1000.0
                ),
            });
        }
    }

    fn patch(&self, table: JumpTable, for_pid: Option<u32>, dx_ms: u64) {
        let own = self.platform.own_pid();
        if for_pid != own {
            // dx sends every patch to every client; this one was built for another process.
            return self.platform.report(Status::Ignored {
                reason: format!(
                    "ignoring a patch built for process {} (this is {})",
                    describe_pid(for_pid),
                    describe_pid(own)
                ),
            });
        }
        let received_ms = self.platform.now_ms();
        // Without a start message (we connected mid-patch), dx's compile time is the best guess.
        let started_ms = self.started_ms.lock().unwrap().take();
        *self.in_flight.lock().unwrap() = Some(InFlight {
            received_ms,
            started_ms: started_ms.unwrap_or(received_ms - dx_ms as f64),
        });
        if let Err(reason) = self.platform.apply(table) {
            self.in_flight.lock().unwrap().take();
            self.platform.report(Status::PatchFailed { reason });
        }
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
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[derive(Default)]
    struct Fake {
        reports: Mutex<Vec<Status>>,
        applied: AtomicU64,
        fail_with: Option<String>,
    }

    impl Platform for Arc<Fake> {
        fn report(&self, status: Status) {
            self.reports.lock().unwrap().push(status);
        }
        fn now_ms(&self) -> f64 {
            1000.0
        }
        fn own_pid(&self) -> Option<u32> {
            Some(77)
        }
        fn apply(&self, _table: JumpTable) -> Result<(), String> {
            self.applied.fetch_add(1, Ordering::SeqCst);
            match &self.fail_with {
                Some(reason) => Err(reason.clone()),
                None => Ok(()),
            }
        }
    }

    fn patch_for(pid: u32) -> String {
        format!(
            r#"{{"HotReload":{{"templates":[],"assets":[],"ms_elapsed":300,"jump_table":{{"lib":"/nonexistent.so","map":{{}},"aslr_reference":0,"new_base_address":0,"ifunc_count":0}},"for_build_id":0,"for_pid":{pid}}}}}"#
        )
    }

    fn session(fake: &Arc<Fake>) -> Session<Arc<Fake>> {
        Session::new(fake.clone())
    }

    #[test]
    fn applies_patches_for_this_process_only() {
        let fake = Arc::new(Fake::default());
        let session = session(&fake);
        session.handle(&patch_for(12));
        assert_eq!(fake.applied.load(Ordering::SeqCst), 0);
        assert!(matches!(
            &fake.reports.lock().unwrap()[0],
            Status::Ignored { reason } if reason.contains("process 12 (this is 77)")
        ));
        session.handle(&patch_for(77));
        assert_eq!(fake.applied.load(Ordering::SeqCst), 1);
        assert!(session.in_flight.lock().unwrap().is_some());
    }

    #[test]
    fn a_failed_patch_is_reported_with_its_reason() {
        let fake = Arc::new(Fake {
            fail_with: Some("cannot open library".into()),
            ..Fake::default()
        });
        let session = session(&fake);
        session.handle(&patch_for(77));
        assert_eq!(
            fake.reports.lock().unwrap().last(),
            Some(&Status::PatchFailed {
                reason: "cannot open library".into()
            })
        );
        assert!(session.in_flight.lock().unwrap().is_none());
    }

    #[test]
    fn a_patch_that_never_lands_is_reported_once() {
        let fake = Arc::new(Fake::default());
        let session = session(&fake);
        session.handle(&patch_for(77));
        session.fail_if_stuck(5_000.0);
        assert!(fake.reports.lock().unwrap().is_empty(), "not stuck yet");
        session
            .in_flight
            .lock()
            .unwrap()
            .as_mut()
            .unwrap()
            .received_ms = -10_000.0;
        session.fail_if_stuck(5_000.0);
        session.fail_if_stuck(5_000.0);
        let reports = fake.reports.lock().unwrap();
        assert_eq!(reports.len(), 1);
        assert!(
            matches!(&reports[0], Status::PatchFailed { reason } if reason.contains("did not land"))
        );
    }

    #[test]
    fn malformed_frames_are_reported_and_the_session_goes_on() {
        let fake = Arc::new(Fake::default());
        let session = session(&fake);
        session.handle("{ definitely not dx");
        session.handle(r#""HotPatchStart""#);
        session.handle(r#""FullReloadFailed""#);
        let reports = fake.reports.lock().unwrap();
        assert!(
            matches!(&reports[0], Status::Ignored { reason } if reason.contains("cannot read"))
        );
        assert_eq!(reports[1], Status::PatchStarted);
        assert_eq!(reports[2], Status::BuildFailed { details: None });
    }
}
