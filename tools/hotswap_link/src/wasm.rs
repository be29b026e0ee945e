//! Rewrites a patch's wasm object files so that patched code reaches the
//! running program's statics, not copies of its own: the one rewriter of both
//! wasm pipelines (dx's page, through this wrapper, and `tools/wasm_mt_dev`'s
//! threaded page).
//!
//! A patch is compiled position-independent (`-Crelocation-model=pic`) and
//! linked `--pie --experimental-pic`. A data symbol the patch leaves
//! *undefined* becomes a `GOT.mem` import, which dx (`create_wasm_jump_table`)
//! and `wasm_mt_dev` resolve to the base's address by name. So each writable
//! static the base also has (same name, same size) is made undefined here.
//!
//! That is not enough on its own: rustc treats a crate's own statics as local
//! and reaches them without the GOT, as `__memory_base + X`, where `X` is an
//! `i32.const` relocated `R_WASM_MEMORY_ADDR_REL_SLEB` (the static's offset
//! in the patch's data). rustc 1.95 at `opt-level = 0` adds `__memory_base`
//! right after, or reads it from a local set earlier, or keeps `X` in a local
//! and adds the two much later (tracing's callsites): the shapes vary, the
//! `i32.const` does not. In an object every relocated LEB is padded to 5
//! bytes, so `i32.const X` becomes `call thunk`, same length, and the thunk
//! returns `GOT(static) + offset - __memory_base`: whatever the code adds
//! `__memory_base` to, it gets the base's copy. Any other direct reference to
//! a static the base has cannot be pointed at the base: it is reported as
//! [`Unbindable::DirectAccess`] and the patch is refused, never linked with a
//! silent second copy. Pointers to the static in data (`MEMORY_ADDR_I32`) are
//! fine as they are: the linker turns them into relocations the patch applies
//! at load (`__wasm_apply_data_relocs`) from the GOT.
//!
//! Thread-locals (threaded page only: without atomics a `thread_local!` is a
//! plain static, bound like the others) become undefined too, and
//! `wasm_mt_dev` defines them at the base's offsets in a stub object.

use std::collections::{BTreeSet, HashMap, HashSet};

use wasm_encoder::Encode;
use wasmparser::{
    BinaryReader, BinaryReaderError, KnownCustom, Linking, Parser, Payload, RelocAddendKind,
    RelocationEntry, RelocationType, SymbolFlags, SymbolInfo, TypeRef,
};

/// What the running program (the base) has, as far as the rewrite needs.
pub trait Base {
    /// The size of the non-TLS data symbol `name`, if the base defines it.
    fn static_size(&self, name: &str) -> Option<u32>;
    /// The size of the thread-local `name`, if the base defines it.
    fn thread_local_size(&self, name: &str) -> Option<u32>;
    /// The names of every non-TLS data symbol the base defines.
    fn static_names(&self) -> Box<dyn Iterator<Item = &str> + '_>;
    /// A hash of the initial bytes of the static `name` (`crate::elf::hash`),
    /// when the base has them.
    fn initialiser(&self, _name: &str) -> Option<u64> {
        None
    }
}

/// Data symbols of a linked base module, read from the `linking` section it
/// keeps (`--emit-relocs`), by name: (size, is thread-local); and a hash of
/// each one's initial bytes, where its segment has them.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BaseSymbols(pub HashMap<String, (u32, bool)>, pub HashMap<String, u64>);

impl BaseSymbols {
    /// Reads the base's data symbols; the initial bytes only of those in
    /// `wanted` (all when `None`): hashing every static of a page costs more
    /// than the rest of a patch's binding.
    pub fn read(
        bytes: &[u8],
        wanted: Option<&HashSet<String>>,
    ) -> Result<BaseSymbols, BinaryReaderError> {
        // A linked module's relocations (`--emit-relocs`, millions in a page)
        // say nothing the base's bytes do not: skip them.
        let object = read_object(bytes, false)?;
        let mut out = BaseSymbols::default();
        for symbol in &object.symbols {
            if let SymbolInfo::Data {
                flags,
                name,
                symbol: Some(def),
            } = symbol
            {
                let tls = flags.contains(SymbolFlags::TLS);
                out.0.insert(name.to_string(), (def.size, tls));
                if wanted.is_some_and(|w| !w.contains(*name)) {
                    continue;
                }
                if let Some(init) = object.initial_bytes(def.index, def.offset, def.size) {
                    out.1.insert(name.to_string(), crate::elf::hash(init));
                }
            }
        }
        Ok(out)
    }
}

