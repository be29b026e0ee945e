//! One message each way between the app and the holder, over a Unix socket:
//! a few bytes, and at most one file descriptor passed with `SCM_RIGHTS`
//! (rustix's safe wrappers: the kernel duplicates the descriptor into the
//! receiving process).
//!
//! A message is everything written before the writer shuts its side down,
//! so the reader needs no framing.

use std::io::{IoSlice, IoSliceMut, Read};
use std::mem::MaybeUninit;
use std::net::Shutdown;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;

use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};

/// No message is longer: a request names a session (a path), a reply is a line.
const MAX: usize = 8 * 1024;

/// Send `bytes` (and `fd`), then shut the writing side so the peer sees the end.
pub(super) fn send(
    stream: &UnixStream,
    bytes: &[u8],
    fd: Option<BorrowedFd<'_>>,
) -> std::io::Result<()> {
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    let fds;
    if let Some(fd) = fd {
        fds = [fd];
        control.push(SendAncillaryMessage::ScmRights(&fds));
    }
    let sent = rustix::net::sendmsg(
        stream.as_fd(),
        &[IoSlice::new(bytes)],
        &mut control,
        SendFlags::NOSIGNAL,
    )?;
    // A Unix stream takes a message this small whole; the rest, if ever, goes plainly.
    if sent < bytes.len() {
        std::io::Write::write_all(&mut &*stream, &bytes[sent..])?;
    }
    stream.shutdown(Shutdown::Write)
}

/// Read one message to its end: its bytes and the descriptor that came with it, if any.
pub(super) fn recv(stream: &UnixStream) -> std::io::Result<(Vec<u8>, Option<OwnedFd>)> {
    let mut buf = vec![0u8; MAX];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let received = rustix::net::recvmsg(
        stream.as_fd(),
        &mut [IoSliceMut::new(&mut buf)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    )?;
    let mut fd = None;
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(fds) = message {
            // More than one is not ours to keep: dropping closes them.
            for received in fds {
                fd.get_or_insert(received);
            }
        }
    }
    let mut bytes = buf[..received.bytes].to_vec();
    stream
        .take((MAX - bytes.len()) as u64)
        .read_to_end(&mut bytes)?;
    Ok((bytes, fd))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn a_message_arrives_with_its_descriptor() {
        let (a, b) = UnixStream::pair().unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        send(&a, b"claim\nsession", Some(listener.as_fd())).unwrap();
        let (bytes, fd) = recv(&b).unwrap();
        assert_eq!(bytes, b"claim\nsession");
        let fd = fd.expect("the descriptor");
        assert_ne!(fd.as_raw_fd(), listener.as_raw_fd(), "a new descriptor");
        let received = std::net::TcpListener::from(fd);
        assert_eq!(
            received.local_addr().unwrap().port(),
            port,
            "the same socket"
        );
    }

    #[test]
    fn a_message_without_a_descriptor() {
        let (a, b) = UnixStream::pair().unwrap();
        send(&a, b"Y", None).unwrap();
        let (bytes, fd) = recv(&b).unwrap();
        assert_eq!((bytes.as_slice(), fd.is_none()), (&b"Y"[..], true));
    }
}
