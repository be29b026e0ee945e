//! Notices a save that `dx serve --hot-patch` (0.7.10) left unanswered and
//! says so in one line.
//!
//! dx drops some saves without a word: one made before a native app
//! connected (it has no ASLR reference yet), one that does not parse, one
//! queued while a build was running when that build then fails, and any save
//! in a workspace crate dx does not watch (a dependency of a dependency,
//! dioxus #5314); it reports a patch that changes nothing for the library of
//! a package with a binary (#5778). The only
//! honest witness is dx's own log (`dx serve --log-to-file`, which holds
//! every level), so the decision here reads dx's lines, never a guess from
//! timing alone: a save is answered by the line that ends dx's work on it.
//!
//! [`Watch`] is the decision, fed by `main.rs` with saves and dx's lines;
//! [`Heard`] is what a line of dx's log means; [`Layout`] says which files
//! dx is expected to answer for.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What a line of dx's log means for the saves waiting on it. The texts are
/// dx 0.7.10's (`serve/mod.rs`, `serve/runner.rs`, `serve/server.rs`,
/// `build/builder.rs`); anything else is noise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heard {
    /// The splash line: dx's watcher is up and its first build comes next
    /// (which reads every file saved before).
    Started,
    /// A save arrived while a build ran: dx keeps it until a build succeeds.
    Queued,
    /// dx started a patch build for the saves it has seen.
    PatchStarted,
    /// A patch was built and sent to whoever is connected.
    Patched,
    /// cargo started compiling a package ("Compiling <package> v…", in the
    /// log at dx's trace level): it reads that package's files as they are
    /// now. Only full builds go through cargo; dx runs rustc itself for patches.
    Compiling(String),
    /// dx started a full rebuild, which reads every file.
    FullRebuild,
    /// A build ended and dx said so (a success, or an error it printed).
    BuildEnded,
    /// dx answered without building (templates, assets, or a rebuild it refused by setting).
    AnsweredInPlace,
    /// dx dropped the patch: a native app that has not connected yet.
    NoApp,
    /// dx could not parse the saved file, and skips it without a word (its
    /// next line, [`Heard::Unchanged`], names the file).
    Skipped,
    /// dx passed over a save of this file: no code changed (only comments
    /// or spacing, or a file it does not build), or, just after
    /// [`Heard::Skipped`], one it could not parse. The path as dx prints
    /// it: absolute, or from the app's crate folder ("/src/view.rs").
    Unchanged(String),
    /// The patch failed because a workspace crate that depends on the saved
    /// one was not built in this session (dioxus #5540): its name.
    NotReplayable(String),
}

impl Heard {
    pub fn from_line(line: &str) -> Option<Heard> {
        if let Some(rest) = line.trim_start().strip_prefix("Compiling ") {
            if let Some((package, version)) = rest.split_once(' ') {
                if version.starts_with('v') {
                    return Some(Heard::Compiling(package.to_string()));
                }
            }
        }
        if let Some(rest) = line.split("Ignoring file change: ").nth(1) {
            return Some(Heard::Unchanged(rest.trim().to_string()));
        }
        // Before "Build failed", which starts the same line.
        if let Some(rest) = line.split("Missing rustc args for replay: '").nth(1) {
            let krate = rest.split('\'').next().unwrap_or(rest);
            return Some(Heard::NotReplayable(krate.to_string()));
        }
        const TABLE: &[(&str, Heard)] = &[
            ("Serving your app", Heard::Started),
            ("Queueing file change", Heard::Queued),
            ("Patch rebuild: changed_crates", Heard::PatchStarted),
            ("Hot-patching:", Heard::Patched),
            ("Full rebuild:", Heard::FullRebuild),
            ("Starting full rebuild", Heard::FullRebuild),
            ("Build completed successfully", Heard::BuildEnded),
            ("Build failed", Heard::BuildEnded), // (see `build_failed`)
            ("Failed to hot-patch app", Heard::BuildEnded),
            ("Hotreloading:", Heard::AnsweredInPlace),
            ("Ignoring full rebuild for", Heard::AnsweredInPlace),
            (
                "Ignoring hotpatch since there is no ASLR reference",
                Heard::NoApp,
            ),
            ("Ignoring patch rebuild", Heard::NoApp),
            ("Diff rsx returned not parseable", Heard::Skipped),
        ];
        TABLE
            .iter()
            .find(|(text, _)| line.contains(text))
            .map(|(_, heard)| heard.clone())
    }
}

/// Where a saved file stands with dx.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// dx has not said anything about it yet.
    Seen,
    /// In the patch build dx started.
    Building,
    /// Held by dx until its running build succeeds.
    Queued,
}

#[derive(Debug)]
struct Save {
    file: String,
    content: u64,
    since: Instant,
    stage: Stage,
    /// The package the file belongs to.
    package: String,
    /// Set for a file of a crate dx does not watch.
    unwatched: bool,
    /// A full build compiled its package after the save: that build has it.
    compiled: bool,
    /// In the library of a package that also has a binary: dx's patch of it
    /// is empty (dioxus #5778).
    lib_of_binary: bool,
    /// What dx said when it passed over this save, if it said anything.
    /// Not final: one save can reach dx as several writes, and a later one
    /// may still be built (seen: "Ignoring file change" for a save dx patched
    /// right after), so it only words the line given after the wait.
    passed_over: Option<&'static str>,
}