impl Base for BaseSymbols {
    fn static_size(&self, name: &str) -> Option<u32> {
        self.0
            .get(name)
            .filter(|(_, tls)| !tls)
            .map(|(size, _)| *size)
    }
    fn thread_local_size(&self, name: &str) -> Option<u32> {
        self.0
            .get(name)
            .filter(|(_, tls)| *tls)
            .map(|(size, _)| *size)
    }
    fn initialiser(&self, name: &str) -> Option<u64> {
        self.1.get(name).copied()
    }
    fn static_names(&self) -> Box<dyn Iterator<Item = &str> + '_> {
        Box::new(
            self.0
                .iter()
                .filter(|(_, (_, tls))| !tls)
                .map(|(name, _)| name.as_str()),
        )
    }
}

/// Why a patch cannot share the base's statics: it must not be linked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unbindable {
    NewThreadLocal(String),
    SizeChanged {
        name: String,
        base: u32,
        now: u32,
    },
    /// The static's legacy symbol hash covers its type: another type is
    /// another name, and the base's static of that path is gone from the patch.
    TypeChanged {
        name: String,
    },
    DirectAccess {
        name: String,
        why: String,
    },
}

impl std::fmt::Display for Unbindable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unbindable::NewThreadLocal(name) => write!(
                f,
                "a new thread-local ({}) needs a TLS slot the running threads do not have",
                crate::readable(name)
            ),
            Unbindable::TypeChanged { name } => write!(
                f,
                "static {} changed type: the running program's value cannot be kept",
                crate::readable(name)
            ),
            Unbindable::SizeChanged { name, base, now } => write!(
                f,
                "static {} changed size ({base} -> {now} bytes): the running program's value cannot be kept",
                crate::readable(name)
            ),
            Unbindable::DirectAccess { name, why } => write!(
                f,
                "static {} is reached in a way that cannot be pointed at the running program's copy ({why})",
                crate::readable(name)
            ),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RewriteError {
    Unbindable(Unbindable),
    /// Not an object this rewrite understands.
    Read(String),
}

impl std::fmt::Display for RewriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RewriteError::Unbindable(why) => why.fmt(f),
            RewriteError::Read(why) => write!(f, "cannot rewrite a wasm object: {why}"),
        }
    }
}

impl From<BinaryReaderError> for RewriteError {
    fn from(e: BinaryReaderError) -> RewriteError {
        RewriteError::Read(e.to_string())
    }
}

/// One rewritten object.
#[derive(Debug, Default)]
pub struct Rewritten {
    /// `None` when nothing changed: use the object as it is.
    pub bytes: Option<Vec<u8>>,
    /// Data symbols (statics and thread-locals) this object defined, now
    /// bound to the base.
    pub bound: Vec<String>,
    /// Bound statics this object refers to without defining them.
    pub referred: Vec<String>,
    /// Writable Rust statics the base does not have (the patch's own).
    pub fresh: Vec<String>,
    /// Thread-locals this object refers to without defining them (now).
    pub tls_refs: BTreeSet<String>,
    /// The object's `target_features` section (for a stub linked with it).
    pub target_features: Option<Vec<u8>>,
}

/// Symbol flags that cannot stay on a symbol made undefined.
const UNBIND: u32 = SymbolFlags::BINDING_LOCAL.bits()
    | SymbolFlags::VISIBILITY_HIDDEN.bits()
    | SymbolFlags::BINDING_WEAK.bits()
    | SymbolFlags::EXPORTED.bits()
    | SymbolFlags::NO_STRIP.bits();

