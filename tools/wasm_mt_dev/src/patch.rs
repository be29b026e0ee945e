//! Turning what wasm-ld linked into the patch the loader instantiates, and its
//! jump table (DESIGN.md section 3 and the contract, section 5).
//!
//! wasm-ld leaves the patch with imports for everything it calls or reads in the
//! base. We resolve all of them here against the base's layout, so that the
//! patch imports exactly [`CONTRACT_IMPORTS`] and nothing the loader has to look
//! up by name:
//!
//! * `GOT.func.X`: the base's table slot of `X`, as a constant global;
//! * `GOT.mem.X`: the base's address of `X`, as a constant global;
//! * a function import `X` (or `__wbindgen_placeholder__.X`, through the base's
//!   `__saved_wbg_X` wrapper): a local function that `call_indirect`s `X`'s slot
//!   in the base's table, which every thread has at the same indices;
//! * `__tls_base`, which wasm-ld defines in the patch: an import, so each thread
//!   hands in its own.

use std::collections::{BTreeMap, HashMap};

use subsecond_types::{AddressMap, JumpTable};
use walrus::ir::{self, Instr};
use walrus::{
    ConstExpr, ExportItem, FunctionBuilder, FunctionKind, GlobalKind, ImportKind, Module,
    ModuleConfig, ValType,
};
use wasmparser::{Validator, WasmFeatures};

use crate::layout::BaseLayout;
use crate::wasm::{dylink_first, dylink_mem_info, ImportKind as ViewImportKind, ModuleView};
use crate::{objects, walrus_error, Error};

/// Everything a patch may import, all from `env` (see the contract).
pub const CONTRACT_IMPORTS: [&str; 6] = [
    "memory",
    "__indirect_function_table",
    "__stack_pointer",
    "__tls_base",
    "__memory_base",
    "__table_base",
];

/// The prefix of the base's wrappers around wasm-bindgen's JS imports.
pub const SAVED_WBG: &str = "__saved_wbg_";

pub const APPLY_DATA_RELOCS: &str = "__wasm_apply_data_relocs";
pub const APPLY_GLOBAL_RELOCS: &str = "__wasm_apply_global_relocs";

/// A demangled name for messages (one way to say a symbol, shared with hotswap-link).
pub use hotswap_link::readable;

/// The patch after [`resolve`].
#[derive(Debug)]
pub struct Resolved {
    pub bytes: Vec<u8>,
    /// Functions the base has no slot for: they trap if ever called.
    pub trapping: Vec<Trap>,
}

/// A function of the patch that traps: it stands for one the base lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trap {
    /// Its symbol, as the objects name it.
    pub symbol: String,
    /// What it is, for a message.
    pub what: String,
}

