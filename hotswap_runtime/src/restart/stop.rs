//! dx's request to stop (`SIGTERM`), turned into what the app and the library do about it.
//!
//! dx stops the running app before it starts a rebuilt one: `SIGTERM`, then
//! one second, then `SIGKILL`. The library takes `SIGTERM` over (through
//! signal-hook, on a thread of its own) only when the app asked for something
//! that needs it: kept state ([`crate::keep::on_restart`]) or [`stopping`](super::stopping).
//! Then, in this order:
//! 1. the kept values are saved (first, so a slow drain cannot lose them);
//! 2. every [`Stopping`](super::Stopping) future resolves;
//! 3. if the app never asked for one, the process ends as `SIGTERM` would
//!    have ended it: nobody else would stop it.
//!
//! A second `SIGTERM` ends the process, once the first one's save is done
//! (both are handled in turn on the same thread).
//!
//! When dx dies instead, the same happens without the save, and the process
//! ends [`DX_GONE_GRACE`] later if the app has not finished by then: dx's
//! `SIGKILL` one second after its `SIGTERM` bounds a drain, and a dead dx
//! sends none, so a long request (server-sent events, a long poll) would
//! otherwise keep the port for good.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use signal_hook::consts::SIGTERM;

static STOPPING: AtomicBool = AtomicBool::new(false);
static SUBSCRIBED: AtomicBool = AtomicBool::new(false);
static WAKERS: Mutex<Vec<Waker>> = Mutex::new(Vec::new());
static CAUGHT: OnceLock<bool> = OnceLock::new();

/// How long an app that drains by itself has once dx is gone.
const DX_GONE_GRACE: Duration = Duration::from_secs(2);

/// Catch `SIGTERM` from now on, once per process, when dx started it.
/// Returns whether it is caught.
pub(crate) fn catch_sigterm() -> bool {
    *CAUGHT.get_or_init(|| {
        if !super::dev::restart_enabled() {
            return false;
        }
        let signals = signal_hook::iterator::Signals::new([SIGTERM]);
        let spawned = signals.and_then(|mut signals| {
            std::thread::Builder::new()
                .name("hotswap-stop".into())
                .spawn(move || {
                    for _ in signals.forever() {
                        stop(Why::Asked);
                    }
                })
        });
        match spawned {
            Ok(_) => true,
            Err(err) => {
                tracing::warn!("cannot catch dx's SIGTERM, so a rebuild keeps nothing: {err}");
                false
            }
        }
    })
}

/// The app stops by itself once [`poll`] resolves.
pub(super) fn subscribe() {
    SUBSCRIBED.store(true, Ordering::SeqCst);
    catch_sigterm();
}

pub(super) fn is_stopping() -> bool {
    STOPPING.load(Ordering::SeqCst)
}

pub(super) fn poll(cx: &mut Context<'_>) -> Poll<()> {
    if is_stopping() {
        return Poll::Ready(());
    }
    let mut wakers = WAKERS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if !wakers.iter().any(|waker| waker.will_wake(cx.waker())) {
        wakers.push(cx.waker().clone());
    }
    // `stop` sets the flag before it takes the wakers: checked again under the lock, no wake-up is lost.
    if is_stopping() {
        Poll::Ready(())
    } else {
        Poll::Pending
    }
}

/// Why the process stops.
#[derive(Clone, Copy, PartialEq)]
enum Why {
    /// dx asked, and will start a rebuilt process: keep what the app registered.
    Asked,
    /// dx is gone. Nothing is kept (no session will start this app again),
    /// and nothing is logged: the app's stdout was dx's pipe, and a logger
    /// that fails to write may panic.
    DxGone,
}

fn stop(why: Why) {
    if STOPPING.swap(true, Ordering::SeqCst) {
        // Asked twice: the app had its chance.
        end_as_sigterm();
    }
    if why == Why::Asked {
        tracing::info!("stopping: dx asked (SIGTERM)");
        super::kept::save_all();
    }
    let wakers = std::mem::take(
        &mut *WAKERS
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()),
    );
    wakers.into_iter().for_each(Waker::wake);
    if !SUBSCRIBED.load(Ordering::SeqCst) {
        end_as_sigterm();
    }
    if why == Why::DxGone {
        // The app drains by itself, but nobody will kill it if it never finishes.
        std::thread::sleep(DX_GONE_GRACE);
        end_as_sigterm();
    }
}

/// End the process as `SIGTERM` ends one that does not catch it.
fn end_as_sigterm() -> ! {
    let _ = signal_hook::low_level::emulate_default_handler(SIGTERM);
    std::process::exit(143)
}

/// Stop this process, as dx's `SIGTERM` would, when dx exits without
/// stopping it (dx killed): an app left running would keep the port from
/// the next session. Watched through a pidfd, so no polling.
pub(super) fn stop_with_dx() {
    static WATCHING: std::sync::Once = std::sync::Once::new();
    WATCHING.call_once(|| {
        let dx = std::os::unix::process::parent_id();
        let pidfd = rustix::process::Pid::from_raw(dx as i32)
            .filter(|_| dx > 1)
            .map(|pid| rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()));
        let Some(Ok(pidfd)) = pidfd else {
            return;
        };
        let _ = std::thread::Builder::new()
            .name("hotswap-dx-watch".into())
            .spawn(move || {
                let mut fds = [rustix::event::PollFd::new(
                    &pidfd,
                    rustix::event::PollFlags::IN,
                )];
                while let Err(rustix::io::Errno::INTR) = rustix::event::poll(&mut fds, None) {}
                if catch_sigterm() {
                    stop(Why::DxGone);
                } else {
                    end_as_sigterm();
                }
            });
    });
}
