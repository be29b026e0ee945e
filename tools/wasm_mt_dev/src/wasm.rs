//! A read-only view of a wasm module (wasmparser), and raw section splicing.
//!
//! Reading is done with wasmparser rather than walrus because the facts we need
//! are about *indices as they are in the file*: table slots, function indices of
//! the `linking` symbol table, data segment numbers. walrus renumbers things.

use std::collections::HashMap;

use wasmparser::{
    ConstExpr, DataKind, ElementItems, ElementKind, ExternalKind, FunctionBody, KnownCustom, Name,
    Operator, Parser, Payload, TypeRef,
};

use crate::Error;

/// One import, as written in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Import {
    pub module: String,
    pub name: String,
    pub kind: ImportKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportKind {
    Func,
    Table,
    Memory { shared: bool, maximum: Option<u64> },
    Global { mutable: bool },
    Tag,
}

/// An active element segment: where it starts in the table and which functions it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Elements {
    /// `None` when the offset is not a constant (a patch's `global.get $__table_base`).
    pub offset: Option<u32>,
    pub funcs: Vec<u32>,
}

/// A data segment: its name (from the name section), when active its
/// address, and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment<'a> {
    pub name: Option<String>,
    pub active_offset: Option<u32>,
    pub data: &'a [u8],
}

/// What we read out of a module in one pass.
pub struct ModuleView<'a> {
    pub imports: Vec<Import>,
    pub imported_funcs: u32,
    pub imported_globals: u32,
    /// Defined globals whose initialiser is an `i32.const`, by global index.
    pub global_consts: HashMap<u32, i32>,
    pub exports: Vec<(String, ExternalKind, u32)>,
    pub func_names: HashMap<u32, String>,
    pub global_names: HashMap<u32, String>,
    pub elements: Vec<Elements>,
    pub segments: Vec<Segment<'a>>,
    pub start: Option<u32>,
    /// Bodies of the functions defined in the module, by function index.
    pub bodies: HashMap<u32, FunctionBody<'a>>,
    /// Custom sections other than `name`, by name (the last one wins).
    pub customs: HashMap<String, &'a [u8]>,
}

