//! The wasm rewrite on objects the real rustc compiled as dx compiles a patch
//! (wasm32, `opt-level = 0`, `-Crelocation-model=pic`), linked by the real
//! wasm-ld (`rust-lld -flavor wasm`) with dx's patch flags: every writable
//! static the base has becomes a `GOT.mem` import (what dx binds to the
//! running page's address), and patched code reaches it through that import.

use std::path::{Path, PathBuf};
use std::process::Command;

use hotswap_link::readable;
use hotswap_link::wasm::{self, BaseSymbols, Unbindable};
use wasmparser::{Parser, Payload, TypeRef};

const PATCH: &str = r#"
use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicU32, Ordering};

static HITS: AtomicU32 = AtomicU32::new(0);
pub static SHARED: AtomicU32 = AtomicU32::new(7);
static mut RAW: u64 = 5;
static GREETING: &str = "read-only: a copy is harmless";
static mut PAIR: (u64, u64) = (0, 0);
thread_local! { static STATE: RefCell<Vec<u32>> = RefCell::new(Vec::new()); }
thread_local! { static TICKS: Cell<u32> = const { Cell::new(0) }; }

#[no_mangle]
pub extern "C" fn bump() -> u32 {
    HITS.fetch_add(1, Ordering::SeqCst) + SHARED.load(Ordering::Relaxed)
}

#[no_mangle]
pub extern "C" fn raw() -> u64 {
    unsafe {
        RAW += 1;
        RAW
    }
}

/// A field at an offset into its static.
#[no_mangle]
pub extern "C" fn pair() -> u64 {
    unsafe {
        PAIR.1 += 1;
        PAIR.1
    }
}

#[no_mangle]
pub extern "C" fn tick() -> u32 {
    TICKS.with(|t| {
        t.set(t.get() + 1);
        t.get()
    })
}

#[no_mangle]
pub extern "C" fn state() -> usize {
    STATE.with(|s| {
        s.borrow_mut().push(1);
        s.borrow().len()
    }) + GREETING.len()
}
"#;

/// Where the "running page" keeps its statics in the test's memory.
const LIVE_HITS: u32 = 1024;
const LIVE_SHARED: u32 = 1032;
const LIVE_RAW: u32 = 1040;
const LIVE_STATE: u32 = 1088;
const LIVE_TICKS: u32 = 1152;
const LIVE_PAIR: u32 = 1160;

#[test]
fn a_rewritten_patch_counts_in_the_running_pages_statics() {
    let dir = scratch("got");
    let object = compile(&dir, PATCH);
    let bytes = std::fs::read(&object).unwrap();
    // The base has every static the patch defines, with the same sizes.
    let base = BaseSymbols::read(&bytes, None).unwrap();
    let plan = wasm::plan([bytes.as_slice()], &base).unwrap();
    let rewritten = wasm::rewrite(&bytes, &base, &plan).unwrap();
    let mut bound: Vec<String> = rewritten.bound.iter().map(|n| readable(n)).collect();
    bound.sort();
    let expected = [
        "patch::HITS",
        "patch::PAIR",
        "patch::RAW",
        "patch::SHARED",
        "patch::STATE::{{closure}}::__RUST_STD_INTERNAL_VAL",
        "patch::TICKS::{{closure}}::__RUST_STD_INTERNAL_VAL",
    ];
    assert_eq!(
        bound, expected,
        "every writable static, the thread-local's too; not GREETING"
    );
    let rewritten_path = dir.join("patch-bound.o");
    std::fs::write(&rewritten_path, rewritten.bytes.unwrap()).unwrap();

    let linked = link(&dir, &[rewritten_path], "bound");
    assert_eq!(
        got_mem_imports(&linked),
        expected,
        "each one a GOT.mem import dx binds"
    );
    // Run in node as subsecond runs a patch: the GOT holds the page's addresses.
    let out = run(
        &linked,
        &[
            ("HITS", LIVE_HITS),
            ("SHARED", LIVE_SHARED),
            ("RAW", LIVE_RAW),
            ("STATE", LIVE_STATE),
            ("TICKS", LIVE_TICKS),
            ("PAIR", LIVE_PAIR),
        ],
    );
    assert_eq!(
        out, "bump=48 bump=49 hits=43 raw=1001 raw_live=1001 tick=101 pair=501 pair_live=501",
        "patched code reads and writes the running page's statics"
    );

    // Without the rewrite the same patch counts in statics of its own.
    let plain = link(&dir, &[object], "plain");
    assert_eq!(
        got_mem_imports(&plain),
        Vec::<String>::new(),
        "wasm-ld satisfies even a pub static's GOT entry from the patch's own copy"
    );
    let out = run(&plain, &[]);
    assert_eq!(
        out,
        "bump=7 bump=8 hits=41 raw=6 raw_live=1000 tick=1 pair=1 pair_live=500"
    );
}