/// Resolves the linked patch's imports against the base (see the module comment).
pub fn resolve(linked: &[u8], base: &BaseLayout) -> Result<Resolved, Error> {
    let mut module = ModuleConfig::new()
        .generate_producers_section(false)
        .parse(linked)
        .map_err(walrus_error)?;
    let table = module
        .tables
        .iter()
        .next()
        .map(|t| t.id())
        .ok_or_else(|| Error::msg("the patch has no function table import"))?;

    let mut trapping = Vec::new();
    let imports: Vec<_> = module
        .imports
        .iter()
        .map(|i| (i.id(), i.module.clone(), i.name.clone(), i.kind.clone()))
        .collect();
    for (import_id, module_name, name, kind) in imports {
        match (module_name.as_str(), kind) {
            ("GOT.func", ImportKind::Global(global)) => {
                let slot = base.slots.get(&name).ok_or_else(|| {
                    Error::msg(format!(
                        "the patch takes the address of {}, which the base does not have",
                        readable(&name)
                    ))
                })?;
                set_const(&mut module, global, *slot);
                module.imports.delete(import_id);
            }
            ("GOT.mem", ImportKind::Global(global)) => {
                let data = base.data.get(&name).ok_or_else(|| {
                    Error::msg(format!(
                        "the patch refers to {}, which the base does not have",
                        readable(&name)
                    ))
                })?;
                set_const(&mut module, global, data.address);
                module.imports.delete(import_id);
            }
            (from, ImportKind::Function(func)) => {
                let wanted = if from == "__wbindgen_placeholder__" {
                    format!("{SAVED_WBG}{name}")
                } else {
                    name.clone()
                };
                let slot = base.slots.get(&wanted).copied();
                if slot.is_none() && !is_descriptor(&name) {
                    trapping.push(Trap {
                        symbol: name.clone(),
                        what: if from == "__wbindgen_placeholder__" {
                            format!("a JS binding the running page does not have, {name}")
                        } else {
                            format!(
                                "{}, which the running program does not have",
                                readable(&name)
                            )
                        },
                    });
                }
                redirect(&mut module, func, slot, table, &name);
                module.imports.delete(import_id);
            }
            ("env", _) if CONTRACT_IMPORTS.contains(&name.as_str()) => {}
            (from, _) => {
                return Err(Error::msg(format!(
                    "the patch imports {from}.{name}, which the loader does not provide"
                )))
            }
        }
    }
    redirect_casts(&mut module, base, table, &mut trapping);
    import_tls_base(&mut module)?;
    tidy_exports(&mut module);
    let customs: Vec<_> = module
        .customs
        .iter()
        .filter(|(_, c)| c.name() != "dylink.0")
        .map(|(id, _)| id)
        .collect();
    for id in customs {
        module.customs.delete(id);
    }
    let bytes = dylink_first(&module.emit_wasm())?;
    Ok(Resolved { bytes, trapping })
}

/// wasm-bindgen rewrites the body of each `wasm_bindgen::__rt::wbg_cast`
/// instantiation in the base into a call of the JS conversion it generates; the
/// patch's copies still hold the placeholder and would trap. Call the base's.
fn redirect_casts(
    module: &mut Module,
    base: &BaseLayout,
    table: walrus::TableId,
    trapping: &mut Vec<Trap>,
) {
    let casts: Vec<(walrus::FunctionId, String)> = module
        .funcs
        .iter()
        .filter(|f| matches!(f.kind, FunctionKind::Local(_)))
        .filter_map(|f| {
            let name = f.name.as_ref()?;
            let readable = readable(name);
            (readable.contains("wasm_bindgen::__rt::wbg_cast")
                && !readable.contains("breaks_if_inlined"))
            .then(|| (f.id(), name.clone()))
        })
        .collect();
    for (func, name) in casts {
        let slot = base.slots.get(&name).copied();
        if slot.is_none() {
            trapping.push(Trap {
                symbol: name.clone(),
                what: format!(
                    "a JS conversion the running page does not have, {}",
                    readable(&name)
                ),
            });
        }
        redirect(module, func, slot, table, &name);
    }
}

/// wasm-bindgen's descriptor code only runs in its interpreter, never in the
/// page, and is gone from the base: that a patch's copy traps is expected.
fn is_descriptor(symbol: &str) -> bool {
    symbol.starts_with("__wbindgen_describe")
        || readable(symbol).contains("wasm_bindgen::describe::")
}

fn set_const(module: &mut Module, global: walrus::GlobalId, value: u32) {
    module.globals.get_mut(global).kind =
        GlobalKind::Local(ConstExpr::Value(ir::Value::I32(value as i32)));
}

