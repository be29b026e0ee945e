//! The stub object that defines the base's thread-locals for a patch, and
//! what the shared object rewrite (`hotswap_link::wasm`) needs to know of the
//! base.
//!
//! Why (DESIGN.md 2.3): a recompiled crate defines its statics and
//! thread-locals again. `hotswap_link::wasm::rewrite` turns each data symbol
//! the base also has (same mangled name, same size) into an *undefined*
//! symbol, so the linker binds the patch to the base's copy:
//!
//! * a thread-local, through [`tls_stub`], which defines every base
//!   thread-local the patch refers to at its base offset, in a TLS segment laid
//!   out exactly like the base's; with the patch's `__tls_base` equal to the
//!   thread's, the patch reads and writes the thread's own values;
//! * a writable static, through a `GOT.mem` import that [`crate::patch`]
//!   resolves to the base's address. Code that reaches such a static without
//!   the GOT (`__memory_base + X`, how position-independent code reaches a
//!   static it treats as local) is rewritten to go through it; a reference
//!   that cannot be rewritten refuses the patch (a rebuild), naming the static.

use std::collections::BTreeSet;

use wasmparser::SymbolFlags;

use crate::layout::BaseLayout;
use crate::wasm::{assemble, custom_payload, leb_u32};
use crate::Error;

impl hotswap_link::wasm::Base for BaseLayout {
    fn static_size(&self, name: &str) -> Option<u32> {
        self.data.get(name).map(|sym| sym.size)
    }
    fn thread_local_size(&self, name: &str) -> Option<u32> {
        self.tls.get(name).map(|sym| sym.size)
    }
    fn static_names(&self) -> Box<dyn Iterator<Item = &str> + '_> {
        Box::new(self.data.keys().map(String::as_str))
    }
}

const SYMBOL_TABLE: u8 = 8;
const SEGMENT_INFO: u8 = 5;

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
    // data section: one active segment, the image of [`stub_image`].
    let mut data = Vec::new();
    leb_u32(&mut data, 1);
    data.push(0x00);
    data.extend_from_slice(&[0x41, 0x00, 0x0b]); // i32.const 0; end
    leb_u32(&mut data, base.tls_size);
    data.extend_from_slice(&stub_image(base.tls_size));
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

/// The bytes of the stub's `.tdata` segment. Nothing ever reads them: a
/// patch works on each thread's own TLS block, never on its own image. So
/// they carry a pattern by which `patch::check_tls_layout` sees where the
/// linker put the segment, whatever shape the compiler gave the code that
/// reaches the thread-locals.
pub fn stub_image(size: u32) -> Vec<u8> {
    (0..size)
        .map(|i| (i.wrapping_mul(0x9e37_79b1) >> 24) as u8 | 1)
        .collect()
}

struct SegmentFlags;
impl SegmentFlags {
    const TLS: u32 = 0x2;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::{DataSym, TlsSym};
    use crate::wasm::raw_sections;
    use hotswap_link::wasm::{plan, rewrite, RewriteError, Unbindable};
    use wasmparser::{KnownCustom, Linking, Parser, Payload, RelocationType, SymbolInfo};

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
        // The segments' names: only writable statics (.data, .bss) are bound.
        let mut info = Vec::new();
        leb_u32(&mut info, 3);
        for (name, flags) in [
            (".tdata._RTLS_VAL", 2),
            (".data._RSTATIC_GOT", 0),
            (".bss._RSTATIC_LOCAL", 0),
        ] {
            string(&mut info, name);
            leb_u32(&mut info, 2);
            leb_u32(&mut info, flags);
        }
        linking.push(SEGMENT_INFO);
        leb_u32(&mut linking, info.len() as u32);
        linking.extend_from_slice(&info);
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
    fn thread_locals_and_statics_of_the_base_bind_to_it() {
        // _RSTATIC_LOCAL is new since the base was built: the patch's own.
        let mut base = base();
        base.data.remove("_RSTATIC_LOCAL");
        let object = object();
        let plan = plan([object.as_slice()], &base).unwrap();
        let rewritten = rewrite(&object, &base, &plan).unwrap();
        assert_eq!(rewritten.bound, ["_RTLS_VAL", "_RSTATIC_GOT"]);
        assert_eq!(rewritten.fresh, ["_RSTATIC_LOCAL"]);
        assert_eq!(
            rewritten.tls_refs.iter().collect::<Vec<_>>(),
            ["_RTLS_STD", "_RTLS_VAL"]
        );
        let bytes = rewritten.bytes.unwrap();
        assert_eq!(
            data_symbols(&bytes),
            [
                ("_RTLS_VAL".to_string(), false),
                ("_RSTATIC_GOT".to_string(), false),
                ("_RSTATIC_LOCAL".to_string(), true),
                ("_RTLS_STD".to_string(), false),
            ]
        );
        // Still a module wasmparser reads end to end.
        for payload in Parser::new(0).parse_all(&bytes) {
            payload.unwrap();
        }
    }

    #[test]
    fn a_static_of_the_base_reached_directly_refuses_the_patch() {
        // Once a silent second copy (the static stayed the patch's own): its
        // only reference is a __memory_base-relative offset that is not in a
        // shape that can be pointed at the GOT.
        let (object, base) = (object(), base());
        let plan = plan([object.as_slice()], &base).unwrap();
        let err = rewrite(&object, &base, &plan).unwrap_err();
        let RewriteError::Unbindable(Unbindable::DirectAccess { name, .. }) = &err else {
            panic!("{err:?}");
        };
        assert_eq!(name, "_RSTATIC_LOCAL");
        assert!(err.to_string().contains("_RSTATIC_LOCAL"), "{err}");
    }

    #[test]
    fn a_new_thread_local_or_a_resized_static_is_unpatchable() {
        let mut base = base();
        base.tls.remove("_RTLS_VAL");
        let object = object();
        let statics = plan([object.as_slice()], &base).unwrap();
        assert_eq!(
            rewrite(&object, &base, &statics).unwrap_err(),
            RewriteError::Unbindable(Unbindable::NewThreadLocal("_RTLS_VAL".into()))
        );
        let mut base = self::base();
        base.data.insert(
            "_RSTATIC_GOT".into(),
            DataSym {
                address: 5000,
                size: 8,
            },
        );
        let err = plan([object.as_slice()], &base).unwrap_err();
        assert_eq!(
            err,
            RewriteError::Unbindable(Unbindable::SizeChanged {
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
                        assert_eq!(data.unwrap().data, stub_image(64));
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