#[test]
fn a_static_that_changed_size_refuses_the_patch() {
    let dir = scratch("size");
    let bytes = std::fs::read(compile(&dir, PATCH)).unwrap();
    let mut base = BaseSymbols::read(&bytes, None).unwrap();
    let raw = base.0.keys().find(|n| n.contains("3RAW")).unwrap().clone();
    base.0.insert(raw.clone(), (4, false));
    base.1.remove(&raw);
    let err = wasm::plan([bytes.as_slice()], &base).unwrap_err();
    assert_eq!(
        err,
        wasm::RewriteError::Unbindable(Unbindable::SizeChanged {
            name: raw,
            base: 4,
            now: 8
        })
    );
    assert!(
        err.to_string()
            .starts_with("static patch::RAW changed size (4 -> 8 bytes)"),
        "{err}"
    );
}

#[test]
fn a_static_that_changed_type_refuses_the_patch() {
    // rustc's legacy symbol hash covers a static's type: the retyped static
    // is another name, the base's is gone from the patch.
    let dir = scratch("type");
    let base_bytes = std::fs::read(compile(&dir, PATCH)).unwrap();
    let base = BaseSymbols::read(&base_bytes, None).unwrap();
    let retyped = PATCH
        .replace(
            "static HITS: AtomicU32 = AtomicU32::new(0);",
            "static HITS: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);",
        )
        .replace("Ordering::SeqCst) +", "Ordering::SeqCst) as u32 +");
    let bytes = std::fs::read(compile(&dir, &retyped)).unwrap();
    let err = wasm::plan([bytes.as_slice()], &base).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("static patch::HITS changed type"),
        "{err}"
    );
    // A new static of a new path is the patch's own, said in the report.
    let added = PATCH.replace(
        "static HITS",
        "static ADDED: AtomicU32 = AtomicU32::new(0);\nstatic HITS",
    );
    let bytes = std::fs::read(compile(&dir, &added)).unwrap();
    let plan = wasm::plan([bytes.as_slice()], &base).unwrap();
    let fresh: Vec<String> = plan.fresh.iter().map(|n| readable(n)).collect();
    assert_eq!(fresh, ["patch::ADDED"]);
    assert!(plan.initialiser_changed.is_empty(), "{plan:?}");
    // A changed initialiser keeps the running value: said, not refused.
    let reinitialised = PATCH.replace("static mut RAW: u64 = 5;", "static mut RAW: u64 = 6;");
    let bytes = std::fs::read(compile(&dir, &reinitialised)).unwrap();
    let plan = wasm::plan([bytes.as_slice()], &base).unwrap();
    let changed: Vec<String> = plan
        .initialiser_changed
        .iter()
        .map(|n| readable(n))
        .collect();
    assert_eq!(changed, ["patch::RAW"]);
}

/// Two modules, two codegen units: the static is defined in one object and
/// reached as `__memory_base + X` from the other, against an undefined symbol
/// there. Found on the real page, whose first patch failed to link
/// ("relocation R_WASM_MEMORY_ADDR_REL_SLEB is not supported against an
/// undefined symbol") while only the defining object was rewritten.
const TWO_UNITS: &str = r#"
pub mod counter {
    use std::sync::atomic::{AtomicU32, Ordering};
    pub(crate) static HITS: AtomicU32 = AtomicU32::new(0);
    #[inline(never)]
    pub fn read() -> u32 {
        HITS.load(Ordering::SeqCst)
    }
}

