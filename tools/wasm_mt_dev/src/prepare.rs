//! Making the linked base patchable, before wasm-bindgen (DESIGN.md 1 and 5.1):
//!
//! * every function gets a table slot: a patch calls the base through
//!   `call_indirect`, and wasm has no other address for a function;
//! * each JS binding wasm-bindgen will generate (an import from
//!   `__wbindgen_placeholder__`) gets a wrapper `__saved_wbg_<name>` with a slot,
//!   so a patch that calls the binding directly can reach it (wasm-bindgen keeps
//!   the import alive because the wrapper uses it);
//! * the exports of the contract: `__stack_pointer`, `__tls_base`, the table,
//!   `__hotswap_build_id`, and `__hotswap_jump_table_slot` when subsecond is linked;
//! * the TLS exports wasm-bindgen's thread transform needs (`wasm_tls_fixup`).

use std::collections::{HashMap, HashSet};

use walrus::ir::{self, Instr};
use walrus::{ConstExpr, ElementItems, ElementKind, ExportItem, FunctionBuilder, Module, ValType};

use crate::layout::BaseLayout;
use crate::patch::{readable, SAVED_WBG};
use crate::{walrus_error, Error};

pub const BUILD_ID: &str = "__hotswap_build_id";
pub const JUMP_TABLE_SLOT: &str = "__hotswap_jump_table_slot";

/// The build id of a linked base: FNV-1a of its bytes, 31 bits so JS reads a
/// non-negative number, never 0 (what dx's clients send on the web).
pub fn build_id(linked: &[u8]) -> u32 {
    let hash = linked.iter().fold(0x811c9dc5u32, |h, b| {
        (h ^ *b as u32).wrapping_mul(0x01000193)
    });
    (hash & 0x7fff_ffff).max(1)
}

/// What [`prepare`] did, for the log and the tests.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Prepared {
    pub bytes: Vec<u8>,
    pub added_slots: usize,
    pub wrappers: usize,
    pub jump_table_slot: Option<u32>,
}

/// JS bindings we wrap: every generated one, not wasm-bindgen's descriptors,
/// which only its interpreter runs and which it removes from the module.
fn wraps(import: &str) -> bool {
    !import.starts_with("__wbindgen_describe")
}

pub fn prepare(linked: &[u8], layout: &BaseLayout, id: u32) -> Result<Prepared, Error> {
    let mut module = walrus::ModuleConfig::new()
        .generate_producers_section(false)
        .parse(linked)
        .map_err(walrus_error)?;
    let mut prepared = Prepared::default();

    let mut indirect = Vec::new();
    let placeholder: Vec<_> = module
        .imports
        .iter()
        .filter(|i| i.module == "__wbindgen_placeholder__" && wraps(&i.name))
        .filter_map(|i| match i.kind {
            walrus::ImportKind::Function(f) => Some((f, i.name.clone())),
            _ => None,
        })
        .collect();
    for (import, name) in placeholder {
        let ty = module.types.get(module.funcs.get(import).ty());
        let (params, results) = (ty.params().to_vec(), ty.results().to_vec());
        let locals: Vec<_> = params.iter().map(|p| module.locals.add(*p)).collect();
        let mut builder = FunctionBuilder::new(&mut module.types, &params, &results);
        builder.name(format!("{SAVED_WBG}{name}"));
        let mut body = builder.func_body();
        for local in &locals {
            body.instr(Instr::LocalGet(ir::LocalGet { local: *local }));
        }
        body.instr(Instr::Call(ir::Call { func: import }));
        indirect.push(module.funcs.add_local(builder.local_func(locals)));
        prepared.wrappers += 1;
    }

    let in_table: HashSet<_> = module
        .elements
        .iter()
        .flat_map(|e| match &e.items {
            ElementItems::Functions(funcs) => funcs.clone(),
            _ => Vec::new(),
        })
        .collect();
    let mut skip: HashSet<_> = indirect.iter().copied().collect();
    skip.extend(describe_only(&module));
    indirect.extend(
        module
            .funcs
            .iter()
            .filter(|f| matches!(f.kind, walrus::FunctionKind::Local(_)))
            .filter(|f| f.name.is_some() && !in_table.contains(&f.id()) && !skip.contains(&f.id()))
            .map(|f| f.id()),
    );
    prepared.added_slots = indirect.len();
    append_to_table(&mut module, indirect)?;

    let build_id = module.globals.add_local(
        ValType::I32,
        false,
        false,
        ConstExpr::Value(ir::Value::I32(id as i32)),
    );
    module.exports.add(BUILD_ID, build_id);
    prepared.jump_table_slot = layout
        .data
        .iter()
        .find(|(name, _)| readable(name) == "subsecond::APP_JUMP_TABLE")
        .map(|(_, sym)| sym.address);
    if let Some(address) = prepared.jump_table_slot {
        let slot = module.globals.add_local(
            ValType::I32,
            false,
            false,
            ConstExpr::Value(ir::Value::I32(address as i32)),
        );
        module.exports.add(JUMP_TABLE_SLOT, slot);
    }
    export_global(&mut module, "__stack_pointer")?;
    export_global(&mut module, "__tls_base")?;
    if !module
        .exports
        .iter()
        .any(|e| matches!(e.item, ExportItem::Table(_)))
    {
        let table = module.tables.iter().next().map(|t| t.id());
        if let Some(table) = table {
            module.exports.add("__indirect_function_table", table);
        }
    }
    wasm_tls_fixup::fix_module(&mut module).map_err(|e| Error::msg(e.to_string()))?;

    // The symbol and relocation sections describe the module as linked; after
    // our changes they would be wrong, and nothing downstream reads them.
    let stale: Vec<_> = module
        .customs
        .iter()
        .filter(|(_, c)| c.name() == "linking" || c.name().starts_with("reloc."))
        .map(|(id, _)| id)
        .collect();
    for id in stale {
        module.customs.delete(id);
    }
    prepared.bytes = module.emit_wasm();
    Ok(prepared)
}

