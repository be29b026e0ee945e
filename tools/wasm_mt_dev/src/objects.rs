//! Rewriting the patch's object files so that it shares the base's statics and
//! thread-locals, and the stub object that defines the base's thread-locals.
//!
//! Why (DESIGN.md 2.3): a recompiled crate defines its statics and
//! thread-locals again. A data symbol the base also has (same mangled name, same
//! size) is turned into an *undefined* symbol here, so the linker binds the
//! patch to the base's copy:
//!
//! * a thread-local, through [`tls_stub`], which defines every base
//!   thread-local the patch refers to at its base offset, in a TLS segment laid
//!   out exactly like the base's; with the patch's `__tls_base` equal to the
//!   thread's, the patch reads and writes the thread's own values;
//! * a plain static, through a `GOT.mem` import that [`crate::patch`] resolves to
//!   the base's address; only when every reference to it already goes through
//!   the GOT (position-independent code reaches a symbol it treats as local with
//!   `__memory_base`-relative offsets, which cannot point into the base).

use std::collections::{BTreeSet, HashMap};

use wasmparser::{
    BinaryReader, KnownCustom, Linking, Parser, Payload, RelocationType, SymbolFlags, SymbolInfo,
};

use crate::layout::BaseLayout;
use crate::wasm::{assemble, custom_payload, leb_u32, raw_sections};
use crate::Error;

/// A save whose objects cannot be patched onto the base: needs a rebuild.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unpatchable {
    NewThreadLocal(String),
    SizeChanged { name: String, base: u32, now: u32 },
}

impl std::fmt::Display for Unpatchable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unpatchable::NewThreadLocal(name) => write!(
                f,
                "a new thread-local ({}) needs a TLS slot the running threads do not have",
                crate::patch::readable(name)
            ),
            Unpatchable::SizeChanged { name, base, now } => write!(
                f,
                "{} changed size ({base} -> {now} bytes): its layout changed",
                crate::patch::readable(name)
            ),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectError {
    Unpatchable(Unpatchable),
    Tool(Error),
}

impl From<Error> for ObjectError {
    fn from(e: Error) -> ObjectError {
        ObjectError::Tool(e)
    }
}

impl From<wasmparser::BinaryReaderError> for ObjectError {
    fn from(e: wasmparser::BinaryReaderError) -> ObjectError {
        ObjectError::Tool(e.into())
    }
}

/// One rewritten object.
#[derive(Debug, Default)]
pub struct Rewritten {
    pub bytes: Vec<u8>,
    /// Names of the data symbols now bound to the base.
    pub rebound: Vec<String>,
    /// Thread-locals this object refers to without defining them (now).
    pub tls_refs: BTreeSet<String>,
    /// The object's `target_features` section, for the stub.
    pub target_features: Option<Vec<u8>>,
}

const UNBIND: u32 = SymbolFlags::BINDING_LOCAL.bits()
    | SymbolFlags::VISIBILITY_HIDDEN.bits()
    | SymbolFlags::BINDING_WEAK.bits()
    | SymbolFlags::EXPORTED.bits()
    | SymbolFlags::NO_STRIP.bits();

fn is_rust_path(name: &str) -> bool {
    name.starts_with("_R") || name.starts_with("_ZN")
}

