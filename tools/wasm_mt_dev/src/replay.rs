//! Recompiling the crates a save touched, with the invocations recorded during
//! the base build.
//!
//! Like dx, a patch holds every crate modified since the base build plus their
//! workspace dependents (a dependent may instantiate the edited crate's generics,
//! and the hot boundary `HotFn::current(f)` lives in the crate that calls it).
//! Unlike dx, the replay writes to its own folders under `hotpatch/`: the base's
//! rlibs stay as cargo built them, so the next full build is not fooled into
//! linking position-independent objects.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::capture::{Kind, Recorded, CAPTURE_DIR_VAR};
use crate::crate_env;
use crate::Error;

pub type CrateKey = (String, Kind);

pub struct Workspace {
    /// The folder cargo ran rustc in (the workspace root).
    pub root: PathBuf,
    pub records: BTreeMap<CrateKey, Recorded>,
    /// Where replays put their outputs.
    pub hotpatch_dir: PathBuf,
}

/// Why a replay produced no objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplayError {
    /// rustc rejected the code: its rendered diagnostics (with ANSI colours).
    Compile(String),
    Tool(Error),
}

impl From<Error> for ReplayError {
    fn from(e: Error) -> ReplayError {
        ReplayError::Tool(e)
    }
}

impl From<std::io::Error> for ReplayError {
    fn from(e: std::io::Error) -> ReplayError {
        ReplayError::Tool(e.into())
    }
}

impl Workspace {
    /// The crate a source file belongs to: the crate whose folder holds it most
    /// closely; within a package with both, its binary only for the binary's root.
    pub fn crate_of(&self, file: &Path) -> Option<CrateKey> {
        let depth = |record: &Recorded| {
            record
                .manifest_dir()
                .filter(|dir| file.starts_with(dir))
                .map(|dir| dir.components().count())
        };
        let deepest = self.records.values().filter_map(depth).max()?;
        let candidates: Vec<&CrateKey> = self
            .records
            .iter()
            .filter(|(_, record)| depth(record) == Some(deepest))
            .map(|(key, _)| key)
            .collect();
        let is_root_of =
            |key: &CrateKey| self.source_root(&self.records[key]).as_deref() == Some(file);
        candidates
            .iter()
            .find(|key| key.1 == Kind::Bin && is_root_of(key))
            .or_else(|| candidates.iter().find(|key| key.1 == Kind::Lib))
            .or_else(|| candidates.first())
            .map(|key| (*key).clone())
    }

    fn source_root(&self, record: &Recorded) -> Option<PathBuf> {
        record
            .args
            .iter()
            .skip(1)
            .find(|a| a.ends_with(".rs") && !a.starts_with('-'))
            .map(|a| self.root.join(a))
    }