/// Functions that reach wasm-bindgen's `__wbindgen_describe` import: only its
/// interpreter runs them, and it deletes them and the import afterwards. A table
/// slot would keep both alive, and the page could not instantiate the module.
///
/// The search stops at callers of `__wbindgen_describe_cast` (the
/// `breaks_if_inlined` of `wasm_bindgen::__rt::wbg_cast`): wasm-bindgen replaces
/// their bodies with a call of the JS conversion, so real code calling them is
/// real code after all.
fn describe_only(module: &Module) -> HashSet<walrus::FunctionId> {
    let placeholder = |name: &str| {
        module.imports.iter().find_map(|i| match i.kind {
            walrus::ImportKind::Function(f)
                if i.module == "__wbindgen_placeholder__" && i.name == name =>
            {
                Some(f)
            }
            _ => None,
        })
    };
    let Some(describe) = placeholder("__wbindgen_describe") else {
        return HashSet::new();
    };
    let cast = placeholder("__wbindgen_describe_cast");
    struct Callees(Vec<walrus::FunctionId>);
    impl<'i> ir::Visitor<'i> for Callees {
        fn visit_function_id(&mut self, func: &walrus::FunctionId) {
            self.0.push(*func);
        }
    }
    let mut callers: HashMap<walrus::FunctionId, Vec<walrus::FunctionId>> = HashMap::new();
    let mut rewritten_by_bindgen = HashSet::new();
    for (id, local) in module.funcs.iter_local() {
        let mut callees = Callees(Vec::new());
        ir::dfs_in_order(&mut callees, local, local.entry_block());
        if cast.is_some_and(|cast| callees.0.contains(&cast)) {
            rewritten_by_bindgen.insert(id);
        }
        for callee in callees.0 {
            callers.entry(callee).or_default().push(id);
        }
    }
    let mut found = HashSet::new();
    let mut todo = vec![describe];
    while let Some(func) = todo.pop() {
        for caller in callers.get(&func).into_iter().flatten() {
            if !rewritten_by_bindgen.contains(caller) && found.insert(*caller) {
                todo.push(*caller);
            }
        }
    }
    found
}

fn export_global(module: &mut Module, name: &str) -> Result<(), Error> {
    if module.exports.iter().any(|e| e.name == name) {
        return Ok(());
    }
    let global = module
        .globals
        .iter()
        .find(|g| g.name.as_deref() == Some(name))
        .map(|g| g.id())
        .ok_or_else(|| Error::msg(format!("the base has no `{name}` global to export")))?;
    module.exports.add(name, global);
    Ok(())
}

