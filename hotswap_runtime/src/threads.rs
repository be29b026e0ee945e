//! What a page whose threads share one wasm memory gives the library so that
//! patches reach every thread (see `connect_threaded`).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// Runs a closure on every thread of the app except the page's own, and
/// resolves when all have, with the first error if any did.
///
/// Where a thread runs it need not be outside the app's code: the closure
/// only loads a patch, and nothing calls the new code before every thread
/// has it and the page commits the jump table. A call the thread is in the
/// middle of (further down its stack) goes on with the code it started with.
/// What matters is that every thread runs it soon: a thread that never does
/// holds back every patch, so an implementation gives up after a while with
/// an error that says so.
///
/// A rayon app gets it from the library: `pool::Pool` (feature `rayon-pool`)
/// implements it with `ThreadPool::spawn_broadcast` (an idle rayon thread
/// never returns to its worker's event loop, so a message cannot reach it, but
/// a job can), plus a call on its dispatcher worker. A rayon thread runs the
/// broadcast when it takes its next job: after the job it is in, or while it
/// waits inside a `join` or `scope`, in the middle of the app's code. The
/// pool gives up after `pool::PATCH_WAIT`. Another kind of worker pool
/// implements it itself.
pub trait EveryThread {
    fn run_everywhere(&self, task: ThreadTask)
        -> Pin<Box<dyn Future<Output = Result<(), String>>>>;
}

/// What [`EveryThread::run_everywhere`] runs on each thread.
pub type ThreadTask = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

/// Loads, on the calling thread, every patch the page has applied that this
/// thread has not loaded yet, in order. Call it when a thread starts, so that
/// a thread started after a patch catches up before it runs the app's code.
/// Does nothing in a release build.
pub fn load_patches_on_this_thread() -> Result<(), String> {
    #[cfg(debug_assertions)]
    return crate::web::threaded::catch_up();
    #[cfg(not(debug_assertions))]
    Ok(())
}