impl<'a> ModuleView<'a> {
    pub fn parse(bytes: &'a [u8]) -> Result<ModuleView<'a>, Error> {
        let mut view = ModuleView {
            imports: Vec::new(),
            imported_funcs: 0,
            imported_globals: 0,
            global_consts: HashMap::new(),
            exports: Vec::new(),
            func_names: HashMap::new(),
            global_names: HashMap::new(),
            elements: Vec::new(),
            segments: Vec::new(),
            start: None,
            bodies: HashMap::new(),
            customs: HashMap::new(),
        };
        let mut next_body = 0;
        for payload in Parser::new(0).parse_all(bytes) {
            match payload? {
                Payload::ImportSection(reader) => {
                    for import in reader.into_imports() {
                        let import = import?;
                        let kind = match import.ty {
                            TypeRef::Func(_) | TypeRef::FuncExact(_) => {
                                view.imported_funcs += 1;
                                ImportKind::Func
                            }
                            TypeRef::Table(_) => ImportKind::Table,
                            TypeRef::Memory(memory) => ImportKind::Memory {
                                shared: memory.shared,
                                maximum: memory.maximum,
                            },
                            TypeRef::Global(global) => {
                                view.imported_globals += 1;
                                ImportKind::Global {
                                    mutable: global.mutable,
                                }
                            }
                            TypeRef::Tag(_) => ImportKind::Tag,
                        };
                        view.imports.push(Import {
                            module: import.module.to_string(),
                            name: import.name.to_string(),
                            kind,
                        });
                    }
                    next_body = view.imported_funcs;
                }
                Payload::ExportSection(reader) => {
                    for export in reader {
                        let export = export?;
                        view.exports
                            .push((export.name.to_string(), export.kind, export.index));
                    }
                }
                Payload::GlobalSection(reader) => {
                    for (i, global) in reader.into_iter().enumerate() {
                        let global = global?;
                        if let Some(value) = const_i32(&global.init_expr) {
                            view.global_consts
                                .insert(view.imported_globals + i as u32, value as i32);
                        }
                    }
                }
                Payload::StartSection { func, .. } => view.start = Some(func),
                Payload::ElementSection(reader) => {
                    for element in reader {
                        let element = element?;
                        let ElementKind::Active { offset_expr, .. } = element.kind else {
                            continue;
                        };
                        let ElementItems::Functions(funcs) = element.items else {
                            continue;
                        };
                        view.elements.push(Elements {
                            offset: const_i32(&offset_expr),
                            funcs: funcs.into_iter().collect::<Result<_, _>>()?,
                        });
                    }
                }
                Payload::DataSection(reader) => {
                    for data in reader {
                        let data = data?;
                        let active_offset = match data.kind {
                            DataKind::Active { offset_expr, .. } => const_i32(&offset_expr),
                            DataKind::Passive => None,
                        };
                        view.segments.push(Segment {
                            name: None,
                            active_offset,
                            data: data.data,
                        });
                    }
                }
                Payload::CodeSectionEntry(body) => {
                    view.bodies.insert(next_body, body);
                    next_body += 1;
                }
                Payload::CustomSection(section) => match section.as_known() {
                    KnownCustom::Name(names) => {
                        for name in names {
                            match name? {
                                Name::Function(map) => {
                                    for naming in map {
                                        let naming = naming?;
                                        view.func_names
                                            .insert(naming.index, naming.name.to_string());
                                    }
                                }
                                Name::Global(map) => {
                                    for naming in map {
                                        let naming = naming?;
                                        view.global_names
                                            .insert(naming.index, naming.name.to_string());
                                    }
                                }
                                Name::Data(map) => {
                                    for naming in map {
                                        let naming = naming?;
                                        let index = naming.index as usize;
                                        if view.segments.len() <= index {
                                            view.segments.resize(
                                                index + 1,
                                                Segment {
                                                    name: None,
                                                    active_offset: None,
                                                    data: &[],
                                                },
                                            );
                                        }
                                        view.segments[index].name = Some(naming.name.to_string());
                                    }
                                }
                                _ => {}
                            }
                        }
                    }
                    _ => {
                        view.customs
                            .insert(section.name().to_string(), section.data());
                    }
                },
                _ => {}
            }
        }
        Ok(view)
    }

    pub fn func_by_name(&self, name: &str) -> Option<u32> {
        self.func_names
            .iter()
            .find(|(_, n)| n.as_str() == name)
            .map(|(index, _)| *index)
    }

    /// The value of an exported immutable `i32.const` global.
    pub fn exported_const(&self, name: &str) -> Option<i32> {
        match self.exported(name)? {
            (ExternalKind::Global, index) => self.global_consts.get(&index).copied(),
            _ => None,
        }
    }

    pub fn exported(&self, name: &str) -> Option<(ExternalKind, u32)> {
        self.exports
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, kind, index)| (*kind, *index))
    }

    /// Function index -> table slot, for every function in an active element
    /// segment with a constant offset (the base's table).
    pub fn table_slots(&self) -> HashMap<u32, u32> {
        let mut slots = HashMap::new();
        for elements in &self.elements {
            let Some(offset) = elements.offset else {
                continue;
            };
            for (i, func) in elements.funcs.iter().enumerate() {
                slots.entry(*func).or_insert(offset + i as u32);
            }
        }
        slots
    }
}

fn const_i32(expr: &ConstExpr<'_>) -> Option<u32> {
    let mut ops = expr.get_operators_reader();
    match ops.read().ok()? {
        Operator::I32Const { value } => Some(value as u32),
        _ => None,
    }
}

/// The `dylink.0` memory information of a position-independent module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemInfo {
    pub memory_size: u32,
    pub memory_alignment: u32,
    pub table_size: u32,
    pub table_alignment: u32,
}

