//! The Rust side of a pool worker: `src/worker.js` calls these exports.

use std::cell::Cell;

use js_sys::Object;
use raytracer_core::Scene;
use wasm_bindgen::prelude::*;

use crate::job::RenderJob;
use crate::js::{get, get_u32, object};

thread_local! {
    /// This worker's id in the pool, 0-based; `None` on the page's main thread.
    static WORKER_ID: Cell<Option<u32>> = const { Cell::new(None) };
    /// How many broadcasts this worker has seen, so the page can tell that
    /// each worker got every one exactly once.
    static BROADCASTS: Cell<u32> = const { Cell::new(0) };
}

pub fn worker_id() -> Option<u32> {
    WORKER_ID.get()
}

#[wasm_bindgen]
pub fn worker_started(id: u32) {
    crate::js::install_panic_hook();
    WORKER_ID.set(Some(id));
}

/// Runs one task and returns the reply `worker.js` posts back. Every reply
/// carries the task's `seq` and this worker's id so the pool can match it.
#[wasm_bindgen]
pub fn worker_handle(task: JsValue) -> Result<Object, JsValue> {
    let worker = worker_id().ok_or("worker_handle called before worker_started")?;
    let seq = get_u32(&task, "seq")?;
    let kind = get(&task, "kind").as_string().unwrap_or_default();
    let reply = |kind: &str, pairs: &[(&str, JsValue)]| {
        let reply = object(&[
            ("kind", kind.into()),
            ("seq", seq.into()),
            ("worker", worker.into()),
        ]);
        for (key, value) in pairs {
            crate::js::set(&reply, key, value.clone());
        }
        reply
    };
    match kind.as_str() {
        "render" => {
            let job = RenderJob {
                ptr: get_u32(&task, "ptr")? as usize,
                width: get_u32(&task, "width")?,
                height: get_u32(&task, "height")?,
                worker: get_u32(&task, "share")?,
                workers: get_u32(&task, "shares")?,
            };
            // Built per render rather than cached, so that a future hot patch
            // of `Scene::reference` shows up on the next render.
            let scene = Scene::reference();
            // SAFETY: the pool keeps the buffer alive until this reply arrives,
            // and gives each worker of a render a different share.
            let rows = unsafe { job.run(&scene) };
            Ok(reply("done", &[("rows", rows.into())]))
        }
        "broadcast" => {
            let count = BROADCASTS.get() + 1;
            BROADCASTS.set(count);
            Ok(reply("ack", &[("received", count.into())]))
        }
        other => Err(format!("worker {worker}: unknown task kind `{other}`").into()),
    }
}
