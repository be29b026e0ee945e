//! What `worker.js` calls on a pool worker, and the way back to the page.
//!
//! Exported from the app's module under names no app would pick, because
//! every `#[wasm_bindgen]` export of every crate shares the glue's namespace.

use std::cell::Cell;
use std::panic::PanicHookInfo;
use std::sync::Once;

use rayon::ThreadBuilder;
use wasm_bindgen::prelude::*;
use web_sys::DedicatedWorkerGlobalScope;

use super::{handoff, Job, POOL};
use crate::js_error::{panic_location, panic_message};

thread_local! {
    /// This thread is one of the pool's workers (its panics go to the page).
    static POOL_WORKER: Cell<bool> = const { Cell::new(false) };
}

/// Whether the calling thread is one of the pool's workers.
#[cfg(debug_assertions)]
pub(crate) fn on_pool_worker() -> bool {
    POOL_WORKER.get()
}

/// Chains a panic hook, in every build, that tells the page about a panic on
/// a pool worker before `panic_abort` ends the thread: its worker's error
/// never reaches the page (the trap happens inside a call worker.js made from
/// a promise), and without word the pool's requests would wait for ever. An
/// app that sets a hook of its own after starting the pool must call the one
/// it replaces (`std::panic::take_hook`).
pub(super) fn report_panics_to_the_page() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if POOL_WORKER.get() {
                report_panic(info);
            }
            previous(info);
        }));
    });
}

/// Runs one rayon thread on this worker, for the life of the pool.
#[wasm_bindgen(js_name = __hotswap_pool_thread_run)]
pub fn thread_run(builder: u32) {
    // SAFETY: `builder` is the address `Pool::start`'s spawn handler sent in
    // this worker's `init` message, and worker.js passes it here once.
    let thread = unsafe { handoff::take::<ThreadBuilder>(builder) };
    POOL_WORKER.set(true);
    thread.run();
}

/// Runs one job the page posted to the dispatcher worker.
#[wasm_bindgen(js_name = __hotswap_pool_dispatch)]
pub fn dispatch(job: u32) -> Result<(), JsValue> {
    // SAFETY: `job` is the address `Pool::submit` sent in a `run` message,
    // and worker.js passes each `run` message's job here once.
    let job = unsafe { handoff::take::<Job>(job) };
    POOL_WORKER.set(true);
    let pool = POOL
        .get()
        .ok_or("the dispatcher ran before the pool started")?;
    job(pool);
    Ok(())
}

/// Posts `message` to the page, from any worker (the page started them all).
pub(super) fn post_to_page(message: &JsValue) {
    let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    if let Err(err) = scope.post_message(message) {
        web_sys::console::error_2(&"pool: cannot reach the page".into(), &err);
    }
}

fn report_panic(info: &PanicHookInfo) {
    let message = super::message::Message::new("panicked", 0);
    message.set_message(&panic_message(info));
    if let Some(at) = panic_location(info) {
        message.set_at(&at);
    }
    post_to_page(&message);
}