const I32_CONST: u8 = 0x41;
const GLOBAL_GET: u8 = 0x23;
const I32_ADD: u8 = 0x6a;
const I32_SUB: u8 = 0x6b;
const CALL: u8 = 0x10;
const END: u8 = 0x0b;
/// What a relocated index is before the linker writes it.
const PLACEHOLDER: [u8; PADDED] = [0x80, 0x80, 0x80, 0x80, 0x00];
/// A relocated LEB in an object: always padded to this many bytes.
const PADDED: usize = 5;

/// Everything of one object the rewrite reads.
struct Object<'a> {
    sections: Vec<RawSection<'a>>,
    symbols: Vec<SymbolInfo<'a>>,
    /// Data segment index -> its name (`.data.…`, `.bss.…`, `.rodata.…`, `.tdata.…`).
    segment_names: Vec<&'a str>,
    /// Global index -> import field name, for the imported globals.
    imported_globals: Vec<&'a str>,
    /// The data section's index, and each segment's bytes with where they
    /// start in the section's payload (what relocation offsets count from).
    data: Option<usize>,
    segments: Vec<(usize, &'a [u8])>,
    /// Where relocations write into the data section, in order.
    data_relocs: Vec<usize>,
    /// Section index of each `reloc.*` section, with its target and entries.
    relocs: Vec<(usize, u32, Vec<RelocationEntry>)>,
    code: Option<usize>,
    /// Section indices of the type and function sections.
    types: Option<usize>,
    functions: Option<usize>,
    type_count: u32,
    /// A type `() -> i32` the object has, for the thunks.
    i32_thunk_type: Option<u32>,
    imported_funcs: u32,
    function_count: u32,
    target_features: Option<&'a [u8]>,
}

