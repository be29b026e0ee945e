//! The app's side of the holder: claim the socket a previous process of this
//! app left, or bind it and start a holder for the processes to come.

use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsFd, OwnedFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::{dev, stop, wire};

/// How long the app waits for a new holder to take the socket (once per session).
const HOLDER_START: Duration = Duration::from_secs(10);

pub(super) fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let Some(session) = dev::session() else {
        // Not under dx: an ordinary server.
        return TcpListener::bind(addr);
    };
    let name = socket_name(addr);
    let listener = match claim(&name, &session, addr) {
        Ok(listener) => {
            tracing::info!("listening on {addr} with the socket the previous process left: connections made meanwhile waited");
            listener
        }
        Err(Claim::Refused(why)) => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                format!("the port is not free: {why}"),
            ))
        }
        Err(Claim::Untrusted(why)) => {
            // The name is taken, so no holder of ours can have it either.
            tracing::warn!(
                "binding {addr} without a holder (it will close while dx rebuilds the app): {why}"
            );
            TcpListener::bind(addr).map_err(in_use)?
        }
        Err(Claim::NoHolder) => {
            let listener = TcpListener::bind(addr).map_err(in_use)?;
            if let Err(err) = start_holder(&name, &session, &listener) {
                tracing::warn!(
                    "{addr} will close while dx rebuilds the app (connections made meanwhile are refused): \
                     cannot start the process that keeps it open: {err}"
                );
            }
            listener
        }
    };
    // The app holds the port too: it must not outlive dx either.
    stop::stop_with_dx();
    Ok(listener)
}

/// The holder's address: abstract (nothing on disk, gone with the holder),
/// one per user and listening address, so two apps on two ports have two.
fn socket_name(addr: SocketAddr) -> String {
    format!(
        "hotswap_runtime/{}/listen/{addr}",
        rustix::process::getuid().as_raw()
    )
}

enum Claim {
    /// Nobody holds this address for the app: bind it.
    NoHolder,
    /// A holder answered but will not give it (another dx session's).
    Refused(String),
    /// Whatever answers on the name is not a holder of ours: another user's
    /// process (the abstract name is open to all), or it handed a socket
    /// that is not a listener on `addr`. It is neither asked nor believed.
    Untrusted(String),
}

fn claim(name: &str, session: &str, addr: SocketAddr) -> Result<TcpListener, Claim> {
    let address =
        std::os::unix::net::SocketAddr::from_abstract_name(name).map_err(|_| Claim::NoHolder)?;
    let stream = UnixStream::connect_addr(&address).map_err(|_| Claim::NoHolder)?;
    // Before the session's path goes out: only a process of this user may hear it.
    let owner = rustix::net::sockopt::socket_peercred(&stream)
        .map(|peer| peer.uid)
        .map_err(|err| Claim::Untrusted(format!("cannot tell who answers on {name}: {err}")))?;
    check_owner(owner, rustix::process::getuid()).map_err(Claim::Untrusted)?;
    let _ = stream.set_read_timeout(Some(HOLDER_START));
    let answer = wire::send(&stream, format!("claim\n{session}").as_bytes(), None)
        .and_then(|()| wire::recv(&stream));
    match answer {
        Ok((reply, Some(fd))) if reply == b"Y" => {
            let listener = TcpListener::from(fd);
            check_listener(&listener, addr).map_err(Claim::Untrusted)?;
            Ok(listener)
        }
        Ok((reply, _)) => Err(Claim::Refused(reply_text(&reply))),
        // A holder that is going away: as if there were none.
        Err(_) => Err(Claim::NoHolder),
    }
}

/// The process that bound the holder's name must be this user's.
fn check_owner(owner: rustix::process::Uid, own: rustix::process::Uid) -> Result<(), String> {
    if owner == own {
        return Ok(());
    }
    Err(format!(
        "the name its holder would answer on is taken by another user (uid {}, not {})",
        owner.as_raw(),
        own.as_raw()
    ))
}

/// The socket handed over must be a TCP listener on `addr` (any port if its port is 0).
fn check_listener(listener: &TcpListener, addr: SocketAddr) -> Result<(), String> {
    let listening = rustix::net::sockopt::socket_acceptconn(listener).unwrap_or(false);
    let bound = listener.local_addr().ok();
    let matches = bound.is_some_and(|bound| {
        bound.ip() == addr.ip() && (addr.port() == 0 || bound.port() == addr.port())
    });
    if listening && matches {
        return Ok(());
    }
    let what = match bound {
        Some(bound) if listening => format!("a listener on {bound}"),
        Some(bound) => format!("a socket on {bound} that does not listen"),
        None => "something that is not a TCP socket".to_string(),
    };
    Err(format!(
        "the holder handed {what}, not a listener on {addr}"
    ))
}

