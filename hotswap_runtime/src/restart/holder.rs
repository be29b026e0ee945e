//! The holder: a process that keeps one app's listening socket open for the
//! whole dx session and hands it to each new process of the app.
//!
//! It is the app's own executable started again (`/proc/self/exe`, the one
//! program sure to be there), with [`dev::HOLDER_ENV`] set; the first call
//! into the library lands here and never returns. Its standard input is the
//! Unix socket it answers on (bound by the app under an abstract name, so
//! nothing is left on disk); stdout and stderr are closed: it reports through
//! the apps it answers.
//!
//! It never accepts on the TCP socket: connections that arrive between two
//! processes of the app wait in the kernel's backlog for the next one.
//!
//! It exits, and the port closes, when
//! - the dx that started the session exits (however it died: a pidfd tells);
//! - no process of the app has had the socket for [`UNCLAIMED`] (the app
//!   crashed and dx is not starting another);
//! - it cannot watch dx (no pidfd): better no holder than one that outlives dx.

use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::process::{Pid, PidfdFlags};

use super::{dev, wire};

/// How long the socket stays open with no process of the app holding it.
/// dx starts the new process as soon as the old one is gone, so the next
/// claim comes within a second or two even on a loaded machine.
const UNCLAIMED: Duration = Duration::from_secs(10);

/// How long one request may take to arrive: a stuck peer must not stall the holder.
const REQUEST: Duration = Duration::from_secs(2);

pub(super) fn run() -> ! {
    let code = match Holder::start().map(|holder| holder.serve()) {
        Ok(()) => 0,
        Err(_) => 1,
    };
    std::process::exit(code)
}

struct Holder {
    control: UnixListener,
    session: String,
    /// dx, to exit with it.
    dx: OwnedFd,
    dx_pid: u32,
    /// The socket, once the first process has given it.
    listener: Option<OwnedFd>,
    /// The process of the app that has the socket now, while it runs.
    claimant: Option<OwnedFd>,
    unclaimed_since: Option<Instant>,
}

impl Holder {
    fn start() -> std::io::Result<Holder> {
        let control = UnixListener::from(std::io::stdin().as_fd().try_clone_to_owned()?);
        let session = dev::session().ok_or_else(|| other("no dx session"))?;
        let dx_pid: u32 = std::env::var(dev::DX_PID_ENV)
            .ok()
            .and_then(|pid| pid.parse().ok())
            .ok_or_else(|| other("no dx pid"))?;
        let dx = pidfd(dx_pid)?;
        // The app that started us holds the socket until it stops.
        let claimant = pidfd(std::os::unix::process::parent_id()).ok();
        Ok(Holder {
            control,
            session,
            dx,
            dx_pid,
            listener: None,
            unclaimed_since: claimant.is_none().then(Instant::now),
            claimant,
        })
    }

    fn serve(mut self) {
        loop {
            let timeout = self.unclaimed_since.map(|since| {
                let left = UNCLAIMED.saturating_sub(since.elapsed());
                Timespec {
                    tv_sec: left.as_secs() as _,
                    tv_nsec: left.subsec_nanos() as _,
                }
            });
            let mut fds = vec![
                PollFd::new(&self.control, PollFlags::IN),
                PollFd::new(&self.dx, PollFlags::IN),
            ];
            if let Some(claimant) = &self.claimant {
                fds.push(PollFd::new(claimant, PollFlags::IN));
            }
            match rustix::event::poll(&mut fds, timeout.as_ref()) {
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => continue,
                Err(_) => return,
            }
            let ready: Vec<bool> = fds.iter().map(|fd| !fd.revents().is_empty()).collect();
            drop(fds);
            if ready[1] {
                return; // dx is gone: so is the session
            }
            if ready.get(2) == Some(&true) {
                self.claimant = None;
                self.unclaimed_since = Some(Instant::now());
            }
            if ready[0] {
                if let Ok((stream, _)) = self.control.accept() {
                    self.answer(stream);
                }
            }
            if self
                .unclaimed_since
                .is_some_and(|since| since.elapsed() >= UNCLAIMED)
            {
                return;
            }
        }
    }

    fn answer(&mut self, stream: UnixStream) {
        // Only this user's processes: the abstract name is open to all.
        let peer = match rustix::net::sockopt::socket_peercred(&stream) {
            Ok(peer) if peer.uid == rustix::process::getuid() => peer,
            _ => return,
        };
        let _ = stream.set_read_timeout(Some(REQUEST));
        let Ok((request, fd)) = wire::recv(&stream) else {
            return;
        };
        let request = String::from_utf8_lossy(&request);
        let (verb, session) = request.split_once('\n').unwrap_or((&request, ""));
        if session != self.session {
            let reply = format!(
                "B held for another dx session (dx pid {}, {})",
                self.dx_pid, self.session
            );
            return reply_plain(&stream, &reply);
        }
        match (verb, fd) {
            ("give", Some(fd)) if self.listener.is_none() => {
                self.listener = Some(fd);
                reply_plain(&stream, "Y");
            }
            ("claim", _) => match &self.listener {
                Some(listener) => {
                    if wire::send(&stream, b"Y", Some(listener.as_fd())).is_ok() {
                        self.claimant = pidfd(peer.pid.as_raw_nonzero().get() as u32).ok();
                        self.unclaimed_since = self.claimant.is_none().then(Instant::now);
                    }
                }
                None => reply_plain(&stream, "E the holder has no socket yet"),
            },
            (verb, _) => reply_plain(&stream, &format!("E cannot do {verb:?}")),
        }
    }
}

fn reply_plain(stream: &UnixStream, reply: &str) {
    if wire::send(stream, reply.as_bytes(), None).is_err() {
        let _ = (&*stream).write_all(reply.as_bytes());
    }
}

fn pidfd(pid: u32) -> std::io::Result<OwnedFd> {
    let pid = Pid::from_raw(pid as i32).ok_or_else(|| other("no such pid"))?;
    Ok(rustix::process::pidfd_open(pid, PidfdFlags::empty())?)
}

fn other(message: &str) -> std::io::Error {
    std::io::Error::other(message.to_string())
}
