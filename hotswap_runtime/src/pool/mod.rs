//! A rayon thread pool whose threads are Web Workers sharing the page's
//! memory, driven from the page without ever blocking it, with a safe point
//! on every thread, and ready for [`connect_threaded`](crate::connect_threaded).
//!
//! ```text
//!  page ──run/at_safe_point──▶ dispatcher worker ──ThreadPool::spawn──▶ rayon threads
//!   ▲                                                                      │
//!   └──────────────── {kind: "done", id, value} posted by the thread that finished
//! ```
//!
//! * [`Pool::start`] builds a `rayon::ThreadPool` (building only spawns, it
//!   never waits): its `spawn_handler` posts each `rayon::ThreadBuilder` to a
//!   module worker of its own (`worker.js`, shipped inside the wasm-bindgen
//!   output by `link_to!`), which runs rayon's loop for the life of the page.
//! * The page never calls into the pool itself: `spawn` may contend for a
//!   rayon mutex, and a contended lock waits with `memory.atomic.wait`, which
//!   traps on a browser's main thread. A dispatcher worker, which may block,
//!   takes each job from the page by message and hands it to rayon.
//! * Results travel back as an address in the shared memory (`handoff`), in
//!   a message posted by whichever thread finished, so the page only ever
//!   awaits messages.
//! * Each rayon thread loads the patches the page has applied before it runs
//!   any job (rayon's `start_handler`), and [`Pool`] is the
//!   [`EveryThread`](crate::EveryThread) that loads each new patch into the
//!   dispatcher and every rayon thread, at their safe points. A thread that
//!   does not reach one within [`PATCH_WAIT`] (it is in a job that runs on,
//!   without waiting in a `join` or `scope`) fails that patch, with a line
//!   saying how many did not, rather than holding every later patch back.

mod handoff;
mod message;
mod worker;

#[cfg(debug_assertions)]
pub(crate) use worker::on_pool_worker;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use js_sys::{Array, Function, Promise};
use rayon::ThreadPool;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{ErrorEvent, MessageEvent, Worker, WorkerOptions, WorkerType};

