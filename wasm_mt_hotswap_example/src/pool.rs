//! A fixed pool of Web Workers that share the page's wasm memory.
//!
//! The page talks to workers only through messages: each request gets a
//! sequence number, the worker's reply carries it back, and the request's
//! promise settles. Workers run one task per message and then return to their
//! event loop, so `broadcast` reaches every worker between two renders; the
//! hot-patch step will use exactly that to load new code into every worker.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use js_sys::{Array, Function, Object, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{ErrorEvent, MessageEvent, Worker, WorkerOptions, WorkerType};

use crate::js::{error_text, get, get_u32, object, set};

#[wasm_bindgen]
extern "C" {
    // `import.meta.url` evaluated inside the wasm-bindgen glue: the URL workers
    // must import to get the same glue, wherever the build put it.
    #[wasm_bindgen(thread_local_v2, js_namespace = ["import", "meta"], js_name = url)]
    static GLUE_URL: String;
}

/// Pending requests by (sequence number, worker id): how to settle each one.
type Pending = HashMap<(u32, u32), (Function, Function)>;

pub struct Pool {
    workers: Vec<Worker>,
    pending: Rc<RefCell<Pending>>,
    next_seq: Cell<u32>,
    // Kept alive for as long as the workers can call them.
    _handlers: Vec<Closure<dyn FnMut(JsValue)>>,
}

/// One finished render.
pub struct Frame {
    pub pixels: Vec<u8>,
    pub width: u32,
    pub height: u32,
    pub ms: f64,
    pub threads: u32,
    /// Ids of the workers that rendered at least one row.
    pub workers_used: Vec<u32>,
}

impl Pool {
    /// Starts `size` workers and waits until each has instantiated the module.
    pub async fn start(size: u32) -> Result<Pool, JsValue> {
        let pending: Rc<RefCell<Pending>> = Rc::default();
        let options = WorkerOptions::new();
        options.set_type(WorkerType::Module);
        let script = wasm_bindgen::link_to!(module = "/src/worker.js");

        let mut workers = Vec::new();
        let mut handlers = Vec::new();
        for id in 0..size {
            let worker = Worker::new_with_options(&script, &options)?;
            let on_message = {
                let pending = pending.clone();
                Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
                    settle(&pending, &event.unchecked_into::<MessageEvent>().data());
                })
            };
            // A worker whose script fails to load never replies; fail its
            // requests instead of leaving them pending forever.
            let on_error = {
                let pending = pending.clone();
                Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
                    let message = event
                        .dyn_ref::<ErrorEvent>()
                        .map(|e| e.message())
                        .unwrap_or_else(|| "worker failed to start".into());
                    fail_worker(&pending, id, &format!("worker {id}: {message}"));
                })
            };
            worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
            worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
            workers.push(worker);
            handlers.extend([on_message, on_error]);
        }

        let pool = Pool {
            workers,
            pending,
            next_seq: Cell::new(0),
            _handlers: handlers,
        };
        let glue_url = GLUE_URL.with(String::clone);
        let ready = (0..size).map(|id| {
            pool.request(
                id,
                object(&[
                    ("kind", "init".into()),
                    ("glueUrl", glue_url.as_str().into()),
                    ("module", wasm_bindgen::module()),
                    ("memory", wasm_bindgen::memory()),
                ]),
            )
        });
        settle_all(ready.collect()).await?;
        Ok(pool)
    }

    pub fn size(&self) -> u32 {
        self.workers.len() as u32
    }

    /// Renders the reference scene on the first `threads` workers (clamped to
    /// the pool size and the image height).
    pub async fn render(&self, width: u32, height: u32, threads: u32) -> Result<Frame, JsValue> {
        if width == 0 || height == 0 {
            return Err("width and height must be at least 1".into());
        }
        let threads = threads.clamp(1, self.size().min(height));
        let mut pixels = vec![0u8; raytracer_core::image_len(width, height)];
        let ptr = pixels.as_mut_ptr() as usize as u32;
        let start = now();
        let replies = (0..threads).map(|share| {
            self.request(
                share,
                object(&[
                    ("kind", "render".into()),
                    ("ptr", ptr.into()),
                    ("width", width.into()),
                    ("height", height.into()),
                    ("share", share.into()),
                    ("shares", threads.into()),
                ]),
            )
        });
        // Waits for every worker, even after one fails: the others are still
        // writing into `pixels`, which must not be freed before they finish.
        let replies = settle_all(replies.collect()).await?;
        let ms = now() - start;
        // Pairs with the workers' release fence: their rows are visible now.
        std::sync::atomic::fence(std::sync::atomic::Ordering::Acquire);

        let mut workers_used = Vec::new();
        for reply in &replies {
            if get_u32(reply, "rows")? > 0 {
                workers_used.push(get_u32(reply, "worker")?);
            }
        }
        Ok(Frame {
            pixels,
            width,
            height,
            ms,
            threads,
            workers_used,
        })
    }

    /// Sends `payload` to every worker and resolves with the ids of the
    /// workers that acknowledged it, in pool order. Each worker handles it
    /// after the task it is running, if any.
    pub async fn broadcast(&self, payload: &JsValue) -> Result<Vec<u32>, JsValue> {
        let acks = (0..self.size()).map(|id| {
            self.request(
                id,
                object(&[("kind", "broadcast".into()), ("payload", payload.clone())]),
            )
        });
        settle_all(acks.collect())
            .await?
            .iter()
            .map(|reply| get_u32(reply, "worker"))
            .collect()
    }

    /// Posts `message` (plus `seq` and `worker`) to one worker; the promise
    /// settles with its reply.
    fn request(&self, worker: u32, message: Object) -> Promise {
        let seq = self.next_seq.get();
        self.next_seq.set(seq.wrapping_add(1));
        set(&message, "seq", seq);
        set(&message, "worker", worker);
        let promise = Promise::new(&mut |resolve, reject| {
            self.pending
                .borrow_mut()
                .insert((seq, worker), (resolve, reject));
        });
        if let Err(e) = self.workers[worker as usize].post_message(&message) {
            fail_worker(&self.pending, worker, &error_text(&e));
        }
        promise
    }
}

