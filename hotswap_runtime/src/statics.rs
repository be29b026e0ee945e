//! What the linker wrapper (`tools/hotswap_link`) did with a patch's statics,
//! read from the report it writes beside the patch, and said in the log.
//!
//! Without the wrapper a patch defines every static of the crates it rebuilt
//! again, and patched code silently counts in its own copy: a patch without a
//! report is said to be one, once.

use std::collections::HashSet;
#[cfg(not(target_arch = "wasm32"))]
use std::path::Path;
use std::sync::Mutex;

/// The wrapper's report (`hotswap_link::Report`, rendered as `<kind> <path>` lines).
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct LinkReport {
    pub version: String,
    pub bound: Vec<String>,
    pub bound_thread_locals: Vec<String>,
    pub initialiser_changed: Vec<String>,
    pub fresh: Vec<String>,
    pub same_path: Vec<String>,
    pub thread_locals: Vec<String>,
    pub unguarded: bool,
    pub micros: u64,
}

impl LinkReport {
    pub(crate) fn parse(text: &str) -> Result<LinkReport, String> {
        let mut lines = text.lines();
        let version = lines
            .next()
            .and_then(|first| first.strip_prefix("hotswap-link "))
            .ok_or("not a hotswap-link report")?;
        let mut report = LinkReport {
            version: version.to_string(),
            ..LinkReport::default()
        };
        for line in lines {
            let (kind, value) = line.split_once(' ').unwrap_or((line, ""));
            let value = value.to_string();
            match kind {
                "bound" => report.bound.push(value),
                "bound-thread-local" => report.bound_thread_locals.push(value),
                "initialiser-changed" => report.initialiser_changed.push(value),
                "fresh" => report.fresh.push(value),
                "same-path" => report.same_path.push(value),
                "thread-local" => report.thread_locals.push(value),
                "unguarded" => report.unguarded = true,
                "micros" => report.micros = value.parse().unwrap_or(0),
                _ => {} // a newer wrapper's news: the version line says so
            }
        }
        Ok(report)
    }

    /// The log lines for this report; `said` remembers the per-static notes
    /// already given, so each is given once per session.
    pub(crate) fn lines(&self, said: &mut HashSet<String>) -> Vec<String> {
        let mut out = Vec::new();
        if self.version != VERSION {
            out.push(format!(
                "hotswap-link {} linked this patch but hotswap_runtime is {VERSION}: install the matching wrapper (scripts/setup)",
                self.version
            ));
        }
        let count =
            |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        let mut bound = count(self.bound.len(), "static", "statics");
        if !self.bound_thread_locals.is_empty() {
            let tls = count(
                self.bound_thread_locals.len(),
                "thread-local",
                "thread-locals",
            );
            bound = format!("{bound} and {tls}");
        }
        out.push(format!(
            "patch bound {bound} to the running program ({:.1} ms)",
            self.micros as f64 / 1000.0
        ));
        let mut once = |kind: &str, name: &str, line: String| {
            if said.insert(format!("{kind} {name}")) {
                out.push(line);
            }
        };
        if self.unguarded {
            once(
                "unguarded",
                "",
                "hotswap-link found no layout snapshot for the running program (see dx's trace output, `t`, for why): a changed struct is patched, not rebuilt, until the next full build".to_string(),
            );
        }
        for name in &self.initialiser_changed {
            once(
                "init",
                name,
                format!(
                    "static {}'s initialiser changed: the running value is kept",
                    name
                ),
            );
        }
        for name in &self.fresh {
            once(
                "fresh",
                name,
                format!(
                    "static {} is new since the app was built: patched code has its own, which starts over with every patch until a rebuild",
                    name
                ),
            );
        }
        if !self.same_path.is_empty() {
            once(
                "same-path",
                "",
                format!(
                    "{} statics declared beside others of the same name in one function (tracing's callsites, for one) keep the patch's own copies: only their order tells them apart",
                    self.same_path.len()
                ),
            );
        }
        for name in &self.thread_locals {
            once(
                "tls",
                name,
                format!(
                    "thread-local {} starts from its initial value in patched code (reached through __tls_get_addr, which a patch answers with a copy of its own)",
                    name
                ),
            );
        }
        out
    }
}

/// `hotswap_link`'s version this library expects (the two are released together).
pub(crate) const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Logs what the wrapper did for the patch library `lib`.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn log_patch(lib: &Path) {
    let report = std::fs::read_to_string(lib.with_extension("hotswap")).ok();
    log_report(&lib.display().to_string(), report.as_deref());
}

/// Logs the wrapper's report `text` on the patch `lib` (`None`: there is
/// none) and returns the line to show, e.g. "patch bound 2 statics to the
/// running program (0.4 ms)", and how many statics it bound.
pub(crate) fn log_report(lib: &str, text: Option<&str>) -> (String, Option<usize>) {
    static SAID: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    let mut said = SAID.lock().unwrap_or_else(|e| e.into_inner());
    let said = said.get_or_insert_with(HashSet::new);
    match text.map(LinkReport::parse) {
        Some(Ok(report)) => {
            let lines = report.lines(said);
            for line in &lines {
                tracing::info!("{line}");
            }
            (lines.join("\n"), Some(report.bound.len()))
        }
        Some(Err(_)) | None => {
            let line = format!(
                "{lib} was linked without hotswap-link: patched code has its own copy of every static of the crates it rebuilt. Set the linker as the README says (.cargo/config.toml) and restart dx"
            );
            if said.insert("no report".into()) {
                tracing::warn!("{line}");
            }
            (line, None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = "hotswap-link 0.4.0\n\
        bound app::HITS\n\
        bound app::ID\n\
        bound-thread-local app::CURRENT\n\
        initialiser-changed app::ID\n\
        fresh app::NEW\n\
        same-path app::f::__CALLSITE\n\
        same-path app::f::__CALLSITE\n\
        thread-local app::TL\n\
        unguarded\n\
        micros 1500\n";

    #[test]
    fn a_report_reads_back_and_says_each_note_once() {
        assert_eq!(VERSION, "0.4.0", "REPORT names this library's version");
        let report = LinkReport::parse(REPORT).unwrap();
        assert_eq!(report.bound.len(), 2);
        assert_eq!(report.micros, 1500);
        let mut said = HashSet::new();
        let first = report.lines(&mut said);
        assert_eq!(
            first[0],
            "patch bound 2 statics and 1 thread-local to the running program (1.5 ms)"
        );
        assert!(first[1].contains("no layout snapshot"));
        assert!(first[2].starts_with("static app::ID's initialiser changed"));
        assert!(first[3].starts_with("static app::NEW is new"));
        assert!(first[4].starts_with("2 statics declared beside others"));
        assert!(first[5].starts_with("thread-local app::TL starts"));
        assert_eq!(report.lines(&mut said).len(), 1, "notes are given once");
    }

    #[test]
    fn another_version_or_another_file_is_said() {
        let other = REPORT.replace("hotswap-link 0.4.0", "hotswap-link 9.9.9");
        let lines = LinkReport::parse(&other)
            .unwrap()
            .lines(&mut HashSet::new());
        assert!(
            lines[0].contains("hotswap-link 9.9.9 linked this patch"),
            "{lines:?}"
        );
        assert!(LinkReport::parse("ELF...").is_err());
    }
}