use crate::js_error::describe;
use crate::rayon_broadcast::broadcast;
use crate::{EveryThread, ThreadTask};
use message::Message;

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
type Job = Box<dyn FnOnce(&'static ThreadPool) + Send>;

/// How to settle each request still waiting for its reply, by request id.
type Pending = Rc<RefCell<HashMap<u32, (Function, Function)>>>;

/// Why the pool can take no more work: one of its threads panicked, and
/// `panic_abort` ended it.
type Stopped = Rc<RefCell<Option<String>>>;

/// How long a patch waits for every rayon thread to reach its safe point.
/// A thread gets there when it takes its next job; one that stays longer in
/// a job that never waits in a `join` or `scope` fails the patch instead of
/// holding every later one back.
pub const PATCH_WAIT: Duration = Duration::from_secs(10);

/// The dispatcher worker's name, in DevTools and in messages.
const DISPATCHER: &str = "dispatcher worker";

/// Rayon thread `index`'s worker's name, in DevTools and in messages.
fn thread_name(index: u32) -> String {
    format!("rayon thread {index}")
}

/// The page's handle on the pool; clones share it.
#[derive(Clone)]
pub struct Pool {
    inner: Rc<Inner>,
}

struct Inner {
    threads: Vec<Worker>,
    dispatcher: Worker,
    pending: Pending,
    stopped: Stopped,
    next_id: Cell<u32>,
    // Kept alive for as long as the workers can call them.
    _handlers: Vec<Closure<dyn FnMut(JsValue)>>,
}

impl Pool {
    /// Starts `size` rayon threads and the dispatcher, each on a Web Worker
    /// sharing this page's memory, and resolves once every one is running.
    ///
    /// Call it from the page, once: the page must be cross-origin isolated
    /// (else the memory cannot be shared), and an app has one pool.
    pub async fn start(size: u32) -> Result<Pool, String> {
        if size == 0 {
            return Err("a pool needs at least one thread".into());
        }
        worker::report_panics_to_the_page();
        let pending: Pending = Rc::default();
        let stopped: Stopped = Rc::default();
        let mut handlers = Vec::new();
        let threads = (0..size)
            .map(|index| spawn_worker(&thread_name(index), &pending, &stopped, &mut handlers))
            .collect::<Result<Vec<_>, _>>()?;
        let dispatcher = spawn_worker(DISPATCHER, &pending, &stopped, &mut handlers)?;
        let pool = Pool {
            inner: Rc::new(Inner {
                threads,
                dispatcher,
                pending,
                stopped,
                // Ids below `size` are the threads' start-up replies, `size` the dispatcher's.
                next_id: Cell::new(size + 1),
                _handlers: handlers,
            }),
        };
        let started: Vec<Promise> = (0..=size).map(|id| pool.expect_reply(id)).collect();
        let built = rayon::ThreadPoolBuilder::new()
            .num_threads(size as usize)
            .thread_name(|index| format!("rayon-web-{index}"))
            // Runs on each new thread before any job: load the patches the
            // page has applied so far (none, unless the pool starts late),
            // then tell the page.
            .start_handler(|index| {
                let message = Message::new("started", index as u32);
                if let Err(err) = crate::load_patches_on_this_thread() {
                    message.set_kind("error");
                    message.set_message(&err);
                }
                worker::post_to_page(&message)
            })
            .spawn_handler(|thread| {
                let index = thread.index() as u32;
                let message = init_message("thread", index);
                // The worker takes ownership: `worker::thread_run` runs it.
                message.set_builder(handoff::send(thread));
                pool.inner.threads[index as usize]
                    .post_message(&message)
                    .map_err(|err| std::io::Error::other(describe(&err)))
            })
            .build()
            .map_err(|err| format!("cannot start the rayon pool: {err}"))?;
        POOL.set(built)
            .map_err(|_| "the rayon pool was started twice")?;
        pool.inner
            .dispatcher
            .post_message(&init_message("dispatcher", size))
            .map_err(|err| describe(&err))?;
        settle_all(started).await?;
        Ok(pool)
    }

    /// How many rayon threads the pool has.
    pub fn size(&self) -> u32 {
        self.inner.threads.len() as u32
    }

    /// Runs `op` on the pool, as `ThreadPool::install` would, without blocking
    /// the page: `op` can use rayon's parallel iterators, `join` and `scope`.
    pub async fn run<T: Send + 'static>(
        &self,
        op: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, String> {
        self.submit(move |pool, reply| pool.spawn(move || reply.send(op())))
            .await
    }

    /// Runs `f(thread_index)` exactly once on every rayon thread and resolves
    /// with each thread's index and result, in index order, once all have.
    ///
    /// This is the one way to reach an idle rayon thread: it sleeps inside
    /// rayon and never returns to its worker's event loop, so a message
    /// cannot reach it, but a job can (`ThreadPool::spawn_broadcast`). A
    /// thread runs `f` when it takes its next job: a busy thread when it
    /// finishes the job it is in, or while it waits inside a `join` or
    /// `scope` (rayon runs other jobs there, so `f` may run in the middle of
    /// one of the app's functions, with its frames below on the stack). A
    /// thread that never finishes a job never runs `f`, and this never
    /// resolves (a patch stops waiting after [`PATCH_WAIT`]).
    pub async fn at_safe_point<R: Send + 'static>(
        &self,
        f: impl Fn(usize) -> R + Send + Sync + 'static,
    ) -> Result<Vec<(u32, R)>, String> {
        self.submit(move |pool, reply| broadcast(pool, f, move |results| reply.send(results)))
            .await
    }

    /// Hands `job` to the dispatcher and waits for the reply it arranges.
    async fn submit<T: Send + 'static>(
        &self,
        job: impl FnOnce(&'static ThreadPool, Reply<T>) + Send + 'static,
    ) -> Result<T, String> {
        self.submit_within(None, job)
            .await
            .map_err(|late| match late {
                Late::Failed(err) => err,
                Late::TimedOut => unreachable!("no time limit was set"),
            })
    }

    /// [`Pool::submit`], giving up after `limit` if one is set. A reply
    /// that comes after that is dropped (its value is leaked: a few bytes).
    async fn submit_within<T: Send + 'static>(
        &self,
        limit: Option<Duration>,
        job: impl FnOnce(&'static ThreadPool, Reply<T>) + Send + 'static,
    ) -> Result<T, Late> {
        let inner = &self.inner;
        if let Some(why) = inner.stopped.borrow().clone() {
            return Err(Late::Failed(why));
        }
        let id = inner.next_id.get();
        inner.next_id.set(id.wrapping_add(1).max(self.size() + 1));
        let replied = self.expect_reply(id);
        let reply = Reply {
            id,
            value: PhantomData,
        };
        let job: Job = Box::new(move |pool| job(pool, reply));
        let address = handoff::send(job);
        let message = Message::new("run", id);
        message.set_job(address);
        if let Err(err) = inner.dispatcher.post_message(&message) {
            // SAFETY: not posted, so this is the one owner of the job.
            drop(unsafe { handoff::take::<Job>(address) });
            inner.pending.borrow_mut().remove(&id);
            return Err(Late::Failed(describe(&err)));
        }
        // The timer resolves with `undefined`, a reply is a message.
        let replied = match limit {
            Some(limit) => Promise::race(&Array::of2(&replied, &timer(limit))),
            None => replied,
        };
        let done = JsFuture::from(replied)
            .await
            .map_err(|err| Late::Failed(describe(&err)))?;
        if done.is_undefined() {
            inner.pending.borrow_mut().remove(&id);
            return Err(Late::TimedOut);
        }
        let done: Message = done.unchecked_into();
        let value = done
            .value()
            .ok_or_else(|| Late::Failed("the pool replied without a value".into()))?;
        // SAFETY: only `Reply::<T>::send` posts `done` for this id, once, with
        // the address of a boxed `T`.
        Ok(unsafe { handoff::take::<T>(value) })
    }

    fn expect_reply(&self, id: u32) -> Promise {
        Promise::new(&mut |resolve, reject| {
            self.inner
                .pending
                .borrow_mut()
                .insert(id, (resolve, reject));
        })
    }
}

