//! What the app tells its user about patches: one readable line per event.

use std::fmt;

/// Something a user should know about the dev-server connection or a patch.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    Connected {
        endpoint: String,
    },
    /// The connection dropped; we keep retrying in the background.
    Disconnected {
        reason: String,
    },
    PatchStarted,
    /// The patch landed: new calls through a hot boundary run the new code.
    /// `ms` runs from dx starting the patch (just after the save) to the patch landing here.
    Patched {
        ms: u64,
    },
    /// The patch reached us but could not be applied; the old code keeps running.
    PatchFailed {
        reason: String,
    },
    /// The edit did not build; the old code keeps running. `details` is the compiler output when dx sent it.
    BuildFailed {
        details: Option<String>,
    },
    /// dx could not patch and rebuilds the whole app instead.
    FullRebuild,
    /// dx finished a full rebuild; the page reloads to run it (state is lost).
    Reloading,
    /// A message we ignored, and why.
    Ignored {
        reason: String,
    },
    /// The app's `on_patch` callback panicked. The patch is in and later patches still apply.
    CallbackPanicked {
        message: String,
    },
    /// dx now serves another build of this app than the one running here (it
    /// restarted and built anew): its patches would not fit, so none is applied.
    OtherBuild,
    /// The page's code panicked (on wasm32 a panic aborts what was running and
    /// can leave the app's state borrowed), or, with `thread`, the code on one
    /// of the page's worker threads (`panic_abort` ends that thread, so its
    /// pool cannot go on). `at` is the source location, `kept` what the app
    /// keeps across the reload that runs the fix (`crate::keep`).
    Panicked {
        /// Which worker thread (`rayon thread 1`); `None` for the page's own.
        thread: Option<String>,
        message: String,
        at: Option<String>,
        kept: Vec<String>,
    },
    /// A patch landed after a panic: the page reloads to run it in a fresh
    /// state, keeping `kept`.
    ReloadingAfterPanic {
        kept: Vec<String>,
    },
}

impl Status {
    /// Bad news is shown as an error, the rest as information.
    pub fn is_error(&self) -> bool {
        matches!(
            self,
            Status::PatchFailed { .. }
                | Status::BuildFailed { .. }
                | Status::Ignored { .. }
                | Status::CallbackPanicked { .. }
                | Status::OtherBuild
                | Status::Panicked { .. }
        )
    }

    /// Log it through `tracing` (target `hotswap_runtime`), at a level that fits.
    #[cfg(debug_assertions)]
    pub(crate) fn log(&self) {
        match self {
            Status::Patched { .. } => tracing::info!("{self}"),
            Status::PatchStarted => tracing::debug!("{self}"),
            Status::PatchFailed { .. }
            | Status::CallbackPanicked { .. }
            | Status::OtherBuild
            | Status::Panicked { .. } => tracing::error!("{self}"),
            Status::BuildFailed { .. } | Status::Disconnected { .. } | Status::Ignored { .. } => {
                tracing::warn!("{self}")
            }
            Status::Connected { .. }
            | Status::FullRebuild
            | Status::Reloading
            | Status::ReloadingAfterPanic { .. } => tracing::info!("{self}"),
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Status::Connected { endpoint } => {
                write!(f, "connected to the dev server at {endpoint}")
            }
            Status::Disconnected { reason } => {
                write!(
                    f,
                    "lost the dev server ({reason}); retrying in the background"
                )
            }
            Status::PatchStarted => write!(f, "patching…"),
            Status::Patched { ms } => write!(f, "patched in {ms} ms"),
            Status::PatchFailed { reason } => {
                write!(f, "patch failed, still running the previous code: {reason}")
            }
            Status::BuildFailed { details: None } => {
                write!(
                    f,
                    "build failed, still running the previous code (see dx's output)"
                )
            }
            Status::BuildFailed {
                details: Some(details),
            } => write!(
                f,
                "build failed, still running the previous code:\n{details}"
            ),
            Status::FullRebuild => {
                write!(f, "dx is rebuilding the whole app (this cannot be patched)")
            }
            Status::Reloading => write!(f, "dx rebuilt the whole app: reloading the page"),
            Status::Ignored { reason } => write!(f, "{reason}"),
            Status::CallbackPanicked { message } => write!(
                f,
                "on_patch panicked after the patch landed: {message} (later patches still apply)"
            ),
            Status::OtherBuild => write!(
                f,
                "dx restarted and serves a new build of this app: reload the page to run it \
                 (patches built for the new build are not applied to this one)"
            ),
            Status::Panicked {
                thread,
                message,
                at,
                kept,
            } => {
                write!(f, "{} panicked", thread.as_deref().unwrap_or("the page"))?;
                if let Some(at) = at {
                    write!(f, " at {at}")?;
                }
                // A panic message may span lines; the overlay shows one.
                let message = message.lines().collect::<Vec<_>>().join(" ");
                write!(
                    f,
                    ": {message} — it stopped there; save a fix and the page reloads to run it, {}",
                    describe_kept(kept)
                )
            }
            Status::ReloadingAfterPanic { kept } => write!(
                f,
                "the fix landed: reloading the page to run it, {}",
                describe_kept(kept)
            ),
        }
    }
}