/// The decision: which saves dx answered, and which it left without a word.
pub struct Watch {
    within: Duration,
    started: bool,
    /// dx's last line said it could not parse a file (the next names it).
    unparsed: bool,
    saves: Vec<Save>,
    /// Per file, the content the app last got (or had at start): a save of
    /// that same content needs no answer (dx itself ignores it).
    answered: HashMap<String, u64>,
}

impl Watch {
    /// `within`: how long dx may stay silent about a save it has not picked up.
    pub fn new(within: Duration) -> Watch {
        Watch {
            within,
            started: false,
            unparsed: false,
            saves: Vec::new(),
            answered: HashMap::new(),
        }
    }

    /// The content a file had when watching began.
    pub fn known(&mut self, file: &str, content: u64) {
        self.answered.insert(file.to_string(), content);
    }

    /// A file of `source` was written.
    pub fn saved(&mut self, file: &str, content: u64, source: &Source, now: Instant) {
        // Before dx's watcher is up, its first build reads the file anyway.
        if !self.started {
            self.known(file, content);
            return;
        }
        // An editor's save can be several writes: the latest one dx has not
        // picked up yet stands for all of them.
        if let Some(save) = self
            .saves
            .iter_mut()
            .rev()
            .find(|save| save.file == file && save.stage == Stage::Seen)
        {
            save.content = content;
            save.since = now;
            return;
        }
        let latest = self
            .saves
            .iter()
            .rev()
            .find(|save| save.file == file)
            .map(|save| save.content)
            .or_else(|| self.answered.get(file).copied());
        if latest == Some(content) {
            return;
        }
        self.saves.push(Save {
            file: file.to_string(),
            content,
            since: now,
            stage: Stage::Seen,
            package: source.package.clone(),
            unwatched: !source.watched,
            compiled: false,
            lib_of_binary: source.lib_of_binary,
            passed_over: None,
        });
    }

    /// A line of dx's log; returns the lines to print for saves dx dropped.
    pub fn heard(&mut self, heard: Heard, now: Instant) -> Vec<String> {
        let mut reports = Vec::new();
        match heard {
            Heard::Started => self.started = true,
            Heard::Queued => self.move_stage(Stage::Seen, Stage::Queued, now),
            Heard::PatchStarted => self.move_stage(Stage::Seen, Stage::Building, now),
            Heard::Compiling(package) => {
                // cargo may rebuild an unwatched crate on the way, but dx's
                // patch leaves it out: that is no answer.
                for save in self
                    .saves
                    .iter_mut()
                    .filter(|save| save.package == package && !save.unwatched)
                {
                    save.compiled = true;
                }
            }
            Heard::Patched => {
                reports = self.report_where(
                    |save| save.stage == Stage::Building && save.lib_of_binary && !save.compiled,
                    |_| format!("dx {DX_VERSION} reported a patch of it but patched nothing: it does not patch the library of a package that also has a binary (dioxus #5778); keep hot code in the binary or in a library crate of its own, or restart dx to build it in"),
                );
                self.answer(|stage, compiled| compiled || stage == Stage::Building);
                self.move_stage(Stage::Queued, Stage::Seen, now);
            }
            Heard::BuildEnded => {
                // Also a save made during a full build that then compiled
                // it (dx may still drop its own patch of it, harmlessly).
                self.answer(|stage, compiled| compiled || stage == Stage::Building);
                // dx takes up what it held once a build is over (a failed one
                // leaves it held: the wait below then reports it).
                self.move_stage(Stage::Queued, Stage::Seen, now);
            }
            Heard::FullRebuild => self.answer(|stage, _| stage != Stage::Queued),
            Heard::AnsweredInPlace => self.answer(|stage, _| stage == Stage::Seen),
            Heard::NoApp => self.pass_over(NO_APP),
            Heard::NotReplayable(krate) => {
                reports = self.report(Stage::Building, |_| {
                    format!("dx {DX_VERSION} cannot patch a crate that {krate}, which this session does not build, also depends on (dioxus #5540): restart dx to build it in, or keep such code in a crate only this app uses")
                });
                self.move_stage(Stage::Queued, Stage::Seen, now);
            }
            Heard::Skipped => self.unparsed = true,
            Heard::Unchanged(path) => {
                let unparsed = std::mem::take(&mut self.unparsed);
                let named = |save: &Save| {
                    let file = format!("/{}", save.file);
                    save.stage == Stage::Seen && (path.ends_with(&file) || file.ends_with(&path))
                };
                if unparsed {
                    for save in self.saves.iter_mut().filter(|save| named(save)) {
                        save.passed_over.get_or_insert(SKIPPED);
                    }
                } else {
                    let answered = &mut self.answered;
                    self.saves.retain(|save| {
                        let unchanged = named(save) && save.passed_over.is_none();
                        if unchanged {
                            answered.insert(save.file.clone(), save.content);
                        }
                        !unchanged
                    });
                }
            }
        }
        reports
    }