/// Appends `funcs` to the last active element segment with a constant offset
/// and grows the table to hold them.
fn append_to_table(module: &mut Module, funcs: Vec<walrus::FunctionId>) -> Result<(), Error> {
    if funcs.is_empty() {
        return Ok(());
    }
    let segment = module
        .elements
        .iter_mut()
        .filter(|e| {
            matches!(
                e.kind,
                ElementKind::Active {
                    offset: ConstExpr::Value(ir::Value::I32(_)),
                    ..
                }
            ) && matches!(e.items, ElementItems::Functions(_))
        })
        .last()
        .ok_or_else(|| {
            Error::msg("the base has no function table segment: link with `--export-table`")
        })?;
    let ElementKind::Active {
        table,
        offset: ConstExpr::Value(ir::Value::I32(offset)),
    } = segment.kind
    else {
        unreachable!("filtered above")
    };
    let ElementItems::Functions(items) = &mut segment.items else {
        unreachable!("filtered above")
    };
    items.extend(funcs);
    let end = offset as u64 + items.len() as u64;
    let table = module.tables.get_mut(table);
    if table.initial < end {
        let grow = end - table.initial;
        table.initial = end;
        if let Some(max) = table.maximum.as_mut() {
            *max += grow;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::DataSym;
    use crate::wasm::ModuleView;

    const LINKED: &str = r#"(module
        (import "env" "memory" (memory 17 16384 shared))
        (import "__wbindgen_placeholder__" "__wbg_alert_1" (func $alert (param i32)))
        (import "__wbindgen_placeholder__" "__wbindgen_describe" (func $describe (param i32)))
        (import "__wbindgen_placeholder__" "__wbindgen_describe_cast" (func $describe_cast (param i32)))
        (table 2 funcref)
        (global $__stack_pointer (mut i32) (i32.const 1048576))
        (global $__tls_base (mut i32) (i32.const 0))
        (global $__tls_size i32 (i32.const 24))
        (global $__tls_align i32 (i32.const 8))
        (func $__wasm_init_tls (param i32) (global.set $__tls_base (local.get 0)))
        (func $in_table)
        (func $not_in_table (call $alert (i32.const 1)))
        (func $inform (call $describe (i32.const 1)))
        (func $__wbindgen_describe_x (call $inform))
        (func $breaks_if_inlined (call $inform) (call $describe_cast (i32.const 0)))
        (func $wbg_cast (call $breaks_if_inlined))
        (elem (i32.const 1) func $in_table)
        (export "__wasm_init_tls" (func $__wasm_init_tls))
        (export "__tls_size" (global $__tls_size))
        (export "__tls_align" (global $__tls_align))
        (export "__tls_base" (global $__tls_base))
        (@custom "linking" "\02"))"#;

    #[test]
    fn every_function_and_binding_wrapper_gets_a_slot_and_the_contract_exports() {
        let linked = wat::parse_str(LINKED).unwrap();
        let mut layout = BaseLayout::default();
        layout.data.insert(
            "_RNvCs1234_9subsecond14APP_JUMP_TABLE".into(),
            DataSym {
                address: 4242,
                size: 4,
            },
        );
        let prepared = prepare(&linked, &layout, 77).unwrap();
        // the wrapper, $__wasm_init_tls, $not_in_table and the two cast functions
        assert_eq!(prepared.wrappers, 1);
        assert_eq!(prepared.added_slots, 5);
        assert_eq!(prepared.jump_table_slot, Some(4242));
        let view = ModuleView::parse(&prepared.bytes).unwrap();
        let slots = view.table_slots();
        let slot_of = |name: &str| slots[&view.func_by_name(name).unwrap()];
        assert_eq!(slot_of("in_table"), 1);
        assert!(slot_of("__saved_wbg___wbg_alert_1") >= 2);
        assert!(slot_of("not_in_table") >= 2);
        assert!(view
            .func_by_name("__saved_wbg___wbindgen_describe")
            .is_none());
        assert_eq!(view.exported_const(BUILD_ID), Some(77));
        assert_eq!(view.exported_const(JUMP_TABLE_SLOT), Some(4242));
        for name in ["__stack_pointer", "__tls_base", "__indirect_function_table"] {
            assert!(view.exported(name).is_some(), "{name} not exported");
        }
        assert!(!view.customs.contains_key("linking"));
        wasmparser::Validator::new_with_features(
            wasmparser::WasmFeatures::default() | wasmparser::WasmFeatures::THREADS,
        )
        .validate_all(&prepared.bytes)
        .unwrap();
    }

    #[test]
    fn build_ids_are_31_bit_and_follow_the_bytes() {
        assert!(build_id(b"abc") < 1 << 31);
        assert_ne!(build_id(b"abc"), build_id(b"abd"));
    }
}