/// Gives a function (an import, or a local one) the body `call_indirect` of the
/// base's `slot`, or `unreachable` when the base has none.
fn redirect(
    module: &mut Module,
    func: walrus::FunctionId,
    slot: Option<u32>,
    table: walrus::TableId,
    name: &str,
) {
    let ty = module.funcs.get(func).ty();
    let (params, results) = {
        let ty = module.types.get(ty);
        (ty.params().to_vec(), ty.results().to_vec())
    };
    let locals: Vec<_> = params.iter().map(|p| module.locals.add(*p)).collect();
    let mut builder = FunctionBuilder::new(&mut module.types, &params, &results);
    builder.name(name.to_string());
    let mut body = builder.func_body();
    match slot {
        Some(slot) => {
            for local in &locals {
                body.instr(Instr::LocalGet(ir::LocalGet { local: *local }));
            }
            body.instr(Instr::Const(ir::Const {
                value: ir::Value::I32(slot as i32),
            }));
            body.instr(Instr::CallIndirect(ir::CallIndirect { ty, table }));
        }
        None => {
            body.instr(Instr::Unreachable(ir::Unreachable {}));
        }
    }
    module.funcs.get_mut(func).kind = FunctionKind::Local(builder.local_func(locals));
}

/// Replaces the patch's own `__tls_base` with the import `env.__tls_base`, and
/// drops the `global.set` with which `__wasm_init_memory` would point the
/// initialising thread at the patch's copy of the TLS image.
fn import_tls_base(module: &mut Module) -> Result<(), Error> {
    let Some(own) = module
        .globals
        .iter()
        .find(|g| g.name.as_deref() == Some("__tls_base") && matches!(g.kind, GlobalKind::Local(_)))
        .map(|g| g.id())
    else {
        return Ok(());
    };
    let (imported, _) = module.add_import_global("env", "__tls_base", ValType::I32, true, false);
    module.globals.get_mut(imported).name = Some("__tls_base".into());
    struct Swap {
        from: walrus::GlobalId,
        to: walrus::GlobalId,
        drop_sets: bool,
    }
    impl ir::VisitorMut for Swap {
        fn visit_instr_mut(&mut self, instr: &mut Instr, _: &mut ir::InstrLocId) {
            let moves_tls_base = matches!(instr, Instr::GlobalSet(set)
                if set.global == self.from || set.global == self.to);
            if self.drop_sets && moves_tls_base {
                *instr = Instr::Drop(ir::Drop {});
            }
        }
        fn visit_global_id_mut(&mut self, global: &mut walrus::GlobalId) {
            if *global == self.from {
                *global = self.to;
            }
        }
    }
    let init_memory = module.funcs.by_name("__wasm_init_memory");
    for (id, local) in module.funcs.iter_local_mut() {
        let drop_sets = Some(id) == init_memory;
        let entry = local.entry_block();
        ir::dfs_pre_order_mut(
            &mut Swap {
                from: own,
                to: imported,
                drop_sets,
            },
            local,
            entry,
        );
    }
    let exports: Vec<_> = module
        .exports
        .iter()
        .filter(|e| matches!(e.item, ExportItem::Global(g) if g == own))
        .map(|e| e.id())
        .collect();
    for id in exports {
        module.exports.delete(id);
    }
    module.globals.delete(own);
    Ok(())
}

/// Exports only what the loader calls: `__wasm_apply_data_relocs`, and
/// `__wasm_apply_global_relocs` unless the start function already runs it.
fn tidy_exports(module: &mut Module) {
    let start_calls_global_relocs = module.start.is_some_and(|start| {
        let FunctionKind::Local(local) = &module.funcs.get(start).kind else {
            return false;
        };
        let names_of_called: Vec<String> = local
            .block(local.entry_block())
            .instrs
            .iter()
            .filter_map(|(instr, _)| match instr {
                Instr::Call(call) => module.funcs.get(call.func).name.clone(),
                _ => None,
            })
            .collect();
        module.funcs.get(start).name.as_deref() == Some(APPLY_GLOBAL_RELOCS)
            || names_of_called.iter().any(|n| n == APPLY_GLOBAL_RELOCS)
    });
    let keep: Vec<(&str, walrus::FunctionId)> = [APPLY_DATA_RELOCS, APPLY_GLOBAL_RELOCS]
        .into_iter()
        .filter(|name| *name != APPLY_GLOBAL_RELOCS || !start_calls_global_relocs)
        .filter_map(|name| module.funcs.by_name(name).map(|f| (name, f)))
        .collect();
    let all: Vec<_> = module.exports.iter().map(|e| e.id()).collect();
    for id in all {
        module.exports.delete(id);
    }
    for (name, func) in keep {
        module.exports.add(name, func);
    }
}

