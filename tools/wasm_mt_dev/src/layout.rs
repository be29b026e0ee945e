//! Where things are in a linked base module: the table slot of every function
//! (by every symbol name it has), the address of every data symbol, and the
//! offset of every thread-local inside a thread's TLS block.
//!
//! The symbols come from the `linking` section the base keeps (`--emit-relocs`).
//! A shared-memory base initialises its memory from passive segments in
//! `__wasm_init_memory`, so a segment's address is the destination operand of
//! its `memory.init` there; `.bss` has no segment at all and is a `memory.fill`.

use std::collections::HashMap;

use wasmparser::{KnownCustom, Linking, Operator, Parser, Payload, SymbolFlags, SymbolInfo};

use crate::wasm::ModuleView;
use crate::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataSym {
    pub address: u32,
    pub size: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TlsSym {
    /// From the thread's `__tls_base`.
    pub offset: u32,
    pub size: u32,
}

/// The facts a patch is resolved against.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BaseLayout {
    /// Symbol name -> slot in the indirect function table of the *served* module.
    pub slots: HashMap<String, u32>,
    /// Non-TLS data symbol -> absolute address.
    pub data: HashMap<String, DataSym>,
    pub tls: HashMap<String, TlsSym>,
    pub tls_size: u32,
    /// log2 of the TLS block's alignment.
    pub tls_align_log2: u32,
    /// The shared memory's maximum, in pages.
    pub max_memory_pages: u64,
}

/// Symbols of a linked module, by the index of what they name.
#[derive(Debug, Default)]
pub struct Symbols {
    /// Function index -> every symbol name of that function (merged functions have several).
    pub func_aliases: HashMap<u32, Vec<String>>,
    pub data: HashMap<String, DataSym>,
    pub tls: HashMap<String, TlsSym>,
}

/// Reads the `linking` symbol table and the segment addresses of a linked module.
pub fn read_symbols(bytes: &[u8], view: &ModuleView<'_>) -> Result<Symbols, Error> {
    let mut segment_names: Vec<String> = Vec::new();
    let mut raw_symbols = Vec::new();
    for payload in Parser::new(0).parse_all(bytes) {
        let Payload::CustomSection(section) = payload? else {
            continue;
        };
        let KnownCustom::Linking(linking) = section.as_known() else {
            continue;
        };
        for sub in linking.subsections() {
            match sub? {
                Linking::SegmentInfo(segments) => {
                    for segment in segments {
                        segment_names.push(segment?.name.to_string());
                    }
                }
                Linking::SymbolTable(symbols) => {
                    for symbol in symbols {
                        raw_symbols.push(symbol?);
                    }
                }
                _ => {}
            }
        }
    }
    if raw_symbols.is_empty() {
        return Err(Error::msg(
            "the base has no `linking` symbol table: link it with `--emit-relocs`",
        ));
    }
    let addresses = segment_addresses(view)?;
    let mut symbols = Symbols::default();
    for symbol in raw_symbols {
        match symbol {
            SymbolInfo::Func {
                index,
                name: Some(name),
                flags,
            } if !flags.contains(SymbolFlags::UNDEFINED) => {
                symbols
                    .func_aliases
                    .entry(index)
                    .or_default()
                    .push(name.to_string());
            }
            SymbolInfo::Data {
                flags,
                name,
                symbol: Some(def),
            } => {
                let Some(segment) = segment_names.get(def.index as usize) else {
                    continue;
                };
                if flags.contains(SymbolFlags::TLS) || segment.starts_with(".tdata") {
                    symbols.tls.insert(
                        name.to_string(),
                        TlsSym {
                            offset: def.offset,
                            size: def.size,
                        },
                    );
                } else if let Some(base) = addresses.get(segment.as_str()) {
                    symbols.data.insert(
                        name.to_string(),
                        DataSym {
                            address: base + def.offset,
                            size: def.size,
                        },
                    );
                }
            }
            _ => {}
        }
    }
    Ok(symbols)
}

