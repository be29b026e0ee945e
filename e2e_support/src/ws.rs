//! A WebSocket client for a server on 127.0.0.1: open one, ask, read the
//! answer, so a test can prove a connection opened before a patch survives it.

use std::net::TcpStream;
use std::time::Duration;

use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

/// One open WebSocket.
pub struct Socket(WebSocket<MaybeTlsStream<TcpStream>>);

impl Socket {
    /// Open `ws://127.0.0.1:<port><path>`; reads give up after 10 s.
    pub fn open(port: u16, path: &str) -> Socket {
        Socket::try_open(port, path).unwrap_or_else(|err| panic!("{err}"))
    }

    /// [`Socket::open`], or why it could not (a server that is restarting).
    pub fn try_open(port: u16, path: &str) -> Result<Socket, String> {
        let (ws, _) = tungstenite::connect(format!("ws://127.0.0.1:{port}{path}"))
            .map_err(|err| format!("cannot open a WebSocket on 127.0.0.1:{port}{path}: {err}"))?;
        if let MaybeTlsStream::Plain(stream) = ws.get_ref() {
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .map_err(|err| err.to_string())?;
        }
        Ok(Socket(ws))
    }

    /// Send `text` and return the next text message.
    pub fn ask(&mut self, text: &str) -> String {
        self.0.send(Message::text(text)).unwrap();
        loop {
            match self.0.read().expect("the WebSocket closed") {
                Message::Text(reply) => return reply.to_string(),
                _ => continue,
            }
        }
    }
}

impl Socket {
    /// Wait up to `timeout` for the server to close the socket; returns the
    /// close frame's code (`None`: closed with no frame, or not within `timeout`).
    pub fn wait_for_close(&mut self, timeout: Duration) -> Option<u16> {
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            match self.0.read() {
                Ok(Message::Close(frame)) => return frame.map(|frame| frame.code.into()),
                Ok(_) => {}
                // The read timeout: keep waiting until the deadline.
                Err(err) if is_read_timeout(&err) => {}
                Err(_) => return None,
            }
        }
        None
    }
}

/// Whether a read ended only because the socket's read timeout passed (the
/// connection is still open: read again).
pub fn is_read_timeout(err: &tungstenite::Error) -> bool {
    matches!(
        err,
        tungstenite::Error::Io(err)
            if matches!(err.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)
    )
}
