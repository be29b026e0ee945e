//! Hot boundaries for long-lived things.
//!
//! subsecond redirects a call only where code enters through `HotFn`. Anything
//! built once and kept (a router, a handler table) would hold on to the old
//! functions for ever. [`Rebuilt`] keeps such a value, builds it again through
//! the hot boundary after every patch, and swaps it in atomically, so readers
//! never wait and never see a half-built value.

use std::sync::Arc;

use arc_swap::ArcSwap;
use subsecond::HotFn;

/// A value built by a hot function and rebuilt after every patch.
pub struct Rebuilt<T> {
    current: ArcSwap<T>,
}

impl<T: Send + Sync + 'static> Rebuilt<T> {
    /// Build the value with `build(args)` now and again after each patch.
    ///
    /// Pass the function item you will edit (`build_router`), not a closure that
    /// calls it: subsecond looks up the function it is handed, and an unchanged
    /// closure would keep calling the old `build_router`.
    ///
    /// If a rebuild panics, the previous value stays in place.
    pub fn new<A, F>(build: F, args: A) -> Arc<Self>
    where
        A: Clone + Send + Sync + 'static,
        F: Fn(A) -> T + Copy + Send + Sync + 'static,
    {
        let rebuilt = Arc::new(Rebuilt {
            current: ArcSwap::from_pointee(HotFn::current(build).call((args.clone(),))),
        });
        let weak = Arc::downgrade(&rebuilt);
        subsecond::register_handler(Arc::new(move || {
            let Some(rebuilt) = weak.upgrade() else {
                return;
            };
            let args = args.clone();
            let rebuild = std::panic::AssertUnwindSafe(move || HotFn::current(build).call((args,)));
            match std::panic::catch_unwind(rebuild) {
                Ok(value) => rebuilt.current.store(Arc::new(value)),
                Err(panic) => crate::log_error(&format!(
                    "rebuilding after the patch panicked, keeping the previous value: {}",
                    crate::panic_message(&panic)
                )),
            }
        }));
        rebuilt
    }

    /// The value as of the latest patch. Cheap: an atomic load and a refcount.
    pub fn current(&self) -> Arc<T> {
        self.current.load_full()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(n: u32) -> Vec<u32> {
        vec![n; 3]
    }

    #[test]
    fn builds_once_at_start() {
        let rebuilt = Rebuilt::new(build, 7);
        assert_eq!(*rebuilt.current(), vec![7, 7, 7]);
    }
}
