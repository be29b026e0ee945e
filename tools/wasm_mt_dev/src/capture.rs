//! The tool as cargo's `RUSTC_WORKSPACE_WRAPPER` (only workspace members go
//! through it): it records each crate's exact rustc invocation, adds what hot
//! patching needs, and runs rustc. A patch later replays the record.
//!
//! Cargo calls `wrapper <rustc> <args...>`; the record holds `<rustc> <args...>`
//! as run (with our additions) and the variables cargo set for that crate
//! (`crate_env`: `env!` reads them at compile time), never the rest of the
//! developer's environment, which a replay inherits from the tool instead.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use serde::{Deserialize, Serialize};

use crate::{crate_env, Error};

/// Set to the folder the records go to; its presence makes the binary a wrapper.
pub const CAPTURE_DIR_VAR: &str = "WASM_MT_DEV_CAPTURE";

/// Added to every workspace crate: keep the `.rcgu.o` objects on disk.
pub const CRATE_FLAGS: &[&str] = &["-Csave-temps=true"];

/// Added to the binary's link: keep every function and the symbol table, make
/// the table growable and exported, export what a patch imports.
pub const BASE_LINK_ARGS: &[&str] = &[
    "--no-gc-sections",
    "--growable-table",
    "--export-table",
    "--emit-relocs",
    "--export=__stack_pointer",
    "--export=__heap_base",
    "--export=__data_end",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recorded {
    /// rustc's path first, then its arguments.
    pub args: Vec<String>,
    pub env: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Lib,
    Bin,
}

impl Recorded {
    fn value_of(&self, flag: &str) -> Option<&str> {
        let i = self.args.iter().position(|a| a == flag)?;
        self.args.get(i + 1).map(String::as_str)
    }

    pub fn crate_name(&self) -> Option<&str> {
        self.value_of("--crate-name")
    }

    pub fn kind(&self) -> Kind {
        match self.value_of("--crate-type") {
            Some("bin") => Kind::Bin,
            _ => Kind::Lib,
        }
    }

    /// The crate's folder (cargo's `CARGO_MANIFEST_DIR`).
    pub fn manifest_dir(&self) -> Option<PathBuf> {
        self.env.get("CARGO_MANIFEST_DIR").map(PathBuf::from)
    }

    pub fn file_name(&self) -> Option<String> {
        let kind = match self.kind() {
            Kind::Lib => "lib",
            Kind::Bin => "bin",
        };
        Some(format!("{}.{kind}.json", self.crate_name()?))
    }
}

/// The arguments rustc gets: cargo's, plus ours for a crate compiled for
/// wasm. Host crates (build scripts, proc macros) are compiled as cargo says:
/// a build script is a binary, and wasm-ld's flags would break its host link.
pub fn with_hot_patch_flags(args: &[String]) -> Vec<String> {
    let mut out = args.to_vec();
    if !for_wasm(args) {
        return out;
    }
    out.extend(CRATE_FLAGS.iter().map(|f| f.to_string()));
    let is_bin = args
        .windows(2)
        .any(|w| w[0] == "--crate-type" && w[1] == "bin");
    if is_bin {
        out.extend(BASE_LINK_ARGS.iter().map(|a| format!("-Clink-arg={a}")));
    }
    out
}

/// Compiled for a wasm target (`--target wasm32-…` or `--target=wasm32-…`).
fn for_wasm(args: &[String]) -> bool {
    args.iter().enumerate().any(|(i, arg)| {
        let target = match arg.strip_prefix("--target=") {
            Some(target) => Some(target),
            None if arg == "--target" => args.get(i + 1).map(String::as_str),
            None => None,
        };
        target.is_some_and(|t| t.starts_with("wasm32-"))
    })
}

/// Whether a patch may replay this crate: not a build script (every one is
/// called `build_script_build`, so their records would overwrite each other,
/// and a patch never replays one), and not cargo's `___` probe.
fn is_replayable(record: &Recorded) -> bool {
    record
        .crate_name()
        .is_some_and(|name| name != "___" && !name.starts_with("build_script_"))
}

/// The wrapper's `main`: `args` are what cargo passed after our own path.
pub fn run_wrapper(dir: &Path, args: Vec<String>) -> ExitCode {
    let Some((rustc, rest)) = args.split_first() else {
        crate::say("called as a rustc wrapper without a rustc to run");
        return ExitCode::FAILURE;
    };
    let mut full = vec![rustc.clone()];
    full.extend(with_hot_patch_flags(rest));
    let record = Recorded {
        args: full.clone(),
        env: crate_env::to_record(
            std::env::vars(),
            &std::env::var(crate_env::INHERITED_VAR).unwrap_or_default(),
            &[CAPTURE_DIR_VAR, crate_env::INHERITED_VAR],
        ),
    };
    if is_replayable(&record) {
        if let Err(e) = save(dir, &record) {
            crate::say(format!("cannot record the rustc invocation: {e}"));
            return ExitCode::FAILURE;
        }
    }
    match Command::new(rustc).args(&full[1..]).status() {
        Ok(status) => ExitCode::from(status.code().unwrap_or(1) as u8),
        Err(e) => {
            crate::say(format!("cannot run {rustc}: {e}"));
            ExitCode::FAILURE
        }
    }
}

fn save(dir: &Path, record: &Recorded) -> Result<(), Error> {
    std::fs::create_dir_all(dir)?;
    let name = record.file_name().expect("checked by the caller");
    let json = serde_json::to_string_pretty(record).map_err(|e| Error::msg(e.to_string()))?;
    std::fs::write(dir.join(name), json)?;
    Ok(())
}

/// Every record in `dir`, keyed by (crate name, kind).
pub fn load_all(dir: &Path) -> Result<BTreeMap<(String, Kind), Recorded>, Error> {
    let mut all = BTreeMap::new();
    let entries = std::fs::read_dir(dir).map_err(|e| {
        Error::msg(format!(
            "no recorded rustc invocations in {}: {e}",
            dir.display()
        ))
    })?;
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let text = std::fs::read_to_string(&path)?;
        let record: Recorded = serde_json::from_str(&text)
            .map_err(|e| Error::msg(format!("{}: {e}", path.display())))?;
        if let Some(name) = record.crate_name() {
            all.insert((name.to_string(), record.kind()), record);
        }
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_rustc::{folder, rustc, strings as args};
    use crate::wasm::ModuleView;

    /// What rustc and wasm-ld do with the added flags: a library's objects
    /// stay on disk; a binary links with relocations kept, its table exported
    /// and the symbols a patch imports exported.
    #[test]
    fn libraries_keep_objects_and_binaries_also_get_the_link_flags() {
        let dir = folder("capture-flags");
        let lib = with_hot_patch_flags(&args(&[
            "--crate-name",
            "kept",
            "--crate-type",
            "lib",
            "--target=wasm32-unknown-unknown",
            "--out-dir",
            ".",
        ]));
        rustc(&dir, "kept", "pub fn hotswap_kept() -> u32 { 7 }\n", &lib);
        let objects = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
            .filter(|name| name.starts_with("kept.") && name.ends_with(".rcgu.o"))
            .count();
        assert!(objects > 0, "the library's objects were not kept");

        let bin = with_hot_patch_flags(&args(&[
            "--crate-name",
            "main",
            "--crate-type",
            "bin",
            "--target=wasm32-unknown-unknown",
            "-o",
            "main.wasm",
        ]));
        rustc(&dir, "main", "fn main() {}\n", &bin);
        let bytes = std::fs::read(dir.join("main.wasm")).unwrap();
        let view = ModuleView::parse(&bytes).unwrap();
        for name in [
            "__stack_pointer",
            "__heap_base",
            "__data_end",
            "__indirect_function_table",
        ] {
            assert!(view.exported(name).is_some(), "{name} is not exported");
        }
        assert!(
            view.customs.keys().any(|name| name.starts_with("reloc.")),
            "the link dropped its relocations: {:?}",
            view.customs.keys()
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn host_crates_are_compiled_as_cargo_says_and_build_scripts_not_recorded() {
        let build_script = args(&[
            "--crate-name",
            "build_script_build",
            "--crate-type",
            "bin",
            "-o",
            "build-script-build",
        ]);
        assert_eq!(with_hot_patch_flags(&build_script), build_script);
        let record = Recorded {
            args: build_script,
            env: BTreeMap::new(),
        };
        assert!(!is_replayable(&record));
        let wasm_bin = args(&["--crate-type", "bin", "--target", "wasm32-unknown-unknown"]);
        assert!(with_hot_patch_flags(&wasm_bin).contains(&"-Csave-temps=true".to_string()));
        assert!(with_hot_patch_flags(&wasm_bin)
            .iter()
            .any(|a| a == "-Clink-arg=--emit-relocs"));
    }

    #[test]
    fn records_round_trip_through_their_folder() {
        let dir = std::env::temp_dir().join(format!("wasm_mt_dev-capture-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let record = Recorded {
            args: args(&["rustc", "--crate-name", "core_lib", "--crate-type", "lib"]),
            env: [("CARGO_MANIFEST_DIR".to_string(), "/w/core_lib".to_string())]
                .into_iter()
                .collect(),
        };
        save(&dir, &record).unwrap();
        let all = load_all(&dir).unwrap();
        let loaded = &all[&("core_lib".to_string(), Kind::Lib)];
        assert_eq!(loaded, &record);
        assert_eq!(loaded.manifest_dir(), Some(PathBuf::from("/w/core_lib")));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