/// Why a request got no answer.
enum Late {
    Failed(String),
    TimedOut,
}

/// The dispatcher first (the job runs there), then every rayon thread at its
/// safe point: every worker that holds an instance of the app's module.
/// Gives up after [`PATCH_WAIT`], saying how many threads did not get there.
impl EveryThread for Pool {
    fn run_everywhere(
        &self,
        task: ThreadTask,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>>>> {
        let pool = self.clone();
        Box::pin(async move {
            let reached = Arc::new(AtomicU32::new(0));
            let counted = reached.clone();
            let answer = pool
                .submit_within(Some(PATCH_WAIT), move |rayon, reply| {
                    let dispatcher = task();
                    broadcast(
                        rayon,
                        move |_| {
                            counted.fetch_add(1, Ordering::SeqCst);
                            task()
                        },
                        move |threads| reply.send((dispatcher, threads)),
                    )
                })
                .await;
            let (dispatcher, threads) = match answer {
                Ok(answer) => answer,
                Err(Late::Failed(err)) => return Err(err),
                Err(Late::TimedOut) => {
                    let missing = pool.size().saturating_sub(reached.load(Ordering::SeqCst));
                    return Err(format!(
                        "{missing} of {} rayon threads did not reach a safe point within {} s: \
                         each is still in one job, which neither ended nor waited in a `join` \
                         or `scope`; save again once it has",
                        pool.size(),
                        PATCH_WAIT.as_secs()
                    ));
                }
            };
            dispatcher.map_err(|err| format!("{DISPATCHER}: {err}"))?;
            for (index, result) in threads {
                result.map_err(|err| format!("{}: {err}", thread_name(index)))?;
            }
            Ok(())
        })
    }
}

/// A promise that resolves with `undefined` after `limit`.
fn timer(limit: Duration) -> Promise {
    Promise::new(&mut |resolve, _| {
        if let Some(window) = web_sys::window() {
            let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(
                &resolve,
                limit.as_millis() as i32,
            );
        }
    })
}

/// A module worker named `name` running `worker.js`, whose replies settle
/// `pending`, and whose panic stops the pool.
fn spawn_worker(
    name: &str,
    pending: &Pending,
    stopped: &Stopped,
    handlers: &mut Vec<Closure<dyn FnMut(JsValue)>>,
) -> Result<Worker, String> {
    let options = WorkerOptions::new();
    options.set_type(WorkerType::Module);
    options.set_name(name);
    // Shipped with the wasm-bindgen output (its `snippets/`): the app serves
    // it with the rest of the page, nothing to copy.
    let script = wasm_bindgen::link_to!(module = "/src/pool/worker.js");
    let worker = Worker::new_with_options(&script, &options).map_err(|err| describe(&err))?;
    let on_message = {
        let (pending, stopped, name) = (pending.clone(), stopped.clone(), name.to_string());
        Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
            let message: Message = event
                .unchecked_into::<MessageEvent>()
                .data()
                .unchecked_into();
            if message.kind().as_deref() == Some("panicked") {
                stop(&name, &message, &pending, &stopped);
            } else {
                settle(&pending, message);
            }
        })
    };
    // A worker that fails to load, or whose thread traps (a panic is an abort
    // with `panic_abort`), never replies: fail what is waiting instead of
    // leaving it pending for ever.
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
}