fn read_object(bytes: &[u8], with_relocs: bool) -> Result<Object<'_>, BinaryReaderError> {
    let sections = raw_sections(bytes)?;
    let mut object = Object {
        sections,
        symbols: Vec::new(),
        segment_names: Vec::new(),
        imported_globals: Vec::new(),
        relocs: Vec::new(),
        code: None,
        data: None,
        segments: Vec::new(),
        data_relocs: Vec::new(),
        types: None,
        functions: None,
        type_count: 0,
        i32_thunk_type: None,
        imported_funcs: 0,
        function_count: 0,
        target_features: None,
    };
    let mut index = 0;
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload?;
        let this = index;
        if payload.as_section().is_some() {
            index += 1;
        }
        match payload {
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    let import = import?;
                    match import.ty {
                        TypeRef::Global(_) => object.imported_globals.push(import.name),
                        TypeRef::Func(_) | TypeRef::FuncExact(_) => object.imported_funcs += 1,
                        _ => {}
                    }
                }
            }
            Payload::TypeSection(reader) => {
                object.types = Some(this);
                for group in reader {
                    for ty in group?.into_types() {
                        if let wasmparser::CompositeInnerType::Func(f) = &ty.composite_type.inner {
                            if f.params().is_empty() && f.results() == [wasmparser::ValType::I32] {
                                object.i32_thunk_type.get_or_insert(object.type_count);
                            }
                        }
                        object.type_count += 1;
                    }
                }
            }
            Payload::FunctionSection(reader) => {
                object.functions = Some(this);
                object.function_count = reader.count();
            }
            Payload::CodeSectionStart { .. } => object.code = Some(this),
            Payload::DataSection(reader) => {
                object.data = Some(this);
                let start = reader.range().start;
                for segment in reader {
                    let segment = segment?;
                    let at = segment.range.end - segment.data.len() - start;
                    object.segments.push((at, segment.data));
                }
            }
            Payload::CustomSection(section) => {
                if section.name() == "target_features" {
                    object.target_features = Some(section.data());
                }
                match section.as_known() {
                    KnownCustom::Linking(linking) => {
                        for sub in linking.subsections() {
                            match sub? {
                                Linking::SymbolTable(table) => {
                                    for symbol in table {
                                        object.symbols.push(symbol?);
                                    }
                                }
                                Linking::SegmentInfo(segments) => {
                                    for segment in segments {
                                        object.segment_names.push(segment?.name);
                                    }
                                }
                                _ => {}
                            }
                        }
                    }
                    KnownCustom::Reloc(reloc) if with_relocs => {
                        let entries: Vec<RelocationEntry> =
                            reloc.entries().into_iter().collect::<Result<_, _>>()?;
                        if reloc.section_index() as usize == object.data.unwrap_or(usize::MAX) {
                            object.data_relocs =
                                entries.iter().map(|e| e.offset as usize).collect();
                            object.data_relocs.sort_unstable();
                        }
                        object.relocs.push((this, reloc.section_index(), entries));
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    Ok(object)
}

/// The writable statics a patch's objects define, split by whether the base
/// has them.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Bound to the base in every object: where defined, and where another
    /// object (another codegen unit of the crate) refers to them, also as
    /// `__memory_base + X`.
    pub bind: BTreeSet<String>,
    /// Not in the base (new since it was built): the patch's own.
    pub fresh: BTreeSet<String>,
    /// Bound statics whose initialiser changed: the running value is kept.
    pub initialiser_changed: BTreeSet<String>,
}

/// The first pass over all of a patch's objects: which statics to bind.
pub fn plan<'a>(
    objects: impl IntoIterator<Item = &'a [u8]>,
    base: &dyn Base,
) -> Result<Plan, RewriteError> {
    let mut plan = Plan::default();
    let mut defined = BTreeSet::new();
    for bytes in objects {
        let object = read_object(bytes, true)?;
        for symbol in &object.symbols {
            let SymbolInfo::Data {
                flags,
                name,
                symbol: Some(def),
            } = symbol
            else {
                continue;
            };
            if flags.contains(SymbolFlags::TLS) || !crate::elf::is_rust_name(name.as_bytes()) {
                continue;
            }
            // `.data.rel.ro` holds statics that cannot change once relocated
            // (a `&str`): the patch's copy is as good as the base's.
            let segment = object.segment_names.get(def.index as usize).copied();
            let writable = segment.is_some_and(|s| {
                (s.starts_with(".data") && !s.starts_with(".data.rel.ro")) || s.starts_with(".bss")
            });
            if !writable {
                continue;
            }
            match base.static_size(name) {
                None => {
                    plan.fresh.insert(name.to_string());
                }
                Some(size) if size != def.size => return Err(size_changed(name, size, def.size)),
                Some(_) => {
                    let now = object.initial_bytes(def.index, def.offset, def.size);
                    if let (Some(now), Some(was)) = (now, base.initialiser(name)) {
                        if crate::elf::hash(now) != was {
                            plan.initialiser_changed.insert(name.to_string());
                        }
                    }
                    plan.bind.insert(name.to_string());
                }
            }
            defined.insert(name.to_string());
        }
    }
    if let Some(name) = retyped(&plan.fresh, &defined, base) {
        return Err(RewriteError::Unbindable(Unbindable::TypeChanged { name }));
    }
    Ok(plan)
}

/// A new static whose path the base has, while none of the base's statics of
/// that path is in the patch any more: the same static with another type
/// (rustc's legacy symbol hash covers the type). Several statics may share a
/// path (tracing's `__CALLSITE`s in one function): adding one keeps the others.
fn retyped(
    fresh: &BTreeSet<String>,
    defined: &BTreeSet<String>,
    base: &dyn Base,
) -> Option<String> {
    if fresh.is_empty() {
        return None;
    }
    let mut by_path: HashMap<&str, Vec<&str>> = HashMap::new();
    for name in base.static_names() {
        if let Some(path) = without_hash(name) {
            by_path.entry(path).or_default().push(name);
        }
    }
    fresh.iter().find_map(|name| {
        let olds = by_path.get(without_hash(name)?)?;
        olds.iter()
            .all(|old| !defined.contains(*old))
            .then(|| name.clone())
    })
}

/// A legacy Rust symbol without its hash (`_ZN…17h<16 hex>E` -> `_ZN…`).
pub fn without_hash(name: &str) -> Option<&str> {
    let stem = name.strip_suffix('E')?;
    let (path, hash) = stem.split_at_checked(stem.len().checked_sub(19)?)?;
    (hash.starts_with("17h") && hash[3..].bytes().all(|b| b.is_ascii_hexdigit())).then_some(path)
}