    /// The saves dx left unanswered for longer than `within`, as lines to print.
    pub fn due(&mut self, now: Instant) -> Vec<String> {
        let within = self.within;
        let (late, rest): (Vec<Save>, Vec<Save>) = std::mem::take(&mut self.saves)
            .into_iter()
            .partition(|save| {
                save.stage == Stage::Seen && now.duration_since(save.since) >= within
            });
        self.saves = rest;
        late.into_iter()
            .map(|save| {
                let why = match (save.unwatched, save.passed_over) {
                    (_, Some(said)) => said.to_string(),
                    (true, None) => format!(
                        "dx {} does not watch {}, a dependency of a dependency (dioxus #5314): restart dx to build it in",
                        DX_VERSION, save.package
                    ),
                    (false, None) => format!(
                        "nothing answered within {} s: save again",
                        within.as_secs_f32()
                    ),
                };
                line(&save.file, &why)
            })
            .collect()
    }

    fn pass_over(&mut self, said: &'static str) {
        for save in self
            .saves
            .iter_mut()
            .filter(|save| save.stage == Stage::Seen)
        {
            save.passed_over.get_or_insert(said);
        }
    }

    /// A save in a crate dx does not watch is never queued or built by dx
    /// (only a full rebuild takes it in): it stays where it is.
    fn move_stage(&mut self, from: Stage, to: Stage, now: Instant) {
        for save in self
            .saves
            .iter_mut()
            .filter(|save| save.stage == from && !save.unwatched)
        {
            save.stage = to;
            save.since = now;
        }
    }

    fn answer(&mut self, which: impl Fn(Stage, bool) -> bool) {
        let answered = &mut self.answered;
        self.saves.retain(|save| {
            if which(save.stage, save.compiled) {
                answered.insert(save.file.clone(), save.content);
                false
            } else {
                true
            }
        });
    }

    fn report(&mut self, stage: Stage, why: impl Fn(&Save) -> String) -> Vec<String> {
        self.report_where(|save| save.stage == stage, why)
    }

    fn report_where(
        &mut self,
        which: impl Fn(&Save) -> bool,
        why: impl Fn(&Save) -> String,
    ) -> Vec<String> {
        let (dropped, rest): (Vec<Save>, Vec<Save>) = std::mem::take(&mut self.saves)
            .into_iter()
            .partition(|save| which(save));
        self.saves = rest;
        dropped
            .iter()
            .map(|save| not_reached(&save.file, &why(save)))
            .collect()
    }
}

/// dx's line for a build that failed (a patch's compile error among them):
/// its page gets no compiler message from dx 0.7.10, only "Cargo build
/// failed - no output location".
pub fn build_failed(line: &str) -> bool {
    line.contains("Build failed")
}

/// The compiler's first error, for the page's overlay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompilerError {
    /// As cargo names it: relative to the workspace root.
    pub file: String,
    pub line: u64,
    pub column: u64,
    pub message: String,
}

impl CompilerError {
    /// The first error in `cargo … --message-format=json` output.
    pub fn first(cargo_json: &str) -> Option<CompilerError> {
        cargo_json.lines().find_map(|line| {
            let json: serde_json::Value = serde_json::from_str(line).ok()?;
            if json["reason"] != "compiler-message" || json["message"]["level"] != "error" {
                return None;
            }
            let message = &json["message"];
            // "aborting due to …" has no span: the real error came before it.
            let span = message["spans"]
                .as_array()?
                .iter()
                .find(|span| span["is_primary"] == true)?;
            Some(CompilerError {
                file: span["file_name"].as_str()?.to_string(),
                line: span["line_start"].as_u64()?,
                column: span["column_start"].as_u64()?,
                message: message["message"].as_str()?.to_string(),
            })
        })
    }

    /// What the page reads (`hotswap_runtime`'s web overlay).
    pub fn to_json(&self) -> String {
        serde_json::json!({
            "file": self.file, "line": self.line, "column": self.column, "message": self.message,
        })
        .to_string()
    }
}

const NO_APP: &str = "dx dropped it because the app had not connected yet: save again";
const SKIPPED: &str = "dx skipped it without a word, as it does with a file that does not parse: fix it and save again";

/// The dx whose log lines [`Heard`] knows.
pub const DX_VERSION: &str = "0.7.10";

/// The one line a save gets that dx dropped or passed over.
pub fn line(file: &str, why: &str) -> String {
    format!("dx did not react to the save of {file}: {why}")
}

/// The one line a save gets that dx acted on without effect (a patch that
/// failed for dx's own reasons, or an empty one reported as a success).
pub fn not_reached(file: &str, why: &str) -> String {
    format!("the save of {file} did not reach the app: {why}")
}

/// The package a saved file belongs to, and whether dx watches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub package: String,
    pub watched: bool,
    /// In the library's module tree of an app package that also has a binary.
    pub lib_of_binary: bool,
}

