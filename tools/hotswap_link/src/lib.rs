//! `hotswap-link`: the linker cargo's configuration names for this workspace
//! (and for every app `scripts/new` makes), so it sees every link dx does.
//!
//! dx 0.7.10 links each native hot patch as a shared library that defines
//! again every static of the crates it rebuilt: patched code would count in a
//! fresh copy while the rest of the program keeps the old one (dioxus #5237).
//! At each patch link this wrapper rewrites the patch's objects so that every
//! writable static the running program already has is reached through the GOT
//! at the program's own address ([`elf`]), adds an object defining those
//! addresses ([`base`] finds them), leaves dx's arguments otherwise as they
//! are, and writes a report beside the patch that `hotswap_runtime` logs.
//! Thread-locals the program has are bound too. A static that cannot be bound
//! (its type or size changed, or an instruction no thunk can carry reaches it)
//! refuses the patch: dx then rebuilds the app instead of running it with a
//! second copy. Every other link goes to the real linker untouched.

pub mod base;
pub mod elf;
pub mod layout;
pub mod link;
pub mod report;
pub mod thunk;
pub mod wasm;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Instant;

use object::write::{Object, Symbol, SymbolSection};
use object::{Architecture, BinaryFormat, Endianness, SymbolFlags, SymbolKind, SymbolScope};

pub use link::{classify, is_wasm, Link, Patch};
pub use report::Report;

/// The version `hotswap_runtime` and the dev scripts check the wrapper against.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// A patch link ready to run: dx's arguments with rewritten objects in place.
#[derive(Debug)]
pub struct Bound {
    pub args: Vec<OsString>,
    pub report: Report,
    /// Holds the rewritten objects until the link has read them.
    pub scratch: PathBuf,
}

/// One input of the patch link that may define or refer to statics.
struct Input {
    /// Where it is in dx's arguments.
    arg: usize,
    /// Its objects (one for a `.o`, the members of an `.rlib`): name and bytes.
    objects: Vec<(String, Vec<u8>)>,
    is_archive: bool,
}