/// The jump table of a resolved patch: for each function in its table that the
/// base has a slot for, base slot -> index relative to `__table_base`. Also
/// returns the names, slot by slot, for the log and the tests.
pub fn jump_table(
    resolved: &[u8],
    base: &BaseLayout,
    url: &str,
) -> Result<(JumpTable, BTreeMap<u64, String>), Error> {
    let view = ModuleView::parse(resolved)?;
    let mut map = AddressMap::default();
    let mut names = BTreeMap::new();
    for elements in view.elements.iter().filter(|e| e.offset.is_none()) {
        for (i, func) in elements.funcs.iter().enumerate() {
            let Some(name) = view.func_names.get(func) else {
                continue;
            };
            if let Some(slot) = base.slots.get(name) {
                map.insert(*slot as u64, i as u64);
                names.insert(*slot as u64, name.clone());
            }
        }
    }
    let info = dylink_mem_info(resolved)?.ok_or_else(|| {
        Error::msg("the patch has no dylink.0 section: was it linked with --pie?")
    })?;
    Ok((
        JumpTable {
            lib: url.into(),
            map,
            aslr_reference: 0,
            new_base_address: 0,
            ifunc_count: info.table_size as u64,
        },
        names,
    ))
}

/// What the contract promises about a patch, checked before it is sent: valid
/// with threads, only the contract's imports, a shared memory.
pub fn check(resolved: &[u8]) -> Result<(), Error> {
    let features = WasmFeatures::default() | WasmFeatures::THREADS | WasmFeatures::BULK_MEMORY;
    Validator::new_with_features(features)
        .validate_all(resolved)
        .map_err(|e| Error::msg(format!("the patch is not valid wasm: {e}")))?;
    let view = ModuleView::parse(resolved)?;
    for import in &view.imports {
        if import.module != "env" || !CONTRACT_IMPORTS.contains(&import.name.as_str()) {
            return Err(Error::msg(format!(
                "the patch imports {}.{}, outside the contract",
                import.module, import.name
            )));
        }
        if import.name == "memory"
            && !matches!(import.kind, ViewImportKind::Memory { shared: true, .. })
        {
            return Err(Error::msg("the patch's memory import is not shared"));
        }
    }
    Ok(())
}

/// Checks the one layout assumption of the thread-local rewrite (DESIGN.md
/// 2.3) on the linked patch: the stub's `.tdata` segment, which defines every
/// base thread-local the patch refers to at its base offset, starts the
/// patch's TLS block. Every thread-local access in the patch is resolved by
/// the linker against those symbols, so then each lands where the base's
/// does, whatever shape the optimiser gave the code (`-O0` adds the offset to
/// `__tls_base`, `-O1` keeps `__tls_base` in a local and adds it later: no
/// pattern over the code covers every shape, the layout does). The stub's
/// segment is recognised by its bytes ([`objects::stub_image`]).
pub fn check_tls_layout(linked: &[u8], base: &BaseLayout) -> Result<(), Error> {
    if base.tls_size == 0 {
        return Ok(());
    }
    let view = ModuleView::parse(linked)?;
    let tdata = view
        .segments
        .iter()
        .find(|s| s.name.as_deref() == Some(".tdata"))
        .ok_or_else(|| {
            Error::msg(
                "cannot check the patch's thread-local layout: the linked patch has no \
                 segment named `.tdata` (the stub was not linked, or the name section is gone)",
            )
        })?;
    if !tdata.data.starts_with(&objects::stub_image(base.tls_size)) {
        return Err(Error::msg(
            "the patch's thread-local block does not start with the base's thread-locals \
             (the linker did not put the stub first): the patch would read and write \
             thread-locals at the wrong offsets",
        ));
    }
    Ok(())
}