/// The workspace crates the app is built from, and which of them dx watches.
#[derive(Debug, Default)]
pub struct Layout {
    /// Each crate's folder and name, deepest folders first (a file belongs to
    /// the innermost crate around it).
    crates: Vec<(PathBuf, String)>,
    /// The folders dx watches: the app's crate and its direct path dependencies.
    watched: Vec<PathBuf>,
    /// When the app's package has a library and a binary: the library's files.
    lib_of_binary: Vec<PathBuf>,
}

impl Layout {
    /// From `cargo metadata --format-version 1` for the app `package`: the
    /// path packages in its (normal and build) dependency closure.
    pub fn from_metadata(metadata: &serde_json::Value, package: &str) -> Result<Layout, String> {
        let packages = metadata["packages"].as_array().ok_or("no packages")?;
        let folder = |id: &str| -> Option<(PathBuf, String)> {
            let found = packages.iter().find(|p| p["id"] == id)?;
            // Registry and git packages have a source; path ones do not.
            if !found["source"].is_null() {
                return None;
            }
            let manifest = Path::new(found["manifest_path"].as_str()?);
            Some((
                manifest.parent()?.to_path_buf(),
                found["name"].as_str()?.to_string(),
            ))
        };
        let tip = packages
            .iter()
            .find(|p| p["name"] == package && p["source"].is_null())
            .and_then(|p| p["id"].as_str())
            .ok_or_else(|| format!("no package {package} in this workspace"))?;
        let nodes = metadata["resolve"]["nodes"]
            .as_array()
            .ok_or("no resolve graph")?;
        let deps_of = |id: &str| -> Vec<String> {
            let Some(node) = nodes.iter().find(|n| n["id"] == id) else {
                return Vec::new();
            };
            node["deps"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|dep| {
                    dep["dep_kinds"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|k| k["kind"] != "dev")
                })
                .filter_map(|dep| dep["pkg"].as_str().map(str::to_string))
                .collect()
        };
        let mut layout = Layout::default();
        let targets = packages
            .iter()
            .find(|p| p["id"] == tip)
            .and_then(|p| p["targets"].as_array())
            .cloned()
            .unwrap_or_default();
        let root_of = |kind: &str| {
            targets
                .iter()
                .find(|t| {
                    t["kind"]
                        .as_array()
                        .is_some_and(|k| k.iter().any(|k| k == kind))
                })
                .and_then(|t| t["src_path"].as_str())
                .map(PathBuf::from)
        };
        if let (Some(lib), Some(_)) = (root_of("lib"), root_of("bin")) {
            layout.lib_of_binary = module_files(&lib);
        }
        let (tip_dir, tip_name) = folder(tip).ok_or("the app has no folder")?;
        layout.watched.push(tip_dir.clone());
        layout.crates.push((tip_dir, tip_name));
        let direct = deps_of(tip);
        let mut to_visit = direct.clone();
        let mut seen = vec![tip.to_string()];
        while let Some(id) = to_visit.pop() {
            if seen.contains(&id) {
                continue;
            }
            seen.push(id.clone());
            let Some((dir, name)) = folder(&id) else {
                continue;
            };
            if direct.contains(&id) {
                layout.watched.push(dir.clone());
            }
            layout.crates.push((dir, name));
            to_visit.extend(deps_of(&id));
        }
        layout
            .crates
            .sort_by_key(|(dir, _)| std::cmp::Reverse(dir.components().count()));
        Ok(layout)
    }

    /// Whether the app's package has a library and a binary (dioxus #5778).
    pub fn lib_and_binary(&self) -> bool {
        !self.lib_of_binary.is_empty()
    }

    /// The folders to watch for saves.
    pub fn folders(&self) -> Vec<PathBuf> {
        let mut folders: Vec<PathBuf> = self.crates.iter().map(|(dir, _)| dir.clone()).collect();
        folders.sort();
        folders.dedup_by(|inner, outer| inner.starts_with(&*outer));
        folders
    }

    /// Whose source `file` is: `None` when it is not the app's (dx would not build it).
    pub fn classify(&self, file: &Path) -> Option<Source> {
        if file.extension().is_none_or(|ext| ext != "rs") {
            return None;
        }
        let (dir, name) = self.crates.iter().find(|(dir, _)| file.starts_with(dir))?;
        // dx's default ignore list (workspace.rs): build output and hidden folders.
        let inside = file.strip_prefix(dir).ok()?;
        if inside.components().any(|c| {
            let c = c.as_os_str().to_string_lossy();
            c.starts_with('.') || matches!(&*c, "target" | "node_modules" | "dist")
        }) {
            return None;
        }
        Some(Source {
            package: name.clone(),
            watched: self.watched.iter().any(|w| file.starts_with(w)),
            lib_of_binary: self.lib_of_binary.iter().any(|lib| lib == file),
        })
    }
}

