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

#[cfg(debug_assertions)]
use crate::after_patch;

/// A value built by a hot function and rebuilt after every patch.
///
/// After a patch every `Rebuilt` value is rebuilt *before* the `on_patch`
/// callback given to [`connect`](crate::connect) runs, so `on_patch` already
/// sees the new values.
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
    /// If a rebuild panics, the panic is logged, the previous value stays in
    /// place and later patches rebuild it again.
    pub fn new<A, F>(build: F, args: A) -> Arc<Self>
    where
        A: Clone + Send + Sync + 'static,
        F: Fn(A) -> T + Copy + Send + Sync + 'static,
    {
        let rebuilt = Arc::new(Rebuilt {
            current: ArcSwap::from_pointee(HotFn::current(build).call((args.clone(),))),
        });
        // A release build gets no patches: nothing to rebuild.
        #[cfg(debug_assertions)]
        rebuild_after_patches(&rebuilt, build, args);
        rebuilt
    }

    /// The value as of the latest patch. Cheap: an atomic load and a refcount.
    pub fn current(&self) -> Arc<T> {
        self.current.load_full()
    }
}

/// Build `rebuilt` again through `build` after every patch, for as long as it lives.
#[cfg(debug_assertions)]
fn rebuild_after_patches<T, A, F>(rebuilt: &Arc<Rebuilt<T>>, build: F, args: A)
where
    T: Send + Sync + 'static,
    A: Clone + Send + Sync + 'static,
    F: Fn(A) -> T + Copy + Send + Sync + 'static,
{
    let weak = Arc::downgrade(rebuilt);
    after_patch::hooks().add_rebuild(move || {
        let Some(rebuilt) = weak.upgrade() else {
            return false;
        };
        let args = args.clone();
        let mut value = None;
        match after_patch::catch(|| value = Some(HotFn::current(build).call((args,)))) {
            Ok(()) => rebuilt
                .current
                .store(Arc::new(value.expect("set by the build"))),
            Err(panic) => tracing::error!(
                value = std::any::type_name::<T>(),
                "rebuilding after the patch panicked, keeping the previous value: {panic}"
            ),
        }
        true
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn build(n: u32) -> Vec<u32> {
        vec![n; 3]
    }

    #[test]
    fn builds_once_at_start() {
        let rebuilt = Rebuilt::new(build, 7);
        assert_eq!(*rebuilt.current(), vec![7, 7, 7]);
    }

    /// What "the code" returns; a test changes it as a patch would.
    static VERSION: AtomicU32 = AtomicU32::new(1);
    /// 0: build normally; otherwise panic.
    static BROKEN: AtomicU32 = AtomicU32::new(0);

    fn versioned(base: u32) -> u32 {
        if BROKEN.load(Ordering::SeqCst) != 0 {
            panic!("the new build_router does not work");
        }
        base + VERSION.load(Ordering::SeqCst)
    }

    #[test]
    fn rebuilds_after_each_patch_and_keeps_the_old_value_when_the_rebuild_panics() {
        let _turn = after_patch::tests::PROCESS_HOOKS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let rebuilt = Rebuilt::new(versioned, 100);
        assert_eq!(*rebuilt.current(), 101);

        VERSION.store(2, Ordering::SeqCst);
        after_patch::hooks().run(1);
        assert_eq!(*rebuilt.current(), 102, "rebuilt after the patch");

        BROKEN.store(1, Ordering::SeqCst);
        VERSION.store(3, Ordering::SeqCst);
        after_patch::hooks().run(1);
        assert_eq!(
            *rebuilt.current(),
            102,
            "a panicking rebuild keeps the old value"
        );

        BROKEN.store(0, Ordering::SeqCst);
        after_patch::hooks().run(1);
        assert_eq!(*rebuilt.current(), 103, "the next patch rebuilds again");
    }
}