/// Names of a jump table's functions whose code the patch changes, for the log:
/// only the slots the patch redirects, deduplicated and demangled.
pub fn summary(names: &BTreeMap<u64, String>, limit: usize) -> String {
    let mut seen: HashMap<String, ()> = HashMap::new();
    let list: Vec<String> = names
        .values()
        .map(|n| readable(n))
        .filter(|n| seen.insert(n.clone(), ()).is_none())
        .take(limit)
        .collect();
    list.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::DataSym;

    /// What wasm-ld makes of a patch (trimmed): PIC imports, GOT imports, calls
    /// into the base, its own `__tls_base`, its table at `__table_base`.
    const LINKED: &str = r#"(module
        (import "env" "memory" (memory 1 16384 shared))
        (import "env" "__indirect_function_table" (table 2 funcref))
        (import "env" "__stack_pointer" (global $sp (mut i32)))
        (import "env" "__memory_base" (global $mb i32))
        (import "env" "__table_base" (global $tb i32))
        (import "env" "_Rbase_fn" (func $base_fn (param i32) (result i32)))
        (import "env" "_Rmissing" (func $missing))
        (import "__wbindgen_placeholder__" "__wbg_alert_1" (func $alert (param i32)))
        (import "GOT.mem" "_RSTATIC" (global $got_mem (mut i32)))
        (import "GOT.func" "_Rbase_fn" (global $got_func (mut i32)))
        (global $__tls_base (mut i32) (i32.const 0))
        (func $_Rshade (param i32) (result i32)
          local.get 0 call $base_fn
          global.get $__tls_base i32.add
          global.get $got_mem i32.add
          global.get $got_func i32.add)
        (func $_Rcall_it (result i32) i32.const 1 call $_Rshade)
        (func $_Rnew_only)
        (func $__wasm_apply_data_relocs)
        (func $__wasm_init_memory
          global.get $mb global.set $__tls_base
          call $missing
          i32.const 0 call $alert)
        (start $__wasm_init_memory)
        (elem (global.get $tb) func $_Rcall_it $_Rnew_only)
        (export "__wasm_init_tls" (func $_Rnew_only))
        (export "__wasm_apply_data_relocs" (func $__wasm_apply_data_relocs))
        (@custom "dylink.0" "\01\04\20\02\02\00")
        (@custom "producers" "\00"))"#;

    fn base() -> BaseLayout {
        let mut base = BaseLayout::default();
        base.slots.insert("_Rbase_fn".into(), 7);
        base.slots.insert("_Rcall_it".into(), 30);
        base.slots.insert("__saved_wbg___wbg_alert_1".into(), 41);
        base.data.insert(
            "_RSTATIC".into(),
            DataSym {
                address: 5000,
                size: 4,
            },
        );
        base
    }

    #[test]
    fn a_resolved_patch_imports_only_the_contract() {
        let linked = wat::parse_str(LINKED).unwrap();
        let resolved = resolve(&linked, &base()).unwrap();
        check(&resolved.bytes).unwrap();
        assert_eq!(
            resolved.trapping,
            [Trap {
                symbol: "_Rmissing".into(),
                what: "_Rmissing, which the running program does not have".into()
            }]
        );
        let view = ModuleView::parse(&resolved.bytes).unwrap();
        let mut imports: Vec<_> = view.imports.iter().map(|i| i.name.as_str()).collect();
        imports.sort();
        assert_eq!(
            imports,
            [
                "__indirect_function_table",
                "__memory_base",
                "__stack_pointer",
                "__table_base",
                "__tls_base",
                "memory"
            ]
        );
        let exports: Vec<_> = view.exports.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(exports, [APPLY_DATA_RELOCS]);
        // dylink.0 comes first, as the dynamic-linking convention wants.
        assert_eq!(
            crate::wasm::raw_sections(&resolved.bytes).unwrap()[0].custom_name,
            Some("dylink.0")
        );
        let text = wasmprinter_like(&resolved.bytes);
        assert!(
            text.contains("i32.const 7") && text.contains("call_indirect"),
            "{text}"
        );
        assert!(text.contains("i32.const 5000"), "GOT.mem resolved: {text}");
    }

    #[test]
    fn the_jump_table_maps_base_slots_to_patch_indices_by_name() {
        let linked = wat::parse_str(LINKED).unwrap();
        let resolved = resolve(&linked, &base()).unwrap();
        let (table, names) = jump_table(&resolved.bytes, &base(), "/_hotswap/p.wasm").unwrap();
        assert_eq!(table.map.len(), 1);
        assert_eq!(table.map[&30], 0);
        assert_eq!(names[&30], "_Rcall_it");
        assert_eq!(table.ifunc_count, 2);
        assert_eq!(table.lib.to_str(), Some("/_hotswap/p.wasm"));
    }

    #[test]
    fn the_patch_takes_the_threads_tls_base_and_never_moves_it() {
        let linked = wat::parse_str(LINKED).unwrap();
        let resolved = resolve(&linked, &base()).unwrap();
        let module = Module::from_buffer(&resolved.bytes).unwrap();
        let tls: Vec<_> = module
            .globals
            .iter()
            .filter(|g| g.name.as_deref() == Some("__tls_base"))
            .collect();
        assert_eq!(tls.len(), 1);
        assert!(matches!(tls[0].kind, GlobalKind::Import(_)));
        let init = module.funcs.by_name("__wasm_init_memory").unwrap();
        let FunctionKind::Local(local) = &module.funcs.get(init).kind else {
            panic!()
        };
        let sets = local
            .block(local.entry_block())
            .instrs
            .iter()
            .filter(|(i, _)| matches!(i, Instr::GlobalSet(_)))
            .count();
        assert_eq!(sets, 0);
    }

    #[test]
    fn an_unknown_data_symbol_is_an_error_that_names_it() {
        let mut base = base();
        base.data.clear();
        let linked = wat::parse_str(LINKED).unwrap();
        let err = resolve(&linked, &base).unwrap_err();
        assert!(err.0.contains("_RSTATIC"), "{err}");
    }

    /// The patch's thread-local layout, on code as rustc compiles it at
    /// `-O0` (`i32.const X; global.get $__tls_base; i32.add`) and at `-O1`
    /// (`global.get $__tls_base; local.tee`, the offset added later), which
    /// the check once missed: objects bound to a base whose thread-locals sit
    /// elsewhere than in the object, linked with the stub first (as the tool
    /// does) and last (as a linker that reorders would).
    #[test]
    fn the_thread_local_layout_is_checked_whatever_the_code_shape() {
        use crate::test_rustc::{folder, pic_object};
        use hotswap_link::wasm::{plan, rewrite, symbol_table};
        let source = "#![no_std]\n#![feature(thread_local)]\n\
            #[thread_local] static mut HOT_ROWS: [u32; 4] = [1, 2, 3, 4];\n\
            #[thread_local] static mut HOT_COUNT: u64 = 7;\n\
            #[no_mangle] pub extern \"C\" fn hot_row(i: usize) -> u32 { unsafe { HOT_ROWS[i & 3] } }\n\
            #[no_mangle] pub extern \"C\" fn hot_bump() -> u64 { unsafe { HOT_COUNT += 1; HOT_COUNT } }\n\
            #[no_mangle] pub static HOT_ROW: extern \"C\" fn(usize) -> u32 = hot_row;\n\
            #[panic_handler] fn panic(_: &core::panic::PanicInfo) -> ! { loop {} }\n";
        let dir = folder("tls-layout");
        let lld = crate::link::find_rust_lld(&crate::test_rustc::nightly_rustc_path()).unwrap();
        for opt in ["0", "1"] {
            let bytes = pic_object(&dir, &format!("hot{opt}"), source, opt);
            // The base has the two thread-locals the other way round, after a
            // thread-local of its own.
            let mut base = BaseLayout {
                tls_size: 48,
                tls_align_log2: 3,
                ..BaseLayout::default()
            };
            for symbol in symbol_table(&bytes).unwrap() {
                if let wasmparser::SymbolInfo::Data { name, .. } = symbol {
                    let (offset, size) = match name {
                        n if n.contains("HOT_COUNT") => (8, 8),
                        n if n.contains("HOT_ROWS") => (24, 16),
                        _ => continue,
                    };
                    base.tls
                        .insert(name.to_string(), crate::layout::TlsSym { offset, size });
                }
            }
            assert_eq!(base.tls.len(), 2, "{:?}", base.tls);
            let statics = plan([bytes.as_slice()], &base).unwrap();
            let rewritten = rewrite(&bytes, &base, &statics).unwrap();
            assert_eq!(rewritten.tls_refs.len(), 2, "-O{opt}: {rewritten:?}");
            let bound = dir.join(format!("hot{opt}.bound.o"));
            std::fs::write(&bound, rewritten.bytes.unwrap()).unwrap();
            let stub = objects::tls_stub(
                &rewritten.tls_refs,
                &base,
                rewritten.target_features.as_deref(),
            )
            .unwrap();
            let stub_path = dir.join("stub.o");
            std::fs::write(&stub_path, stub).unwrap();
            let link_in = |inputs: &[&std::path::Path]| {
                let out = dir.join(format!("patch{opt}.wasm"));
                let inputs: Vec<_> = inputs.iter().map(|p| p.to_path_buf()).collect();
                crate::link::link(&lld, &crate::link::patch_args(16384, &inputs, &out)).unwrap();
                std::fs::read(out).unwrap()
            };
            check_tls_layout(&link_in(&[&stub_path, &bound]), &base)
                .unwrap_or_else(|e| panic!("-O{opt}, stub first: {e}"));
            let err = check_tls_layout(&link_in(&[&bound, &stub_path]), &base)
                .expect_err(&format!("-O{opt}, stub last: the layout is wrong"));
            assert!(err.0.contains("wrong offsets"), "{err}");
        }
        // No TLS segment at all: it says it cannot check.
        let none = wat::parse_str("(module)").unwrap();
        let base = BaseLayout {
            tls_size: 8,
            ..BaseLayout::default()
        };
        let err = check_tls_layout(&none, &base).unwrap_err();
        assert!(err.0.starts_with("cannot check"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn check_rejects_imports_outside_the_contract() {
        let wasm = wat::parse_str(r#"(module (import "env" "other" (func)))"#).unwrap();
        assert!(check(&wasm).unwrap_err().0.contains("env.other"));
    }

    /// The constants and indirect calls in the resolved module's code and
    /// globals, enough to see what we wrote.
    fn wasmprinter_like(bytes: &[u8]) -> String {
        use wasmparser::{Operator, Parser, Payload};
        let mut out = String::new();
        let mut note = |op: Operator<'_>| match op {
            Operator::I32Const { value } => out.push_str(&format!("i32.const {value} ")),
            Operator::CallIndirect { .. } => out.push_str("call_indirect "),
            _ => {}
        };
        for payload in Parser::new(0).parse_all(bytes) {
            match payload.unwrap() {
                Payload::CodeSectionEntry(body) => {
                    for op in body.get_operators_reader().unwrap() {
                        note(op.unwrap());
                    }
                }
                Payload::GlobalSection(globals) => {
                    for global in globals {
                        for op in global.unwrap().init_expr.get_operators_reader() {
                            note(op.unwrap());
                        }
                    }
                }
                _ => {}
            }
        }
        out
    }
}