/// Output segment name -> address. Active segments say it themselves; passive
/// ones are found in `__wasm_init_memory` (see the module comment).
pub fn segment_addresses(view: &ModuleView<'_>) -> Result<HashMap<String, u32>, Error> {
    let mut addresses = HashMap::new();
    for segment in &view.segments {
        if let (Some(name), Some(offset)) = (&segment.name, segment.active_offset) {
            addresses.insert(name.clone(), offset);
        }
    }
    let Some(init) = view.func_by_name("__wasm_init_memory") else {
        return Ok(addresses);
    };
    let body = view
        .bodies
        .get(&init)
        .ok_or_else(|| Error::msg("`__wasm_init_memory` is imported, not defined"))?;
    // Evaluate the constant arguments of each memory.init / memory.fill.
    // Anything we do not model resets the stack: lld writes each call as a run
    // of constants (and `global.set $__tls_base` in between), nothing more.
    let mut stack: Vec<Option<u32>> = Vec::new();
    let mut fills = 0;
    for op in body.get_operators_reader()? {
        match op? {
            Operator::I32Const { value } => stack.push(Some(value as u32)),
            Operator::GlobalGet { .. } | Operator::LocalGet { .. } => stack.push(None),
            Operator::GlobalSet { .. } | Operator::LocalSet { .. } | Operator::Drop => {
                stack.pop();
            }
            Operator::I32Add => {
                let (b, a) = (stack.pop().flatten(), stack.pop().flatten());
                stack.push(a.zip(b).map(|(a, b)| a.wrapping_add(b)));
            }
            Operator::MemoryInit { data_index, .. } => {
                let dest = stack.len().checked_sub(3).and_then(|i| stack[i]);
                stack.clear();
                let name = view
                    .segments
                    .get(data_index as usize)
                    .and_then(|s| s.name.clone())
                    .ok_or_else(|| {
                        Error::msg(format!(
                            "data segment {data_index} has no name: keep the name section"
                        ))
                    })?;
                if let Some(dest) = dest {
                    addresses.insert(name, dest);
                }
            }
            Operator::MemoryFill { .. } => {
                let dest = stack.len().checked_sub(3).and_then(|i| stack[i]);
                stack.clear();
                // Zero-initialised data has no segment; lld names it `.bss`.
                if let Some(dest) = dest {
                    let name = if fills == 0 {
                        ".bss".to_string()
                    } else {
                        format!(".bss#{fills}")
                    };
                    addresses.insert(name, dest);
                    fills += 1;
                }
            }
            _ => stack.clear(),
        }
    }
    Ok(addresses)
}

