//! The binding itself, with the real rustc and linker: an object compiled as
//! dx compiles a patch is rewritten, linked into a shared library with the
//! statics object, loaded into this process as subsecond loads a patch, and
//! its code then counts in *this* process's statics.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

use hotswap_link::elf;

const PATCH: &str = r#"
use core::sync::atomic::{AtomicU64, Ordering};

static HITS: AtomicU64 = AtomicU64::new(0);
static mut RAW: u64 = 0;
static GREETING: &str = "read-only: a copy is harmless";

#[no_mangle]
pub extern "C" fn bump() -> u64 {
    HITS.fetch_add(1, Ordering::SeqCst) + 1
}

#[no_mangle]
pub extern "C" fn bump_raw() -> u64 {
    unsafe {
        let raw = &raw mut RAW;
        *raw = (*raw).wrapping_add(10);
        *raw
    }
}

#[no_mangle]
pub extern "C" fn greeting_len() -> usize {
    GREETING.len()
}

"#;

const DIRECT: &str = r#"
static mut COUNT: u64 = 0;

#[no_mangle]
pub extern "C" fn count() -> u64 {
    unsafe {
        COUNT = COUNT.wrapping_add(1);
        COUNT
    }
}

"#;

/// Stores of constants: the displacement is followed by an immediate, so the
/// relocation's addend is not the usual -4.
const IMMEDIATES: &str = r#"
static mut PRIV: u32 = 100;
static mut ARR: [u64; 4] = [0; 4];
static mut FLAG: bool = false;

#[no_mangle]
pub extern "C" fn set() -> u32 {
    unsafe {
        PRIV = 7;
        ARR[2] = 9;
        if FLAG {
            PRIV = 8;
        }
        PRIV
    }
}

"#;

static LIVE_PRIV: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(100);
static LIVE_ARR: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];
static LIVE_FLAG: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

#[test]
fn stores_of_constants_reach_the_right_bytes_of_the_running_statics() {
    let dir = scratch("immediates");
    let object = compile(&dir, "imm", &no_std(IMMEDIATES));
    let bytes = std::fs::read(&object).unwrap();
    let defined = elf::scan(&bytes).unwrap().statics;
    let (private, array, flag) = (
        name_of(&defined, "PRIV"),
        name_of(&defined, "ARR"),
        name_of(&defined, "FLAG"),
    );
    let bind: HashSet<String> = [private.clone(), array.clone(), flag.clone()].into();
    let rewritten = elf::rewrite(&bytes, &bind, &HashMap::new()).unwrap();
    let library = load_bound(
        &dir,
        rewritten,
        &[
            based(&private, LIVE_PRIV.as_ptr() as u64),
            based(&array, LIVE_ARR.as_ptr() as u64),
            based(&flag, LIVE_FLAG.as_ptr() as u64),
        ],
        Link::NoStd,
    );
    let set: extern "C" fn() -> u32 = *unsafe { library.get(b"set") }.unwrap();
    assert_eq!(set(), 8, "the running FLAG (true) was read");
    assert_eq!(LIVE_PRIV.load(Ordering::SeqCst), 8);
    let array: Vec<u64> = LIVE_ARR.iter().map(|a| a.load(Ordering::SeqCst)).collect();
    assert_eq!(array, [0, 0, 9, 0], "the store landed in element 2");
    drop(library);
}

/// The running program's statics the patch must use.
static LIVE_HITS: AtomicU64 = AtomicU64::new(41);
static LIVE_RAW: AtomicU64 = AtomicU64::new(1000);