    /// Workspace crates that depend directly on `key` (which must be a library).
    fn dependents_of(&self, key: &CrateKey) -> Vec<CrateKey> {
        if key.1 != Kind::Lib {
            return Vec::new();
        }
        let prefix = format!("{}=", key.0);
        self.records
            .iter()
            .filter(|(other, record)| {
                *other != key
                    && record.args.windows(2).any(|w| {
                        w[0] == "--extern"
                            && w[1].rsplit(':').next().unwrap_or("").starts_with(&prefix)
                    })
            })
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// What to replay once after a base build, so that the first save
    /// compiles incrementally: every library, and the binaries of a package
    /// that has none (an app whose code is all in its binary).
    pub fn to_warm_up(&self) -> BTreeSet<CrateKey> {
        let has_lib = |dir: &Option<PathBuf>| {
            self.records
                .iter()
                .any(|((_, kind), r)| *kind == Kind::Lib && &r.manifest_dir() == dir)
        };
        self.records
            .iter()
            .filter(|((_, kind), r)| *kind == Kind::Lib || !has_lib(&r.manifest_dir()))
            .map(|(key, _)| key.clone())
            .collect()
    }

    /// `modified` plus their dependents, dependencies first. Binaries are only
    /// included when edited themselves: the patch must not bring a second `main`
    /// for nothing.
    pub fn plan(&self, modified: &BTreeSet<CrateKey>) -> Vec<CrateKey> {
        let mut all = BTreeSet::new();
        let mut todo: Vec<CrateKey> = modified.iter().cloned().collect();
        while let Some(key) = todo.pop() {
            if !all.insert(key.clone()) {
                continue;
            }
            for dep in self.dependents_of(&key) {
                if dep.1 == Kind::Lib || modified.contains(&dep) {
                    todo.push(dep);
                }
            }
        }
        // Kahn's order over the edges inside the set.
        let mut order = Vec::new();
        let mut left: BTreeSet<CrateKey> = all.clone();
        while !left.is_empty() {
            let ready: Vec<CrateKey> = left
                .iter()
                .filter(|k| {
                    !left
                        .iter()
                        .any(|other| other != *k && self.dependents_of(other).contains(k))
                })
                .cloned()
                .collect();
            // A cycle cannot happen between crates; keep going if it did.
            let ready = if ready.is_empty() {
                vec![left.iter().next().unwrap().clone()]
            } else {
                ready
            };
            for k in ready {
                left.remove(&k);
                order.push(k);
            }
        }
        order
    }

    fn out_dir(&self, key: &CrateKey) -> PathBuf {
        let kind = match key.1 {
            Kind::Lib => "lib",
            Kind::Bin => "bin",
        };
        self.hotpatch_dir.join(format!("{}.{kind}", key.0))
    }

    /// The arguments of one replay: the recorded ones with our folders, the new
    /// rlibs of crates replayed before it, and position-independent code.
    pub fn replay_args(&self, key: &CrateKey, replayed: &BTreeMap<String, PathBuf>) -> Vec<String> {
        let record = &self.records[key];
        let out_dir = self.out_dir(key);
        let incremental = self
            .hotpatch_dir
            .join("incremental")
            .join(out_dir.file_name().unwrap());
        let mut args = Vec::new();
        let mut rest = record.args[1..].iter();
        while let Some(arg) = rest.next() {
            match arg.as_str() {
                "--out-dir" => {
                    rest.next();
                    args.push(arg.clone());
                    args.push(out_dir.display().to_string());
                }
                "-C" if rest
                    .as_slice()
                    .first()
                    .is_some_and(|v| v.starts_with("incremental=")) =>
                {
                    rest.next();
                    args.push("-C".into());
                    args.push(format!("incremental={}", incremental.display()));
                }
                "--extern" => {
                    let Some(value) = rest.next() else { break };
                    args.push(arg.clone());
                    args.push(rewrite_extern(value, replayed));
                }
                _ => args.push(arg.clone()),
            }
        }
        for dir in replayed.values().filter_map(|rlib| rlib.parent()) {
            args.push("-L".into());
            args.push(format!("dependency={}", dir.display()));
        }
        args.push("-Crelocation-model=pic".into());
        args
    }

    /// Replays `plan` in order and returns every object the patch links.
    pub fn replay(&self, plan: &[CrateKey]) -> Result<Vec<PathBuf>, ReplayError> {
        let mut replayed: BTreeMap<String, PathBuf> = BTreeMap::new();
        let mut objects = Vec::new();
        for key in plan {
            let record = &self.records[key];
            let out_dir = self.out_dir(key);
            std::fs::create_dir_all(&out_dir)?;
            clear_temps(&out_dir)?;
            let args = self.replay_args(key, &replayed);
            let output = Command::new(&record.args[0])
                .args(&args)
                .current_dir(&self.root)
                .env_clear()
                .envs(replay_env(record))
                .output()?;
            let diagnostics = errors_of(&output.stdout, &output.stderr);
            if !output.status.success() {
                return Err(ReplayError::Compile(if diagnostics.is_empty() {
                    String::from_utf8_lossy(&output.stderr).into_owned()
                } else {
                    diagnostics
                }));
            }
            let mut these = rcgu_objects(&out_dir, &key.0)?;
            if these.is_empty() {
                return Err(Error::msg(format!(
                    "rustc left no objects for `{}` in {} (is -Csave-temps in the record?)",
                    key.0,
                    out_dir.display()
                ))
                .into());
            }
            objects.append(&mut these);
            if key.1 == Kind::Lib {
                if let Some(rlib) = find_rlib(&out_dir, &key.0)? {
                    replayed.insert(key.0.clone(), rlib);
                }
            }
        }
        Ok(objects)
    }
}

/// The tool's own environment (what cargo inherited from it), minus what
/// cargo sets per crate and the wrapper's variables, plus the crate's record
/// (`crate_env` says why).
fn replay_env(record: &Recorded) -> BTreeMap<OsString, OsString> {
    let mut env: BTreeMap<OsString, OsString> = std::env::vars_os()
        .filter(|(name, _)| !name.to_str().is_some_and(crate_env::set_by_cargo))
        .collect();
    env.extend(record.env.iter().map(|(k, v)| (k.into(), v.into())));
    env.retain(|name, _| !name.to_str().is_some_and(is_wrapper_var));
    env
}

fn is_wrapper_var(name: &str) -> bool {
    matches!(
        name,
        "RUSTC_WORKSPACE_WRAPPER" | "RUSTC_WRAPPER" | "CARGO_MAKEFLAGS" | "MAKEFLAGS" | "MFLAGS"
    ) || name == CAPTURE_DIR_VAR
        || name == crate_env::INHERITED_VAR
}

/// `[opts:]name=path` -> the replayed rlib of `name`, if there is one.
fn rewrite_extern(value: &str, replayed: &BTreeMap<String, PathBuf>) -> String {
    let (opts, spec) = match value.rsplit_once(':') {
        Some((opts, spec)) if spec.contains('=') && !opts.contains('=') => (Some(opts), spec),
        _ => (None, value),
    };
    let Some((name, _)) = spec.split_once('=') else {
        return value.to_string();
    };
    match replayed.get(name) {
        Some(rlib) => match opts {
            Some(opts) => format!("{opts}:{name}={}", rlib.display()),
            None => format!("{name}={}", rlib.display()),
        },
        None => value.to_string(),
    }
}

/// Objects and bitcode of an earlier replay: only this run's may be linked.
fn clear_temps(dir: &Path) -> Result<(), Error> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.ends_with(".rcgu.o") || name.ends_with(".rcgu.bc") || name.ends_with(".no-opt.bc") {
            std::fs::remove_file(&path)?;
        }
    }
    Ok(())
}

