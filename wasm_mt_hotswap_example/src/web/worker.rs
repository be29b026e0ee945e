//! What `src/worker.js` calls on a pool worker, and the way back to the page.

use wasm_bindgen::prelude::*;
use web_sys::DedicatedWorkerGlobalScope;

/// Runs one rayon thread on this worker for the life of the pool.
///
/// # Safety (for `worker.js`)
///
/// `builder` is the `rayon::ThreadBuilder` the page's spawn handler posted
/// to this worker, and it is passed here once.
#[wasm_bindgen]
pub fn pool_thread_run(builder: u32) {
    // SAFETY: see above; the page gave up ownership when it posted it.
    let thread = unsafe { Box::from_raw(builder as usize as *mut rayon::ThreadBuilder) };
    thread.run();
}

/// Runs one job the page posted to the dispatcher worker.
#[wasm_bindgen]
pub fn pool_dispatch(job: u32) -> Result<(), JsValue> {
    // SAFETY: `worker.js` passes each `run` message's job here once, and only
    // `Pool::submit` posts them.
    unsafe { super::pool::dispatch(job) }
}

/// Posts `message` to the page, from any worker (the page started them all).
pub fn post_to_page(message: &JsValue) {
    let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    if let Err(err) = scope.post_message(message) {
        web_sys::console::error_2(&"pool: cannot reach the page".into(), &err);
    }
}
