//! Hot-patching for Rust apps that do not use Dioxus, driven by `dx serve --hot-patch`.
//!
//! Everything an app needs besides its own code:
//!
//! - [`connect`]: one call at start-up. It finds the dev server dx started the
//!   app with, applies each patch built for this app, and runs `on_patch` once
//!   the patch has really landed. It reconnects when dx restarts, logs and
//!   skips anything it cannot read, and in the browser draws a small status
//!   overlay (patching…, patched in N ms, build errors).
//! - [`Rebuilt`]: a hot boundary for long-lived values such as a router: built
//!   through `subsecond::HotFn`, rebuilt after every patch, swapped atomically.
//! - [`subsecond`], re-exported, for per-call boundaries:
//!   `subsecond::HotFn::current(handle_message).call((msg,))`.
//! - `pool` (wasm32, feature `rayon-pool`): a rayon pool on Web Workers that
//!   share the page's memory, with a safe point on every thread, ready for
//!   [`connect_threaded`].
//! - [`keep`]: state the app keeps when it must start again (natively: a
//!   rebuild by dx; in the browser: the reload that runs the fix of a panic).
//! - [`listen`] and [`stopping`] (native): a listening socket that stays open
//!   across dx's rebuilds, and dx's request to stop, for a graceful shutdown
//!   (see [`restart`]).
//!
//! In a release build (`debug_assertions` off) [`connect`] does nothing and
//! no dev-server code is linked in; hot boundaries become plain calls.

// What follows a patch: nothing does in a release build.
#[cfg(debug_assertions)]
mod after_patch;
pub mod boundary;
#[cfg(any(test, all(debug_assertions, target_arch = "wasm32")))]
mod dylink;
#[cfg(all(target_arch = "wasm32", any(debug_assertions, feature = "rayon-pool")))]
mod js_error;
#[cfg(any(test, all(debug_assertions, target_arch = "wasm32")))]
mod jump_slot;
pub mod keep;
pub mod message;
#[cfg(all(target_arch = "wasm32", feature = "rayon-pool"))]
pub mod pool;
#[cfg(not(target_arch = "wasm32"))]
pub mod restart;
// The pool's safe point is plain rayon, so its tests run on the host.
#[cfg(all(feature = "rayon-pool", any(test, target_arch = "wasm32")))]
mod rayon_broadcast;
pub mod status;
#[cfg(target_arch = "wasm32")]
mod threads;

// The dev-server client exists only in debug builds: a release build links none of it.
#[cfg(debug_assertions)]
mod backoff;
#[cfg(debug_assertions)]
mod session;

#[cfg(all(debug_assertions, not(target_arch = "wasm32")))]
mod native;
#[cfg(debug_assertions)]
mod statics;
#[cfg(all(debug_assertions, target_arch = "wasm32"))]
mod web;

pub use boundary::Rebuilt;
#[cfg(not(target_arch = "wasm32"))]
pub use restart::{is_stopping, listen, stopping, Stopping};
pub use status::Status;
pub use subsecond;
#[cfg(target_arch = "wasm32")]
pub use threads::{load_patches_on_this_thread, EveryThread, ThreadTask};

/// Connect to the dev server that launched this app and apply its patches.
///
/// `on_patch` runs after each patch has landed, on the thread that applied it
/// (natively a background thread, in the browser the page's thread). Calling
/// `connect` more than once connects once, with the first `on_patch`.
///
/// Natively, without dx (plain `cargo run`) this returns at once and starts nothing.
#[cfg(not(target_arch = "wasm32"))]
pub fn connect(on_patch: impl Fn() + Send + Sync + 'static) {
    restart::hold_if_holder();
    #[cfg(debug_assertions)]
    session::first_connect(|| native::connect(on_patch));
    #[cfg(not(debug_assertions))]
    drop(on_patch);
}

/// Connect to the dev server that serves this page and apply its patches.
///
/// `on_patch` runs in the page after each patch has landed (after subsecond
/// fetched and instantiated it, not when dx announced it). Calling `connect`
/// more than once connects once, with the first `on_patch`.
#[cfg(target_arch = "wasm32")]
pub fn connect(on_patch: impl Fn() + 'static) {
    #[cfg(debug_assertions)]
    session::first_connect(|| web::connect(on_patch));
    #[cfg(not(debug_assertions))]
    drop(on_patch);
}

/// Like [`connect`], for a page whose threads share one wasm memory (a rayon
/// pool on Web Workers): each patch is loaded into every thread, at the safe
/// point `threads` provides (with rayon: the `pool::Pool`, feature
/// `rayon-pool`), before any thread runs it. The page must be served by the
/// threaded patch pipeline (`scripts/dev mt`, `tools/wasm_mt_dev`).
#[cfg(target_arch = "wasm32")]
pub fn connect_threaded(on_patch: impl Fn() + 'static, threads: impl EveryThread + 'static) {
    #[cfg(debug_assertions)]
    session::first_connect(|| web::connect_threaded(on_patch, threads));
    #[cfg(not(debug_assertions))]
    drop((on_patch, threads));
}