pub mod entry {
    use std::sync::atomic::Ordering;
    #[no_mangle]
    pub extern "C" fn bump() -> u32 {
        crate::counter::HITS.fetch_add(1, Ordering::SeqCst);
        crate::counter::read()
    }
}
"#;

#[test]
fn a_static_is_bound_in_every_object_that_reaches_it() {
    let dir = scratch("units");
    let rlib = compile_units(&dir, TWO_UNITS);
    let bytes = std::fs::read(&rlib).unwrap();
    let archive = object::read::archive::ArchiveFile::parse(bytes.as_slice()).unwrap();
    let objects: Vec<Vec<u8>> = archive
        .members()
        .map(|m| m.unwrap())
        .filter(|m| m.name().ends_with(b".o"))
        .map(|m| m.data(bytes.as_slice()).unwrap().to_vec())
        .collect();
    assert!(objects.len() >= 2, "{} objects", objects.len());
    let mut base = BaseSymbols::default();
    for object in &objects {
        base.0.extend(BaseSymbols::read(object, None).unwrap().0);
    }
    let plan = wasm::plan(objects.iter().map(Vec::as_slice), &base).unwrap();
    let mut referred = Vec::new();
    let mut paths = Vec::new();
    for (i, object) in objects.iter().enumerate() {
        let rewritten = wasm::rewrite(object, &base, &plan).unwrap();
        referred.extend(rewritten.referred.iter().map(|n| readable(n)));
        let path = dir.join(format!("unit{i}.o"));
        std::fs::write(&path, rewritten.bytes.as_deref().unwrap_or(object)).unwrap();
        paths.push(path);
    }
    assert!(
        referred.contains(&"patch::counter::HITS".to_string()),
        "another object reaches HITS: {referred:?}"
    );
    let linked = link(&dir, &paths, "units");
    let out = run_js(
        &linked,
        &[("HITS", LIVE_HITS)],
        "console.log(`${e.bump()} ${e.bump()} ${view.getUint32(HITS, true)}`);",
    );
    assert_eq!(out, "42 43 43", "both objects count in the page's HITS");
}

/// Instantiates the patch in node against a memory where the page's statics
/// hold HITS = 41, SHARED = 7, RAW = 1000, TICKS = 100, PAIR.1 = 500, calls its functions and says what
/// they returned and what the page's statics hold afterwards.
fn run(patch: &Path, got: &[(&str, u32)]) -> String {
    run_js(
        patch,
        got,
        "const a = e.bump(), b = e.bump(), r = e.raw(), t = e.tick(), p = e.pair();\n\
         console.log(`bump=${a} bump=${b} hits=${view.getUint32(HITS, true)} raw=${r} \
         raw_live=${view.getBigUint64(RAW, true)} tick=${t} pair=${p} \
         pair_live=${view.getBigUint64(PAIR + 8, true)}`);",
    )
}