/// What makes a worker an instance of the app sharing the page's memory.
fn init_message(role: &str, id: u32) -> Message {
    let message = Message::new("init", id);
    message.set_role(role);
    message.set_glue_url(&GLUE_URL.with(String::clone));
    message.set_module(&wasm_bindgen::module());
    message.set_memory(&wasm_bindgen::memory());
    message
}

/// The way back to the page for one request's result, usable on any thread.
struct Reply<T> {
    id: u32,
    value: PhantomData<fn(T)>,
}

impl<T: Send + 'static> Reply<T> {
    fn send(self, value: T) {
        let message = Message::new("done", self.id);
        message.set_value(handoff::send(value));
        worker::post_to_page(&message);
    }
}

/// A thread of the pool panicked (`worker` says which): whatever waits for
/// the pool fails with the panic, and so does all work asked of it later.
fn stop(worker: &str, message: &Message, pending: &Pending, stopped: &Stopped) {
    let text = message.message().unwrap_or_default();
    let at = message.at();
    let why = match &at {
        Some(at) => format!("the pool stopped: {worker} panicked at {at}: {text}"),
        None => format!("the pool stopped: {worker} panicked: {text}"),
    };
    stopped.borrow_mut().get_or_insert(why.clone());
    fail_all(pending, &why);
    #[cfg(debug_assertions)]
    crate::web::worker_panicked(worker, text, at);
}

/// Routes a worker's message to the request it answers.
fn settle(pending: &Pending, message: Message) {
    let Some(id) = message.id() else {
        web_sys::console::warn_2(&"pool: a message without an id".into(), &message);
        return;
    };
    let Some((resolve, reject)) = pending.borrow_mut().remove(&id) else {
        return;
    };
    if message.kind().as_deref() == Some("error") {
        let text = message.message().unwrap_or_default();
        let _ = reject.call1(&JsValue::NULL, &format!("pool worker: {text}").into());
    } else {
        let _ = resolve.call1(&JsValue::NULL, &message);
    }
}

fn fail_all(pending: &Pending, message: &str) {
    let failed: Vec<_> = pending.borrow_mut().drain().collect();
    for (_, (_, reject)) in failed {
        let _ = reject.call1(&JsValue::NULL, &message.into());
    }
}

/// Waits for every start-up reply to settle, then fails with the first
/// rejection, if any (rather than at the first one, while others still start).
async fn settle_all(promises: Vec<Promise>) -> Result<(), String> {
    let outcomes: Array = JsFuture::from(Promise::all_settled(
        &promises.into_iter().collect::<Array>(),
    ))
    .await
    .map_err(|err| describe(&err))?
    .unchecked_into();
    for outcome in outcomes.iter() {
        let field = |name: &str| js_sys::Reflect::get(&outcome, &name.into()).unwrap_or_default();
        if field("status") == "rejected" {
            return Err(describe(&field("reason")));
        }
    }
    Ok(())
}
