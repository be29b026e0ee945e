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
//! A thread that fails leaves everything on the old code: nothing is
//! committed, and the patch is dropped from the list threads catch up on. What
//! it already took stays, unused: the memory it grew, and the table slots
//! every thread that got that far grew for it. The next patch's slots start
//! past them (at the page's table length, which grew first), and each thread
//! grows its own table up to there, so the bases agree on every thread again.
//!
//! A test hook makes one worker fail (see [`take_fault`]).

use std::cell::Cell;
use std::sync::atomic::AtomicPtr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};

use js_sys::{Function, Object, Reflect, Uint8Array, WebAssembly};
use subsecond::JumpTable;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::dylink;
use crate::js_error::describe;
use crate::jump_slot;
use crate::EveryThread;

#[wasm_bindgen]
extern "C" {
    /// The page's `WebAssembly.Memory`, for a `grow` that returns the
    /// `RangeError` it throws at the memory's maximum: js-sys's `grow` lets
    /// that exception run through Rust, which leaves the patch queue
    /// waiting for ever.
    #[wasm_bindgen(js_namespace = WebAssembly, js_name = Memory)]
    type GrowableMemory;
    #[wasm_bindgen(method, catch)]
    fn grow(this: &GrowableMemory, pages: u32) -> Result<u32, JsValue>;
}

/// One patch as every thread loads it.
struct Patch {
    /// The module's bytes, in the shared memory: each worker compiles its
    /// own `WebAssembly.Module` from them (a rayon thread cannot be sent one).
    bytes: Vec<u8>,
    memory_base: u32,
    table_base: u32,
    table_size: u32,
    /// The test hook's choice: the worker (by name) that fails to link it.
    fails_on: Option<String>,
}

/// Every patch the page loaded, in order, so that a thread catches up on all
/// it has not loaded yet. A patch that failed somewhere is `None`: no thread
/// loads it any more.
///
/// Workers hold the lock only to copy the list; the page, which must never
/// wait (`memory.atomic.wait` traps there), only tries it ([`on_page`]).
static PATCHES: Mutex<Vec<Option<Arc<Patch>>>> = Mutex::new(Vec::new());

thread_local! {
    /// How many entries of `PATCHES` this thread has gone through.
    static LOADED: Cell<usize> = const { Cell::new(0) };
}

