//! A counter page hot-patched by `dx serve --hot-patch --bundle web`.
//!
//! The state and the event listeners are set up once, here, and never
//! patched. Every click and every patch enters the hot code in `view.rs`
//! through `HotFn`, so an edit there shows up without a reload and without
//! losing the count.

#[cfg(target_arch = "wasm32")]
mod page;
// On the host only the unit tests use it.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
mod view;

#[cfg(target_arch = "wasm32")]
fn main() {
    page::start();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("wasm_hotswap_example runs in the browser: start it with `scripts/dev wasm`");
    std::process::exit(2);
}