/// The files of a crate's module tree, from its root file: the `mod name;`
/// declarations, as `name.rs` or `name/mod.rs` (`#[path]` and `cfg` are not read).
pub fn module_files(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut to_read = vec![root.to_path_buf()];
    while let Some(file) = to_read.pop() {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let Some(dir) = file.parent() else { continue };
        let stem = file
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        // A root file's modules sit beside it; `foo.rs`'s in `foo/`.
        let base = if file == root || stem == "mod" {
            dir.to_path_buf()
        } else {
            dir.join(stem)
        };
        for line in text.lines() {
            let line = line.trim();
            let line = line
                .strip_prefix("pub(crate) ")
                .or_else(|| line.strip_prefix("pub "))
                .unwrap_or(line);
            let Some(name) = line
                .strip_prefix("mod ")
                .and_then(|rest| rest.strip_suffix(';'))
            else {
                continue;
            };
            let name = name.trim();
            for candidate in [
                base.join(format!("{name}.rs")),
                base.join(name).join("mod.rs"),
            ] {
                if candidate.is_file()
                    && !files.contains(&candidate)
                    && !to_read.contains(&candidate)
                {
                    to_read.push(candidate);
                    break;
                }
            }
        }
        files.push(file);
    }
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    const WITHIN: Duration = Duration::from_secs(5);

    /// A watch that has seen dx start, at time `t0`.
    fn started() -> (Watch, Instant) {
        let t0 = Instant::now();
        let mut watch = Watch::new(WITHIN);
        watch.known("src/app.rs", 1);
        watch.known("words/src/lib.rs", 10);
        assert!(watch.heard(Heard::Started, t0).is_empty());
        (watch, t0)
    }

    fn app() -> Source {
        Source {
            package: "app".into(),
            watched: true,
            lib_of_binary: false,
        }
    }

    fn words() -> Source {
        Source {
            package: "words".into(),
            ..app()
        }
    }

    #[test]
    fn a_patch_of_the_library_of_a_package_with_a_binary_is_reported() {
        // dx 0.7.10: "Hot-patching: src/lib.rs took 335ms", and the server
        // answered with the old code (a package with src/lib.rs and src/main.rs).
        let (mut watch, t0) = started();
        let lib = Source {
            lib_of_binary: true,
            ..app()
        };
        watch.saved("src/lib.rs", 2, &lib, at(t0, 1));
        watch.saved("src/app.rs", 3, &app(), at(t0, 1));
        watch.heard(Heard::PatchStarted, at(t0, 1));
        let reports = watch.heard(Heard::Patched, at(t0, 2));
        assert_eq!(reports.len(), 1, "{reports:?}");
        assert!(reports[0].starts_with("the save of src/lib.rs did not reach the app: "));
        assert!(reports[0].contains("#5778"));
        assert!(watch.due(at(t0, 60)).is_empty());
    }

    #[test]
    fn the_module_tree_follows_mod_declarations() {
        let dir = std::env::temp_dir().join(format!("save_watch_modules_{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("src/net")).unwrap();
        std::fs::create_dir_all(dir.join("src/util")).unwrap();
        std::fs::write(
            dir.join("src/lib.rs"),
            "pub mod net;\nmod util;\n// mod gone;\n",
        )
        .unwrap();
        std::fs::write(dir.join("src/net/mod.rs"), "pub(crate) mod wire;\n").unwrap();
        std::fs::write(dir.join("src/net/wire.rs"), "").unwrap();
        std::fs::write(dir.join("src/util.rs"), "mod deep;\n").unwrap();
        std::fs::write(dir.join("src/util/deep.rs"), "").unwrap();
        std::fs::write(dir.join("src/main.rs"), "mod app;\n").unwrap();
        std::fs::write(dir.join("src/app.rs"), "").unwrap();
        let mut files = module_files(&dir.join("src/lib.rs"));
        files.sort();
        let mut expected: Vec<PathBuf> = [
            "src/lib.rs",
            "src/net/mod.rs",
            "src/net/wire.rs",
            "src/util.rs",
            "src/util/deep.rs",
        ]
        .iter()
        .map(|f| dir.join(f))
        .collect();
        expected.sort();
        assert_eq!(
            files, expected,
            "the binary's modules are not the library's"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn unchanged(path: &str) -> Heard {
        Heard::Unchanged(path.into())
    }

    fn at(t0: Instant, secs: u64) -> Instant {
        t0 + Duration::from_secs(secs)
    }

    #[test]
    fn a_patched_save_is_never_reported() {
        let (mut watch, t0) = started();
        watch.saved("src/app.rs", 2, &app(), at(t0, 1));
        watch.heard(Heard::PatchStarted, at(t0, 1));
        // However long the patch build takes.
        assert!(watch.due(at(t0, 60)).is_empty());
        assert!(watch.heard(Heard::Patched, at(t0, 61)).is_empty());
        assert!(watch.due(at(t0, 120)).is_empty());
    }

    #[test]
    fn a_save_that_nothing_answered_is_reported_once_after_the_wait() {
        let (mut watch, t0) = started();
        watch.saved("words/src/lib.rs", 11, &words(), at(t0, 1));
        assert!(watch.due(at(t0, 5)).is_empty(), "4 s is within the wait");
        let reports = watch.due(at(t0, 6));
        assert_eq!(reports.len(), 1);
        assert!(reports[0].starts_with("dx did not react to the save of words/src/lib.rs: "));
        assert!(reports[0].ends_with("save again"));
        assert!(watch.due(at(t0, 60)).is_empty(), "one line per save");
    }

    #[test]
    fn a_save_of_unchanged_content_needs_no_answer() {
        let (mut watch, t0) = started();
        watch.saved("src/app.rs", 1, &app(), at(t0, 1));
        assert!(watch.due(at(t0, 60)).is_empty());
        // Nor a save back to what the last patch carried.
        watch.saved("src/app.rs", 2, &app(), at(t0, 61));
        watch.heard(Heard::PatchStarted, at(t0, 61));
        watch.heard(Heard::Patched, at(t0, 62));
        watch.saved("src/app.rs", 3, &app(), at(t0, 63));
        watch.heard(Heard::Skipped, at(t0, 63));
        watch.heard(unchanged("/ws/app/src/app.rs"), at(t0, 63));
        assert_eq!(watch.due(at(t0, 68)).len(), 1);
        watch.saved("src/app.rs", 2, &app(), at(t0, 64));
        assert!(
            watch.due(at(t0, 120)).is_empty(),
            "the app already runs content 2"
        );
    }

    #[test]
    fn saves_before_dx_started_are_left_to_its_first_build() {
        let t0 = Instant::now();
        let mut watch = Watch::new(WITHIN);
        watch.known("src/app.rs", 1);
        watch.saved("src/app.rs", 2, &app(), t0);
        watch.heard(Heard::Started, t0);
        assert!(watch.due(at(t0, 60)).is_empty());
        // And its content counts as the app's.
        watch.saved("src/app.rs", 2, &app(), at(t0, 61));
        assert!(watch.due(at(t0, 120)).is_empty());
    }

    #[test]
    fn a_save_queued_during_the_first_build_and_dropped_for_want_of_an_app_is_reported_at_once() {
        let (mut watch, t0) = started();
        watch.saved("src/app.rs", 2, &app(), at(t0, 1));
        watch.heard(Heard::Queued, at(t0, 1));
        assert!(
            watch.due(at(t0, 90)).is_empty(),
            "the first build takes its time"
        );
        assert!(watch.heard(Heard::BuildEnded, at(t0, 100)).is_empty());
        assert!(watch.heard(Heard::NoApp, at(t0, 100)).is_empty());
        let reports = watch.due(at(t0, 105));
        assert_eq!(reports.len(), 1);
        assert!(reports[0].contains("save of src/app.rs"));
        assert!(reports[0].contains("had not connected"));
        assert!(watch.due(at(t0, 200)).is_empty());
    }

    #[test]
    fn a_save_the_first_build_compiled_is_answered_by_it() {
        // Seen with dx 0.7.10: a save made just after dx's first line was
        // held, then cargo compiled its crate, then dx built a patch of it
        // for no page. The page runs the first build, which has the save.
        let (mut watch, t0) = started();
        watch.saved("words/src/lib.rs", 11, &words(), at(t0, 1));
        watch.heard(Heard::Queued, at(t0, 1));
        watch.heard(Heard::Compiling("app".into()), at(t0, 2));
        watch.heard(Heard::Compiling("words".into()), at(t0, 3));
        assert!(watch.heard(Heard::BuildEnded, at(t0, 9)).is_empty());
        watch.heard(Heard::PatchStarted, at(t0, 9));
        assert!(watch.heard(Heard::Patched, at(t0, 10)).is_empty());
        assert!(watch.due(at(t0, 60)).is_empty());
    }

    #[test]
    fn a_page_patch_built_before_any_page_connected_is_an_answer() {
        // dx 0.7.10 sends its latest patch to every page that connects
        // (wasm_hotswap_example/tests/workspace_crates.rs sees it land).
        let (mut watch, t0) = started();
        watch.saved("src/app.rs", 2, &app(), at(t0, 1));
        watch.heard(Heard::PatchStarted, at(t0, 1));
        assert!(watch.heard(Heard::Patched, at(t0, 2)).is_empty());
        assert!(watch.due(at(t0, 100)).is_empty());
    }

    #[test]
    fn a_save_held_through_a_failed_build_is_reported_after_the_wait() {
        let (mut watch, t0) = started();
        watch.saved("src/app.rs", 2, &app(), at(t0, 1));
        watch.heard(Heard::PatchStarted, at(t0, 1));
        watch.saved("words/src/lib.rs", 11, &words(), at(t0, 2));
        watch.heard(Heard::Queued, at(t0, 2));
        // The build fails: dx shows the error (the first save is answered) and
        // keeps the second one until some later build succeeds.
        assert!(watch.heard(Heard::BuildEnded, at(t0, 10)).is_empty());
        assert!(watch.due(at(t0, 14)).is_empty());
        let reports = watch.due(at(t0, 15));
        assert_eq!(reports.len(), 1);
        assert!(reports[0].contains("words/src/lib.rs"));
    }

    #[test]
    fn a_patch_dx_cannot_replay_names_the_crate_in_the_way() {
        let (mut watch, t0) = started();
        watch.saved("words/src/lib.rs", 11, &words(), at(t0, 1));
        watch.heard(Heard::PatchStarted, at(t0, 1));
        let reports = watch.heard(Heard::NotReplayable("page".into()), at(t0, 2));
        assert_eq!(reports.len(), 1);
        assert!(
            reports[0].contains("words/src/lib.rs")
                && reports[0].contains("page")
                && reports[0].contains("#5540")
        );
    }

    #[test]
    fn a_save_dx_skipped_is_reported_after_the_wait_with_why() {
        let (mut watch, t0) = started();
        watch.saved("src/app.rs", 2, &app(), at(t0, 1));
        // dx 0.7.10 says both, in this order, at debug level.
        assert!(watch.heard(Heard::Skipped, at(t0, 1)).is_empty());
        assert!(watch
            .heard(unchanged("/ws/app/src/app.rs"), at(t0, 1))
            .is_empty());
        let reports = watch.due(at(t0, 6));
        assert_eq!(reports.len(), 1);
        assert!(reports[0].contains("does not parse"));
    }

    #[test]
    fn a_save_that_changes_only_comments_needs_no_answer() {
        // dx 0.7.10 compares the files' syntax trees: a comment is not in them.
        let (mut watch, t0) = started();
        watch.saved("src/app.rs", 2, &app(), at(t0, 1));
        watch.saved("words/src/lib.rs", 11, &words(), at(t0, 1));
        assert!(watch.heard(unchanged("/src/app.rs"), at(t0, 1)).is_empty());
        let reports = watch.due(at(t0, 60));
        assert_eq!(
            reports.len(),
            1,
            "only the save dx named is answered: {reports:?}"
        );
        assert!(reports[0].contains("words/src/lib.rs"));
    }

    #[test]
    fn a_save_dx_skipped_once_and_then_built_is_not_reported() {
        // dx 0.7.10 did this with a save it held during a patch build: it
        // logged "Ignoring file change" for it, then started its patch.
        let (mut watch, t0) = started();
        watch.saved("src/app.rs", 2, &app(), at(t0, 1));
        watch.heard(unchanged("/src/app.rs"), at(t0, 1));
        watch.heard(Heard::PatchStarted, at(t0, 1));
        watch.heard(Heard::Patched, at(t0, 3));
        assert!(watch.due(at(t0, 60)).is_empty());
    }

    #[test]
    fn answers_without_a_build_count() {
        let (mut watch, t0) = started();
        watch.saved("src/app.rs", 2, &app(), at(t0, 1));
        watch.heard(Heard::AnsweredInPlace, at(t0, 1));
        watch.saved("words/src/lib.rs", 11, &words(), at(t0, 2));
        watch.heard(Heard::FullRebuild, at(t0, 2));
        assert!(watch.due(at(t0, 60)).is_empty());
    }

    #[test]
    fn several_writes_of_one_save_make_one_report() {
        let (mut watch, t0) = started();
        watch.saved("src/app.rs", 0, &app(), at(t0, 1));
        watch.saved("src/app.rs", 2, &app(), at(t0, 1));
        assert_eq!(watch.due(at(t0, 6)).len(), 1);
    }

    #[test]
    fn a_save_in_a_crate_dx_does_not_watch_names_the_limit() {
        let (mut watch, t0) = started();
        watch.saved(
            "plural/src/lib.rs",
            5,
            &Source {
                package: "plural".into(),
                watched: false,
                lib_of_binary: false,
            },
            at(t0, 1),
        );
        let reports = watch.due(at(t0, 6));
        assert_eq!(reports.len(), 1);
        assert!(reports[0].contains("does not watch plural"));
        assert!(reports[0].contains("#5314"));
    }

    #[test]
    fn a_patch_of_another_file_does_not_answer_a_save_dx_does_not_watch() {
        let (mut watch, t0) = started();
        let plural = Source {
            package: "plural".into(),
            watched: false,
            lib_of_binary: false,
        };
        watch.saved("plural/src/lib.rs", 5, &plural, at(t0, 1));
        // A save of app.rs just before (seen by dx) is patched just after.
        watch.saved("src/app.rs", 3, &app(), at(t0, 1));
        watch.heard(Heard::PatchStarted, at(t0, 1));
        watch.heard(Heard::Compiling("plural".into()), at(t0, 2));
        watch.heard(Heard::Patched, at(t0, 2));
        let reports = watch.due(at(t0, 7));
        assert_eq!(reports.len(), 1, "{reports:?}");
        assert!(reports[0].contains("does not watch plural"));
    }

    #[test]
    fn dx_lines_are_read_as_dx_0_7_10_writes_them() {
        let cases = [
            ("[INFO] dx::serve: Hot-patching: src/app.rs took 412ms ", Heard::Patched),
            ("[WARN] dx::build::builder: Ignoring hotpatch since there is no ASLR reference. Is the client connected? ", Heard::NoApp),
            ("[DEBUG] dx::serve::runner: Queueing file change - client is not ready to receive hotreloads. Files: [\"/a/src/app.rs\"] ", Heard::Queued),
            ("[ERROR] dx: Build failed: Cargo build failed - no output location. ", Heard::BuildEnded),
        ];
        for (text, heard) in cases {
            assert_eq!(Heard::from_line(text), Some(heard), "{text}");
        }
        assert_eq!(
            Heard::from_line("[ERROR] dx::serve: Build failed: Missing rustc args for replay: 'wasm_hotswap_example' "),
            Some(Heard::NotReplayable("wasm_hotswap_example".into()))
        );
        assert_eq!(
            Heard::from_line("   Compiling tally v0.1.0 (/ws/tally)"),
            Some(Heard::Compiling("tally".into()))
        );
        assert_eq!(
            Heard::from_line("[INFO] dx: Compiled [ 12/195]: serde"),
            None
        );
    }

    #[test]
    fn the_first_error_is_the_first_compiler_error_with_a_place() {
        let output = [
            r#"{"reason":"compiler-artifact","target":{"name":"serde"}}"#,
            r#"{"reason":"compiler-message","message":{"level":"warning","message":"unused variable","spans":[{"file_name":"src/a.rs","line_start":1,"column_start":1,"is_primary":true}]}}"#,
            r#"{"reason":"compiler-message","message":{"level":"error","message":"mismatched types","spans":[{"file_name":"src/b.rs","line_start":9,"column_start":1,"is_primary":false},{"file_name":"src/view.rs","line_start":28,"column_start":12,"is_primary":true}]}}"#,
            r#"{"reason":"compiler-message","message":{"level":"error","message":"aborting due to 1 previous error","spans":[]}}"#,
            r#"{"reason":"build-finished","success":false}"#,
        ]
        .join("\n");
        let first = CompilerError::first(&output).unwrap();
        assert_eq!(
            first,
            CompilerError {
                file: "src/view.rs".into(),
                line: 28,
                column: 12,
                message: "mismatched types".into()
            }
        );
        let json: serde_json::Value = serde_json::from_str(&first.to_json()).unwrap();
        assert_eq!(json["line"], 28);
        assert_eq!(
            CompilerError::first(r#"{"reason":"build-finished","success":true}"#),
            None
        );
    }

    fn metadata() -> serde_json::Value {
        let package = |name: &str, dir: &str| {
            serde_json::json!({"id": name, "name": name, "source": null,
                "manifest_path": format!("/ws/{dir}/Cargo.toml")})
        };
        let node = |id: &str, deps: &[(&str, &str)]| {
            let deps: Vec<_> = deps
                .iter()
                .map(|(pkg, kind)| {
                    let kind = if kind.is_empty() {
                        serde_json::Value::Null
                    } else {
                        (*kind).into()
                    };
                    serde_json::json!({"pkg": pkg, "dep_kinds": [{"kind": kind}]})
                })
                .collect();
            serde_json::json!({"id": id, "deps": deps})
        };
        serde_json::json!({
            "packages": [
                package("app", "app"), package("words", "words"), package("plural", "plural"),
                package("nested", "words/nested"), package("harness", "harness"),
                {"id": "serde", "name": "serde", "source": "registry+https://github.com/rust-lang/crates.io-index",
                 "manifest_path": "/home/.cargo/registry/serde/Cargo.toml"},
            ],
            "resolve": {"nodes": [
                node("app", &[("words", ""), ("serde", ""), ("harness", "dev")]),
                node("words", &[("plural", ""), ("nested", "")]),
                node("plural", &[]), node("nested", &[]), node("harness", &[]), node("serde", &[]),
            ]}
        })
    }

    #[test]
    fn the_layout_knows_which_crates_dx_watches() {
        let layout = Layout::from_metadata(&metadata(), "app").unwrap();
        let classify = |file: &str| layout.classify(Path::new(file));
        let source = |package: &str, watched| {
            Some(Source {
                package: package.into(),
                watched,
                lib_of_binary: false,
            })
        };
        assert_eq!(classify("/ws/app/src/main.rs"), source("app", true));
        assert_eq!(classify("/ws/words/src/lib.rs"), source("words", true));
        assert_eq!(classify("/ws/plural/src/lib.rs"), source("plural", false));
        // Inside a watched folder dx sees it, whichever crate it belongs to.
        assert_eq!(
            classify("/ws/words/nested/src/lib.rs"),
            source("nested", true)
        );
        // Not the app's source: dev-dependencies, registry crates, build output, other files.
        assert_eq!(classify("/ws/harness/src/lib.rs"), None);
        assert_eq!(classify("/ws/app/target/debug/build/out.rs"), None);
        assert_eq!(classify("/ws/app/README.md"), None);
        assert_eq!(
            layout.folders(),
            [
                PathBuf::from("/ws/app"),
                "/ws/plural".into(),
                "/ws/words".into()
            ]
        );
        assert!(Layout::from_metadata(&metadata(), "nope")
            .unwrap_err()
            .contains("nope"));
    }
}