fn rcgu_objects(dir: &Path, crate_name: &str) -> Result<Vec<PathBuf>, Error> {
    let prefix = format!("{crate_name}-");
    let mut objects: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.starts_with(&prefix) && name.ends_with(".rcgu.o")
        })
        .collect();
    objects.sort();
    Ok(objects)
}

/// The rlib the replay just wrote: the newest of the crate's. An older one
/// with another hash in its name (the crate's metadata changed: another
/// toolchain, other features) stays in the folder, and a dependent compiled
/// against it fails with "can't find crate".
fn find_rlib(dir: &Path, crate_name: &str) -> Result<Option<PathBuf>, Error> {
    let prefix = format!("lib{crate_name}-");
    Ok(std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.starts_with(&prefix) && name.ends_with(".rlib")
        })
        .max_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok()))
}

/// The rendered text of rustc's error diagnostics (`--error-format=json`).
pub fn errors_of(stdout: &[u8], stderr: &[u8]) -> String {
    let mut out = String::new();
    for line in String::from_utf8_lossy(stdout)
        .lines()
        .chain(String::from_utf8_lossy(stderr).lines())
    {
        let Ok(value) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        // cargo wraps rustc's diagnostics in {"reason":"compiler-message","message":..}.
        let message = value
            .get("message")
            .filter(|m| m.is_object())
            .unwrap_or(&value);
        if message.get("level").and_then(|l| l.as_str()) != Some("error") {
            continue;
        }
        if let Some(rendered) = message.get("rendered").and_then(|r| r.as_str()) {
            out.push_str(rendered);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(name: &str, kind: &str, dir: &str, root_file: &str, externs: &[&str]) -> Recorded {
        let mut args = vec![
            "rustc".to_string(),
            "--crate-name".into(),
            name.into(),
            root_file.into(),
            "--crate-type".into(),
            kind.into(),
            "--out-dir".into(),
            "/t/deps".into(),
            "-C".into(),
            "incremental=/t/incremental".into(),
        ];
        for e in externs {
            args.push("--extern".into());
            args.push(e.to_string());
        }
        Recorded {
            args,
            env: [("CARGO_MANIFEST_DIR".to_string(), format!("/w/{dir}"))]
                .into_iter()
                .collect(),
        }
    }

    /// core <- app (lib) <- app (bin), like raytracer_core and the example.
    fn workspace() -> Workspace {
        let mut records = BTreeMap::new();
        records.insert(
            ("core".to_string(), Kind::Lib),
            record(
                "core",
                "lib",
                "app/core",
                "app/core/src/lib.rs",
                &["noprelude:std=/t/libstd.rlib"],
            ),
        );
        records.insert(
            ("app".to_string(), Kind::Lib),
            record(
                "app",
                "lib",
                "app",
                "app/src/lib.rs",
                &["core=/t/deps/libcore-1.rlib"],
            ),
        );
        records.insert(
            ("app".to_string(), Kind::Bin),
            record(
                "app",
                "bin",
                "app",
                "app/src/main.rs",
                &["app=/t/deps/libapp-2.rlib", "core=/t/deps/libcore-1.rlib"],
            ),
        );
        Workspace {
            root: "/w".into(),
            records,
            hotpatch_dir: "/t/hotpatch".into(),
        }
    }

    #[test]
    fn warm_up_replays_the_libraries_and_a_binary_only_when_its_package_has_no_library() {
        let mut ws = workspace();
        let names =
            |ws: &Workspace| -> Vec<(String, Kind)> { ws.to_warm_up().into_iter().collect() };
        assert_eq!(
            names(&ws),
            [
                ("app".to_string(), Kind::Lib),
                ("core".to_string(), Kind::Lib)
            ]
        );
        ws.records.remove(&("app".to_string(), Kind::Lib));
        assert_eq!(
            names(&ws),
            [
                ("app".to_string(), Kind::Bin),
                ("core".to_string(), Kind::Lib)
            ]
        );
    }

    #[test]
    fn files_map_to_the_innermost_crate_and_main_rs_to_the_binary() {
        let ws = workspace();
        let key = |p: &str| ws.crate_of(Path::new(p)).map(|k| (k.0, k.1));
        assert_eq!(
            key("/w/app/core/src/scene.rs"),
            Some(("core".into(), Kind::Lib))
        );
        assert_eq!(key("/w/app/src/page.rs"), Some(("app".into(), Kind::Lib)));
        assert_eq!(key("/w/app/src/main.rs"), Some(("app".into(), Kind::Bin)));
        assert_eq!(key("/elsewhere/x.rs"), None);
    }

    #[test]
    fn an_edit_in_a_library_replays_its_library_dependents_in_order() {
        let ws = workspace();
        let modified = [("core".to_string(), Kind::Lib)].into_iter().collect();
        assert_eq!(
            ws.plan(&modified),
            vec![
                ("core".to_string(), Kind::Lib),
                ("app".to_string(), Kind::Lib)
            ]
        );
        let modified = [("app".to_string(), Kind::Bin)].into_iter().collect();
        assert_eq!(ws.plan(&modified), vec![("app".to_string(), Kind::Bin)]);
    }

    #[test]
    fn replay_args_point_at_our_folders_and_the_new_rlibs() {
        let ws = workspace();
        let replayed = [(
            "core".to_string(),
            PathBuf::from("/t/hotpatch/core.lib/libcore-1.rlib"),
        )]
        .into_iter()
        .collect();
        let args = ws.replay_args(&("app".to_string(), Kind::Lib), &replayed);
        let joined = args.join(" ");
        assert!(joined.contains("--out-dir /t/hotpatch/app.lib"), "{joined}");
        assert!(
            joined.contains("incremental=/t/hotpatch/incremental/app.lib"),
            "{joined}"
        );
        assert!(
            joined.contains("--extern core=/t/hotpatch/core.lib/libcore-1.rlib"),
            "{joined}"
        );
        assert!(
            joined.contains("-L dependency=/t/hotpatch/core.lib"),
            "{joined}"
        );
        assert!(joined.ends_with("-Crelocation-model=pic"));
        assert_eq!(
            rewrite_extern("noprelude,nounused:core=/x", &replayed),
            "noprelude,nounused:core=/t/hotpatch/core.lib/libcore-1.rlib"
        );
    }

    #[test]
    fn compiler_errors_are_picked_out_of_json_diagnostics() {
        let stdout = br#"{"$message_type":"diagnostic","level":"warning","rendered":"warning: x\n"}
{"$message_type":"diagnostic","level":"error","rendered":"error[E0308]: mismatched types\n"}
not json
{"reason":"compiler-message","message":{"level":"error","rendered":"error: from cargo\n"}}"#;
        let errors = errors_of(stdout, b"");
        assert_eq!(
            errors,
            "error[E0308]: mismatched types\nerror: from cargo\n"
        );
    }
}