#[test]
fn a_rewritten_patch_counts_in_the_running_programs_statics() {
    let dir = scratch("counts");
    let object = compile(&dir, "patch", &no_std(PATCH));
    let bytes = std::fs::read(&object).unwrap();

    let defined = elf::scan(&bytes).unwrap().statics;
    let hits = name_of(&defined, "HITS");
    let raw = name_of(&defined, "RAW");
    assert!(
        !defined.keys().any(|n| n.contains("GREETING")),
        "a read-only static is not a candidate: {defined:?}"
    );

    let bind: HashSet<String> = [hits.clone(), raw.clone()].into();
    let rewritten = elf::rewrite(&bytes, &bind, &HashMap::new()).unwrap();
    let mut expected = vec![hits.clone(), raw.clone()];
    expected.sort();
    assert_eq!(rewritten.bound, expected);
    let library = load_bound(
        &dir,
        rewritten,
        &[
            based(&hits, LIVE_HITS.as_ptr() as u64),
            based(&raw, LIVE_RAW.as_ptr() as u64),
        ],
        Link::NoStd,
    );
    let bump: libloading::Symbol<extern "C" fn() -> u64> = unsafe { library.get(b"bump") }.unwrap();
    let bump_raw: libloading::Symbol<extern "C" fn() -> u64> =
        unsafe { library.get(b"bump_raw") }.unwrap();
    let greeting_len: libloading::Symbol<extern "C" fn() -> usize> =
        unsafe { library.get(b"greeting_len") }.unwrap();

    assert_eq!(bump(), 42, "patched code sees the running value");
    assert_eq!(bump(), 43);
    assert_eq!(
        LIVE_HITS.load(Ordering::SeqCst),
        43,
        "and the program sees the patch's writes"
    );
    assert_eq!(bump_raw(), 1010, "`&raw mut` of a static mut binds too");
    assert_eq!(LIVE_RAW.load(Ordering::SeqCst), 1010);
    assert_eq!(greeting_len(), "read-only: a copy is harmless".len());
}

#[test]
fn without_the_rewrite_the_patch_counts_in_its_own_copy() {
    // What dx 0.7.10 does on its own (dioxus #5237): the control for the test above.
    let dir = scratch("control");
    let object = compile(&dir, "patch", &no_std(PATCH));
    let library = dir.join("libcontrol.so");
    link_shared(&[&object], &library);
    let library = unsafe { libloading::Library::new(&library) }.unwrap();
    let bump: libloading::Symbol<extern "C" fn() -> u64> = unsafe { library.get(b"bump") }.unwrap();
    assert_eq!(bump(), 1);
}

/// With `panic = "unwind"` (the dev profile's), objects carry COMDAT groups
/// (`DW.ref.rust_eh_personality`), which the rewrite drops.
const GROUPED: &str = r#"
use std::sync::atomic::{AtomicU64, Ordering};
static HITS: AtomicU64 = AtomicU64::new(0);

pub fn count(items: Vec<u64>) -> u64 {
    let total: u64 = items.iter().sum();
    HITS.fetch_add(total, Ordering::SeqCst) + total
}

#[no_mangle]
pub extern "C" fn count_six() -> u64 {
    count(vec![1, 2, 3])
}
"#;

static LIVE_GROUPED: AtomicU64 = AtomicU64::new(10);

#[test]
fn an_object_with_comdat_groups_is_rewritten_linked_and_run() {
    let dir = scratch("grouped");
    let object = compile_with(&dir, "grouped", GROUPED, "lib", "unwind");
    let bytes = std::fs::read(&object).unwrap();
    let readelf = Command::new("readelf")
        .arg("-gW")
        .arg(&object)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&readelf.stdout).contains("COMDAT group section"),
        "the fixture must have a COMDAT group to test their handling"
    );
    let defined = elf::scan(&bytes).unwrap().statics;
    let hits = name_of(&defined, "HITS");
    let rewritten = elf::rewrite(&bytes, &[hits.clone()].into(), &HashMap::new()).unwrap();
    let library = load_bound(
        &dir,
        rewritten,
        &[based(&hits, LIVE_GROUPED.as_ptr() as u64)],
        Link::WithStd,
    );
    let count_six: extern "C" fn() -> u64 = *unsafe { library.get(b"count_six") }.unwrap();
    assert_eq!(count_six(), 16);
    assert_eq!(LIVE_GROUPED.load(Ordering::SeqCst), 16);
    drop(library);
}

/// A thread-local in the crate dx rebuilds: an executable's, reached with
/// local-exec accesses that cannot even be linked into a shared library.
const THREAD_LOCAL: &str = r#"
#![allow(dead_code)]
use std::cell::Cell;

thread_local! {
    static TL: Cell<u64> = const { Cell::new(0) };
}

#[no_mangle]
pub extern "C" fn tl_bump() -> u64 {
    TL.with(|tl| {
        tl.set(tl.get() + 1);
        tl.get()
    })
}

fn main() {}
"#;

