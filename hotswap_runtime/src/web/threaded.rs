//! Applying a patch to an app whose threads share one wasm memory.
//!
//! Every thread has its own instance of the app's module, with its own
//! function table, stack pointer and thread-local block; only the memory is
//! shared. So a patch must be instantiated once per thread, into that
//! thread's table, before anything may call it. The contract with the tool
//! that builds such patches (`tools/wasm_mt_dev`) is in its DESIGN.md,
//! section 5. In short, per patch:
//!
//! 1. the page fetches and compiles it, grows the shared memory once (grow's
//!    return value is `__memory_base`) and notes its table length (`__table_base`);
//! 2. the page instantiates it first (its start function copies the patch's
//!    data into the new memory; a later instance would wait for that with
//!    `memory.atomic.wait32`, which traps on the page) and applies the data
//!    relocations, once, for every thread;
//! 3. every other thread, at a safe point of the app's choosing
//!    ([`EveryThread`]), grows its table to the same base and instantiates
//!    the patch with its own stack pointer and TLS base;
//! 4. only then is the jump table committed: it lives in the shared memory,
//!    so one store switches every `HotFn` on every thread at once.
//!
//! A thread that fails leaves everything on the old code: nothing is committed.

use std::cell::Cell;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use js_sys::{Function, Object, Reflect, Uint8Array, WebAssembly};
use subsecond::JumpTable;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::dylink;
use crate::js_error::describe;
use crate::EveryThread;

/// One patch as every thread loads it.
struct Patch {
    /// The module's bytes, in the shared memory: each worker compiles its
    /// own `WebAssembly.Module` from them (a rayon thread cannot be sent one).
    bytes: Vec<u8>,
    memory_base: u32,
    table_base: u32,
    table_size: u32,
}

/// Every patch applied so far, in order, so that a thread catches up on all
/// it has not loaded yet.
///
/// The page locks it only while no thread is loading (patches are applied
/// one at a time, and the page awaits every thread), so the page never
/// waits for the lock; a thread may wait, which workers are allowed to.
static PATCHES: Mutex<Vec<Arc<Patch>>> = Mutex::new(Vec::new());

thread_local! {
    /// How many of `PATCHES` this thread has instantiated.
    static LOADED: Cell<usize> = const { Cell::new(0) };
}

/// Applies `table` on the page and every thread of `threads`, then commits it.
pub(crate) async fn apply(mut table: JumpTable, threads: &dyn EveryThread) -> Result<(), String> {
    let slot = jump_table_slot()?;
    let bytes = fetch(&table.lib.to_string_lossy()).await?;
    let module: WebAssembly::Module =
        JsFuture::from(WebAssembly::compile(&Uint8Array::from(&bytes[..])))
            .await
            .map_err(|err| format!("the patch does not compile: {}", describe(&err)))?
            .unchecked_into();
    let info = mem_info(&module)?;

    let memory: WebAssembly::Memory = wasm_bindgen::memory().unchecked_into();
    let memory_base = memory.grow(info.memory_size.div_ceil(PAGE)) * PAGE;
    let table_base = own_table().length();
    let patch = Arc::new(Patch {
        bytes,
        memory_base,
        table_base,
        table_size: info.table_size.max(table.ifunc_count as u32),
    });

    // The page first: see the module docs for why.
    grow_table(&patch)?;
    let instance: WebAssembly::Instance =
        JsFuture::from(WebAssembly::instantiate_module(&module, &imports(&patch)?))
            .await
            .map_err(|err| format!("the page cannot link the patch: {}", describe(&err)))?
            .unchecked_into();
    relocate_globals(&instance)?;
    call_export(&instance, "__wasm_apply_data_relocs")?;
    LOADED.set(LOADED.get() + 1);
    lock_patches().push(patch);

    threads.run_everywhere(Arc::new(catch_up)).await?;

    for slot in table.map.values_mut() {
        *slot += u64::from(table_base);
    }
    // SAFETY: every thread has the patch in its table at these slots.
    unsafe { commit(slot, table) }
}

/// On the calling thread (a worker), instantiate every patch it has not loaded yet, in order.
pub(crate) fn catch_up() -> Result<(), String> {
    let pending: Vec<Arc<Patch>> = lock_patches()[LOADED.get()..].to_vec();
    for patch in pending {
        let module = WebAssembly::Module::new(&Uint8Array::from(&patch.bytes[..]))
            .map_err(|err| format!("the patch does not compile: {}", describe(&err)))?;
        grow_table(&patch)?;
        let instance = WebAssembly::Instance::new(&module, &imports(&patch)?)
            .map_err(|err| format!("cannot link the patch: {}", describe(&err)))?;
        relocate_globals(&instance)?;
        LOADED.set(LOADED.get() + 1);
    }
    Ok(())
}

const PAGE: u32 = 64 * 1024;

fn lock_patches() -> std::sync::MutexGuard<'static, Vec<Arc<Patch>>> {
    PATCHES.lock().unwrap_or_else(PoisonError::into_inner)
}

fn own_table() -> WebAssembly::Table {
    wasm_bindgen::function_table().unchecked_into()
}

/// Grows this thread's table so that the patch's slots start at its `table_base`.
fn grow_table(patch: &Patch) -> Result<(), String> {
    let table = own_table();
    let length = table.length();
    if length > patch.table_base {
        return Err(format!(
            "this thread's function table has {length} slots, more than the patch's base {}",
            patch.table_base
        ));
    }
    table
        .grow(patch.table_base + patch.table_size - length)
        .map(drop)
        .map_err(|err| format!("cannot grow the function table: {}", describe(&err)))
}

