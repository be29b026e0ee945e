//! A ray tracer rendered with rayon on Web Workers that share one wasm memory.
//!
//! * `scene`, `shade`: what you edit while the page is open (the scene, the
//!   shading, the sky). They live in this crate because a hot patch
//!   recompiles only the crate being edited.
//! * `render`: the rayon render, the same code natively and in the browser;
//!   each job enters the hot code through a `HotFn` boundary.
//! * `web` (wasm32 only): the rayon pool on Web Workers, its safe point on
//!   every thread, and the page.
//!
//! Everything but `web` builds and is tested on the host.

pub mod render;
pub mod scene;
pub mod shade;

#[cfg(target_arch = "wasm32")]
mod web;

/// How many rayon threads the page starts: `?workers=N` if given (1..=16),
/// else one per logical core, at least two so the page always shows threads
/// at work, and at most eight because more only adds start-up time here.
pub fn pool_size(hardware_concurrency: Option<u32>, requested: Option<&str>) -> u32 {
    if let Some(n) = requested.and_then(|s| s.trim().parse::<u32>().ok()) {
        return n.clamp(1, 16);
    }
    hardware_concurrency.unwrap_or(2).clamp(2, 8)
}

/// Runs on the page's main thread only: wasm-bindgen's thread support calls
/// the binary's `main` for the first instance and skips it in every worker.
#[cfg(target_arch = "wasm32")]
pub fn start() {
    web::page::start();
}

#[cfg(not(target_arch = "wasm32"))]
pub fn start() {
    eprintln!(
        "wasm_mt_hotswap_example runs in a browser: build and serve it with `scripts/build-mt --serve`.\n\
         For a native render, see `cargo run --release -p wasm_mt_hotswap_example --example native_bench`."
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_size_prefers_the_query_then_the_core_count() {
        assert_eq!(pool_size(Some(12), Some("3")), 3);
        assert_eq!(pool_size(None, Some("0")), 1);
        assert_eq!(pool_size(None, Some("99")), 16);
        assert_eq!(pool_size(Some(12), Some("lots")), 8);
        assert_eq!(pool_size(Some(1), None), 2);
        assert_eq!(pool_size(None, None), 2);
        assert_eq!(pool_size(Some(4), None), 4);
    }
}