pub fn dylink_mem_info(bytes: &[u8]) -> Result<Option<MemInfo>, Error> {
    for payload in Parser::new(0).parse_all(bytes) {
        if let Payload::CustomSection(section) = payload? {
            if let KnownCustom::Dylink0(reader) = section.as_known() {
                for sub in reader {
                    if let wasmparser::Dylink0Subsection::MemInfo(info) = sub? {
                        return Ok(Some(MemInfo {
                            memory_size: info.memory_size,
                            memory_alignment: info.memory_alignment,
                            table_size: info.table_size,
                            table_alignment: info.table_alignment,
                        }));
                    }
                }
            }
        }
    }
    Ok(None)
}

/// One section of a module as raw bytes, for splicing without re-encoding
/// (shared with hotswap_link's object rewriter).
pub use hotswap_link::wasm::{raw_sections, RawSection};

/// The module header followed by `sections`.
pub fn assemble<'a>(sections: impl IntoIterator<Item = (u8, &'a [u8])>) -> Vec<u8> {
    let mut out = b"\0asm\x01\0\0\0".to_vec();
    for (id, payload) in sections {
        out.push(id);
        leb_u32(&mut out, payload.len() as u32);
        out.extend_from_slice(payload);
    }
    out
}

/// A custom section's payload: its name, then `data`.
pub fn custom_payload(name: &str, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    leb_u32(&mut out, name.len() as u32);
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(data);
    out
}

pub fn leb_u32(out: &mut Vec<u8>, mut value: u32) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Moves the `dylink.0` section to the front, where the dynamic-linking
/// convention wants it (walrus writes custom sections at the end).
pub fn dylink_first(bytes: &[u8]) -> Result<Vec<u8>, Error> {
    let sections = raw_sections(bytes)?;
    let (dylink, rest): (Vec<_>, Vec<_>) = sections
        .into_iter()
        .partition(|s| s.custom_name == Some("dylink.0"));
    Ok(assemble(
        dylink.iter().chain(rest.iter()).map(|s| (s.id, s.payload)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_names_tables_segments_and_imports() {
        let wasm = wat::parse_str(
            r#"(module
                (import "env" "memory" (memory 1 100 shared))
                (import "env" "f" (func $f))
                (import "env" "__stack_pointer" (global (mut i32)))
                (table 4 funcref)
                (func $a) (func $b)
                (elem (i32.const 1) func $a $b $f)
                (data $.rodata "abc")
                (data $.data (i32.const 64) "xy")
                (start $a)
                (export "b" (func $b)))"#,
        )
        .unwrap();
        let view = ModuleView::parse(&wasm).unwrap();
        assert_eq!(view.imported_funcs, 1);
        assert_eq!(
            view.imports[0].kind,
            ImportKind::Memory {
                shared: true,
                maximum: Some(100)
            }
        );
        assert_eq!(view.func_by_name("a"), Some(1));
        assert_eq!(view.start, Some(1));
        let slots = view.table_slots();
        assert_eq!((slots[&1], slots[&2], slots[&0]), (1, 2, 3));
        assert_eq!(view.segments[0].name.as_deref(), Some(".rodata"));
        assert_eq!(view.segments[0].active_offset, None);
        assert_eq!(view.segments[1].active_offset, Some(64));
        assert_eq!(view.exported("b"), Some((ExternalKind::Func, 2)));
    }

    #[test]
    fn sections_round_trip_and_dylink_moves_first() {
        let wasm = wat::parse_str(
            r#"(module (func $a) (@custom "dylink.0" (after code) "\01\04\10\02\00\00"))"#,
        )
        .unwrap();
        let sections = raw_sections(&wasm).unwrap();
        assert_eq!(assemble(sections.iter().map(|s| (s.id, s.payload))), wasm);
        let moved = dylink_first(&wasm).unwrap();
        assert_eq!(
            raw_sections(&moved).unwrap()[0].custom_name,
            Some("dylink.0")
        );
        assert_eq!(
            dylink_mem_info(&moved).unwrap(),
            Some(MemInfo {
                memory_size: 16,
                memory_alignment: 2,
                table_size: 0,
                table_alignment: 0
            })
        );
    }
}
