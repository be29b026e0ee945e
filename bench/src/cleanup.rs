//! Stop what the benchmark started when it is interrupted.
//!
//! dx runs in a process group of its own (so stopping it also stops its
//! builds and the app it launched); Ctrl-C in a terminal therefore does not
//! reach it, and a plain `kill` of the benchmark reaches nothing at all.
//! Every child is registered here while it runs, and SIGINT/SIGTERM/SIGHUP
//! stop them all before the benchmark exits. Normal exits and panics are
//! handled by the children's own `Drop`s.

use std::sync::atomic::{AtomicI32, Ordering};

const SLOTS: usize = 16;
/// What to pass to `kill(2)`: `-pgid` for a group, `pid` for one process, 0 for a free slot.
static TARGETS: [AtomicI32; SLOTS] = [const { AtomicI32::new(0) }; SLOTS];

/// Unregisters its target when dropped.
pub struct Registered(usize);

impl Drop for Registered {
    fn drop(&mut self) {
        TARGETS[self.0].store(0, Ordering::SeqCst);
    }
}

/// Register the process group `pgid` (dx and everything it started).
pub fn group(pgid: u32) -> Registered {
    register(-(pgid as i32))
}

/// Register one process.
pub fn process(pid: u32) -> Registered {
    register(pid as i32)
}

fn register(target: i32) -> Registered {
    for (slot, cell) in TARGETS.iter().enumerate() {
        if cell
            .compare_exchange(0, target, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            return Registered(slot);
        }
    }
    panic!("more than {SLOTS} children registered for clean-up");
}

/// Install the handler; call once at start-up.
pub fn install() {
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: the handler only calls async-signal-safe functions
        // (kill, nanosleep, _exit) and reads atomics.
        unsafe {
            libc::signal(
                signal,
                on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
            );
        }
    }
}

extern "C" fn on_signal(signal: libc::c_int) {
    let kill_all = |with: libc::c_int| {
        for cell in &TARGETS {
            let target = cell.load(Ordering::SeqCst);
            if target != 0 {
                // SAFETY: kill(2) is async-signal-safe.
                unsafe { libc::kill(target, with) };
            }
        }
    };
    // TERM lets dx stop its app; KILL a moment later catches what ignored it.
    kill_all(libc::SIGTERM);
    let pause = libc::timespec {
        tv_sec: 0,
        tv_nsec: 500_000_000,
    };
    // SAFETY: nanosleep and _exit are async-signal-safe.
    unsafe {
        libc::nanosleep(&pause, std::ptr::null_mut());
    }
    kill_all(libc::SIGKILL);
    unsafe { libc::_exit(128 + signal) };
}
