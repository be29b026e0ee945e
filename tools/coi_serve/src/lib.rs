//! Serves a directory over HTTP on 127.0.0.1 with the headers that make a page
//! cross-origin isolated (`crossOriginIsolated === true`), which browsers
//! require before they let a page share wasm memory with workers:
//!
//! * `Cross-Origin-Opener-Policy: same-origin`
//! * `Cross-Origin-Embedder-Policy: require-corp`
//!
//! It is meant for one developer's browser or one test: GET and HEAD only, one
//! request per connection, a thread per connection, nothing cached.
//!
//! ```no_run
//! let server = coi_serve::Server::bind("dist/mt".as_ref(), 0).unwrap();
//! let url = format!("http://{}/", server.spawn());
//! ```

use std::io::{self, BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

/// Sent with every response, errors included.
pub const ISOLATION_HEADERS: [(&str, &str); 3] = [
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Cross-Origin-Embedder-Policy", "require-corp"),
    // Lets other isolated pages on this origin embed these files too.
    ("Cross-Origin-Resource-Policy", "same-origin"),
];

pub struct Server {
    listener: TcpListener,
    root: PathBuf,
}

impl Server {
    /// Binds 127.0.0.1:`port` (0 for any free port) to serve `root`.
    pub fn bind(root: &Path, port: u16) -> io::Result<Server> {
        let root = root.canonicalize()?;
        if !root.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                "not a directory",
            ));
        }
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port))?;
        Ok(Server { listener, root })
    }

    pub fn addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves forever on the calling thread.
    pub fn run(self) {
        for stream in self.listener.incoming().flatten() {
            let root = self.root.clone();
            std::thread::spawn(move || {
                // A browser that hangs up early is not our problem.
                let _ = handle(stream, &root);
            });
        }
    }

    /// Serves on a background thread for the rest of the process and returns
    /// the address, e.g. for a test.
    pub fn spawn(self) -> SocketAddr {
        let addr = self.addr();
        std::thread::spawn(move || self.run());
        addr
    }
}

fn handle(stream: TcpStream, root: &Path) -> io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    // Skip the headers; nothing in them changes the answer.
    let mut line = String::new();
    while reader.read_line(&mut line)? > 2 {
        line.clear();
    }

    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let response = match method {
        "GET" | "HEAD" => match resolve(root, target) {
            Some(file) => match std::fs::read(&file) {
                Ok(body) => Response::ok(content_type(&file), body),
                Err(_) => Response::status(404, "Not Found"),
            },
            None => Response::status(404, "Not Found"),
        },
        _ => Response::status(405, "Method Not Allowed"),
    };
    response.write(stream, method == "HEAD")
}

/// Maps a request target to a file under `root`, or `None` if it would leave
/// `root` or names nothing. `/` and directories mean their `index.html`.
pub fn resolve(root: &Path, target: &str) -> Option<PathBuf> {
    let path = target.split(['?', '#']).next()?;
    let decoded = percent_decode(path.strip_prefix('/')?)?;
    let relative = Path::new(&decoded);
    if !relative
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
    {
        return None;
    }
    let mut file = root.join(relative);
    if file.is_dir() {
        file.push("index.html");
    }
    // Canonicalising also follows symlinks, which must not lead out of root either.
    let file = file.canonicalize().ok()?;
    (file.starts_with(root) && file.is_file()).then_some(file)
}

fn percent_decode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hex = [bytes.next()?, bytes.next()?];
            out.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).ok()
}

pub fn content_type(file: &Path) -> &'static str {
    match file.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        // Needed for WebAssembly.instantiateStreaming.
        "wasm" => "application/wasm",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "png" => "image/png",
        "svg" => "image/svg+xml",
        "ico" => "image/x-icon",
        "txt" | "md" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

struct Response {
    status: u16,
    reason: &'static str,
    content_type: &'static str,
    body: Vec<u8>,
}

impl Response {
    fn ok(content_type: &'static str, body: Vec<u8>) -> Response {
        Response {
            status: 200,
            reason: "OK",
            content_type,
            body,
        }
    }

    fn status(status: u16, reason: &'static str) -> Response {
        Response {
            status,
            reason,
            content_type: "text/plain; charset=utf-8",
            body: format!("{status} {reason}\n").into_bytes(),
        }
    }

    fn write(self, mut stream: TcpStream, head_only: bool) -> io::Result<()> {
        let mut head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n\
             Cache-Control: no-store\r\nConnection: close\r\n",
            self.status,
            self.reason,
            self.content_type,
            self.body.len()
        );
        for (name, value) in ISOLATION_HEADERS {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes())?;
        if !head_only {
            stream.write_all(&self.body)?;
        }
        stream.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn temp_root() -> PathBuf {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "coi_serve_test_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("index.html"), "<p>hi</p>").unwrap();
        std::fs::write(dir.join("app_bg.wasm"), b"\0asm").unwrap();
        std::fs::write(dir.join("sub/index.html"), "sub").unwrap();
        std::fs::write(dir.join("with space.js"), "//").unwrap();
        dir.canonicalize().unwrap()
    }

    fn request(addr: SocketAddr, raw: &str) -> String {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.write_all(raw.as_bytes()).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response
    }

    fn get(addr: SocketAddr, path: &str) -> String {
        request(addr, &format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n"))
    }

    #[test]
    fn serves_files_with_isolation_headers() {
        let addr = Server::bind(&temp_root(), 0).unwrap().spawn();
        assert!(addr.ip().is_loopback());

        let index = get(addr, "/");
        assert!(index.starts_with("HTTP/1.1 200 OK\r\n"), "{index}");
        assert!(index.contains("Cross-Origin-Opener-Policy: same-origin\r\n"));
        assert!(index.contains("Cross-Origin-Embedder-Policy: require-corp\r\n"));
        assert!(index.contains("Content-Type: text/html"));
        assert!(index.ends_with("\r\n\r\n<p>hi</p>"));

        let wasm = get(addr, "/app_bg.wasm?v=2");
        assert!(
            wasm.contains("Content-Type: application/wasm\r\n"),
            "{wasm}"
        );
        assert!(get(addr, "/sub/").ends_with("sub"));
        assert!(get(addr, "/with%20space.js").starts_with("HTTP/1.1 200"));
    }

    #[test]
    fn errors_carry_the_headers_too() {
        let addr = Server::bind(&temp_root(), 0).unwrap().spawn();
        let missing = get(addr, "/nope.js");
        assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
        assert!(missing.contains("Cross-Origin-Embedder-Policy: require-corp"));
        let post = request(addr, "POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
        assert!(post.starts_with("HTTP/1.1 405"), "{post}");
        let head = request(addr, "HEAD / HTTP/1.1\r\n\r\n");
        assert!(
            head.starts_with("HTTP/1.1 200") && head.ends_with("\r\n\r\n"),
            "{head}"
        );
    }

    #[test]
    fn nothing_outside_the_root_is_reachable() {
        let root = temp_root();
        std::fs::write(root.parent().unwrap().join("coi_serve_secret.txt"), "x").unwrap();
        for target in [
            "/../coi_serve_secret.txt",
            "/sub/../../coi_serve_secret.txt",
            "/%2e%2e/coi_serve_secret.txt",
            "//etc/passwd",
            "/./index.html",
            "relative",
            "/%zz",
        ] {
            assert_eq!(resolve(&root, target), None, "{target}");
        }
        assert_eq!(resolve(&root, "/sub"), Some(root.join("sub/index.html")));
    }
}