/// Instantiates the patch as [`run`] says, then runs `calls` (JavaScript
/// with `e`, the exports, `view` on the memory and the `LIVE_*` addresses as
/// `HITS`, `RAW`, `PAIR`).
fn run_js(patch: &Path, got: &[(&str, u32)], calls: &str) -> String {
    let got: Vec<String> = got
        .iter()
        .map(|(name, at)| format!("[{name:?}, {at}]"))
        .collect();
    let script = format!(
        r#"
const fs = require('fs');
const module = new WebAssembly.Module(fs.readFileSync({patch:?}));
const memory = new WebAssembly.Memory({{ initial: 4 }});
const view = new DataView(memory.buffer);
const HITS = {LIVE_HITS}, RAW = {LIVE_RAW}, PAIR = {LIVE_PAIR};
view.setUint32({LIVE_HITS}, 41, true);
view.setUint32({LIVE_SHARED}, 7, true);
view.setBigUint64({LIVE_RAW}, 1000n, true);
view.setUint32({LIVE_TICKS}, 100, true);
view.setBigUint64({LIVE_PAIR} + 8, 500n, true);
const got = new Map([{got}]);
const env = {{
  memory,
  __indirect_function_table: new WebAssembly.Table({{ initial: 64, element: 'anyfunc' }}),
  __memory_base: new WebAssembly.Global({{ value: 'i32', mutable: false }}, 65536),
  __table_base: new WebAssembly.Global({{ value: 'i32', mutable: false }}, 1),
  __stack_pointer: new WebAssembly.Global({{ value: 'i32', mutable: true }}, 60000),
}};
const imports = {{ env: {{}}, 'GOT.mem': {{}}, 'GOT.func': {{}} }};
for (const i of WebAssembly.Module.imports(module)) {{
  if (i.module === 'env' && i.name in env) imports.env[i.name] = env[i.name];
  else if (i.module === 'GOT.mem') {{
    const short = [...got.keys()].find(k => i.name.includes(k.length + k));
    if (short === undefined) throw new Error('unbound GOT.mem ' + i.name);
    imports['GOT.mem'][i.name] = new WebAssembly.Global({{ value: 'i32', mutable: true }}, got.get(short));
  }}
  else if (i.kind === 'function') imports[i.module][i.name] = () => {{ throw new Error('called ' + i.name); }};
  else if (i.kind === 'global') imports[i.module][i.name] = new WebAssembly.Global({{ value: 'i32', mutable: true }}, 0);
}}
const e = new WebAssembly.Instance(module, imports).exports;
if (e.__wasm_apply_data_relocs) e.__wasm_apply_data_relocs();
{calls}
"#,
        got = got.join(", ")
    );
    let output = Command::new("node").arg("-e").arg(script).output().unwrap();
    assert!(
        output.status.success(),
        "node: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

fn got_mem_imports(patch: &Path) -> Vec<String> {
    let bytes = std::fs::read(patch).unwrap();
    let mut out = Vec::new();
    for payload in Parser::new(0).parse_all(&bytes) {
        if let Payload::ImportSection(reader) = payload.unwrap() {
            for import in reader.into_imports() {
                let import = import.unwrap();
                if import.module == "GOT.mem" {
                    if let TypeRef::Global(_) = import.ty {
                        out.push(hotswap_link::readable(import.name));
                    }
                }
            }
        }
    }
    out.sort();
    out
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hotswap-link-wasm-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// One object, as dx compiles the tip crate of a web patch.
fn compile(dir: &Path, source: &str) -> PathBuf {
    rustc(
        dir,
        source,
        &["--emit", "obj", "-Ccodegen-units=1"],
        "patch.o",
    )
}

/// The crate as an rlib of several codegen units (one per module), as dx's
/// patch links the rebuilt workspace crates.
fn compile_units(dir: &Path, source: &str) -> PathBuf {
    rustc(dir, source, &["-Ccodegen-units=8"], "libpatch.rlib")
}

fn rustc(dir: &Path, source: &str, args: &[&str], out: &str) -> PathBuf {
    let src = dir.join("patch.rs");
    std::fs::write(&src, source).unwrap();
    let out = dir.join(out);
    let status = Command::new("rustc")
        .args([
            "--edition",
            "2021",
            "--crate-type",
            "rlib",
            "--crate-name",
            "patch",
        ])
        .args(["--target", "wasm32-unknown-unknown"])
        .args([
            "-Copt-level=0",
            "-Cdebug-assertions=on",
            "-Crelocation-model=pic",
        ])
        .args(args)
        .arg("-o")
        .arg(&out)
        .arg(&src)
        .status()
        .unwrap();
    assert!(status.success());
    out
}

fn link(dir: &Path, objects: &[PathBuf], name: &str) -> PathBuf {
    let out = dir.join(format!("{name}.wasm"));
    let sysroot = Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .unwrap();
    let sysroot = PathBuf::from(String::from_utf8(sysroot.stdout).unwrap().trim());
    let lld = sysroot.join("lib/rustlib/x86_64-unknown-linux-gnu/bin/rust-lld");
    let output = Command::new(lld)
        .args([
            "-flavor",
            "wasm",
            "--import-memory",
            "--import-table",
            "--growable-table",
        ])
        .args([
            "--allow-undefined",
            "--no-demangle",
            "--no-entry",
            "--pie",
            "--experimental-pic",
        ])
        .args(["--export", "bump", "--export", "raw", "--export", "state"])
        .args(["--export", "tick", "--export", "pair"])
        .args(["--export", "__wasm_apply_data_relocs"])
        .args(objects)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    out
}