impl Object<'_> {
    /// The initial bytes of a data symbol, unless a relocation writes into
    /// them (a pointer: the object holds a placeholder, the base the address).
    fn initial_bytes(&self, segment: u32, offset: u32, size: u32) -> Option<&[u8]> {
        let (at, bytes) = *self.segments.get(segment as usize)?;
        let (start, end) = (at + offset as usize, at + (offset + size) as usize);
        // The first relocation that ends after `start` (at most 8 bytes long).
        let first = self.data_relocs.partition_point(|&o| o + 8 <= start);
        if self.data_relocs.get(first).is_some_and(|&o| o < end) {
            return None;
        }
        bytes.get(offset as usize..(offset + size) as usize)
    }
}

/// Rewrites one object (see the module comment) after [`plan`] looked at all.
pub fn rewrite(bytes: &[u8], base: &dyn Base, plan: &Plan) -> Result<Rewritten, RewriteError> {
    let object = read_object(bytes, true)?;
    let mut out = Rewritten {
        target_features: object.target_features.map(<[u8]>::to_vec),
        ..Rewritten::default()
    };

    // Which data symbols to bind, by symbol index.
    let mut bind: HashMap<u32, &str> = HashMap::new();
    for (i, symbol) in object.symbols.iter().enumerate() {
        let SymbolInfo::Data {
            flags,
            name,
            symbol: def,
        } = symbol
        else {
            continue;
        };
        let tls = flags.contains(SymbolFlags::TLS);
        match (tls, def) {
            (true, None) => {
                out.tls_refs.insert(name.to_string());
            }
            (true, Some(def)) => {
                let Some(size) = base.thread_local_size(name) else {
                    return Err(RewriteError::Unbindable(Unbindable::NewThreadLocal(
                        name.to_string(),
                    )));
                };
                if size != def.size {
                    return Err(size_changed(name, size, def.size));
                }
                out.tls_refs.insert(name.to_string());
                bind.insert(i as u32, name);
                out.bound.push(name.to_string());
            }
            (false, def) if plan.bind.contains(*name) => {
                bind.insert(i as u32, name);
                if def.is_some() {
                    out.bound.push(name.to_string());
                } else {
                    // Already undefined here: only its references change.
                    out.referred.push(name.to_string());
                }
            }
            (false, Some(_)) if plan.fresh.contains(*name) => out.fresh.push(name.to_string()),
            _ => {}
        }
    }
    if bind.is_empty() {
        return Ok(out);
    }

    let memory_base = object
        .symbols
        .iter()
        .enumerate()
        .find_map(|(i, symbol)| match symbol {
            SymbolInfo::Global { index, name, .. } => {
                let name = name.or_else(|| object.imported_globals.get(*index as usize).copied());
                (name == Some("__memory_base")).then_some(i as u32)
            }
            _ => None,
        });

    let mut code = object
        .code
        .map(|i| object.sections[i].payload.to_vec())
        .unwrap_or_default();
    // One thunk per (static, offset in it) reached as __memory_base + X.
    let mut thunks: Vec<(u32, i64)> = Vec::new();
    let first_thunk_symbol = object.symbols.len() as u32;
    let mut relocs: HashMap<usize, Vec<RelocationEntry>> = HashMap::new();
    for (at, target, entries) in &object.relocs {
        let is_code = object.code == Some(*target as usize);
        let mut entries = entries.clone();
        for entry in entries.iter_mut() {
            // A type index, not a symbol's (the only relocation of that kind).
            if entry.ty == RelocationType::TypeIndexLeb {
                continue;
            }
            let Some(&name) = bind.get(&entry.index) else {
                continue;
            };
            let direct = |why: &str| {
                RewriteError::Unbindable(Unbindable::DirectAccess {
                    name: name.to_string(),
                    why: format!("{why}, {:?} at {:#x}", entry.ty, entry.offset),
                })
            };
            match entry.ty {
                // Already through the GOT, a pointer in data applied from the
                // GOT at load, or a thread-local's offset (the stub's).
                RelocationType::GlobalIndexLeb
                | RelocationType::GlobalIndexI32
                | RelocationType::MemoryAddrI32
                | RelocationType::MemoryAddrI64
                | RelocationType::MemoryAddrTlsSleb => {}
                RelocationType::MemoryAddrRelSleb if is_code => {
                    let at = entry.offset as usize;
                    if at == 0 || code.get(at - 1) != Some(&I32_CONST) || at + PADDED > code.len() {
                        return Err(direct("not an i32.const"));
                    }
                    if memory_base.is_none() {
                        return Err(direct("the object has no __memory_base"));
                    }
                    let key = (entry.index, entry.addend);
                    let n = thunks.iter().position(|k| *k == key).unwrap_or_else(|| {
                        thunks.push(key);
                        thunks.len() - 1
                    });
                    // `i32.const X` becomes `call thunk`, same length.
                    code[at - 1] = CALL;
                    code[at..at + PADDED].copy_from_slice(&PLACEHOLDER);
                    *entry = RelocationEntry {
                        ty: RelocationType::FunctionIndexLeb,
                        offset: entry.offset,
                        index: first_thunk_symbol + n as u32,
                        addend: 0,
                    };
                }
                _ => return Err(direct("not a `__memory_base + offset` address")),
            }
        }
        relocs.insert(*at, entries);
    }

    let mut thunk_symbols = Vec::new();
    let mut replaced: HashMap<usize, Vec<u8>> = HashMap::new();
    if let (Some(code_at), Some(memory_base)) =
        (object.code.filter(|_| !thunks.is_empty()), memory_base)
    {
        let types = object
            .types
            .ok_or_else(|| RewriteError::Read("no type section".into()))?;
        let functions = object
            .functions
            .ok_or_else(|| RewriteError::Read("no function section".into()))?;
        // The thunks' type, `() -> i32`: the object's own, or one more.
        let ty = match object.i32_thunk_type {
            Some(ty) => ty,
            None => {
                replaced.insert(
                    types,
                    append(
                        object.sections[types].payload,
                        &[vec![0x60, 0x00, 0x01, 0x7f]],
                    )?,
                );
                object.type_count
            }
        };
        let mut ty_leb = Vec::new();
        ty.encode(&mut ty_leb);
        replaced.insert(
            functions,
            append(
                object.sections[functions].payload,
                &vec![ty_leb; thunks.len()],
            )?,
        );
        let (old_count, old_len) = leb_count(&code)?;
        let mut new_code = Vec::new();
        (old_count + thunks.len() as u32).encode(&mut new_code);
        let shift = new_code.len() as i64 - old_len as i64;
        new_code.extend_from_slice(&code[old_len..]);
        let code_relocs = object
            .relocs
            .iter()
            .find(|(_, target, _)| *target as usize == code_at)
            .map(|(at, ..)| *at)
            .ok_or_else(|| RewriteError::Read("code relocated without reloc.CODE".into()))?;
        let entries = relocs.entry(code_relocs).or_default();
        for entry in entries.iter_mut() {
            entry.offset = (entry.offset as i64 + shift) as u32;
        }
        for (n, &(symbol, addend)) in thunks.iter().enumerate() {
            // GOT(static) + offset - __memory_base: what `X` was meant to be
            // (an address relative to the patch's data), now of the base's copy.
            let mut body = vec![0x00, GLOBAL_GET];
            let got_at = body.len();
            body.extend_from_slice(&PLACEHOLDER);
            body.push(I32_CONST);
            (addend as i32).encode(&mut body);
            body.extend_from_slice(&[I32_ADD, GLOBAL_GET]);
            let base_at = body.len();
            body.extend_from_slice(&PLACEHOLDER);
            body.extend_from_slice(&[I32_SUB, END]);
            (body.len() as u32).encode(&mut new_code);
            let start = new_code.len() as u32;
            new_code.extend_from_slice(&body);
            for (at, index) in [(got_at, symbol), (base_at, memory_base)] {
                entries.push(RelocationEntry {
                    ty: RelocationType::GlobalIndexLeb,
                    offset: start + at as u32,
                    index,
                    addend: 0,
                });
            }
            thunk_symbols.push((
                object.imported_funcs + object.function_count + n as u32,
                format!("hotswap.thunk.{n}"),
            ));
        }
        code = new_code;
    }

    let mut module = wasm_encoder::Module::new();
    for (i, section) in object.sections.iter().enumerate() {
        if Some(i) == object.code {
            module.section(&wasm_encoder::RawSection {
                id: section.id,
                data: &code,
            });
        } else if let Some(payload) = replaced.get(&i) {
            module.section(&wasm_encoder::RawSection {
                id: section.id,
                data: payload,
            });
        } else if let Some(entries) = relocs.get(&i) {
            let name = section.custom_name.unwrap_or_default();
            let target = object.relocs.iter().find(|(at, ..)| *at == i).map(|r| r.1);
            let mut data = Vec::new();
            target.unwrap_or_default().encode(&mut data);
            encode_relocs(entries, &mut data);
            module.section(&wasm_encoder::CustomSection {
                name: name.into(),
                data: data.into(),
            });
        } else if section.custom_name == Some("linking") {
            module.section(&wasm_encoder::CustomSection {
                name: "linking".into(),
                data: relink(section.payload, &object.symbols, &bind, &thunk_symbols)?.into(),
            });
        } else {
            module.section(&wasm_encoder::RawSection {
                id: section.id,
                data: section.payload,
            });
        }
    }
    out.bytes = Some(module.finish());
    Ok(out)
}

