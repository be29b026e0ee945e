//! A rayon thread pool whose threads are Web Workers sharing the page's
//! memory, driven from the page without ever blocking it.
//!
//! ```text
//!  page ──run/at_safe_point──▶ dispatcher worker ──ThreadPool::spawn──▶ rayon threads
//!   ▲                                                                      │
//!   └──────────────── {kind: "done", id, value} posted by the thread that finished
//! ```
//!
//! * The page builds the `rayon::ThreadPool` (building only spawns, it never
//!   waits): its `spawn_handler` posts each `rayon::ThreadBuilder` to a worker
//!   of its own, which runs rayon's loop for the life of the page.
//! * The page never calls into the pool itself: `spawn` may contend for a
//!   rayon mutex, and a contended lock waits with `memory.atomic.wait`, which
//!   traps on a browser's main thread. A dispatcher worker, which may block,
//!   takes each job from the page by message and hands it to rayon.
//! * Results travel back as a pointer into the shared memory in a message
//!   posted by whichever thread finished, so the page only ever awaits
//!   messages.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::marker::PhantomData;
use std::rc::Rc;
use std::sync::{Mutex, OnceLock};

use hotswap_runtime::ThreadTask;
use js_sys::{Array, Function, Promise};
use rayon::ThreadPool;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{ErrorEvent, MessageEvent, Worker, WorkerOptions, WorkerType};

use super::js::{error_text, get, get_u32, object};

#[wasm_bindgen]
extern "C" {
    // `import.meta.url` evaluated inside the wasm-bindgen glue: the URL workers
    // must import to get the same glue, wherever the build put it.
    #[wasm_bindgen(thread_local_v2, js_namespace = ["import", "meta"], js_name = url)]
    static GLUE_URL: String;
}

/// The app's one pool, in shared memory so the dispatcher finds it.
static POOL: OnceLock<ThreadPool> = OnceLock::new();