/// Rewrites the inputs of `patch` (see the crate comment). `Err` is the one
/// line to show when the patch must not be linked.
pub fn bind_patch(args: &[OsString], patch: &Patch) -> Result<Bound, String> {
    let started = Instant::now();
    let mut phases = Phases::new(started);
    let inputs = read_inputs(args, Some(&patch.stub))?;
    phases.done("read inputs");

    let mut defined = HashMap::new();
    let mut read_only = BTreeSet::new();
    let mut thread_locals = BTreeMap::new();
    let mut scans = Vec::new();
    for input in &inputs {
        for (name, bytes) in &input.objects {
            let scan = elf::scan(bytes).map_err(|e| format!("cannot read {name}: {e}"))?;
            defined.extend(scan.statics.clone());
            read_only.extend(scan.read_only.iter().cloned());
            thread_locals.extend(scan.thread_locals.iter().cloned());
            scans.push(scan.names);
        }
    }
    // Thread-locals named anywhere in the patch, defined there or not.
    let tls_named: HashSet<&str> = scans.iter().flatten().copied().collect();

    phases.done("scan objects");
    let stub = std::fs::read(&patch.stub)
        .map_err(|e| format!("cannot read dx's stub {}: {e}", patch.stub.display()))?;
    let stub = base::stub_addresses(&stub)?;
    let wanted: HashSet<String> = defined.keys().chain(&read_only).cloned().collect();
    let base = base::read(&patch.base, &wanted, &stub)?;
    phases.done("read base");

    // Statics at the same path (several in one function body, like the
    // `__CALLSITE` every `tracing` macro declares) are told apart only by a
    // hash of their position: inserting one renames the others, so a name
    // may stand for another static in the running program. Those are left
    // to the patch, never bound by name.
    let mut at_path: HashMap<&str, usize> = HashMap::new();
    for name in defined.keys().chain(&read_only) {
        *at_path.entry(elf::path_key(name)).or_default() += 1;
    }
    let crowded = |path: &str| {
        at_path.get(path).copied().unwrap_or(0) > 1
            || base.paths.get(path).is_some_and(|names| names.len() > 1)
    };
    // The single base static at `name`'s path, when the patch no longer
    // defines it: `name` is that static with another type (the legacy hash
    // changes with the type, the path does not).
    let renamed = |name: &str| -> Option<bool> {
        let path = elf::path_key(name);
        match base.paths.get(path).map(Vec::as_slice) {
            Some([(other, writable)])
                if other != name && !defined.contains_key(other) && !read_only.contains(other) =>
            {
                Some(*writable)
            }
            _ => None,
        }
    };

    let mut report = Report::default();
    let mut bind = HashSet::new();
    for (name, candidate) in &defined {
        if crowded(elf::path_key(name)) {
            report.same_path.push(name.clone());
            continue;
        }
        let Some(known) = base.statics.get(name) else {
            if renamed(name).is_some() {
                return Err(elf::Unbindable::TypeChanged { name: name.clone() }.to_string());
            }
            report.fresh.push(name.clone());
            continue;
        };
        if known.size != candidate.size {
            return Err(elf::Unbindable::SizeChanged {
                name: name.clone(),
                base: known.size,
                now: candidate.size,
            }
            .to_string());
        }
        if !known.writable {
            return Err(elf::Unbindable::BecameMutable { name: name.clone() }.to_string());
        }
        if candidate.init_hash.is_some_and(|h| h != known.init_hash) {
            report.initialiser_changed.push(name.clone());
        }
        bind.insert(name.clone());
    }
    // A static that became read-only (`AtomicU64` to `u64`) would otherwise
    // be a silent second copy beside the running program's writable one.
    for name in &read_only {
        let path = elf::path_key(name);
        let was_writable = base.statics.get(name).is_some_and(|known| known.writable)
            || (!crowded(path) && renamed(name) == Some(true));
        if was_writable {
            return Err(elf::Unbindable::TypeChanged { name: name.clone() }.to_string());
        }
    }
    // Thread-locals: the patch's own definitions must fit the running
    // program's (a new one has no slot in the running threads), and every
    // reference to one the program has is pointed at the program's.
    for (name, size) in &thread_locals {
        match base.thread_locals.get(name) {
            None => return Err(elf::Unbindable::NewThreadLocal { name: name.clone() }.to_string()),
            Some(&(_, known)) if known != *size => {
                return Err(elf::Unbindable::SizeChanged {
                    name: name.clone(),
                    base: known,
                    now: *size,
                }
                .to_string())
            }
            Some(_) => {}
        }
    }
    let tls: HashMap<String, i64> = base
        .thread_locals
        .iter()
        .filter(|(name, _)| tls_named.contains(name.as_str()))
        .map(|(name, &(tpoff, _))| (name.clone(), tpoff))
        .collect();

    let scratch = scratch_dir(&patch.output);
    phases.done("plan");
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch)
        .map_err(|e| format!("cannot create {}: {e}", scratch.display()))?;
    let mut bound = BTreeSet::new();
    let (mut bound_tls, mut unbound_tls) = (BTreeSet::new(), BTreeSet::new());
    let (mut replaced, results) = rewrite_inputs(&inputs, &scratch, |ordinal, bytes| {
        let names = &scans[ordinal];
        let refers = names
            .iter()
            .any(|n| bind.contains(*n) || tls.contains_key(*n));
        if !refers {
            return Ok((None, elf::Rewritten::default()));
        }
        let mut rewritten = elf::rewrite(bytes, &bind, &tls).map_err(|e| e.to_string())?;
        Ok((rewritten.bytes.take(), rewritten))
    })?;
    phases.done("rewrite objects");
    for rewritten in results {
        bound.extend(rewritten.bound);
        bound_tls.extend(rewritten.bound_thread_locals);
        unbound_tls.extend(rewritten.unbound_thread_locals);
    }

    let mut new_args = Vec::with_capacity(args.len() + 1);
    for (index, arg) in args.iter().enumerate() {
        match replaced.remove(&index) {
            Some(paths) => new_args.extend(paths),
            None => new_args.push(arg.clone()),
        }
        if (!bound.is_empty() || !bound_tls.is_empty()) && Path::new(arg) == patch.stub {
            let slide = base.slide.ok_or_else(|| {
                format!(
                    "cannot tell where the running program is mapped: none of the symbols in dx's stub {} is in {}",
                    patch.stub.display(),
                    patch.base.display()
                )
            })?;
            let mut symbols: Vec<(String, u64, u64)> = bound
                .iter()
                .map(|name| {
                    let known = &base.statics[name];
                    (
                        format!("{}{name}", elf::BASE_PREFIX),
                        (known.address as i64 + slide) as u64,
                        known.size,
                    )
                })
                .collect();
            symbols.extend(bound_tls.iter().map(|name| {
                let (tpoff, size) = base.thread_locals[name];
                (format!("{}{name}", elf::TPOFF_PREFIX), tpoff as u64, size)
            }));
            let path = scratch.join("base-statics.o");
            write(&path, &statics_object(&symbols)?)?;
            new_args.push(path.into_os_string());
        }
    }
    report.bound = bound.into_iter().collect();
    report.bound_thread_locals = bound_tls.iter().cloned().collect();
    report.thread_locals = unbound_tls.difference(&bound_tls).cloned().collect();
    phases.done("statics object");
    report.micros = started.elapsed().as_micros() as u64;
    report.phases = phases.0;
    Ok(Bound {
        args: new_args,
        report,
        scratch,
    })
}