/// Start a holder and give it `listener`; returns once it has it.
fn start_holder(name: &str, session: &str, listener: &TcpListener) -> std::io::Result<()> {
    let address = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
    // Bound here, before the holder runs: our request waits in its backlog.
    let control = UnixListener::bind_addr(&address)?;
    let app = std::env::args_os().next().unwrap_or_else(|| "app".into());
    let mut child = Command::new("/proc/self/exe")
        // What `ps` shows: whose port this process keeps open, and why.
        .arg0(format!(
            "{} (hotswap_runtime: keeps {} open across rebuilds)",
            app.to_string_lossy(),
            name.rsplit('/').next().unwrap_or(name)
        ))
        .env(dev::HOLDER_ENV, name)
        .env(
            dev::DX_PID_ENV,
            std::os::unix::process::parent_id().to_string(),
        )
        .stdin(Stdio::from(OwnedFd::from(control)))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let pid = child.id();
    // Reap it when it exits, so it leaves no zombie while the app runs.
    let _ = std::thread::Builder::new()
        .name("hotswap-holder".into())
        .spawn(move || child.wait());
    let stream = UnixStream::connect_addr(&address)?;
    stream.set_read_timeout(Some(HOLDER_START))?;
    wire::send(
        &stream,
        format!("give\n{session}").as_bytes(),
        Some(listener.as_fd()),
    )?;
    let (reply, _) = wire::recv(&stream)?;
    if reply != b"Y" {
        return Err(std::io::Error::other(if reply.is_empty() {
            "it stopped at once".to_string()
        } else {
            reply_text(&reply)
        }));
    }
    tracing::debug!(pid, "the listener holder keeps the socket across rebuilds");
    Ok(())
}

fn reply_text(reply: &[u8]) -> String {
    let text = String::from_utf8_lossy(reply);
    text.get(2..).unwrap_or(&text).to_string()
}

/// Say who has the port when it is taken, in the one line the app prints.
fn in_use(err: std::io::Error) -> std::io::Error {
    if err.kind() != std::io::ErrorKind::AddrInUse {
        return err;
    }
    std::io::Error::new(
        err.kind(),
        "the port is in use by another program (not by this app earlier in this dx session)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::process::Uid;

    #[test]
    fn a_name_bound_by_another_user_is_not_trusted() {
        let own = rustix::process::getuid();
        assert_eq!(check_owner(own, own), Ok(()));
        let other = Uid::from_raw(own.as_raw().wrapping_add(1));
        let err = check_owner(other, own).unwrap_err();
        assert!(err.contains("another user"), "{err}");
    }

    #[test]
    fn only_a_listener_on_the_address_asked_for_is_taken() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let bound = listener.local_addr().unwrap();
        assert_eq!(check_listener(&listener, bound), Ok(()));
        assert_eq!(
            check_listener(&listener, "127.0.0.1:0".parse().unwrap()),
            Ok(())
        );
        let other_port = SocketAddr::new(bound.ip(), bound.port().wrapping_add(1).max(1));
        assert!(check_listener(&listener, other_port).is_err());
        let other_ip = SocketAddr::new("0.0.0.0".parse().unwrap(), bound.port());
        assert!(check_listener(&listener, other_ip).is_err());
    }

    #[test]
    fn a_holder_that_hands_the_wrong_socket_is_not_believed() {
        let wanted: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let name = format!("hotswap_runtime/test/{}/wrong-socket", std::process::id());
        let address = std::os::unix::net::SocketAddr::from_abstract_name(&name).unwrap();
        let fake = UnixListener::bind_addr(&address).unwrap();
        let other = TcpListener::bind("127.0.0.1:0").unwrap();
        let answering = std::thread::spawn(move || {
            let (stream, _) = fake.accept().unwrap();
            let (request, _) = wire::recv(&stream).unwrap();
            assert_eq!(request, b"claim\n/tmp/session-a");
            wire::send(&stream, b"Y", Some(other.as_fd())).unwrap();
        });
        match claim(&name, "/tmp/session-a", wanted) {
            Err(Claim::Untrusted(why)) => assert!(why.contains("not a listener on"), "{why}"),
            Ok(_) => panic!("the wrong socket was taken"),
            Err(_) => panic!("not told it was the wrong socket"),
        }
        answering.join().unwrap();
    }

    #[test]
    fn a_listener_that_is_not_listening_is_not_taken() {
        // A bound TCP socket that never listens, as a confused peer might hand.
        let socket = rustix::net::socket(
            rustix::net::AddressFamily::INET,
            rustix::net::SocketType::STREAM,
            None,
        )
        .unwrap();
        rustix::net::bind(&socket, &"127.0.0.1:0".parse::<SocketAddr>().unwrap()).unwrap();
        let listener = TcpListener::from(socket);
        let bound = listener.local_addr().unwrap();
        let err = check_listener(&listener, bound).unwrap_err();
        assert!(err.contains("does not listen"), "{err}");
    }
}