/// Work for the dispatcher: it gets the pool and must arrange a reply.
pub(super) type Job = Box<dyn FnOnce(&'static ThreadPool) + Send>;

/// How to settle each request still waiting for its reply, by request id.
type Pending = Rc<RefCell<HashMap<u32, (Function, Function)>>>;

pub struct Pool {
    threads: Vec<Worker>,
    dispatcher: Worker,
    pending: Pending,
    next_id: Cell<u32>,
    // Kept alive for as long as the workers can call them.
    _handlers: Vec<Closure<dyn FnMut(JsValue)>>,
}

impl Pool {
    /// Starts `size` rayon threads and the dispatcher, each on a Web Worker,
    /// and resolves once every one of them is running.
    pub async fn start(size: u32) -> Result<Pool, JsValue> {
        let pending: Pending = Rc::default();
        let options = WorkerOptions::new();
        options.set_type(WorkerType::Module);
        let script = wasm_bindgen::link_to!(module = "/src/worker.js");
        let mut handlers = Vec::new();
        let mut spawn_worker = || -> Result<Worker, JsValue> {
            let worker = Worker::new_with_options(&script, &options)?;
            let on_message = {
                let pending = pending.clone();
                Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
                    settle(&pending, &event.unchecked_into::<MessageEvent>().data());
                })
            };
            // A worker that fails to load, or whose thread traps (a panic is
            // an abort in this build), never replies: fail what is waiting
            // instead of leaving it pending for ever.
            let on_error = {
                let pending = pending.clone();
                Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
                    let message = event
                        .dyn_ref::<ErrorEvent>()
                        .map(|e| e.message())
                        .unwrap_or_else(|| "a worker failed".into());
                    fail_all(&pending, &format!("pool worker: {message}"));
                })
            };
            worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
            worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
            handlers.extend([on_message, on_error]);
            Ok(worker)
        };
        let threads = (0..size)
            .map(|_| spawn_worker())
            .collect::<Result<Vec<_>, _>>()?;
        let dispatcher = spawn_worker()?;

        let pool = Pool {
            threads,
            dispatcher,
            pending,
            // Ids below `size` are the threads' start-up replies, `size` the dispatcher's.
            next_id: Cell::new(size + 1),
            _handlers: handlers,
        };
        let started: Vec<Promise> = (0..=size).map(|id| pool.expect_reply(id)).collect();
        let glue_url = GLUE_URL.with(String::clone);
        let init = |role: &str, id: u32| {
            object(&[
                ("kind", "init".into()),
                ("role", role.into()),
                ("id", id.into()),
                ("glueUrl", glue_url.as_str().into()),
                ("module", wasm_bindgen::module()),
                ("memory", wasm_bindgen::memory()),
            ])
        };
        let built = rayon::ThreadPoolBuilder::new()
            .num_threads(size as usize)
            .thread_name(|index| format!("rayon-web-{index}"))
            // Runs on each new thread: load the patches the page has applied
            // so far (none, unless the pool starts late), then tell the page.
            .start_handler(|index| {
                let message = reply("started", index as u32);
                if let Err(err) = hotswap_runtime::load_patches_on_this_thread() {
                    super::js::set(&message, "kind", "error");
                    super::js::set(&message, "message", err.as_str());
                }
                super::worker::post_to_page(&message)
            })
            .spawn_handler(|thread| {
                let index = thread.index() as u32;
                let message = init("thread", index);
                // The worker takes ownership: `worker::pool_thread_run` runs it.
                let builder = Box::into_raw(Box::new(thread)) as usize as u32;
                super::js::set(&message, "builder", builder);
                pool.threads[index as usize]
                    .post_message(&message)
                    .map_err(|err| std::io::Error::other(error_text(&err)))
            })
            .build()
            .map_err(|err| JsValue::from(format!("cannot start the rayon pool: {err}")))?;
        POOL.set(built)
            .map_err(|_| "the rayon pool was started twice")?;
        pool.dispatcher.post_message(&init("dispatcher", size))?;
        settle_all(started).await?;
        Ok(pool)
    }

    /// How many rayon threads the pool has.
    pub fn size(&self) -> u32 {
        self.threads.len() as u32
    }

    /// Runs `op` on the pool, as `ThreadPool::install` would, without blocking
    /// the page: `op` can use rayon's parallel iterators, `join` and `scope`.
    pub async fn run<T: Send + 'static>(
        &self,
        op: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, JsValue> {
        self.submit(move |pool, reply| pool.spawn(move || reply.send(op())))
            .await
    }

    /// Runs `f(thread_index)` exactly once on every rayon thread, between two
    /// of its jobs, and resolves with each thread's index and result, in
    /// index order, once all have.
    ///
    /// This is the one way to reach an idle rayon thread: it sleeps inside
    /// rayon and never returns to its worker's event loop, so a message
    /// cannot reach it, but a job can (`ThreadPool::spawn_broadcast`). A
    /// thread busy in a render runs `f` when it finishes the job it is in.
    pub async fn at_safe_point<R: Send + 'static>(
        &self,
        f: impl Fn(usize) -> R + Send + Sync + 'static,
    ) -> Result<Vec<(u32, R)>, JsValue> {
        self.submit(move |pool, reply| broadcast(pool, f, move |results| reply.send(results)))
            .await
    }

    /// Runs `task` on every worker that holds an instance of the module: the
    /// dispatcher, then every rayon thread at its safe point. This is how a
    /// hot patch reaches every thread (`hotswap_runtime::EveryThread`).
    pub async fn on_every_worker(&self, task: ThreadTask) -> Result<(), String> {
        let outcome = self
            .submit(move |pool, reply| {
                // The job runs on the dispatcher: its own turn comes first.
                let dispatcher = task();
                broadcast(
                    pool,
                    move |_| task(),
                    move |threads| reply.send((dispatcher, threads)),
                )
            })
            .await;
        let (dispatcher, threads) = outcome.map_err(|err| error_text(&err))?;
        dispatcher.map_err(|err| format!("dispatcher worker: {err}"))?;
        for (index, result) in threads {
            result.map_err(|err| format!("rayon thread {index}: {err}"))?;
        }
        Ok(())
    }

    /// Hands `job` to the dispatcher and waits for the reply it arranges.
    async fn submit<T: Send + 'static>(
        &self,
        job: impl FnOnce(&'static ThreadPool, Reply<T>) + Send + 'static,
    ) -> Result<T, JsValue> {
        let id = self.next_id.get();
        self.next_id.set(id.wrapping_add(1).max(self.size() + 1));
        let replied = self.expect_reply(id);
        let reply = Reply {
            id,
            value: PhantomData,
        };
        let job: Job = Box::new(move |pool| job(pool, reply));
        let job = Box::into_raw(Box::new(job));
        let message = object(&[
            ("kind", "run".into()),
            ("id", id.into()),
            ("job", (job as usize as u32).into()),
        ]);
        if let Err(err) = self.dispatcher.post_message(&message) {
            // SAFETY: not posted, so nobody else owns the job.
            drop(unsafe { Box::from_raw(job) });
            self.pending.borrow_mut().remove(&id);
            return Err(err);
        }
        let done = JsFuture::from(replied).await?;
        let value = get_u32(&done, "value")? as usize as *mut T;
        // SAFETY: `Reply::send` boxed a `T` for this id and gave up ownership.
        Ok(*unsafe { Box::from_raw(value) })
    }

    fn expect_reply(&self, id: u32) -> Promise {
        Promise::new(&mut |resolve, reject| {
            self.pending.borrow_mut().insert(id, (resolve, reject));
        })
    }
}

