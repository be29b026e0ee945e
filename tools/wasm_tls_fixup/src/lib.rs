//! Makes a linked, shared-memory wasm module ready for wasm-bindgen's thread
//! transform.
//!
//! That transform (`wasm-bindgen-cli-support/src/transforms/threads`) finds
//! the thread-local-storage symbols by *export name* only:
//!
//! * `__wasm_init_tls`: the function each thread calls to set up its TLS block,
//! * `__tls_size`, `__tls_align`: immutable `i32.const` globals it reads at
//!   transform time to size each thread's allocation,
//! * `__tls_base`: the global each thread points at its own TLS block.
//!
//! rustc asks wasm-ld to export them, but any tool in between that rebuilds
//! the link line (a linker wrapper, a dev server re-linking) can drop those
//! `--export` flags, and post-link tools that prune exports can drop the
//! exports alone. When the symbols are still in the module and named in its
//! `name` section, this crate re-exports them; otherwise it fails with one
//! plain sentence saying what is missing. (wasm-ld garbage-collects
//! `__wasm_init_tls` and never emits `__tls_size`/`__tls_align` when nothing
//! exports them, so a link without the flags cannot be repaired afterwards:
//! the fix is the link flags, and this tool says which.)

use std::fmt;

use walrus::{ConstExpr, ExportItem, GlobalKind, Module, ValType};

pub const INIT_TLS: &str = "__wasm_init_tls";
pub const TLS_SIZE: &str = "__tls_size";
pub const TLS_ALIGN: &str = "__tls_align";
pub const TLS_BASE: &str = "__tls_base";