/// How long each step of a binding took, for the report.
struct Phases(Vec<(&'static str, u64)>, Instant);

impl Phases {
    fn new(started: Instant) -> Phases {
        Phases(Vec::new(), started)
    }

    fn done(&mut self, what: &'static str) {
        let now = Instant::now();
        self.0.push((what, (now - self.1).as_micros() as u64));
        self.1 = now;
    }
}

/// Where the rewritten objects of the patch `output` are kept until its link
/// has read them.
pub fn scratch_dir(output: &Path) -> PathBuf {
    output.with_extension("hotswap.d")
}

/// The base dx keeps beside a web patch `…/wasm/lib<exe>-patch-<ms>.wasm`:
/// `…/wasm/<exe>_bg.wasm`, the running page's module (after wasm-bindgen,
/// which keeps the `linking` section the fat link wrote with
/// `--emit-relocs`; dx resolves the patch's `GOT.mem` imports against it).
pub fn wasm_base(output: &Path) -> Option<PathBuf> {
    let exe = link::patched_exe(output)?;
    Some(output.with_file_name(format!("{exe}_bg.wasm")))
}

/// The layout guard at dx's base link of `output`: records the items of the
/// app's sources (cargo's dep-info `<output>.d` lists them) beside it, for
/// [`check_layout`]. Returns how many files it read.
pub fn record_layout(args: &[OsString], output: &Path) -> Result<usize, String> {
    let dep_info = output.with_extension("d");
    let listed = std::fs::read_to_string(&dep_info)
        .map_err(|e| format!("cannot read {}: {e}", dep_info.display()))?;
    let path = layout_snapshot_of(output)
        .ok_or_else(|| format!("{} is not a file's path", output.display()))?;
    // rustc read the sources before it wrote the objects linked here: a
    // source newer than the newest of them was saved after it was read.
    // (Only rustc's outputs: dx writes its `libdeps-*.a` just before this link.)
    let built = args
        .iter()
        .map(Path::new)
        .filter(|arg| {
            let arg = arg.to_string_lossy();
            arg.ends_with(".rcgu.o") || arg.ends_with(".rlib")
        })
        .filter_map(|input| std::fs::metadata(input).and_then(|m| m.modified()).ok())
        .max()
        .unwrap_or_else(std::time::SystemTime::now);
    let snapshot = layout::Snapshot::take(layout::sources_in_dep_info(&listed), built);
    snapshot.write(&path)?;
    Ok(snapshot.files.len())
}

/// Where dx's base link of `output` keeps its layout snapshot.
pub fn layout_snapshot_of(output: &Path) -> Option<PathBuf> {
    let dir = output.parent()?;
    let exe = output.file_name()?.to_str()?;
    Some(layout::snapshot_path(dir, exe))
}

/// The layout guard at dx's link of the patch `output`: `Err` names the first
/// type whose layout the saved sources change since the base link (see
/// [`layout`]). `Ok(false)` when the base left no snapshot to compare with.
pub fn check_layout(args: &[OsString], output: &Path) -> Result<bool, String> {
    // The patch links the app's objects from cargo's `<profile>/deps`, the
    // folder above which the base link wrote its snapshot.
    let profile_dir = args
        .iter()
        .map(Path::new)
        .find(|arg| arg.to_string_lossy().ends_with(".rcgu.o"))
        .and_then(|object| object.parent()?.parent());
    let (Some(profile_dir), Some(exe)) = (profile_dir, link::patched_exe(output)) else {
        return Ok(false);
    };
    let Some(snapshot) = layout::Snapshot::read(&layout::snapshot_path(profile_dir, exe))? else {
        return Ok(false);
    };
    match snapshot.first_change() {
        Some(change) => Err(format!(
            "{change}, and the running program's values keep the old layout"
        )),
        None => Ok(true),
    }
}

/// Rewrites the inputs of dx's link of the web patch `output` so that the
/// patch uses the running page's statics ([`wasm`]). `Err` is the one line to
/// show when the patch must not be linked.
pub fn bind_wasm_patch(args: &[OsString], output: &Path) -> Result<Bound, String> {
    let started = Instant::now();
    let base_path =
        wasm_base(output).ok_or_else(|| format!("{} is not a patch", output.display()))?;
    let base_bytes = std::fs::read(&base_path).map_err(|e| {
        format!(
            "cannot read the running page's module {}: {e}",
            base_path.display()
        )
    })?;
    let inputs = read_inputs(args, None)?;
    let mut defined = HashSet::new();
    for (name, bytes) in inputs.iter().flat_map(|input| &input.objects) {
        defined.extend(wasm::defined_data(bytes).map_err(|e| format!("cannot read {name}: {e}"))?);
    }
    let base = wasm::BaseSymbols::read(&base_bytes, Some(&defined))
        .map_err(|e| format!("cannot read the symbols of {}: {e}", base_path.display()))?;
    if base.0.is_empty() {
        return Err(format!(
            "{} has no symbol table (dx links it with --emit-relocs): cannot tell its statics",
            base_path.display()
        ));
    }

    let scratch = scratch_dir(output);
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch)
        .map_err(|e| format!("cannot create {}: {e}", scratch.display()))?;
    let objects = inputs
        .iter()
        .flat_map(|input| input.objects.iter().map(|(_, bytes)| bytes.as_slice()));
    let plan = wasm::plan(objects, &base).map_err(|e| e.to_string())?;
    let (mut replaced, _) = rewrite_inputs(&inputs, &scratch, |_, bytes| {
        let rewritten = wasm::rewrite(bytes, &base, &plan).map_err(|e| e.to_string())?;
        Ok((rewritten.bytes, ()))
    })?;
    let mut new_args = Vec::with_capacity(args.len());
    for (index, arg) in args.iter().enumerate() {
        match replaced.remove(&index) {
            Some(paths) => new_args.extend(paths),
            None => new_args.push(arg.clone()),
        }
    }
    let report = Report {
        bound: plan.bind.into_iter().collect(),
        fresh: plan.fresh.into_iter().collect(),
        initialiser_changed: plan.initialiser_changed.into_iter().collect(),
        micros: started.elapsed().as_micros() as u64,
        ..Report::default()
    };
    Ok(Bound {
        args: new_args,
        report,
        scratch,
    })
}

/// An object defining each `(name, value, size)` as an absolute symbol:
/// the running address of a bound static (`hotswap.base.<name>`) or the
/// thread-pointer offset of a bound thread-local (`hotswap.tpoff.<name>`).
/// Hidden and absolute, so the linker fills the GOT slots at link time, with
/// no dynamic relocation.
pub fn statics_object(symbols: &[(String, u64, u64)]) -> Result<Vec<u8>, String> {
    let mut object = Object::new(BinaryFormat::Elf, Architecture::X86_64, Endianness::Little);
    for (name, value, size) in symbols {
        object.add_symbol(Symbol {
            name: name.as_bytes().to_vec(),
            value: *value,
            size: *size,
            kind: SymbolKind::Data,
            scope: SymbolScope::Linkage,
            weak: false,
            section: SymbolSection::Absolute,
            flags: SymbolFlags::None,
        });
    }
    object
        .write()
        .map_err(|e| format!("cannot write the statics object: {e}"))
}

/// Runs `rewrite` on every object of `inputs`, writing what it changed into
/// `scratch`: the argument index of each input to replace, with the objects to
/// link in its place (an archive's members go in as objects: dx links the
/// rebuilt workspace crates whole, as the base has them).
/// The link arguments (by index) to replace, each with the objects in its place.
type Replaced = HashMap<usize, Vec<OsString>>;
/// One object's rewrite: its new bytes (`None`: as it was) and what it bound.
type Outcome<T> = Result<(Option<Vec<u8>>, T), String>;

fn rewrite_inputs<T: Send>(
    inputs: &[Input],
    scratch: &Path,
    rewrite: impl Fn(usize, &[u8]) -> Outcome<T> + Sync,
) -> Result<(Replaced, Vec<T>), String> {
    // Rewriting is most of the binding's time and every object stands
    // alone: one worker per core, each with a run of the objects.
    let objects: Vec<&[u8]> = inputs
        .iter()
        .flat_map(|input| input.objects.iter().map(|(_, bytes)| bytes.as_slice()))
        .collect();
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_worker = objects.len().div_ceil(workers).max(1);
    let mut results: Vec<Option<Outcome<T>>> = objects.iter().map(|_| None).collect();
    std::thread::scope(|scope| {
        for (run, slots) in results.chunks_mut(per_worker).enumerate() {
            let (objects, rewrite) = (&objects, &rewrite);
            scope.spawn(move || {
                for (offset, slot) in slots.iter_mut().enumerate() {
                    let ordinal = run * per_worker + offset;
                    *slot = Some(rewrite(ordinal, objects[ordinal]));
                }
            });
        }
    });

    let mut results = results
        .into_iter()
        .map(|r| r.expect("every object was rewritten"));
    let mut replaced = HashMap::new();
    let mut extras = Vec::new();
    for input in inputs {
        let mut paths = Vec::new();
        let mut changed = false;
        for (index, (name, bytes)) in input.objects.iter().enumerate() {
            let path = scratch.join(format!("{}-{index}-{}", input.arg, file_name(name)));
            let (rewritten, extra) = results.next().expect("one result per object")?;
            extras.push(extra);
            match rewritten {
                Some(new) => {
                    changed = true;
                    write(&path, &new)?;
                }
                None if input.is_archive => write(&path, bytes)?,
                None => {}
            }
            paths.push(path.into_os_string());
        }
        if changed {
            replaced.insert(input.arg, paths);
        }
    }
    Ok((replaced, extras))
}

/// The patch link's objects and archives (dx's stub aside), read into memory.
fn read_inputs(args: &[OsString], stub: Option<&Path>) -> Result<Vec<Input>, String> {
    let mut inputs = Vec::new();
    for (arg, value) in args.iter().enumerate() {
        let path = Path::new(value);
        let is_object = path.extension().is_some_and(|e| e == "o");
        let is_archive = path.extension().is_some_and(|e| e == "rlib" || e == "a");
        if (!is_object && !is_archive) || Some(path) == stub {
            continue;
        }
        let bytes =
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let objects = if is_archive {
            archive_objects(path, &bytes)?
        } else {
            vec![(path.display().to_string(), bytes)]
        };
        inputs.push(Input {
            arg,
            objects,
            is_archive,
        });
    }
    Ok(inputs)
}

fn archive_objects(path: &Path, bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>, String> {
    let bad = |e: object::Error| format!("cannot read the archive {}: {e}", path.display());
    let archive = object::read::archive::ArchiveFile::parse(bytes).map_err(bad)?;
    let mut out = Vec::new();
    for member in archive.members() {
        let member = member.map_err(bad)?;
        let name = String::from_utf8_lossy(member.name()).into_owned();
        if !name.ends_with(".o") {
            continue; // lib.rmeta and the like
        }
        out.push((name, member.data(bytes).map_err(bad)?.to_vec()));
    }
    Ok(out)
}

fn file_name(name: &str) -> String {
    Path::new(name)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "object.o".into())
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), String> {
    std::fs::write(path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// A symbol name as a reader knows it: `server::app::HITS`, not `_ZN…17h…E`.
pub fn readable(name: &str) -> String {
    let demangled = format!("{:#}", rustc_demangle::demangle(name));
    if demangled.is_empty() {
        name.to_string()
    } else {
        demangled
    }
}