/// Rewrites one object (see the module comment).
pub fn rewrite(bytes: &[u8], base: &BaseLayout) -> Result<Rewritten, ObjectError> {
    let mut symbols: Vec<SymbolInfo<'_>> = Vec::new();
    let mut relocs: Vec<(RelocationType, u32)> = Vec::new();
    let mut target_features = None;
    for payload in Parser::new(0).parse_all(bytes) {
        let Payload::CustomSection(section) = payload? else {
            continue;
        };
        if section.name() == "target_features" {
            target_features = Some(section.data().to_vec());
        }
        match section.as_known() {
            KnownCustom::Linking(linking) => {
                for sub in linking.subsections() {
                    if let Linking::SymbolTable(table) = sub? {
                        for symbol in table {
                            symbols.push(symbol?);
                        }
                    }
                }
            }
            KnownCustom::Reloc(reloc) => {
                for entry in reloc.entries() {
                    let entry = entry?;
                    relocs.push((entry.ty, entry.index));
                }
            }
            _ => {}
        }
    }

    // Symbols some reference reaches without the GOT.
    let direct: BTreeSet<u32> = relocs
        .iter()
        .filter(|(ty, _)| {
            !matches!(
                ty,
                RelocationType::GlobalIndexLeb
                    | RelocationType::GlobalIndexI32
                    | RelocationType::MemoryAddrI32
                    | RelocationType::MemoryAddrI64
            )
        })
        .map(|(_, index)| *index)
        .collect();

    let mut out = Rewritten {
        target_features,
        ..Rewritten::default()
    };
    let mut new_flags: HashMap<usize, u32> = HashMap::new();
    for (i, symbol) in symbols.iter().enumerate() {
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
            let Some(known) = base.tls.get(*name) else {
                return Err(ObjectError::Unpatchable(Unpatchable::NewThreadLocal(
                    name.to_string(),
                )));
            };
            if known.size != def.size {
                return Err(size_changed(name, known.size, def.size));
            }
            out.tls_refs.insert(name.to_string());
        } else {
            if !is_rust_path(name) {
                continue;
            }
            let Some(known) = base.data.get(*name) else {
                continue;
            };
            if known.size != def.size {
                return Err(size_changed(name, known.size, def.size));
            }
            if direct.contains(&(i as u32)) {
                continue;
            }
        }
        new_flags.insert(i, (flags.bits() & !UNBIND) | SymbolFlags::UNDEFINED.bits());
        out.rebound.push(name.to_string());
    }

    out.bytes = if new_flags.is_empty() {
        bytes.to_vec()
    } else {
        replace_linking(bytes, |table_bytes| {
            encode_symbols(&symbols, &new_flags, table_bytes)
        })?
    };
    Ok(out)
}

fn size_changed(name: &str, base: u32, now: u32) -> ObjectError {
    ObjectError::Unpatchable(Unpatchable::SizeChanged {
        name: name.to_string(),
        base,
        now,
    })
}

const SYMBOL_TABLE: u8 = 8;
const SEGMENT_INFO: u8 = 5;

/// Copies the module, re-encoding the symbol table subsection of `linking` with
/// `encode` and every other subsection byte for byte.
fn replace_linking(bytes: &[u8], encode: impl Fn(&mut Vec<u8>)) -> Result<Vec<u8>, Error> {
    let sections = raw_sections(bytes)?;
    let mut payloads: Vec<(u8, Vec<u8>)> = Vec::new();
    for section in &sections {
        if section.custom_name != Some("linking") {
            payloads.push((section.id, section.payload.to_vec()));
            continue;
        }
        let mut reader = BinaryReader::new(section.payload, 0);
        reader.read_string()?;
        let version = reader.read_var_u32()?;
        let mut data = Vec::new();
        leb_u32(&mut data, version);
        while !reader.eof() {
            let kind = reader.read_u8()?;
            let len = reader.read_var_u32()? as usize;
            let body = reader.read_bytes(len)?;
            data.push(kind);
            if kind == SYMBOL_TABLE {
                let mut table = Vec::new();
                encode(&mut table);
                leb_u32(&mut data, table.len() as u32);
                data.extend_from_slice(&table);
            } else {
                leb_u32(&mut data, body.len() as u32);
                data.extend_from_slice(body);
            }
        }
        payloads.push((0, custom_payload("linking", &data)));
    }
    Ok(assemble(payloads.iter().map(|(id, p)| (*id, p.as_slice()))))
}

