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
//! and reaches them without the GOT, as `__memory_base + X`:
//!
//! ```text
//! i32.const X          ;; R_WASM_MEMORY_ADDR_REL_SLEB  static+addend
//! global.get 1         ;; R_WASM_GLOBAL_INDEX_LEB      __memory_base
//! i32.add
//! ```
//!
//! (rustc 1.95 at `opt-level = 0`; also seen with the `global.get` first.) In
//! an object every relocated LEB is padded to 5 bytes, so the pair becomes a
//! GOT load in place, same length: the `global.get`'s relocation is pointed at
//! the static (a `GLOBAL_INDEX_LEB` against a data symbol is its GOT entry) and
//! the `i32.const` becomes the plain addend. Any other direct reference to a
//! static the base has cannot be pointed at the base: it is reported as
//! [`Unbindable::DirectAccess`] and the patch is refused, never linked with a
//! silent second copy. Pointers to the static in data (`MEMORY_ADDR_I32`) are
//! fine as they are: the linker turns them into relocations the patch applies
//! at load (`__wasm_apply_data_relocs`) from the GOT.
//!
//! Thread-locals (threaded page only: without atomics a `thread_local!` is a
//! plain static, bound like the others) become undefined too, and
//! `wasm_mt_dev` defines them at the base's offsets in a stub object.

use std::collections::{BTreeSet, HashMap};

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
}

/// Data symbols of a linked base module, read from the `linking` section it
/// keeps (`--emit-relocs`), by name: (size, is thread-local).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BaseSymbols(pub HashMap<String, (u32, bool)>);

impl BaseSymbols {
    pub fn read(bytes: &[u8]) -> Result<BaseSymbols, BinaryReaderError> {
        let mut out = HashMap::new();
        for symbol in symbol_table(bytes)? {
            if let SymbolInfo::Data {
                flags,
                name,
                symbol: Some(def),
            } = symbol
            {
                out.insert(
                    name.to_string(),
                    (def.size, flags.contains(SymbolFlags::TLS)),
                );
            }
        }
        Ok(BaseSymbols(out))
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
}

/// Why a patch cannot share the base's statics: it must not be linked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unbindable {
    NewThreadLocal(String),
    SizeChanged { name: String, base: u32, now: u32 },
    DirectAccess { name: String, why: String },
}

impl std::fmt::Display for Unbindable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unbindable::NewThreadLocal(name) => write!(
                f,
                "a new thread-local ({}) needs a TLS slot the running threads do not have",
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
    /// Data symbols (statics and thread-locals) now bound to the base.
    pub bound: Vec<String>,
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
const LOCAL_GET: u8 = 0x20;
const LOCAL_SET: u8 = 0x21;
const LOCAL_TEE: u8 = 0x22;
/// A relocated LEB in an object: always padded to this many bytes.
const PADDED: usize = 5;

pub fn is_rust_name(name: &str) -> bool {
    name.starts_with("_ZN") || name.starts_with("_R")
}

/// Everything of one object the rewrite reads.
struct Object<'a> {
    sections: Vec<RawSection<'a>>,
    symbols: Vec<SymbolInfo<'a>>,
    /// Data segment index -> its name (`.data.…`, `.bss.…`, `.rodata.…`, `.tdata.…`).
    segment_names: Vec<&'a str>,
    /// Global index -> import field name, for the imported globals.
    imported_globals: Vec<&'a str>,
    /// Section index of each `reloc.*` section, with its target and entries.
    relocs: Vec<(usize, u32, Vec<RelocationEntry>)>,
    code: Option<usize>,
    /// Each function body's range in the code section's payload.
    bodies: Vec<std::ops::Range<usize>>,
    target_features: Option<&'a [u8]>,
}

