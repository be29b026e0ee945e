//! The base build: the app compiled once, the way `scripts/build-mt` does it,
//! with this tool recording every workspace crate's rustc invocation; then made
//! patchable ([`crate::prepare`]), run through wasm-bindgen, and laid out as a
//! page.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::capture;
use crate::crate_env;
use crate::layout::{self, BaseLayout};
use crate::locate::App;
use crate::prepare::{self, BUILD_ID};
use crate::publish::publish;
use crate::replay::{self, Workspace};
use crate::wasm::ModuleView;
use crate::watch::{package_folders, rust_files, Watched};
use crate::{say, walrus_error, Error};
use hotswap_link::layout::Snapshot;

/// Where the app is and where the build goes.
#[derive(Debug, Clone)]
pub struct Config {
    /// The workspace root (cargo runs rustc there).
    pub workspace: PathBuf,
    /// The package to build, and its folder.
    pub package: String,
    pub package_dir: PathBuf,
    /// Its binary: the linked `.wasm` and the wasm-bindgen glue are named after it.
    pub bin: String,
    /// Our cargo target folder (`target/mt-dev`).
    pub target_dir: PathBuf,
    /// This binary, which cargo runs as the rustc wrapper.
    pub wrapper: PathBuf,
}

impl Config {
    pub fn new(app: &App, wrapper: PathBuf) -> Config {
        Config {
            workspace: app.workspace.clone(),
            package: app.package.clone(),
            package_dir: app.package_dir.clone(),
            bin: app.bin.clone(),
            target_dir: app.workspace.join("target").join("mt-dev"),
            wrapper,
        }
    }

    pub fn hotpatch_dir(&self) -> PathBuf {
        self.target_dir.join("hotpatch")
    }

    pub fn records_dir(&self) -> PathBuf {
        self.hotpatch_dir().join("rustc-args")
    }

    /// The page: wasm-bindgen's output, index.html and loader.js.
    pub fn dist_dir(&self) -> PathBuf {
        self.target_dir.join("dist")
    }

    /// Patches, served at `/_hotswap/`.
    pub fn patches_dir(&self) -> PathBuf {
        self.hotpatch_dir().join("served")
    }
}

/// Why there is no base.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildError {
    /// The compiler's rendered errors (with ANSI colours).
    Compile(String),
    Tool(Error),
}

impl From<Error> for BuildError {
    fn from(e: Error) -> BuildError {
        BuildError::Tool(e)
    }
}

impl From<std::io::Error> for BuildError {
    fn from(e: std::io::Error) -> BuildError {
        BuildError::Tool(e.into())
    }
}

/// A built base, ready to be served and patched.
pub struct Base {
    pub layout: BaseLayout,
    pub build_id: u32,
    pub workspace: Workspace,
    /// The layout guard's view of the workspace crates' sources when the
    /// base was built.
    pub frozen: Snapshot,
}

pub fn build(config: &Config) -> Result<Base, BuildError> {
    let started = std::time::Instant::now();
    // A source saved after this moment may not be what the build compiled.
    let build_started = std::time::SystemTime::now();
    let linked_path = cargo_build(config)?;
    let linked = std::fs::read(&linked_path)?;
    let linked_view = ModuleView::parse(&linked)?;
    let symbols = layout::read_symbols(&linked, &linked_view)?;
    // The data symbols are all prepare needs (subsecond's jump table static).
    let pre_layout = BaseLayout {
        data: symbols.data.clone(),
        ..BaseLayout::default()
    };
    let build_id = prepare::build_id(&linked);
    let prepared = prepare::prepare(&linked, &pre_layout, build_id)?;
    std::fs::create_dir_all(config.hotpatch_dir())?;
    let prepared_path = config.hotpatch_dir().join("base.prepared.wasm");
    std::fs::write(&prepared_path, &prepared.bytes)?;
    say(format!(
        "prepared the base: {} functions got a table slot, {} JS bindings a wrapper{}",
        prepared.added_slots,
        prepared.wrappers,
        match prepared.jump_table_slot {
            Some(address) => format!(", subsecond's jump table is at {address}"),
            None => ", no subsecond in it".to_string(),
        }
    ));

    // The page is made beside the served one and then put in its place
    // (`publish`): a file that came out the same is not touched.
    let staging = config.target_dir.join("dist.next");
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging)?;
    run_wasm_bindgen(&prepared_path, &staging, &config.bin)?;
    let served_path = staging.join(format!("{}_bg.wasm", config.bin));
    restore_exports(&served_path, &prepared.bytes)?;
    let served = std::fs::read(&served_path)?;
    let served_view = ModuleView::parse(&served)?;
    if served_view.exported_const(BUILD_ID) != Some(build_id as i32) {
        return Err(Error::msg("wasm-bindgen's output lost `__hotswap_build_id`").into());
    }
    let mut base_layout = layout::BaseLayout::new(&linked_view, symbols, &served_view)?;
    base_layout.tls_size = linked_view.exported_const("__tls_size").unwrap_or(0) as u32;
    write_page(config, &staging)?;
    publish(&staging, &config.dist_dir())?;

    let records = capture::load_all(&config.records_dir())?;
    let workspace = Workspace {
        root: config.workspace.clone(),
        records,
        hotpatch_dir: config.hotpatch_dir(),
    };
    let frozen = snapshot(&workspace, build_started);
    say(format!(
        "base built in {:.1}s: build id {build_id}, {} table slots, {} data symbols, {} thread-locals",
        started.elapsed().as_secs_f64(),
        base_layout.slots.len(),
        base_layout.data.len(),
        base_layout.tls.len()
    ));
    Ok(Base {
        layout: base_layout,
        build_id,
        workspace,
        frozen,
    })
}

