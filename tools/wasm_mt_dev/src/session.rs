//! One dev session: the current base, and what a save turns into.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Instant;

use dioxus_devtools_types::{DevserverMsg, HotReloadMsg};

use crate::base::{self, Base, BuildError, Config};
use crate::replay::{CrateKey, ReplayError};
use crate::{link, objects, patch, reach, say, Error};
use hotswap_link::wasm::RewriteError;

/// What a save became.
#[derive(Debug)]
pub enum Outcome {
    /// The `HotReload` message to send, and the file it points at.
    Patched {
        message: DevserverMsg,
        file: PathBuf,
    },
    /// The code does not compile: rustc's rendered errors (ANSI colours kept).
    CompileError(String),
    /// The save changes what a patch cannot carry: rebuild. Says what.
    NeedsRebuild(String),
    /// No workspace source file among the changes.
    Ignored,
}

pub struct Session {
    pub config: Config,
    pub base: Base,
    /// Crates modified since the base was built: every patch carries them all.
    modified: BTreeSet<CrateKey>,
    patches: u32,
    /// Tells this run's patch files from an earlier run's: a page that stayed
    /// open across a restart skips a patch whose file name it has applied.
    run: String,
    lld: PathBuf,
}

impl Session {
    pub fn start(config: Config) -> Result<Session, BuildError> {
        let base = base::build(&config)?;
        let rustc = base
            .workspace
            .records
            .values()
            .next()
            .map(|r| PathBuf::from(&r.args[0]))
            .ok_or_else(|| Error::msg("no workspace crate was compiled through the wrapper"))?;
        let lld = link::find_rust_lld(&rustc)?;
        std::fs::create_dir_all(config.patches_dir())?;
        Ok(Session {
            config,
            base,
            modified: BTreeSet::new(),
            patches: 0,
            run: run_name(),
            lld,
        })
    }

    /// A full rebuild after a save a patch cannot carry.
    pub fn rebuild(&mut self) -> Result<(), BuildError> {
        self.base = base::build(&self.config)?;
        self.modified.clear();
        Ok(())
    }

    /// Replays every library crate (and the binary of an app without one)
    /// once, so that the first save compiles as
    /// incrementally as the later ones (the replays have their own incremental
    /// folders, cold after a base build: the first patch took 4-5 s, later ones
    /// under 1 s). A save that arrives meanwhile waits for it.
    pub fn warm_up(&self) {
        let started = Instant::now();
        let plan = self.base.workspace.plan(&self.base.workspace.to_warm_up());
        match self.base.workspace.replay(&plan) {
            Ok(_) => say(format!(
                "warmed up the patch compiler ({} crates) in {:.1}s",
                plan.len(),
                started.elapsed().as_secs_f64()
            )),
            // The first save will say what is wrong.
            Err(_) => say("warming up the patch compiler failed; the first patch will be slower"),
        }
    }

    pub fn build_id(&self) -> u32 {
        self.base.build_id
    }

    /// The folders to watch.
    pub fn source_dirs(&self) -> Vec<crate::watch::Watched> {
        base::source_dirs(&self.base.workspace)
    }

    pub fn on_change(&mut self, files: &[PathBuf], saved_at: Instant) -> Outcome {
        let mut crates = BTreeSet::new();
        for file in files {
            if file.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let Some(key) = self.base.workspace.crate_of(file) else {
                continue;
            };
            if let Some(change) = self.base.frozen.change_in(file) {
                return Outcome::NeedsRebuild(change);
            }
            crates.insert(key);
        }
        if crates.is_empty() {
            return Outcome::Ignored;
        }
        self.modified.extend(crates);
        match self.make_patch(saved_at) {
            Ok(outcome) => outcome,
            Err(e) => Outcome::NeedsRebuild(format!("the patch could not be made: {e}")),
        }
    }