/// The symbol table in the tool-conventions encoding, with `new_flags` applied
/// (an undefined data symbol keeps only its name).
fn encode_symbols(symbols: &[SymbolInfo<'_>], new_flags: &HashMap<usize, u32>, out: &mut Vec<u8>) {
    leb_u32(out, symbols.len() as u32);
    for (i, symbol) in symbols.iter().enumerate() {
        let indexed =
            |out: &mut Vec<u8>, kind: u8, flags: SymbolFlags, index: u32, name: Option<&str>| {
                out.push(kind);
                leb_u32(out, flags.bits());
                leb_u32(out, index);
                if let Some(name) = name {
                    string(out, name);
                }
            };
        match *symbol {
            SymbolInfo::Func { flags, index, name } => indexed(out, 0, flags, index, name),
            SymbolInfo::Global { flags, index, name } => indexed(out, 2, flags, index, name),
            SymbolInfo::Event { flags, index, name } => indexed(out, 4, flags, index, name),
            SymbolInfo::Table { flags, index, name } => indexed(out, 5, flags, index, name),
            SymbolInfo::Section { flags, section } => {
                out.push(3);
                leb_u32(out, flags.bits());
                leb_u32(out, section);
            }
            SymbolInfo::Data {
                flags,
                name,
                symbol,
            } => {
                out.push(1);
                let flags = new_flags.get(&i).copied().unwrap_or(flags.bits());
                leb_u32(out, flags);
                string(out, name);
                if flags & SymbolFlags::UNDEFINED.bits() == 0 {
                    if let Some(def) = symbol {
                        leb_u32(out, def.index);
                        leb_u32(out, def.offset);
                        leb_u32(out, def.size);
                    }
                }
            }
        }
    }
}

fn string(out: &mut Vec<u8>, s: &str) {
    leb_u32(out, s.len() as u32);
    out.extend_from_slice(s.as_bytes());
}

/// An object defining each of `names` (base thread-locals) at its base offset in
/// one `.tdata` segment the size of the base's TLS block. Linked first, its
/// segment starts the patch's TLS block, so those offsets match the base's.
pub fn tls_stub(
    names: &BTreeSet<String>,
    base: &BaseLayout,
    target_features: Option<&[u8]>,
) -> Result<Vec<u8>, Error> {
    let mut sections: Vec<(u8, Vec<u8>)> = Vec::new();
    // import section: env.__linear_memory, as every relocatable object has.
    let mut imports = Vec::new();
    leb_u32(&mut imports, 1);
    string(&mut imports, "env");
    string(&mut imports, "__linear_memory");
    imports.push(0x02); // memory
    imports.push(0x00); // limits: min only
    leb_u32(&mut imports, 1);
    sections.push((2, imports));
    // data section: one active segment of zeros (its contents are never used).
    let mut data = Vec::new();
    leb_u32(&mut data, 1);
    data.push(0x00);
    data.extend_from_slice(&[0x41, 0x00, 0x0b]); // i32.const 0; end
    leb_u32(&mut data, base.tls_size);
    data.resize(data.len() + base.tls_size as usize, 0);
    sections.push((11, data));

    let mut linking = Vec::new();
    leb_u32(&mut linking, 2);
    let mut table = Vec::new();
    let mut count = 0;
    let mut entries = Vec::new();
    for name in names {
        let Some(sym) = base.tls.get(name) else {
            return Err(Error::msg(format!(
                "the patch refers to a thread-local the base does not have: {}",
                crate::patch::readable(name)
            )));
        };
        entries.push(1u8);
        leb_u32(&mut entries, SymbolFlags::TLS.bits());
        string(&mut entries, name);
        leb_u32(&mut entries, 0);
        leb_u32(&mut entries, sym.offset);
        leb_u32(&mut entries, sym.size);
        count += 1;
    }
    leb_u32(&mut table, count);
    table.extend_from_slice(&entries);
    linking.push(SYMBOL_TABLE);
    leb_u32(&mut linking, table.len() as u32);
    linking.extend_from_slice(&table);
    let mut info = Vec::new();
    leb_u32(&mut info, 1);
    string(&mut info, ".tdata");
    leb_u32(&mut info, base.tls_align_log2);
    leb_u32(&mut info, SegmentFlags::TLS);
    linking.push(SEGMENT_INFO);
    leb_u32(&mut linking, info.len() as u32);
    linking.extend_from_slice(&info);
    sections.push((0, custom_payload("linking", &linking)));
    if let Some(features) = target_features {
        sections.push((0, custom_payload("target_features", features)));
    }
    Ok(assemble(sections.iter().map(|(id, p)| (*id, p.as_slice()))))
}

struct SegmentFlags;
impl SegmentFlags {
    const TLS: u32 = 0x2;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::{DataSym, TlsSym};

    /// A relocatable object as LLVM writes one: a TLS variable, a static reached
    /// through the GOT, a static reached directly, and an undefined TLS variable.
    fn object() -> Vec<u8> {
        // Build the module part with wat, then append linking + reloc sections.
        let module = wat::parse_str(
            r#"(module
                (import "env" "__linear_memory" (memory 1))
                (import "env" "__tls_base" (global $tb (mut i32)))
                (import "GOT.mem" "_RSTATIC_GOT" (global $got (mut i32)))
                (func $f (result i32)
                  global.get $tb
                  i32.const 0
                  i32.add
                  global.get $got
                  i32.add)
                (data (i32.const 0) "\01\00\00\00")
                (data (i32.const 4) "\02\00\00\00")
                (data (i32.const 8) "\03\00\00\00\00\00\00\00"))"#,
        )
        .unwrap();
        let mut symbols = Vec::new();
        let mut count = 0;
        let mut sym = |bytes: &mut Vec<u8>, kind: u8, flags: u32, rest: &dyn Fn(&mut Vec<u8>)| {
            bytes.push(kind);
            leb_u32(bytes, flags);
            rest(bytes);
            count += 1;
        };
        // 0: function $f (defined, named)
        sym(&mut symbols, 0, 0, &|b| {
            leb_u32(b, 0);
            string(b, "_Rf");
        });
        // 1: TLS variable, local, defined in segment 0
        sym(&mut symbols, 1, 0x100 | 0x2, &|b| {
            string(b, "_RTLS_VAL");
            leb_u32(b, 0);
            leb_u32(b, 0);
            leb_u32(b, 4);
        });
        // 2: static reached through the GOT, defined in segment 1
        sym(&mut symbols, 1, 0, &|b| {
            string(b, "_RSTATIC_GOT");
            leb_u32(b, 1);
            leb_u32(b, 0);
            leb_u32(b, 4);
        });
        // 3: static reached directly (MEMORY_ADDR_REL_SLEB), segment 2
        sym(&mut symbols, 1, 0x2, &|b| {
            string(b, "_RSTATIC_LOCAL");
            leb_u32(b, 2);
            leb_u32(b, 0);
            leb_u32(b, 8);
        });
        // 4: undefined TLS variable of the base
        sym(&mut symbols, 1, 0x100 | 0x10, &|b| string(b, "_RTLS_STD"));
        let mut table = Vec::new();
        leb_u32(&mut table, count);
        table.extend_from_slice(&symbols);
        let mut linking = Vec::new();
        leb_u32(&mut linking, 2);
        linking.push(SYMBOL_TABLE);
        leb_u32(&mut linking, table.len() as u32);
        linking.extend_from_slice(&table);
        // reloc.DATA-like section: one GOT reference to 2, one direct to 3.
        let mut reloc = Vec::new();
        leb_u32(&mut reloc, 3); // target section index (code); not checked here
        leb_u32(&mut reloc, 2);
        reloc.push(RelocationType::GlobalIndexLeb as u8);
        leb_u32(&mut reloc, 0);
        leb_u32(&mut reloc, 2);
        reloc.push(RelocationType::MemoryAddrRelSleb as u8);
        leb_u32(&mut reloc, 4);
        leb_u32(&mut reloc, 3);
        leb_u32(&mut reloc, 0);
        let mut sections: Vec<(u8, Vec<u8>)> = raw_sections(&module)
            .unwrap()
            .iter()
            .map(|s| (s.id, s.payload.to_vec()))
            .collect();
        sections.push((0, custom_payload("linking", &linking)));
        sections.push((0, custom_payload("reloc.CODE", &reloc)));
        sections.push((0, custom_payload("target_features", b"\x01+\x07atomics")));
        assemble(sections.iter().map(|(id, p)| (*id, p.as_slice())))
    }

    fn base() -> BaseLayout {
        let mut base = BaseLayout {
            tls_size: 64,
            tls_align_log2: 3,
            ..BaseLayout::default()
        };
        base.tls.insert(
            "_RTLS_VAL".into(),
            TlsSym {
                offset: 40,
                size: 4,
            },
        );
        base.tls.insert(
            "_RTLS_STD".into(),
            TlsSym {
                offset: 8,
                size: 16,
            },
        );
        base.data.insert(
            "_RSTATIC_GOT".into(),
            DataSym {
                address: 5000,
                size: 4,
            },
        );
        base.data.insert(
            "_RSTATIC_LOCAL".into(),
            DataSym {
                address: 6000,
                size: 8,
            },
        );
        base
    }

    fn data_symbols(bytes: &[u8]) -> Vec<(String, bool)> {
        let mut out = Vec::new();
        for payload in Parser::new(0).parse_all(bytes) {
            if let Payload::CustomSection(s) = payload.unwrap() {
                if let KnownCustom::Linking(l) = s.as_known() {
                    for sub in l.subsections() {
                        if let Linking::SymbolTable(t) = sub.unwrap() {
                            for sym in t {
                                if let SymbolInfo::Data { name, symbol, .. } = sym.unwrap() {
                                    out.push((name.to_string(), symbol.is_some()));
                                }
                            }
                        }
                    }
                }
            }
        }
        out
    }

    #[test]
    fn thread_locals_and_got_statics_bind_to_the_base_direct_statics_stay() {
        let rewritten = rewrite(&object(), &base()).unwrap();
        assert_eq!(rewritten.rebound, ["_RTLS_VAL", "_RSTATIC_GOT"]);
        assert_eq!(
            rewritten.tls_refs.iter().collect::<Vec<_>>(),
            ["_RTLS_STD", "_RTLS_VAL"]
        );
        assert_eq!(
            data_symbols(&rewritten.bytes),
            [
                ("_RTLS_VAL".to_string(), false),
                ("_RSTATIC_GOT".to_string(), false),
                ("_RSTATIC_LOCAL".to_string(), true),
                ("_RTLS_STD".to_string(), false),
            ]
        );
        // Still a module wasmparser reads end to end.
        for payload in Parser::new(0).parse_all(&rewritten.bytes) {
            payload.unwrap();
        }
    }

    #[test]
    fn a_new_thread_local_or_a_resized_static_is_unpatchable() {
        let mut base = base();
        base.tls.remove("_RTLS_VAL");
        assert_eq!(
            rewrite(&object(), &base).unwrap_err(),
            ObjectError::Unpatchable(Unpatchable::NewThreadLocal("_RTLS_VAL".into()))
        );
        let mut base = self::base();
        base.data.insert(
            "_RSTATIC_GOT".into(),
            DataSym {
                address: 5000,
                size: 8,
            },
        );
        let err = rewrite(&object(), &base).unwrap_err();
        assert_eq!(
            err,
            ObjectError::Unpatchable(Unpatchable::SizeChanged {
                name: "_RSTATIC_GOT".into(),
                base: 8,
                now: 4
            })
        );
    }

    #[test]
    fn the_stub_defines_base_thread_locals_at_their_offsets() {
        let names = ["_RTLS_STD".to_string(), "_RTLS_VAL".to_string()]
            .into_iter()
            .collect();
        let stub = tls_stub(&names, &base(), Some(b"\x01+\x07atomics")).unwrap();
        let mut defined = Vec::new();
        let mut segments = Vec::new();
        for payload in Parser::new(0).parse_all(&stub) {
            match payload.unwrap() {
                Payload::DataSection(reader) => {
                    for data in reader {
                        assert_eq!(data.unwrap().data.len(), 64);
                    }
                }
                Payload::CustomSection(s) => {
                    if let KnownCustom::Linking(l) = s.as_known() {
                        for sub in l.subsections() {
                            match sub.unwrap() {
                                Linking::SymbolTable(t) => {
                                    for sym in t {
                                        if let SymbolInfo::Data {
                                            flags,
                                            name,
                                            symbol: Some(d),
                                        } = sym.unwrap()
                                        {
                                            assert!(flags.contains(SymbolFlags::TLS));
                                            defined.push((name.to_string(), d.offset, d.size));
                                        }
                                    }
                                }
                                Linking::SegmentInfo(info) => {
                                    for seg in info {
                                        let seg = seg.unwrap();
                                        segments.push((
                                            seg.name.to_string(),
                                            seg.alignment,
                                            seg.flags.bits(),
                                        ));
                                    }
                                }
                                _ => {}
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        assert_eq!(
            defined,
            [
                ("_RTLS_STD".to_string(), 8, 16),
                ("_RTLS_VAL".to_string(), 40, 4)
            ]
        );
        assert_eq!(segments, [(".tdata".to_string(), 3, 2)]);
        let unknown = ["_RNOPE".to_string()].into_iter().collect();
        assert!(tls_stub(&unknown, &base(), None).is_err());
    }
}