/// The patch's imports (DESIGN.md 5.3): this thread's own exports (its
/// table, stack pointer and TLS base among them), the shared memory, and
/// where the patch's memory and table slots start.
fn imports(patch: &Patch) -> Result<Object, String> {
    let exports: Object = wasm_bindgen::exports().unchecked_into();
    for needed in ["__stack_pointer", "__tls_base", "__indirect_function_table"] {
        if !Reflect::has(&exports, &needed.into()).unwrap_or(false) {
            return Err(format!(
                "the app's module does not export `{needed}`, which a patch needs: \
                 serve it with wasm_mt_dev (scripts/dev mt)"
            ));
        }
    }
    let env = Object::assign(&Object::new(), &exports);
    set(&env, "memory", &wasm_bindgen::memory())?;
    for (name, value) in [
        ("__memory_base", patch.memory_base),
        ("__table_base", patch.table_base),
    ] {
        let descriptor = Object::new();
        set(&descriptor, "value", &"i32".into())?;
        set(&descriptor, "mutable", &false.into())?;
        let global =
            WebAssembly::Global::new(&descriptor, &value.into()).map_err(|e| describe(&e))?;
        set(&env, name, &global)?;
    }
    let imports = Object::new();
    set(&imports, "env", &env)?;
    Ok(imports)
}

/// Sets this instance's own globals (GOT entries); a start function may
/// already have, but another linker may leave it to us.
fn relocate_globals(instance: &WebAssembly::Instance) -> Result<(), String> {
    call_export(instance, "__wasm_apply_global_relocs")
}

fn call_export(instance: &WebAssembly::Instance, name: &str) -> Result<(), String> {
    match Reflect::get(&instance.exports(), &name.into()).map(|f| f.dyn_into::<Function>()) {
        Ok(Ok(function)) => function
            .call0(&JsValue::UNDEFINED)
            .map(drop)
            .map_err(|err| format!("{name} failed: {}", describe(&err))),
        _ => Ok(()),
    }
}

fn mem_info(module: &WebAssembly::Module) -> Result<dylink::MemInfo, String> {
    let sections = WebAssembly::Module::custom_sections(module, "dylink.0");
    if sections.length() == 0 {
        return Err("the patch has no dylink.0 section: it was not linked with -pie".into());
    }
    dylink::mem_info(&Uint8Array::new(&sections.get(0)).to_vec())
}

/// The address of subsecond's `APP_JUMP_TABLE`, which the tool exports from
/// the base as `__hotswap_jump_table_slot`.
fn jump_table_slot() -> Result<u32, String> {
    own_global("__hotswap_jump_table_slot").ok_or_else(|| {
        "the app's module does not export `__hotswap_jump_table_slot`: serve it with \
         wasm_mt_dev (scripts/dev mt), which builds threaded apps so they can be patched"
            .to_string()
    })
}

/// This build's id, which patches for it carry as `for_build_id`.
pub(crate) fn own_build_id() -> Option<u64> {
    own_global("__hotswap_build_id").map(u64::from)
}

fn own_global(name: &str) -> Option<u32> {
    let exports = wasm_bindgen::exports();
    let global = Reflect::get(&exports, &name.into()).ok()?;
    let global = global.dyn_into::<WebAssembly::Global>().ok()?;
    global.value().as_f64().map(|value| value as u32)
}

/// Makes `table` subsecond's current jump table, then runs what follows a patch.
///
/// subsecond 0.7.10 commits only inside `apply_patch`, which would instantiate
/// the patch again on this thread alone; its table is an `AtomicPtr` in the
/// shared memory, whose address the tool read from the base's symbols.
///
/// # Safety
///
/// `slot` must be the address of subsecond's `APP_JUMP_TABLE`, and every
/// thread must have loaded the patch the table points into.
unsafe fn commit(slot: u32, table: JumpTable) -> Result<(), String> {
    // SAFETY: the caller vouches for the address; `current` checks it once more.
    let cell = unsafe { &*(slot as usize as *const AtomicPtr<JumpTable>) };
    let current = || {
        unsafe { subsecond::get_jump_table() }.map_or(std::ptr::null(), |t| t as *const JumpTable)
    };
    if cell.load(Ordering::Acquire).cast_const() != current() {
        return Err(format!(
            "address {slot:#x} does not hold subsecond's jump table: is the app built against \
             subsecond 0.7.10?"
        ));
    }
    // Earlier tables are leaked, as subsecond does: a thread may still read one.
    let table = Box::into_raw(Box::new(table));
    cell.store(table, Ordering::Release);
    crate::after_patch::record_landing();
    Ok(())
}

async fn fetch(url: &str) -> Result<Vec<u8>, String> {
    let window = web_sys::window().ok_or("patches are applied from the page, not a worker")?;
    let response: web_sys::Response = JsFuture::from(window.fetch_with_str(url))
        .await
        .map_err(|err| format!("cannot fetch {url}: {}", describe(&err)))?
        .unchecked_into();
    if !response.ok() {
        return Err(format!("cannot fetch {url}: HTTP {}", response.status()));
    }
    let buffer = response.array_buffer().map_err(|err| describe(&err))?;
    let buffer = JsFuture::from(buffer)
        .await
        .map_err(|err| format!("cannot read {url}: {}", describe(&err)))?;
    Ok(Uint8Array::new(&buffer).to_vec())
}

fn set(target: &Object, key: &str, value: &JsValue) -> Result<(), String> {
    Reflect::set(target, &key.into(), value)
        .map(drop)
        .map_err(|err| describe(&err))
}