    fn make_patch(&mut self, saved_at: Instant) -> Result<Outcome, Error> {
        let workspace = &self.base.workspace;
        let plan = workspace.plan(&self.modified);
        let objects = match workspace.replay(&plan) {
            Ok(objects) => objects,
            Err(ReplayError::Compile(errors)) => {
                // The next patch must not count this crate as built.
                return Ok(Outcome::CompileError(errors));
            }
            Err(ReplayError::Tool(e)) => return Err(e),
        };
        let compiled_ms = saved_at.elapsed().as_millis();

        let link_dir = self.config.hotpatch_dir().join("link");
        let _ = std::fs::remove_dir_all(&link_dir);
        std::fs::create_dir_all(&link_dir)?;
        let mut inputs = Vec::new();
        let mut linked_objects = Vec::new();
        let mut tls_refs = BTreeSet::new();
        let mut features = None;
        let mut rebound = 0;
        let contents = objects
            .iter()
            .map(std::fs::read)
            .collect::<Result<Vec<_>, _>>()?;
        let statics =
            match hotswap_link::wasm::plan(contents.iter().map(Vec::as_slice), &self.base.layout) {
                Ok(statics) => statics,
                Err(RewriteError::Unbindable(why)) => {
                    return Ok(Outcome::NeedsRebuild(why.to_string()))
                }
                Err(e @ RewriteError::Read(_)) => return Err(Error::msg(e.to_string())),
            };
        for (i, (object, bytes)) in objects.iter().zip(&contents).enumerate() {
            let rewritten = match hotswap_link::wasm::rewrite(bytes, &self.base.layout, &statics) {
                Ok(r) => r,
                Err(RewriteError::Unbindable(why)) => {
                    return Ok(Outcome::NeedsRebuild(why.to_string()))
                }
                Err(e @ RewriteError::Read(_)) => {
                    return Err(
                        Error::msg(e.to_string()).context(format!("reading {}", object.display()))
                    )
                }
            };
            rebound += rewritten.bound.len();
            tls_refs.extend(rewritten.tls_refs);
            features = features.or(rewritten.target_features);
            let path = link_dir.join(format!("{i:03}.o"));
            let object = rewritten.bytes.unwrap_or_else(|| bytes.clone());
            std::fs::write(&path, &object)?;
            inputs.push(path);
            linked_objects.push(object);
        }
        let stub = objects::tls_stub(&tls_refs, &self.base.layout, features.as_deref())?;
        let stub_path = link_dir.join("tls_stub.o");
        std::fs::write(&stub_path, stub)?;
        inputs.insert(0, stub_path);

        let rewritten_ms = saved_at.elapsed().as_millis();
        let linked_path = link_dir.join("patch.linked.wasm");
        let args = link::patch_args(self.base.layout.max_memory_pages, &inputs, &linked_path);
        link::link(&self.lld, &args)?;
        let linked_ms = saved_at.elapsed().as_millis();
        let linked = std::fs::read(&linked_path)?;
        patch::check_tls_layout(&linked, &self.base.layout)?;
        let resolved = patch::resolve(&linked, &self.base.layout)?;
        patch::check(&resolved.bytes)?;

        let number = self.patches + 1;
        let file_name = format!("patch-{}-{}-{number}.wasm", self.base.build_id, self.run);
        let url = format!("/_hotswap/{file_name}");
        let (table, names) = patch::jump_table(&resolved.bytes, &self.base.layout, &url)?;
        if let Some(why) = calls_what_the_base_lacks(&linked_objects, &names, &resolved.trapping)? {
            return Ok(Outcome::NeedsRebuild(why));
        }
        self.patches = number;
        let file = self.config.patches_dir().join(&file_name);
        std::fs::write(&file, &resolved.bytes)?;
        let ms = saved_at.elapsed().as_millis() as u64;
        say(format!(
            "patch {} ready in {ms} ms (compiled at {compiled_ms}, objects rewritten at {rewritten_ms}, linked at {linked_ms}): {} crates, {} KiB, {} functions redirected, {} statics/thread-locals kept, e.g. {}",
            self.patches,
            plan.len(),
            resolved.bytes.len() / 1024,
            table.map.len(),
            rebound,
            patch::summary(&names, 3)
        ));
        let message = DevserverMsg::HotReload(HotReloadMsg {
            templates: vec![],
            assets: vec![],
            ms_elapsed: ms,
            jump_table: Some(table),
            for_build_id: Some(self.base.build_id as u64),
            for_pid: None,
        });
        Ok(Outcome::Patched { message, file })
    }
}

/// This run of the tool, for the patch files' names: the time it started,
/// in milliseconds (one run takes seconds to start).
fn run_name() -> String {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!("{:x}", since_epoch.as_millis())
}

/// Why the patch cannot be sent, if code the running program reaches in it
/// calls a function the base does not have: a new JS binding (an `extern`
/// block of wasm-bindgen's, whose JS the page does not have), or a function
/// of a crate the base never linked. (The base keeps every function of the
/// objects it links, all of std's among them.) That call would trap, and a
/// trap on a pool thread under `panic_abort` ends the thread. A rebuild
/// links the function in.
/// Such calls in dead code (the patch keeps every function of the recompiled
/// crates, the base only those it calls) never run: they are only logged.
fn calls_what_the_base_lacks(
    objects: &[Vec<u8>],
    entries: &std::collections::BTreeMap<u64, String>,
    traps: &[patch::Trap],
) -> Result<Option<String>, Error> {
    if traps.is_empty() {
        return Ok(None);
    }
    let objects: Vec<&[u8]> = objects.iter().map(Vec::as_slice).collect();
    let entries = entries.values().map(String::as_str).collect();
    let symbols = traps.iter().map(|t| t.symbol.as_str()).collect();
    let reached = reach::reached(&objects, &entries, &symbols)?;
    let what = |symbol: &str| {
        traps
            .iter()
            .find(|t| t.symbol == symbol)
            .map_or_else(|| symbol.to_string(), |t| t.what.clone())
    };
    if let Some(first) = reached.first() {
        let more = match reached.len() - 1 {
            0 => String::new(),
            n => format!(", and {n} more"),
        };
        return Ok(Some(format!("the edited code calls {}{more}", what(first))));
    }
    say(format!(
        "{} functions the running program does not have are called only from code of the \
         patch nothing reaches (dead code of the recompiled crates), e.g. {}",
        traps.len(),
        what(&traps[0].symbol)
    ));
    Ok(None)
}

/// Compiler output for the page's overlay: no ANSI colours, HTML-escaped (dx
/// sends HTML; the overlay strips tags and unescapes entities).
pub fn error_html(rendered: &str) -> String {
    let mut plain = String::with_capacity(rendered.len());
    let mut chars = rendered.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // ESC [ ... final byte in @..~
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            continue;
        }
        plain.push(c);
    }
    plain
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiler_output_loses_colours_and_escapes_markup() {
        let rendered = "\u{1b}[0m\u{1b}[1m\u{1b}[38;5;9merror[E0308]\u{1b}[0m: expected `f32`, found `&str` <here> & there";
        assert_eq!(
            error_html(rendered),
            "error[E0308]: expected `f32`, found `&amp;str` &lt;here&gt; &amp; there"
        );
    }
}
