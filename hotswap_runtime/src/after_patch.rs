//! What runs after a patch has landed, and in which order.
//!
//! subsecond calls its handlers in the order they were registered, while it
//! holds its handler lock. On wasm32 a panic aborts: a handler that panics
//! leaves that lock held, and every later patch fails inside subsecond. So
//! the library registers exactly one handler, which only records that a patch
//! landed ([`record_landing`]); the work runs after subsecond is done
//! ([`run_pending`]: natively once `apply_patch` returned, in the browser from
//! a timer of its own), each piece with its panics caught where they unwind:
//!
//! 1. every [`Rebuilt`](crate::Rebuilt) value, rebuilt through the new code;
//! 2. then the app's `on_patch` (and one "patched in N ms" report per patch
//!    that landed since the hooks last ran), which can therefore rely on the
//!    new router or view already being in place, whatever order `main` set
//!    them up in.
//!
//! Several patches can land before the hooks run (in the browser they run
//! from a timer): the hooks then run once, and the landing callback is told
//! how many landed, so that each is reported.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once, OnceLock, PoisonError};

/// Rebuilds one value; returns false once the value is gone (then it is dropped from the list).
type Rebuild = Box<dyn FnMut() -> bool + Send>;
/// Told how many patches landed since it last ran.
type Landed = Arc<dyn Fn(usize) + Send + Sync>;

#[derive(Default)]
pub(crate) struct Hooks {
    rebuilds: Mutex<Vec<Rebuild>>,
    landed: Mutex<Option<Landed>>,
}

impl Hooks {
    pub(crate) fn add_rebuild(&self, rebuild: impl FnMut() -> bool + Send + 'static) {
        lock(&self.rebuilds).push(Box::new(rebuild));
    }

    #[cfg(debug_assertions)]
    pub(crate) fn set_landed(&self, landed: impl Fn(usize) + Send + Sync + 'static) {
        *lock(&self.landed) = Some(Arc::new(landed));
    }

    /// Rebuilt values first, then the landing callback, told that `landings`
    /// patches landed. Each hook catches its own panics.
    pub(crate) fn run(&self, landings: usize) {
        // Taken out while they run: a rebuild may create another `Rebuilt`.
        let mut rebuilds = std::mem::take(&mut *lock(&self.rebuilds));
        rebuilds.retain_mut(|rebuild| rebuild());
        lock(&self.rebuilds).splice(0..0, rebuilds);
        let landed = lock(&self.landed).clone();
        if let Some(landed) = landed {
            landed(landings);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The hooks of this process, run by [`run_pending`] after a patch landed.
pub(crate) fn hooks() -> &'static Hooks {
    static HOOKS: OnceLock<Hooks> = OnceLock::new();
    static REGISTERED: Once = Once::new();
    REGISTERED.call_once(|| subsecond::register_handler(Arc::new(record_landing)));
    HOOKS.get_or_init(Hooks::default)
}

/// How many patches landed since the hooks last ran.
static PENDING: AtomicUsize = AtomicUsize::new(0);
/// How the platform gets [`run_pending`] called soon, outside the caller.
static SCHEDULE: OnceLock<fn()> = OnceLock::new();

/// subsecond's handler (and the threaded commit): note the landing, nothing
/// that could panic, and ask the platform to run the hooks later.
pub(crate) fn record_landing() {
    PENDING.fetch_add(1, Ordering::SeqCst);
    if let Some(schedule) = SCHEDULE.get() {
        schedule();
    }
}

/// Set once by a platform whose landings happen in the background (the
/// browser); without it the code that applied the patch calls [`run_pending`].
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub(crate) fn schedule_with(schedule: fn()) {
    let _ = SCHEDULE.set(schedule);
}

/// How many patches landed since the last call (the caller then owns their hooks).
pub(crate) fn take_pending() -> usize {
    PENDING.swap(0, Ordering::SeqCst)
}

/// Run the hooks if patches landed since they last ran.
pub(crate) fn run_pending() {
    let landings = take_pending();
    if landings > 0 {
        hooks().run(landings);
    }
}

/// Run `f`, turning a panic into its message.
pub(crate) fn catch(f: impl FnOnce()) -> Result<(), String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|panic| panic_message(&panic))
}

pub(crate) fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panicked".to_string())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    /// Tests that run this process's hooks take turns: each counts what ran.
    pub(crate) static PROCESS_HOOKS: Mutex<()> = Mutex::new(());

    #[test]
    fn the_handler_only_records_and_the_hooks_run_after_it() {
        let _turn = PROCESS_HOOKS.lock().unwrap_or_else(PoisonError::into_inner);
        let runs = Arc::new(AtomicU32::new(0));
        let counted = runs.clone();
        hooks().add_rebuild(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            true
        });
        record_landing();
        assert_eq!(runs.load(Ordering::SeqCst), 0, "the handler ran a hook");
        run_pending();
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        run_pending();
        assert_eq!(runs.load(Ordering::SeqCst), 1, "one landing, one run");
    }

    #[test]
    fn landings_before_the_hooks_run_are_counted_and_the_hooks_run_once() {
        let _turn = PROCESS_HOOKS.lock().unwrap_or_else(PoisonError::into_inner);
        take_pending();
        record_landing();
        record_landing();
        record_landing();
        assert_eq!(take_pending(), 3);
        assert_eq!(take_pending(), 0);
    }

    #[test]
    #[cfg(debug_assertions)]
    fn rebuilds_run_before_the_landing_callback_whatever_the_registration_order() {
        let hooks = Hooks::default();
        let order = Arc::new(Mutex::new(Vec::new()));
        let seen = order.clone();
        hooks.set_landed(move |landings| seen.lock().unwrap().push(format!("on_patch {landings}")));
        let seen = order.clone();
        hooks.add_rebuild(move || {
            seen.lock().unwrap().push("rebuild".to_string());
            true
        });
        hooks.run(1);
        hooks.run(2);
        assert_eq!(
            *order.lock().unwrap(),
            ["rebuild", "on_patch 1", "rebuild", "on_patch 2"]
        );
    }

    #[test]
    fn a_rebuild_whose_value_is_gone_is_dropped() {
        let hooks = Hooks::default();
        let runs = Arc::new(Mutex::new(0));
        let counted = runs.clone();
        hooks.add_rebuild(move || {
            *counted.lock().unwrap() += 1;
            false
        });
        hooks.run(1);
        hooks.run(1);
        assert_eq!(*runs.lock().unwrap(), 1);
    }

    #[test]
    fn catch_turns_a_panic_into_its_message() {
        assert_eq!(catch(|| {}), Ok(()));
        assert_eq!(catch(|| panic!("boom {}", 7)), Err("boom 7".to_string()));
    }
}