/// Routes a worker's reply to the request it answers.
fn settle(pending: &RefCell<Pending>, reply: &JsValue) {
    let (Ok(seq), Ok(worker)) = (get_u32(reply, "seq"), get_u32(reply, "worker")) else {
        web_sys::console::warn_2(&"pool: reply without seq/worker".into(), reply);
        return;
    };
    let Some((resolve, reject)) = pending.borrow_mut().remove(&(seq, worker)) else {
        return;
    };
    if get(reply, "kind").as_string().as_deref() == Some("error") {
        let message = get(reply, "message").as_string().unwrap_or_default();
        let _ = reject.call1(
            &JsValue::NULL,
            &format!("worker {worker}: {message}").into(),
        );
    } else {
        let _ = resolve.call1(&JsValue::NULL, reply);
    }
}

fn fail_worker(pending: &RefCell<Pending>, worker: u32, message: &str) {
    let failed: Vec<_> = {
        let mut pending = pending.borrow_mut();
        let keys: Vec<_> = pending
            .keys()
            .filter(|(_, w)| *w == worker)
            .copied()
            .collect();
        keys.into_iter()
            .filter_map(|k| pending.remove(&k))
            .collect()
    };
    for (_, reject) in failed {
        let _ = reject.call1(&JsValue::NULL, &message.into());
    }
}

/// Waits for all promises to settle, then returns their values, or the first
/// rejection reason.
async fn settle_all(promises: Vec<Promise>) -> Result<Vec<JsValue>, JsValue> {
    let outcomes = JsFuture::from(Promise::all_settled(
        &promises.into_iter().collect::<Array>(),
    ))
    .await?
    .unchecked_into::<Array>();
    outcomes
        .iter()
        .map(
            |outcome| match get(&outcome, "status").as_string().as_deref() {
                Some("fulfilled") => Ok(get(&outcome, "value")),
                _ => Err(get(&outcome, "reason")),
            },
        )
        .collect()
}

pub fn now() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map_or(0.0, |p| p.now())
}