/// Runs `f` once on every thread of `pool` and hands `done` every thread's
/// index and result, in index order, on the thread that finished last.
fn broadcast<R: Send + 'static>(
    pool: &ThreadPool,
    f: impl Fn(usize) -> R + Send + Sync + 'static,
    done: impl FnOnce(Vec<(u32, R)>) + Send + 'static,
) {
    let results = Mutex::new((Vec::new(), Some(done)));
    pool.spawn_broadcast(move |ctx| {
        let result = f(ctx.index());
        let mut results = results.lock().unwrap_or_else(|p| p.into_inner());
        results.0.push((ctx.index() as u32, result));
        if results.0.len() == ctx.num_threads() {
            let mut all = std::mem::take(&mut results.0);
            all.sort_unstable_by_key(|(index, _)| *index);
            if let Some(done) = results.1.take() {
                done(all);
            }
        }
    });
}

/// The way back to the page for one request's result, usable on any thread.
pub(super) struct Reply<T> {
    id: u32,
    value: PhantomData<fn(T)>,
}

impl<T: Send + 'static> Reply<T> {
    fn send(self, value: T) {
        let value = Box::into_raw(Box::new(value)) as usize as u32;
        let message = reply("done", self.id);
        super::js::set(&message, "value", value);
        super::worker::post_to_page(&message);
    }
}

/// The job the page posted to the dispatcher, run there with the pool.
///
/// # Safety
///
/// `job` must come from `Pool::submit` and be run once.
pub(super) unsafe fn dispatch(job: u32) -> Result<(), JsValue> {
    let job = unsafe { Box::from_raw(job as usize as *mut Job) };
    let pool = POOL
        .get()
        .ok_or("the dispatcher ran before the pool started")?;
    job(pool);
    Ok(())
}

fn reply(kind: &str, id: u32) -> js_sys::Object {
    object(&[("kind", kind.into()), ("id", id.into())])
}

/// Routes a worker's message to the request it answers.
fn settle(pending: &Pending, message: &JsValue) {
    let Ok(id) = get_u32(message, "id") else {
        web_sys::console::warn_2(&"pool: a message without an id".into(), message);
        return;
    };
    let Some((resolve, reject)) = pending.borrow_mut().remove(&id) else {
        return;
    };
    if get(message, "kind").as_string().as_deref() == Some("error") {
        let text = get(message, "message").as_string().unwrap_or_default();
        let _ = reject.call1(&JsValue::NULL, &format!("pool worker: {text}").into());
    } else {
        let _ = resolve.call1(&JsValue::NULL, message);
    }
}

fn fail_all(pending: &Pending, message: &str) {
    let failed: Vec<_> = pending.borrow_mut().drain().collect();
    for (_, (_, reject)) in failed {
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