impl BaseLayout {
    /// Combines the symbols of the linked base with the table of the module
    /// actually served (after prepare and wasm-bindgen), matched by function name.
    pub fn new(
        linked: &ModuleView<'_>,
        symbols: Symbols,
        served: &ModuleView<'_>,
    ) -> Result<BaseLayout, Error> {
        let mut served_slots: HashMap<&str, u32> = HashMap::new();
        for (func, slot) in served.table_slots() {
            if let Some(name) = served.func_names.get(&func) {
                served_slots.entry(name.as_str()).or_insert(slot);
            }
        }
        let mut slots = HashMap::new();
        for (func, aliases) in &symbols.func_aliases {
            let Some(slot) = linked
                .func_names
                .get(func)
                .and_then(|name| served_slots.get(name.as_str()))
            else {
                continue;
            };
            for alias in aliases {
                slots.insert(alias.clone(), *slot);
            }
        }
        // Functions the prepare step added (`__saved_wbg_*`) have no symbol.
        for (name, slot) in served_slots {
            slots.entry(name.to_string()).or_insert(slot);
        }
        // wasm_tls_fixup guarantees these two exports on the linked base.
        let tls_size = linked.exported_const("__tls_size").unwrap_or(0) as u32;
        let tls_align = linked.exported_const("__tls_align").unwrap_or(1).max(1) as u32;
        Ok(BaseLayout {
            slots,
            data: symbols.data,
            tls: symbols.tls,
            tls_size,
            tls_align_log2: tls_align.trailing_zeros(),
            max_memory_pages: linked
                .imports
                .iter()
                .find_map(|i| match i.kind {
                    crate::wasm::ImportKind::Memory { maximum, .. } => maximum,
                    _ => None,
                })
                .unwrap_or(16384),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape of wasm-ld's `__wasm_init_memory` for a shared-memory base.
    const INIT_MEMORY: &str = r#"
        (func $__wasm_init_memory
          block block block
            i32.const 4000 i32.const 0 i32.const 1 i32.atomic.rmw.cmpxchg
            br_table 0 1 2
          end
          i32.const 1024 i32.const 1024 global.set $__tls_base
          i32.const 0 i32.const 16 memory.init $.tdata
          i32.const 1040 i32.const 0 i32.const 8 memory.init $.rodata
          i32.const 2048 i32.const 0 i32.const 4 memory.init $.data
          i32.const 2052 i32.const 0 i32.const 100 memory.fill
          i32.const 4000 i32.const 2 i32.atomic.store
          i32.const 4000 i32.const -1 memory.atomic.notify drop
          br 1
          end
          i32.const 4000 i32.const 1 i64.const -1 memory.atomic.wait32 drop
          end
          data.drop $.rodata data.drop $.data)"#;

    fn base() -> Vec<u8> {
        wat::parse_str(format!(
            r#"(module
                (import "env" "memory" (memory 1 100 shared))
                (global $__tls_base (mut i32) (i32.const 0))
                {INIT_MEMORY}
                (start $__wasm_init_memory)
                (data $.tdata "0123456789abcdef")
                (data $.rodata "rodata!!")
                (data $.data "data"))"#
        ))
        .unwrap()
    }

    #[test]
    fn passive_segments_get_their_addresses_from_init_memory() {
        let wasm = base();
        let view = ModuleView::parse(&wasm).unwrap();
        let addresses = segment_addresses(&view).unwrap();
        assert_eq!(addresses[".tdata"], 1024);
        assert_eq!(addresses[".rodata"], 1040);
        assert_eq!(addresses[".data"], 2048);
        assert_eq!(addresses[".bss"], 2052);
    }

    #[test]
    fn a_base_without_symbols_is_refused_with_the_flag_to_use() {
        let wasm = base();
        let view = ModuleView::parse(&wasm).unwrap();
        let err = read_symbols(&wasm, &view).unwrap_err();
        assert!(err.0.contains("--emit-relocs"), "{err}");
    }

    #[test]
    fn served_slots_are_found_by_name_for_every_alias() {
        // The linked base: $a at slot 1; the served one moved it to slot 3.
        let linked = wat::parse_str(
            r#"(module (table 4 funcref) (func $a) (func $b) (elem (i32.const 1) func $a $b))"#,
        )
        .unwrap();
        let served = wat::parse_str(
            r#"(module (table 5 funcref) (func $b) (func $a) (func $__saved_wbg_x)
                (elem (i32.const 2) func $b $a $__saved_wbg_x))"#,
        )
        .unwrap();
        let linked_view = ModuleView::parse(&linked).unwrap();
        let served_view = ModuleView::parse(&served).unwrap();
        let mut symbols = Symbols::default();
        symbols
            .func_aliases
            .insert(0, vec!["a".into(), "a_alias".into()]);
        let layout = BaseLayout::new(&linked_view, symbols, &served_view).unwrap();
        assert_eq!(layout.slots["a"], 3);
        assert_eq!(layout.slots["a_alias"], 3);
        assert_eq!(layout.slots["__saved_wbg_x"], 4);
    }
}