/// Why a module cannot be made ready. `Display` is the one line the binary prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FixupError {
    Parse(String),
    /// The count of memories, when it is not exactly one.
    MemoryCount(usize),
    MemoryNotImported,
    MemoryNotShared,
    /// Neither exported nor named in the name section.
    Missing(&'static str),
    /// Found under that name, but it is the wrong kind of item.
    NotAFunction(&'static str),
    NotAGlobal(&'static str),
    /// `__tls_size` / `__tls_align` must be defined here, immutable, `i32.const`.
    NotConstI32(&'static str),
    NotI32(&'static str),
}

impl fmt::Display for FixupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const HINT: &str =
            "build with nightly `-Zbuild-std=std,panic_abort` and `-Ctarget-feature=+atomics`";
        match self {
            FixupError::Parse(e) => write!(f, "not a wasm module walrus can read: {e}"),
            FixupError::MemoryCount(n) => write!(f, "expected exactly one memory, found {n}"),
            FixupError::MemoryNotImported => write!(
                f,
                "memory is defined in the module, not imported: link with `--import-memory`"
            ),
            FixupError::MemoryNotShared => {
                write!(
                    f,
                    "memory is not shared: link with `--shared-memory` and {HINT}"
                )
            }
            // wasm-ld only keeps these symbols when something exports them, so
            // a link without the flag leaves nothing behind to re-export.
            FixupError::Missing(name) => write!(
                f,
                "`{name}` is missing (not exported and not in the name section): \
                 link with `-Clink-arg=--export={name}` and {HINT}"
            ),
            FixupError::NotAFunction(name) => write!(f, "`{name}` is not a function"),
            FixupError::NotAGlobal(name) => write!(f, "`{name}` is not a global"),
            FixupError::NotConstI32(name) => write!(
                f,
                "`{name}` is not an immutable i32.const global, so wasm-bindgen cannot read it"
            ),
            FixupError::NotI32(name) => write!(f, "`{name}` is not an i32 global"),
        }
    }
}

impl std::error::Error for FixupError {}

/// What `fix_module` changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Fixup {
    /// Names that were found through the name section and exported.
    pub exported: Vec<&'static str>,
}

impl Fixup {
    pub fn changed(&self) -> bool {
        !self.exported.is_empty()
    }
}

/// Checks the memory and exports any TLS symbol that is not exported yet.
/// On error the module may already have some of the exports added.
pub fn fix_module(module: &mut Module) -> Result<Fixup, FixupError> {
    check_memory(module)?;
    let mut fixup = Fixup::default();

    let init = match exported(module, INIT_TLS) {
        Some(ExportItem::Function(f)) => Some(f),
        Some(_) => return Err(FixupError::NotAFunction(INIT_TLS)),
        None => None,
    };
    if init.is_none() {
        let f = module
            .funcs
            .by_name(INIT_TLS)
            .ok_or(FixupError::Missing(INIT_TLS))?;
        module.exports.add(INIT_TLS, f);
        fixup.exported.push(INIT_TLS);
    }

    for name in [TLS_SIZE, TLS_ALIGN, TLS_BASE] {
        let id = match exported(module, name) {
            Some(ExportItem::Global(g)) => g,
            Some(_) => return Err(FixupError::NotAGlobal(name)),
            None => {
                let g = module
                    .globals
                    .iter()
                    .find(|g| g.name.as_deref() == Some(name))
                    .ok_or(FixupError::Missing(name))?
                    .id();
                module.exports.add(name, g);
                fixup.exported.push(name);
                g
            }
        };
        let global = module.globals.get(id);
        if name == TLS_BASE {
            // Mutable: each thread stores its own TLS address in it.
            if global.ty != ValType::I32 {
                return Err(FixupError::NotI32(name));
            }
        } else {
            let is_const_i32 = !global.mutable
                && matches!(
                    global.kind,
                    GlobalKind::Local(ConstExpr::Value(walrus::ir::Value::I32(_)))
                );
            if !is_const_i32 {
                return Err(FixupError::NotConstI32(name));
            }
        }
    }
    Ok(fixup)
}

/// Parses `wasm`, fixes it, and returns the new bytes only if something changed,
/// so an already-correct module is left byte-for-byte as the linker wrote it.
pub fn fix_bytes(wasm: &[u8]) -> Result<(Option<Vec<u8>>, Fixup), FixupError> {
    let mut module = walrus::ModuleConfig::new()
        .parse(wasm)
        .map_err(|e| FixupError::Parse(format!("{e:#}")))?;
    let fixup = fix_module(&mut module)?;
    let bytes = fixup.changed().then(|| module.emit_wasm());
    Ok((bytes, fixup))
}

fn check_memory(module: &Module) -> Result<(), FixupError> {
    let memories: Vec<_> = module.memories.iter().collect();
    let [memory] = memories.as_slice() else {
        return Err(FixupError::MemoryCount(memories.len()));
    };
    if memory.import.is_none() {
        return Err(FixupError::MemoryNotImported);
    }
    if !memory.shared {
        return Err(FixupError::MemoryNotShared);
    }
    Ok(())
}

fn exported(module: &Module, name: &str) -> Option<ExportItem> {
    module
        .exports
        .iter()
        .find(|e| e.name == name)
        .map(|e| e.item)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHARED_MEMORY: &str = r#"(import "env" "memory" (memory 17 16384 shared))"#;

    /// What wasm-ld emits for a threaded module, minus everything unrelated,
    /// with the given memory and TLS definitions; `exports` are added as-is.
    fn module(memory: &str, tls: &str, exports: &str) -> Vec<u8> {
        wat::parse_str(format!(
            "(module {memory} {tls} {exports}
               (func $main (export \"main\")))"
        ))
        .unwrap()
    }

    const TLS: &str = r#"
        (global $__stack_pointer (mut i32) (i32.const 1048576))
        (global $__tls_base (mut i32) (i32.const 0))
        (global $__tls_size i32 (i32.const 24))
        (global $__tls_align i32 (i32.const 8))
        (func $__wasm_init_tls (param i32) (global.set $__tls_base (local.get 0)))"#;

    const ALL_EXPORTS: &str = r#"
        (export "__wasm_init_tls" (func $__wasm_init_tls))
        (export "__tls_size" (global $__tls_size))
        (export "__tls_align" (global $__tls_align))
        (export "__tls_base" (global $__tls_base))"#;

    fn fix(wasm: &[u8]) -> Result<(Option<Vec<u8>>, Fixup), FixupError> {
        fix_bytes(wasm)
    }

    fn export_names(wasm: &[u8]) -> Vec<String> {
        let module = Module::from_buffer(wasm).unwrap();
        let mut names: Vec<_> = module.exports.iter().map(|e| e.name.clone()).collect();
        names.sort();
        names
    }

    #[test]
    fn a_module_that_already_exports_everything_is_left_alone() {
        let wasm = module(SHARED_MEMORY, TLS, ALL_EXPORTS);
        assert_eq!(fix(&wasm), Ok((None, Fixup::default())));
    }

    #[test]
    fn dropped_exports_are_restored_from_the_name_section() {
        let wasm = module(SHARED_MEMORY, TLS, "");
        let (fixed, fixup) = fix(&wasm).unwrap();
        assert_eq!(fixup.exported, [INIT_TLS, TLS_SIZE, TLS_ALIGN, TLS_BASE]);
        let names = export_names(&fixed.unwrap());
        assert_eq!(names, [TLS_ALIGN, TLS_BASE, TLS_SIZE, INIT_TLS, "main"]);
    }

    #[test]
    fn only_the_missing_exports_are_added() {
        let wasm = module(
            SHARED_MEMORY,
            TLS,
            r#"(export "__tls_size" (global $__tls_size))"#,
        );
        let (fixed, fixup) = fix(&wasm).unwrap();
        assert_eq!(fixup.exported, [INIT_TLS, TLS_ALIGN, TLS_BASE]);
        // Running it again on its own output finds nothing to do.
        assert_eq!(fix(&fixed.unwrap()), Ok((None, Fixup::default())));
    }

    #[test]
    fn unshared_memory_is_rejected() {
        let wasm = module(r#"(import "env" "memory" (memory 17))"#, TLS, "");
        assert_eq!(fix(&wasm), Err(FixupError::MemoryNotShared));
    }

    #[test]
    fn a_memory_defined_in_the_module_is_rejected() {
        let wasm = module("(memory 17 16384 shared)", TLS, "");
        assert_eq!(fix(&wasm), Err(FixupError::MemoryNotImported));
    }

    #[test]
    fn a_module_without_memory_is_rejected() {
        let wasm = module("", TLS, "");
        assert_eq!(fix(&wasm), Err(FixupError::MemoryCount(0)));
    }

    #[test]
    fn an_absent_symbol_is_named() {
        let without_align = TLS.replace("(global $__tls_align i32 (i32.const 8))", "");
        let err = fix(&module(SHARED_MEMORY, &without_align, "")).unwrap_err();
        assert_eq!(err, FixupError::Missing(TLS_ALIGN));
        assert!(
            err.to_string().contains("`__tls_align` is missing"),
            "{err}"
        );

        let without_init = TLS.replace("(func $__wasm_init_tls", "(func $other");
        let err = fix(&module(SHARED_MEMORY, &without_init, "")).unwrap_err();
        assert_eq!(err, FixupError::Missing(INIT_TLS));
    }

    #[test]
    fn tls_size_must_be_an_immutable_i32_const() {
        let cases = [
            "(global $__tls_size (mut i32) (i32.const 24))",
            "(global $__tls_size i64 (i64.const 24))",
            "(global $__tls_size i32 (global.get $__tls_align))",
        ];
        for bad in cases {
            let tls = TLS.replace("(global $__tls_size i32 (i32.const 24))", bad);
            // `global.get` needs `$__tls_align` declared first.
            let tls = tls.replace("(global $__tls_align i32 (i32.const 8))", "");
            let tls = format!("(global $__tls_align i32 (i32.const 8)) {tls}");
            assert_eq!(
                fix(&module(SHARED_MEMORY, &tls, "")),
                Err(FixupError::NotConstI32(TLS_SIZE)),
                "{bad}"
            );
        }
    }

    #[test]
    fn an_export_of_the_wrong_kind_is_rejected() {
        let wasm = module(
            SHARED_MEMORY,
            TLS,
            r#"(export "__tls_base" (func $__wasm_init_tls))"#,
        );
        assert_eq!(fix(&wasm), Err(FixupError::NotAGlobal(TLS_BASE)));
    }

    #[test]
    fn garbage_is_a_parse_error() {
        assert!(matches!(fix(b"not wasm"), Err(FixupError::Parse(_))));
    }
}