/// What survives the reload, for a user who did not write the app's `keep` calls.
fn describe_kept(kept: &[String]) -> String {
    if kept.is_empty() {
        "losing its state (keep some with hotswap_runtime::keep)".to_string()
    } else {
        format!("keeping {}", kept.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every status, with the payload it must show.
    fn every_status() -> Vec<(Status, &'static str)> {
        vec![
            (
                Status::Connected {
                    endpoint: "ws://127.0.0.1:1/_dioxus".into(),
                },
                "ws://127.0.0.1:1/_dioxus",
            ),
            (
                Status::Disconnected {
                    reason: "socket closed".into(),
                },
                "socket closed",
            ),
            (Status::PatchStarted, ""),
            (Status::Patched { ms: 640 }, "640"),
            (
                Status::PatchFailed {
                    reason: "dlopen: no such file".into(),
                },
                "dlopen: no such file",
            ),
            (Status::BuildFailed { details: None }, ""),
            (Status::FullRebuild, ""),
            (Status::Reloading, ""),
            (
                Status::Ignored {
                    reason: "a message I cannot read".into(),
                },
                "a message I cannot read",
            ),
            (
                Status::CallbackPanicked {
                    message: "index out of bounds".into(),
                },
                "index out of bounds",
            ),
            (Status::OtherBuild, ""),
            (
                Status::Panicked {
                    thread: None,
                    message: "attempt to divide by zero".into(),
                    at: Some("src/view.rs:20:9".into()),
                    kept: vec!["counter".into()],
                },
                "src/view.rs:20:9: attempt to divide by zero",
            ),
            (
                Status::Panicked {
                    thread: None,
                    message: "first line\nsecond line".into(),
                    at: None,
                    kept: vec![],
                },
                "first line second line",
            ),
            (
                Status::Panicked {
                    thread: Some("rayon thread 1".into()),
                    message: "index out of bounds".into(),
                    at: Some("src/app.rs:20:9".into()),
                    kept: vec![],
                },
                "rayon thread 1 panicked at src/app.rs:20:9: index out of bounds",
            ),
            (
                Status::ReloadingAfterPanic {
                    kept: vec!["counter".into(), "todos".into()],
                },
                "counter, todos",
            ),
        ]
    }

    /// One line a person reads: no debug formatting, the payload as it came,
    /// and for bad news, that the previous code still runs or what to do.
    #[test]
    fn each_status_is_one_readable_line_with_its_payload() {
        for (status, payload) in every_status() {
            let line = status.to_string();
            assert!(
                !line.is_empty() && !line.contains('\n'),
                "{status:?}: {line:?}"
            );
            assert!(
                line.contains(payload),
                "{status:?} hides {payload:?}: {line:?}"
            );
            assert!(
                !line.contains("Some(") && !line.contains("{ ") && !line.contains('"'),
                "{status:?} leaks debug formatting: {line:?}"
            );
            if status.is_error() && !matches!(status, Status::Ignored { .. }) {
                let says_what_next = ["still", "reload", "later patches"]
                    .iter()
                    .any(|hint| line.contains(hint));
                assert!(
                    says_what_next,
                    "{status:?} does not say what happens next: {line:?}"
                );
            }
        }
    }

    /// Compiler output keeps its own lines, after the one-line summary.
    #[test]
    fn build_errors_keep_the_compiler_lines() {
        let details = "error[E0308]: mismatched types\n --> src/app.rs:3:5";
        let line = Status::BuildFailed {
            details: Some(details.into()),
        }
        .to_string();
        assert_eq!(line.lines().count(), 3, "{line:?}");
        assert!(line.ends_with(details), "{line:?}");
    }
}