fn read_object(bytes: &[u8]) -> Result<Object<'_>, BinaryReaderError> {
    let sections = raw_sections(bytes)?;
    let mut object = Object {
        sections,
        symbols: Vec::new(),
        segment_names: Vec::new(),
        imported_globals: Vec::new(),
        relocs: Vec::new(),
        code: None,
        bodies: Vec::new(),
        target_features: None,
    };
    let mut index = 0;
    let mut code_start = 0;
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
                    if let TypeRef::Global(_) = import.ty {
                        object.imported_globals.push(import.name);
                    }
                }
            }
            Payload::CodeSectionStart { range, .. } => {
                object.code = Some(this);
                code_start = range.start;
            }
            Payload::CodeSectionEntry(body) => {
                let range = body.range();
                object
                    .bodies
                    .push(range.start - code_start..range.end - code_start);
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
                    KnownCustom::Reloc(reloc) => {
                        let entries = reloc.entries().into_iter().collect::<Result<_, _>>()?;
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

/// Rewrites one object (see the module comment).
pub fn rewrite(bytes: &[u8], base: &dyn Base) -> Result<Rewritten, RewriteError> {
    let object = read_object(bytes)?;
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
        let Some(def) = def else {
            if tls {
                out.tls_refs.insert(name.to_string());
            }
            continue;
        };
        if tls {
            let Some(size) = base.thread_local_size(name) else {
                return Err(RewriteError::Unbindable(Unbindable::NewThreadLocal(
                    name.to_string(),
                )));
            };
            if size != def.size {
                return Err(size_changed(name, size, def.size));
            }
            out.tls_refs.insert(name.to_string());
        } else {
            let segment = object.segment_names.get(def.index as usize).copied();
            // `.data.rel.ro` holds statics that cannot change once relocated
            // (a `&str`): the patch's copy is as good as the base's.
            let writable = segment.is_some_and(|s| {
                (s.starts_with(".data") && !s.starts_with(".data.rel.ro")) || s.starts_with(".bss")
            });
            if !is_rust_name(name) || !writable {
                continue;
            }
            let Some(size) = base.static_size(name) else {
                out.fresh.push(name.to_string());
                continue;
            };
            if size != def.size {
                return Err(size_changed(name, size, def.size));
            }
        }
        bind.insert(i as u32, name);
        out.bound.push(name.to_string());
    }
    if bind.is_empty() {
        return Ok(out);
    }

    let memory_base = object
        .symbols
        .iter()
        .enumerate()
        .filter_map(|(i, symbol)| match symbol {
            SymbolInfo::Global { index, name, .. } => {
                let name = name.or_else(|| object.imported_globals.get(*index as usize).copied());
                (name == Some("__memory_base")).then_some(i as u32)
            }
            _ => None,
        })
        .collect::<BTreeSet<u32>>();

    let mut code = object
        .code
        .map(|i| object.sections[i].payload.to_vec())
        .unwrap_or_default();
    let mut relocs: HashMap<usize, Vec<RelocationEntry>> = HashMap::new();
    for (at, target, entries) in &object.relocs {
        let is_code = object.code == Some(*target as usize);
        let by_offset: HashMap<u32, usize> = entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.offset, i))
            .collect();
        let mut entries = entries.clone();
        let mut dropped = BTreeSet::new();
        for i in 0..entries.len() {
            let entry = entries[i];
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
                    let shape = base_plus_offset(
                        &code,
                        &entries,
                        &by_offset,
                        &memory_base,
                        &object.bodies,
                        entry.offset,
                    )
                    .map_err(|why| direct(&why))?;
                    let at = entry.offset as usize;
                    match shape {
                        Shape::GlobalGet(get) => {
                            code[at..at + PADDED].copy_from_slice(
                                &padded_sleb(entry.addend, PADDED)
                                    .ok_or_else(|| direct("offset out of range"))?,
                            );
                            entries[get].index = entry.index;
                            dropped.insert(i);
                        }
                        Shape::Local { start } => {
                            // `local.get L; i32.const X; i32.add` becomes
                            // `global.get GOT; i32.const addend; i32.add`, the
                            // addend's LEB as long as L's was.
                            let room = at - 1 - start - 1 - 1;
                            let addend = padded_sleb(entry.addend, room).ok_or_else(|| {
                                direct("an offset too large to fit where the local was read")
                            })?;
                            code[start] = GLOBAL_GET;
                            code[start + 1..start + 1 + PADDED]
                                .copy_from_slice(&[0x80, 0x80, 0x80, 0x80, 0]);
                            code[start + 1 + PADDED] = I32_CONST;
                            code[start + 2 + PADDED..start + 2 + PADDED + room]
                                .copy_from_slice(&addend);
                            code[start + 2 + PADDED + room] = I32_ADD;
                            entries[i] = RelocationEntry {
                                ty: RelocationType::GlobalIndexLeb,
                                offset: start as u32 + 1,
                                index: entry.index,
                                addend: 0,
                            };
                        }
                    }
                }
                _ => return Err(direct("not a `__memory_base + offset` address")),
            }
        }
        let kept = entries
            .into_iter()
            .enumerate()
            .filter(|(i, _)| !dropped.contains(i))
            .map(|(_, e)| e)
            .collect();
        relocs.insert(*at, kept);
    }

    let mut module = wasm_encoder::Module::new();
    for (i, section) in object.sections.iter().enumerate() {
        if Some(i) == object.code {
            module.section(&wasm_encoder::RawSection {
                id: section.id,
                data: &code,
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
                data: relink(section.payload, &object.symbols, &bind)?.into(),
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

/// How `__memory_base` is added to an `i32.const X` (REL_SLEB).
#[derive(Debug, PartialEq, Eq)]
enum Shape {
    /// `i32.const X; global.get __memory_base; i32.add` or the `global.get`
    /// first: the relocation entry of that `global.get`.
    GlobalGet(usize),
    /// `local.get L; i32.const X; i32.add` where the function set `L` from
    /// `global.get __memory_base` (how rustc's O0 code reuses the base): where
    /// the `local.get` starts.
    Local { start: usize },
}

/// The shape around the `i32.const` whose immediate is at `offset` (see
/// [`Shape`]); `Err` says why it is none of them.
fn base_plus_offset(
    code: &[u8],
    entries: &[RelocationEntry],
    by_offset: &HashMap<u32, usize>,
    memory_base: &BTreeSet<u32>,
    bodies: &[std::ops::Range<usize>],
    offset: u32,
) -> Result<Shape, String> {
    let at = offset as usize;
    let byte = |i: usize| code.get(i).copied();
    if at == 0 || byte(at - 1) != Some(I32_CONST) {
        return Err("not an i32.const".into());
    }
    let is_base = |reloc_at: usize| {
        let i = *by_offset.get(&(reloc_at as u32))?;
        let entry = entries[i];
        (entry.ty == RelocationType::GlobalIndexLeb && memory_base.contains(&entry.index))
            .then_some(i)
    };
    let after = at + PADDED;
    if byte(after) == Some(GLOBAL_GET) && byte(after + 1 + PADDED) == Some(I32_ADD) {
        if let Some(i) = is_base(after + 1) {
            return Ok(Shape::GlobalGet(i));
        }
    }
    if byte(after) == Some(I32_ADD) {
        if at >= 2 + PADDED && byte(at - 2 - PADDED) == Some(GLOBAL_GET) {
            if let Some(i) = is_base(at - 1 - PADDED) {
                return Ok(Shape::GlobalGet(i));
            }
        }
        // local.get L (L's LEB ends right before the i32.const)
        for len in 1..=PADDED {
            let Some(start) = at.checked_sub(2 + len) else {
                break;
            };
            if byte(start) != Some(LOCAL_GET) {
                continue;
            }
            let Some((local, read)) = uleb(&code[start + 1..]) else {
                continue;
            };
            if read != len {
                continue;
            }
            let body = bodies.iter().find(|b| b.contains(&at));
            let set_from_base = entries.iter().any(|e| {
                let g = e.offset as usize;
                e.ty == RelocationType::GlobalIndexLeb
                    && memory_base.contains(&e.index)
                    && body.is_some_and(|b| b.contains(&g))
                    && matches!(byte(g + PADDED), Some(LOCAL_SET | LOCAL_TEE))
                    && uleb(&code[g + PADDED + 1..]).is_some_and(|(l, _)| l == local)
            });
            if set_from_base {
                return Ok(Shape::Local { start });
            }
        }
    }
    Err("an i32.const not added to __memory_base next to it".into())
}

/// An unsigned LEB at the start of `bytes`: its value and length.
fn uleb(bytes: &[u8]) -> Option<(u32, usize)> {
    let mut reader = BinaryReader::new(bytes, 0);
    let value = reader.read_var_u32().ok()?;
    Some((value, reader.current_position()))
}

/// `value` as a signed LEB of exactly `len` bytes, if it fits.
fn padded_sleb(value: i64, len: usize) -> Option<Vec<u8>> {
    let bits = 7 * len as u32;
    let fits = bits >= 64 || (value >= -(1i64 << (bits - 1)) && value < (1i64 << (bits - 1)));
    if !fits || len == 0 {
        return None;
    }
    let mut out = vec![0u8; len];
    let mut v = value;
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = (v & 0x7f) as u8;
        v >>= 7;
        if i + 1 < len {
            *byte |= 0x80;
        }
    }
    Some(out)
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
            encode_symbols(symbols, undefine, &mut table);
            table.as_slice().encode(&mut data);
        } else {
            body.encode(&mut data);
        }
    }
    Ok(data)
}

/// The symbol table in the tool-conventions encoding (wasm-encoder's
/// `SymbolTable` has no section or tag symbols, which Rust objects have).
fn encode_symbols(symbols: &[SymbolInfo<'_>], undefine: &HashMap<u32, &str>, out: &mut Vec<u8>) {
    (symbols.len() as u32).encode(out);
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