/// A vector section's payload with `entries` (each already encoded) added.
fn append(payload: &[u8], entries: &[Vec<u8>]) -> Result<Vec<u8>, BinaryReaderError> {
    let (count, len) = leb_count(payload)?;
    let mut out = Vec::new();
    (count + entries.len() as u32).encode(&mut out);
    out.extend_from_slice(&payload[len..]);
    for entry in entries {
        out.extend_from_slice(entry);
    }
    Ok(out)
}

/// The count a vector section starts with, and how many bytes it takes.
fn leb_count(payload: &[u8]) -> Result<(u32, usize), BinaryReaderError> {
    let mut reader = BinaryReader::new(payload, 0);
    let count = reader.read_var_u32()?;
    Ok((count, reader.current_position()))
}

fn size_changed(name: &str, base: u32, now: u32) -> RewriteError {
    RewriteError::Unbindable(Unbindable::SizeChanged {
        name: name.to_string(),
        base,
        now,
    })
}

fn encode_relocs(entries: &[RelocationEntry], out: &mut Vec<u8>) {
    (entries.len() as u32).encode(out);
    for entry in entries {
        out.push(entry.ty as u8);
        entry.offset.encode(out);
        entry.index.encode(out);
        match entry.ty.addend_kind() {
            RelocAddendKind::None => {}
            RelocAddendKind::Addend32 => (entry.addend as i32).encode(out),
            RelocAddendKind::Addend64 => entry.addend.encode(out),
        }
    }
}

