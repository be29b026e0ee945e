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
    let listener = match claim(&name, &session) {
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
}

fn claim(name: &str, session: &str) -> Result<TcpListener, Claim> {
    let address =
        std::os::unix::net::SocketAddr::from_abstract_name(name).map_err(|_| Claim::NoHolder)?;
    let stream = UnixStream::connect_addr(&address).map_err(|_| Claim::NoHolder)?;
    let _ = stream.set_read_timeout(Some(HOLDER_START));
    let answer = wire::send(&stream, format!("claim\n{session}").as_bytes(), None)
        .and_then(|()| wire::recv(&stream));
    match answer {
        Ok((reply, Some(fd))) if reply == b"Y" => Ok(TcpListener::from(fd)),
        Ok((reply, _)) => Err(Claim::Refused(reply_text(&reply))),
        // A holder that is going away: as if there were none.
        Err(_) => Err(Claim::NoHolder),
    }
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