thread_local! {
    static LIVE_TL: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

#[test]
fn a_thread_local_of_the_executable_is_the_running_threads_own() {
    let dir = scratch("thread_local");
    let object = compile_as(&dir, "tl", THREAD_LOCAL, "bin");
    let bytes = std::fs::read(&object).unwrap();
    let defined = elf::scan(&bytes).unwrap().thread_locals;
    let (patch_tl, _) = defined
        .iter()
        .find(|(name, _)| name.contains("2TL"))
        .unwrap_or_else(|| panic!("no TL in {defined:?}"))
        .clone();
    // The running program is this test binary: its thread-local's offset.
    let exe = std::env::current_exe().unwrap();
    let base = hotswap_link::base::read(&exe, &HashSet::new(), &HashMap::new()).unwrap();
    let (live_name, &(tpoff, _)) = base
        .thread_locals
        .iter()
        .find(|(name, _)| name.contains("7LIVE_TL"))
        .expect("this test's LIVE_TL in its own symbol table");
    LIVE_TL.with(|tl| tl.set(500));

    // Bind the patch's TL to LIVE_TL, as if they were the same static.
    let tls: HashMap<String, i64> = [(patch_tl.clone(), tpoff)].into();
    let rewritten = elf::rewrite(&bytes, &HashSet::new(), &tls).unwrap();
    assert_eq!(
        rewritten.bound_thread_locals,
        std::slice::from_ref(&patch_tl),
        "{live_name}"
    );
    let path = dir.join("tl-bound.o");
    std::fs::write(&path, rewritten.bytes.unwrap()).unwrap();
    let library = dir.join("libtl.so");
    link_shared_std(&[&path], &library);
    let library = unsafe { libloading::Library::new(&library) }.unwrap();
    let tl_bump: extern "C" fn() -> u64 = *unsafe { library.get(b"tl_bump") }.unwrap();
    assert_eq!(tl_bump(), 501, "patched code reads this thread's value");
    assert_eq!(LIVE_TL.with(|tl| tl.get()), 501, "and writes it");
    let other = std::thread::spawn(move || tl_bump()).join().unwrap();
    drop(library);
    assert_eq!(other, 1, "another thread has its own");
}

static LIVE_COUNT: AtomicU64 = AtomicU64::new(7);

#[test]
fn a_static_mut_read_and_written_directly_goes_through_a_thunk() {
    let dir = scratch("direct");
    let object = compile(&dir, "direct", &no_std(DIRECT));
    let bytes = std::fs::read(&object).unwrap();
    let defined = elf::scan(&bytes).unwrap().statics;
    let count = name_of(&defined, "COUNT");

    // Not asked to bind it (the base does not have it): the object is left alone.
    let untouched = elf::rewrite(&bytes, &HashSet::new(), &HashMap::new()).unwrap();
    assert!(untouched.bytes.is_none() && untouched.bound.is_empty());

    let rewritten = elf::rewrite(&bytes, &[count.clone()].into(), &HashMap::new()).unwrap();
    assert_eq!(rewritten.bound, std::slice::from_ref(&count));
    let library = load_bound(
        &dir,
        rewritten,
        &[based(&count, LIVE_COUNT.as_ptr() as u64)],
        Link::NoStd,
    );
    let count: libloading::Symbol<extern "C" fn() -> u64> =
        unsafe { library.get(b"count") }.unwrap();
    assert_eq!(count(), 8);
    assert_eq!(count(), 9);
    assert_eq!(LIVE_COUNT.load(Ordering::SeqCst), 9);
}

/// A fixture without `std`: its panic handler and unwinding personality.
fn no_std(source: &str) -> String {
    format!(
        "#![no_std]\n{source}\n#[panic_handler]\nfn panic(_: &core::panic::PanicInfo) -> ! {{\n    loop {{}}\n}}\n\n#[no_mangle]\nextern \"C\" fn rust_eh_personality() {{}}\n"
    )
}

/// What a linked patch resolves its runtime against.
#[derive(Clone, Copy)]
enum Link {
    /// `core` from the toolchain, as the running program would provide it.
    NoStd,
    /// `std` left undefined, resolved to this process's own on loading.
    WithStd,
}

/// Links `rewritten` with the statics object for `addresses` into a shared
/// library, as dx links a patch, and loads it into this process, as
/// subsecond loads one.
fn load_bound(
    dir: &Path,
    rewritten: elf::Rewritten,
    addresses: &[(String, u64, u64)],
    link: Link,
) -> libloading::Library {
    let object = dir.join("bound.o");
    std::fs::write(&object, rewritten.bytes.expect("the object was rewritten")).unwrap();
    let statics = dir.join("statics.o");
    std::fs::write(&statics, hotswap_link::statics_object(addresses).unwrap()).unwrap();
    let library = dir.join("libbound.so");
    match link {
        Link::NoStd => link_shared(&[&object, &statics], &library),
        Link::WithStd => link_shared_std(&[&object, &statics], &library),
    }
    // SAFETY: the library is a fixture of this file, built for this process.
    unsafe { libloading::Library::new(&library) }.unwrap()
}

/// The statics object's entry for a static bound to `address`.
fn based(name: &str, address: u64) -> (String, u64, u64) {
    (format!("{}{name}", elf::BASE_PREFIX), address, 8)
}

/// A patch that uses `std`, linked as dx links one: `std` stays undefined
/// and resolves to the running process's own (this test binary exports it).
fn link_shared_std(objects: &[&Path], out: &Path) {
    let status = Command::new("cc")
        .args(["-shared", "-nostdlib", "-fuse-ld=lld"])
        .args(objects)
        .arg("-o")
        .arg(out)
        .status()
        .unwrap();
    assert!(status.success(), "linking {} failed", out.display());
}

fn toolchain_rlibs(names: &[&str]) -> Vec<PathBuf> {
    let sysroot = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .args(["--print", "sysroot"])
        .output()
        .unwrap();
    let lib = Path::new(String::from_utf8_lossy(&sysroot.stdout).trim())
        .join("lib/rustlib/x86_64-unknown-linux-gnu/lib");
    let entries: Vec<PathBuf> = std::fs::read_dir(&lib)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names
        .iter()
        .map(|name| {
            entries
                .iter()
                .find(|p| {
                    let file = p.file_name().unwrap().to_string_lossy();
                    file.starts_with(&format!("lib{name}-")) && file.ends_with(".rlib")
                })
                .unwrap_or_else(|| panic!("no lib{name} rlib in {}", lib.display()))
                .clone()
        })
        .collect()
}

fn name_of(defined: &BTreeMap<String, elf::Candidate>, short: &str) -> String {
    defined
        .keys()
        .find(|name| hotswap_link::readable(name).ends_with(&format!("::{short}")))
        .unwrap_or_else(|| panic!("no static {short} in {defined:?}"))
        .clone()
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("bind")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Compiled the way dx compiles a patch's crate: the dev profile's
/// `opt-level = 0` (so debug assertions on), position-independent, one object.
fn compile(dir: &Path, name: &str, source: &str) -> PathBuf {
    compile_as(dir, name, source, "lib")
}

fn compile_as(dir: &Path, name: &str, source: &str, crate_type: &str) -> PathBuf {
    compile_with(dir, name, source, crate_type, "abort")
}

fn compile_with(dir: &Path, name: &str, source: &str, crate_type: &str, panic: &str) -> PathBuf {
    let source_path = dir.join(format!("{name}.rs"));
    std::fs::write(&source_path, source).unwrap();
    let object = dir.join(format!("{name}.o"));
    let status = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .args(["--edition=2021", "--emit=obj", "-Copt-level=0"])
        .arg(format!("--crate-type={crate_type}"))
        .arg(format!("-Cpanic={panic}"))
        .arg("-Crelocation-model=pic")
        .arg("--crate-name")
        .arg(name)
        .arg("-o")
        .arg(&object)
        .arg(&source_path)
        .status()
        .unwrap();
    assert!(status.success(), "rustc failed on the fixture {name}");
    object
}

/// With `core` from the toolchain for the fixtures' panic paths, as the
/// running program would provide them.
fn link_shared(objects: &[&Path], out: &Path) {
    let status = Command::new("cc")
        .args(["-shared", "-nostdlib", "-fuse-ld=lld"])
        .args(objects)
        .args(toolchain_rlibs(&["core", "compiler_builtins"]))
        .arg("-o")
        .arg(out)
        .status()
        .unwrap();
    assert!(status.success(), "linking {} failed", out.display());
}
