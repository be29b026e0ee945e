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

/// Answer without a descriptor. A peer that went away needs no answer.
fn reply_plain(stream: &UnixStream, reply: &str) {
    let _ = wire::send(stream, reply.as_bytes(), None);
}

fn pidfd(pid: u32) -> std::io::Result<OwnedFd> {
    let pid = Pid::from_raw(pid as i32).ok_or_else(|| other("no such pid"))?;
    Ok(rustix::process::pidfd_open(pid, PidfdFlags::empty())?)
}

fn other(message: &str) -> std::io::Error {
    std::io::Error::other(message.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A holder as the app's first process leaves it, answering in this process.
    fn holder(listener: Option<&TcpListener>) -> Holder {
        let name = format!(
            "hotswap_runtime/test/{}/{:?}",
            std::process::id(),
            Instant::now()
        );
        let address = std::os::unix::net::SocketAddr::from_abstract_name(name).unwrap();
        use std::os::linux::net::SocketAddrExt;
        Holder {
            control: UnixListener::bind_addr(&address).unwrap(),
            session: "/tmp/session-a".into(),
            dx: pidfd(std::process::id()).unwrap(),
            dx_pid: std::process::id(),
            listener: listener.map(|listener| listener.as_fd().try_clone_to_owned().unwrap()),
            claimant: None,
            unclaimed_since: Some(Instant::now()),
        }
    }

    /// Send `request` (and `fd`) to `holder` as an app would; returns the reply.
    fn ask(
        holder: &mut Holder,
        request: &str,
        fd: Option<&TcpListener>,
    ) -> (String, Option<OwnedFd>) {
        let (app, theirs) = UnixStream::pair().unwrap();
        wire::send(&app, request.as_bytes(), fd.map(|fd| fd.as_fd())).unwrap();
        holder.answer(theirs);
        let (reply, fd) = wire::recv(&app).unwrap();
        (String::from_utf8(reply).unwrap(), fd)
    }

    #[test]
    fn hands_the_socket_it_was_given_to_its_own_session_only() {
        let socket = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = socket.local_addr().unwrap().port();
        let mut holder = holder(None);
        let (reply, _) = ask(&mut holder, "claim\n/tmp/session-a", None);
        assert!(reply.starts_with('E'), "nothing to hand yet: {reply}");

        assert_eq!(
            ask(&mut holder, "give\n/tmp/session-a", Some(&socket)).0,
            "Y"
        );
        let (reply, fd) = ask(&mut holder, "claim\n/tmp/session-a", None);
        assert_eq!(reply, "Y");
        let claimed = TcpListener::from(fd.expect("the socket"));
        assert_eq!(claimed.local_addr().unwrap().port(), port);
        assert!(holder.claimant.is_some(), "the claimant is watched");
        assert!(holder.unclaimed_since.is_none());

        let (reply, fd) = ask(&mut holder, "claim\n/tmp/session-b", None);
        assert!(fd.is_none());
        assert!(
            reply.starts_with("B held for another dx session"),
            "{reply}"
        );
    }

    #[test]
    fn a_garbled_request_is_answered_not_obeyed() {
        let socket = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut holder = holder(Some(&socket));
        let (reply, fd) = ask(&mut holder, "steal\n/tmp/session-a", None);
        assert!(reply.starts_with('E') && fd.is_none(), "{reply}");
        // A second socket is not taken in place of the first.
        let other = TcpListener::bind("127.0.0.1:0").unwrap();
        let (reply, _) = ask(&mut holder, "give\n/tmp/session-a", Some(&other));
        assert!(reply.starts_with('E'), "{reply}");
    }
}