const SYMBOL_TABLE: u8 = 8;

/// The `linking` section's data with the symbol table re-encoded (the symbols
/// in `undefine` made undefined) and every other subsection byte for byte.
fn relink(
    payload: &[u8],
    symbols: &[SymbolInfo<'_>],
    undefine: &HashMap<u32, &str>,
    thunks: &[(u32, String)],
) -> Result<Vec<u8>, BinaryReaderError> {
    let mut reader = BinaryReader::new(payload, 0);
    reader.read_string()?;
    let version = reader.read_var_u32()?;
    let mut data = Vec::new();
    version.encode(&mut data);
    while !reader.eof() {
        let kind = reader.read_u8()?;
        let len = reader.read_var_u32()? as usize;
        let body = reader.read_bytes(len)?;
        data.push(kind);
        if kind == SYMBOL_TABLE {
            let mut table = Vec::new();
            encode_symbols(symbols, undefine, thunks, &mut table);
            table.as_slice().encode(&mut data);
        } else {
            body.encode(&mut data);
        }
    }
    Ok(data)
}

/// The symbol table in the tool-conventions encoding (wasm-encoder's
/// `SymbolTable` has no section or tag symbols, which Rust objects have).
fn encode_symbols(
    symbols: &[SymbolInfo<'_>],
    undefine: &HashMap<u32, &str>,
    thunks: &[(u32, String)],
    out: &mut Vec<u8>,
) {
    ((symbols.len() + thunks.len()) as u32).encode(out);
    for (i, symbol) in symbols.iter().enumerate() {
        let indexed =
            |out: &mut Vec<u8>, kind: u8, flags: SymbolFlags, index: u32, name: Option<&str>| {
                out.push(kind);
                flags.bits().encode(out);
                index.encode(out);
                if let Some(name) = name {
                    name.encode(out);
                }
            };
        match *symbol {
            SymbolInfo::Func { flags, index, name } => indexed(out, 0, flags, index, name),
            SymbolInfo::Global { flags, index, name } => indexed(out, 2, flags, index, name),
            SymbolInfo::Event { flags, index, name } => indexed(out, 4, flags, index, name),
            SymbolInfo::Table { flags, index, name } => indexed(out, 5, flags, index, name),
            SymbolInfo::Section { flags, section } => {
                out.push(3);
                flags.bits().encode(out);
                section.encode(out);
            }
            SymbolInfo::Data {
                flags,
                name,
                symbol,
            } => {
                out.push(1);
                let flags = if undefine.contains_key(&(i as u32)) {
                    (flags.bits() & !UNBIND) | SymbolFlags::UNDEFINED.bits()
                } else {
                    flags.bits()
                };
                flags.encode(out);
                name.encode(out);
                if flags & SymbolFlags::UNDEFINED.bits() == 0 {
                    if let Some(def) = symbol {
                        def.index.encode(out);
                        def.offset.encode(out);
                        def.size.encode(out);
                    }
                }
            }
        }
    }
    // The thunks: local, hidden functions.
    for (index, name) in thunks {
        out.push(0);
        (SymbolFlags::BINDING_LOCAL.bits() | SymbolFlags::VISIBILITY_HIDDEN.bits()).encode(out);
        index.encode(out);
        name.as_str().encode(out);
    }
}

/// The data symbols `bytes` (an object) defines, by name.
pub fn defined_data(bytes: &[u8]) -> Result<Vec<String>, BinaryReaderError> {
    Ok(symbol_table(bytes)?
        .into_iter()
        .filter_map(|symbol| match symbol {
            SymbolInfo::Data {
                name,
                symbol: Some(_),
                ..
            } => Some(name.to_string()),
            _ => None,
        })
        .collect())
}

/// The symbols of a module's `linking` section.
pub fn symbol_table(bytes: &[u8]) -> Result<Vec<SymbolInfo<'_>>, BinaryReaderError> {
    let mut out = Vec::new();
    for payload in Parser::new(0).parse_all(bytes) {
        let Payload::CustomSection(section) = payload? else {
            continue;
        };
        if let KnownCustom::Linking(linking) = section.as_known() {
            for sub in linking.subsections() {
                if let Linking::SymbolTable(table) = sub? {
                    for symbol in table {
                        out.push(symbol?);
                    }
                }
            }
        }
    }
    Ok(out)
}

/// One section of a module as it is in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawSection<'a> {
    pub id: u8,
    /// The name, for custom sections (id 0).
    pub custom_name: Option<&'a str>,
    /// The whole payload (for a custom section, including its name).
    pub payload: &'a [u8],
}

pub fn raw_sections(bytes: &[u8]) -> Result<Vec<RawSection<'_>>, BinaryReaderError> {
    // The parser checks the magic and version (and says why they are wrong).
    if let Some(header) = Parser::new(0).parse_all(bytes).next() {
        header?;
    }
    BinaryReader::new(bytes, 0).read_bytes(8)?;
    let mut reader = BinaryReader::new(&bytes[8..], 8);
    let mut sections = Vec::new();
    while !reader.eof() {
        let id = reader.read_u8()?;
        let len = reader.read_var_u32()? as usize;
        let payload = reader.read_bytes(len)?;
        let custom_name = if id == 0 {
            Some(BinaryReader::new(payload, 0).read_string()?)
        } else {
            None
        };
        sections.push(RawSection {
            id,
            custom_name,
            payload,
        });
    }
    Ok(sections)
}