/// Applies `table` on the page and every thread of `threads`, then commits it.
pub(crate) async fn apply(table: JumpTable, threads: &dyn EveryThread) -> Result<(), String> {
    let slot = jump_table_slot()?;
    let fails_on = take_fault();
    let bytes = fetch(&table.lib.to_string_lossy()).await?;
    let module: WebAssembly::Module =
        JsFuture::from(WebAssembly::compile(&Uint8Array::from(&bytes[..])))
            .await
            .map_err(|err| format!("the patch does not compile: {}", describe(&err)))?
            .unchecked_into();
    let info = mem_info(&module)?;

    let memory_base = grow_memory(info.memory_size)?;
    let table_base = own_table().length();
    let patch = Arc::new(Patch {
        bytes,
        memory_base,
        table_base,
        table_size: info.table_size.max(table.ifunc_count as u32),
        fails_on,
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
    let entry = {
        let mut patches = on_page()?;
        patches.push(Some(patch));
        LOADED.set(patches.len());
        patches.len() - 1
    };

    let committed = match threads.run_everywhere(Arc::new(catch_up)).await {
        // SAFETY: every thread has the patch in its table at `table_base`.
        Ok(()) => unsafe { commit(slot, table, table_base) },
        Err(err) => Err(err),
    };
    if committed.is_err() {
        // A thread still on its way (one that timed out) skips it.
        if let Some(abandoned) = on_page()?.get_mut(entry) {
            *abandoned = None;
        }
    }
    committed
}

/// On the calling thread (a worker), instantiate every patch it has not loaded yet, in order.
pub(crate) fn catch_up() -> Result<(), String> {
    let pending = PATCHES.lock().unwrap_or_else(PoisonError::into_inner)[LOADED.get()..].to_vec();
    for patch in pending {
        if let Some(patch) = patch {
            load(&patch)?;
        }
        LOADED.set(LOADED.get() + 1);
    }
    Ok(())
}

/// Instantiates `patch` on this worker, into its own table.
fn load(patch: &Patch) -> Result<(), String> {
    let module = WebAssembly::Module::new(&Uint8Array::from(&patch.bytes[..]))
        .map_err(|err| format!("the patch does not compile: {}", describe(&err)))?;
    grow_table(patch)?;
    if patch.fails_on.is_some() && patch.fails_on == worker_name() {
        return Err(format!(
            "cannot link the patch: failed on purpose by the test hook window.{FAULT_HOOK}"
        ));
    }
    let instance = WebAssembly::Instance::new(&module, &imports(patch)?)
        .map_err(|err| format!("cannot link the patch: {}", describe(&err)))?;
    relocate_globals(&instance)
}

/// The test hook, a property of the page's `window`: set it to a worker's name (the pool
/// names its workers `rayon thread N` and `dispatcher worker`) and the next
/// patch the page loads fails to link on that worker, after the worker has
/// grown its table for it, like a real link error. The page clears it when
/// it reads it, so it fails one patch. It exists only where this module
/// does: debug builds served by the threaded dev server.
const FAULT_HOOK: &str = "__hotswapFailNextPatchOn";

/// Reads and clears the test hook (see [`FAULT_HOOK`]).
fn take_fault() -> Option<String> {
    let window = web_sys::window()?;
    let key = JsValue::from_str(FAULT_HOOK);
    let named = Reflect::get(&window, &key).ok()?.as_string()?;
    let _ = Reflect::delete_property(&window, &key);
    Some(named)
}

/// This worker's name (`new Worker(url, {name})`), if it has one.
fn worker_name() -> Option<String> {
    Reflect::get(&js_sys::global(), &"name".into())
        .ok()?
        .as_string()
}

const PAGE: u32 = 64 * 1024;

/// The list of patches, from the page: workers hold the lock only for a copy,
/// so trying again soon gets it, and the page never waits on it.
fn on_page() -> Result<MutexGuard<'static, Vec<Option<Arc<Patch>>>>, String> {
    for _ in 0..1_000_000 {
        match PATCHES.try_lock() {
            Ok(patches) => return Ok(patches),
            Err(TryLockError::Poisoned(poisoned)) => return Ok(poisoned.into_inner()),
            Err(TryLockError::WouldBlock) => std::hint::spin_loop(),
        }
    }
    Err("a worker held the list of patches for too long".into())
}

/// Grows the shared memory by the `bytes` a patch needs; returns where they start.
fn grow_memory(bytes: u32) -> Result<u32, String> {
    let memory: GrowableMemory = wasm_bindgen::memory().unchecked_into();
    let pages = bytes.div_ceil(PAGE);
    memory
        .grow(pages)
        .map(|before| before * PAGE)
        .map_err(|err| {
            format!(
            "cannot grow the shared memory by {pages} pages for the patch: {} (reload the page \
             to start again from the base's memory)",
            describe(&err)
        )
        })
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

/// Makes `table`, whose patch's slots start at `table_base`, subsecond's
/// current jump table, then runs what follows a patch.
///
/// subsecond 0.7.10 commits only inside `apply_patch`, which would instantiate
/// the patch again on this thread alone; its table is an `AtomicPtr` in the
/// shared memory, whose address the tool read from the base's symbols
/// (`jump_slot` checks it).
///
/// # Safety
///
/// `slot` must be an address of the app's memory, and every thread must
/// have loaded the patch the table points into at `table_base`.
unsafe fn commit(slot: u32, mut table: JumpTable, table_base: u32) -> Result<(), String> {
    for index in table.map.values_mut() {
        *index += u64::from(table_base);
    }
    // SAFETY: the caller vouches that it is in the app's memory; whether it
    // is subsecond's static is what `store_checked` finds out.
    let cell = unsafe { &*(slot as usize as *const AtomicPtr<JumpTable>) };
    let current = || {
        unsafe { subsecond::get_jump_table() }.map_or(std::ptr::null(), |t| t as *const JumpTable)
    };
    // Earlier tables are leaked, as subsecond does: a thread may still read one.
    let table = Box::into_raw(Box::new(table));
    if jump_slot::store_checked(cell, table, current).is_err() {
        // SAFETY: not stored anywhere, so this is its one owner.
        drop(unsafe { Box::from_raw(table) });
        return Err(format!(
            "address {slot:#x} does not hold subsecond's jump table: is the app built against \
             subsecond 0.7.10?"
        ));
    }
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