/// The tool's shared-memory build settings (nightly's `build-std`, atomics,
/// the link args wasm-bindgen's thread transform needs).
const DEFAULT_MT_CONFIG: &str = include_str!("../mt-config.toml");

/// The settings the base is built with: the app's own `mt-config.toml` if its
/// package has one, else the tool's defaults, written under our target folder
/// for cargo's `--config`.
pub fn mt_config(config: &Config) -> Result<PathBuf, Error> {
    let own = config.package_dir.join("mt-config.toml");
    if own.is_file() {
        return Ok(own);
    }
    let defaults = config.target_dir.join("mt-config.toml");
    if std::fs::read_to_string(&defaults).ok().as_deref() != Some(DEFAULT_MT_CONFIG) {
        std::fs::create_dir_all(&config.target_dir)?;
        std::fs::write(&defaults, DEFAULT_MT_CONFIG)?;
    }
    Ok(defaults)
}

/// `cargo build` of the binary with nightly and [`mt_config`], this tool as
/// the workspace wrapper; returns the linked module.
fn cargo_build(config: &Config) -> Result<PathBuf, BuildError> {
    let mt_config = mt_config(config)?;
    let mut command = Command::new("cargo");
    command
        .current_dir(&config.workspace)
        // RUSTFLAGS would replace mt-config.toml's rustflags (see scripts/build-mt).
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env("RUSTUP_TOOLCHAIN", "nightly")
        .env("RUSTC_WORKSPACE_WRAPPER", &config.wrapper)
        .env(capture::CAPTURE_DIR_VAR, config.records_dir())
        .env(crate_env::INHERITED_VAR, crate_env::inherited_names())
        .args(["--config"])
        .arg(&mt_config)
        .args(["build", "-p", &config.package, "--bin", &config.bin])
        .args(["--target", "wasm32-unknown-unknown", "--target-dir"])
        .arg(&config.target_dir)
        .args(["--message-format", "json-diagnostic-rendered-ansi"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    say("building the base (nightly, shared memory; the first build compiles std)");
    let output = command
        .output()
        .map_err(|e| Error::msg(format!("cannot run cargo: {e}")))?;
    let errors = replay::errors_of(&output.stdout, b"");
    if !output.status.success() {
        return Err(BuildError::Compile(if errors.is_empty() {
            "cargo build failed (see the output above)".into()
        } else {
            errors
        }));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|v| v["reason"] == "compiler-artifact")
        .find_map(|v| v["executable"].as_str().map(PathBuf::from))
        .ok_or_else(|| Error::msg("cargo built no executable .wasm").into())
}

fn run_wasm_bindgen(input: &Path, out_dir: &Path, name: &str) -> Result<(), Error> {
    let output = Command::new("wasm-bindgen")
        .args([
            "--target",
            "web",
            "--keep-lld-exports",
            // Names stay mangled: the name section is how slots meet symbols.
            "--no-demangle",
            "--out-name",
            name,
            "--out-dir",
        ])
        .arg(out_dir)
        .arg(input)
        .output()
        .map_err(|e| Error::msg(format!("cannot run wasm-bindgen (run scripts/setup): {e}")))?;
    if !output.status.success() {
        return Err(Error::msg(format!(
            "wasm-bindgen failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(())
}

/// Exports of the contract that wasm-bindgen removed are added back to its
/// output (by global name), so every thread's instance has them.
fn restore_exports(served: &Path, prepared: &[u8]) -> Result<(), Error> {
    let bytes = std::fs::read(served)?;
    let view = ModuleView::parse(&bytes)?;
    let wanted = [
        "__stack_pointer",
        "__tls_base",
        prepare::BUILD_ID,
        prepare::JUMP_TABLE_SLOT,
    ];
    let prepared_view = ModuleView::parse(prepared)?;
    let missing: Vec<&str> = wanted
        .into_iter()
        .filter(|name| prepared_view.exported(name).is_some() && view.exported(name).is_none())
        .collect();
    let has_table = view
        .exports
        .iter()
        .any(|(_, kind, _)| *kind == wasmparser::ExternalKind::Table);
    if missing.is_empty() && has_table {
        return Ok(());
    }
    let mut module = walrus::Module::from_buffer(&bytes).map_err(walrus_error)?;
    for name in &missing {
        // Our own constants may have lost their name; find them by value then.
        let global = module
            .globals
            .iter()
            .find(|g| g.name.as_deref() == Some(name))
            .map(|g| g.id())
            .or_else(|| {
                let value = prepared_view.exported_const(name)?;
                module
                    .globals
                    .iter()
                    .find(|g| {
                        !g.mutable
                            && matches!(
                                g.kind,
                                walrus::GlobalKind::Local(walrus::ConstExpr::Value(walrus::ir::Value::I32(v))) if v == value
                            )
                    })
                    .map(|g| g.id())
            })
            .ok_or_else(|| Error::msg(format!("wasm-bindgen removed `{name}` and it cannot be found again")))?;
        module.exports.add(name, global);
    }
    if !has_table {
        if let Some(table) = module.tables.iter().next().map(|t| t.id()) {
            module.exports.add("__indirect_function_table", table);
        }
    }
    say(format!(
        "re-exported what wasm-bindgen dropped: {missing:?}"
    ));
    std::fs::write(served, module.emit_wasm())?;
    Ok(())
}

/// The script that loads the app's module, with `__GLUE__` for the glue's
/// name; `scripts/build-mt` reads the same file.
const LOADER: &str = include_str!("loader.js");

/// The page: the app's index.html (or a blank one) with a `<script>` for the
/// loader, which this tool writes itself: the app ships no loader of its own.
fn write_page(config: &Config, dist: &Path) -> Result<(), Error> {
    let own = config.package_dir.join("index.html");
    let html = match std::fs::read_to_string(&own) {
        Ok(html) => Some(html),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(Error::msg(format!("cannot read {}: {e}", own.display()))),
    };
    std::fs::write(
        dist.join("index.html"),
        page_html(html.as_deref(), &config.package),
    )?;
    std::fs::write(
        dist.join("loader.js"),
        LOADER.replace("__GLUE__", &config.bin),
    )?;
    Ok(())
}

/// Where `<!-- build-mt: loader -->` says (as `scripts/build-mt` does), else
/// at the end of the body; a package without an index.html gets a blank page.
fn page_html(own: Option<&str>, package: &str) -> String {
    const MARKER: &str = "<!-- build-mt: loader -->";
    const SCRIPT: &str = r#"<script type="module" src="./loader.js"></script>"#;
    let Some(html) = own else {
        return format!(
            "<!doctype html>\n<html>\n  <head>\n    <meta charset=\"utf-8\" />\n    \
             <title>{package}</title>\n  </head>\n  <body>\n    {SCRIPT}\n  </body>\n</html>\n"
        );
    };
    if html.contains(MARKER) {
        return html.replace(MARKER, SCRIPT);
    }
    match html.to_ascii_lowercase().rfind("</body>") {
        Some(at) => format!("{}{SCRIPT}\n{}", &html[..at], &html[at..]),
        None => format!("{html}\n{SCRIPT}\n"),
    }
}

/// The layout guard's snapshot of every source file of the workspace crates.
pub fn snapshot(workspace: &Workspace, built: std::time::SystemTime) -> Snapshot {
    Snapshot::take(source_dirs(workspace).iter().flat_map(rust_files), built)
}

/// Where the sources of the recorded workspace crates are: each package's
/// folder (`watch::package_folders`), not only its `src/`.
pub fn source_dirs(workspace: &Workspace) -> Vec<Watched> {
    let mut dirs: Vec<PathBuf> = workspace
        .records
        .values()
        .filter_map(|r| r.manifest_dir())
        .filter(|d| d.is_dir())
        .collect();
    dirs.sort();
    dirs.dedup();
    let mut folders: Vec<Watched> = dirs.iter().flat_map(|d| package_folders(d)).collect();
    folders.sort();
    folders.dedup();
    folders
}

#[cfg(test)]
mod page_tests {
    use super::page_html;

    const SCRIPT: &str = r#"<script type="module" src="./loader.js"></script>"#;

    #[test]
    fn the_loader_goes_where_the_page_says_else_at_the_end_of_its_body() {
        assert_eq!(
            page_html(
                Some("<body><!-- build-mt: loader --><p>x</p></body>"),
                "app"
            ),
            format!("<body>{SCRIPT}<p>x</p></body>")
        );
        assert_eq!(
            page_html(Some("<html><BODY><p>x</p></BODY></html>"), "app"),
            format!("<html><BODY><p>x</p>{SCRIPT}\n</BODY></html>")
        );
        assert_eq!(
            page_html(Some("<p>x</p>"), "app"),
            format!("<p>x</p>\n{SCRIPT}\n")
        );
        let blank = page_html(None, "my_app");
        assert!(blank.contains("<title>my_app</title>") && blank.contains(SCRIPT));
    }
}
