//! The report `hotswap-link` writes beside each patch it binds
//! (`lib<exe>-patch-<ms>.hotswap`), which `hotswap_runtime` reads and logs once
//! the patch has landed. Plain lines, `<kind> <symbol>`, so the runtime needs
//! no parser: the first names the wrapper and its version.

/// What one patch link did with the statics of the crates it rebuilt.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// Statics now shared with the running program.
    pub bound: Vec<String>,
    /// Bound statics whose initialiser changed: the running value is kept.
    pub initialiser_changed: Vec<String>,
    /// Statics the running program does not have: the patch's own, fresh
    /// with every patch until a rebuild.
    pub fresh: Vec<String>,
    /// Statics beside others of the same path in one function body (a
    /// `tracing` macro's `__CALLSITE`), which only their position tells
    /// apart: the patch's own.
    pub same_path: Vec<String>,
    /// Thread-locals now shared with the running program.
    pub bound_thread_locals: Vec<String>,
    /// Thread-locals patched code gets its own (initial) copy of.
    pub thread_locals: Vec<String>,
    /// The running program left no layout snapshot (`layout`): this patch
    /// was not checked for changed types.
    pub unguarded: bool,
    /// How long binding took, in microseconds.
    pub micros: u64,
    /// And each of its steps, in microseconds (`phase <step> <µs>` lines).
    pub phases: Vec<(&'static str, u64)>,
}

impl Report {
    /// The file beside the patch library `patch`.
    pub fn path_for(patch: &std::path::Path) -> std::path::PathBuf {
        patch.with_extension("hotswap")
    }

    pub fn render(&self) -> String {
        let mut out = format!("hotswap-link {}\n", crate::VERSION);
        for (kind, names) in [
            ("bound", &self.bound),
            ("bound-thread-local", &self.bound_thread_locals),
            ("initialiser-changed", &self.initialiser_changed),
            ("fresh", &self.fresh),
            ("same-path", &self.same_path),
            ("thread-local", &self.thread_locals),
        ] {
            for name in names {
                out.push_str(&format!("{kind} {}\n", crate::readable(name)));
            }
        }
        if self.unguarded {
            out.push_str("unguarded\n");
        }
        for (step, micros) in &self.phases {
            out.push_str(&format!("phase {} {micros}\n", step.replace(' ', "-")));
        }
        out.push_str(&format!("micros {}\n", self.micros));
        out
    }
}
