//! The reference scene of `raytracer_core`, rendered in the browser by a fixed
//! pool of Web Workers that share one wasm memory.
//!
//! * `pool`: starts the workers and sends them one message per task (a share
//!   of a render, or a broadcast); workers return to their event loop after
//!   each, so a broadcast always gets through between renders.
//! * `worker` + `worker.js`: the worker side of those messages.
//! * `page`: the canvas, the controls and the `window.mt*` test interface.
//! * `job`: one worker's share of a render, plain Rust so the host tests it.
//!
//! Everything that touches the browser only exists on wasm32, so the
//! workspace still builds, tests and lints on the host.

pub mod job;

#[cfg(target_arch = "wasm32")]
mod js;
#[cfg(target_arch = "wasm32")]
mod page;
#[cfg(target_arch = "wasm32")]
mod pool;
#[cfg(target_arch = "wasm32")]
mod worker;

/// Runs on the page's main thread only: wasm-bindgen's thread support calls
/// the binary's `main` for the first instance and skips it in every worker.
#[cfg(target_arch = "wasm32")]
pub fn start() {
    page::start();
}

#[cfg(not(target_arch = "wasm32"))]
pub fn start() {
    eprintln!(
        "wasm_mt_hotswap_example runs in a browser: build and serve it with `scripts/build-mt --serve`.\n\
         For a native render, see `cargo run --release -p raytracer_core --example native_bench`."
    );
}
