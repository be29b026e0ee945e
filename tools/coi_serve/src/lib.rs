//! The cross-origin isolation a page needs before browsers let it share wasm
//! memory with workers (`crossOriginIsolated === true`), on axum and
//! tower-http: [`isolated`] adds the headers to every response of a router
//! (`wasm_mt_dev` wraps its dev server in it), and [`Server`] serves a folder
//! with them (`scripts/build-mt --serve`, the browser tests, `scripts/bench mt`).
//!
//! ```no_run
//! let server = coi_serve::Server::bind("dist/mt".as_ref(), 0).unwrap();
//! let url = format!("http://{}/", server.spawn());
//! ```

use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::Path;

use axum::http::{header, HeaderName, HeaderValue};
use axum::Router;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

/// Sent with every response, errors included.
pub const ISOLATION_HEADERS: [(&str, &str); 3] = [
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Cross-Origin-Embedder-Policy", "require-corp"),
    // Lets other isolated pages on this origin embed these files too.
    ("Cross-Origin-Resource-Policy", "same-origin"),
];

/// `router` with [`ISOLATION_HEADERS`] on every response.
pub fn isolated<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    ISOLATION_HEADERS
        .into_iter()
        .fold(router, |router, (name, value)| {
            router.layer(SetResponseHeaderLayer::overriding(
                HeaderName::from_bytes(name.as_bytes()).expect("valid header names"),
                HeaderValue::from_static(value),
            ))
        })
}

/// The files of `root` (a folder's `index.html` for the folder), isolated and
/// never cached, so a rebuilt page is what the next load gets.
pub fn site(root: &Path) -> Router {
    isolated(files(root))
}

/// The files of `root`, never cached: a browser that reloads a rebuilt page
/// must not take the glue from its cache and the module from the server (or
/// the other way round), which then do not fit.
pub fn files<S: Clone + Send + Sync + 'static>(root: &Path) -> Router<S> {
    Router::new()
        .fallback_service(ServeDir::new(root))
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
}

/// A folder served on 127.0.0.1 by [`site`].
pub struct Server {
    listener: TcpListener,
    router: Router,
}

impl Server {
    /// Binds 127.0.0.1:`port` (0 for any free port) to serve `root`.
    pub fn bind(root: &Path, port: u16) -> io::Result<Server> {
        if !root.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                format!("{} is not a folder", root.display()),
            ));
        }
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port))?;
        // tokio takes the listener over; it must not block its thread.
        listener.set_nonblocking(true)?;
        Ok(Server {
            listener,
            router: site(root),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until the process ends, on the calling thread.
    pub fn run(self) -> io::Result<()> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()?;
        runtime.block_on(async {
            let listener = tokio::net::TcpListener::from_std(self.listener)?;
            axum::serve(listener, self.router).await
        })
    }

    /// Serves on a background thread for the rest of the process and returns
    /// the address, e.g. for a test.
    pub fn spawn(self) -> SocketAddr {
        let addr = self.addr();
        std::thread::spawn(move || {
            if let Err(err) = self.run() {
                eprintln!("coi_serve: the server on {addr} stopped: {err}");
            }
        });
        addr
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

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
        dir
    }

    /// The response to one request, head and body, with header names in
    /// lower case (HTTP/1 header names are case-insensitive).
    fn request(addr: SocketAddr, method: &str, target: &str) -> String {
        let mut stream = TcpStream::connect(addr).unwrap();
        write!(
            stream,
            "{method} {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
        format!("{}\r\n\r\n{body}", head.to_lowercase())
    }

    fn get(addr: SocketAddr, target: &str) -> String {
        request(addr, "GET", target)
    }

    fn has_isolation_headers(response: &str) -> bool {
        ISOLATION_HEADERS.iter().all(|(name, value)| {
            response.contains(&format!("\r\n{}: {value}\r\n", name.to_lowercase()))
        })
    }

    #[test]
    fn serves_files_with_isolation_headers() {
        let addr = Server::bind(&temp_root(), 0).unwrap().spawn();
        assert!(addr.ip().is_loopback());

        let index = get(addr, "/");
        assert!(index.starts_with("http/1.1 200 ok\r\n"), "{index}");
        assert!(has_isolation_headers(&index), "{index}");
        assert!(index.contains("\r\ncontent-type: text/html"), "{index}");
        assert!(index.contains("\r\ncache-control: no-store\r\n"), "{index}");
        assert!(index.ends_with("\r\n\r\n<p>hi</p>"), "{index}");

        let wasm = get(addr, "/app_bg.wasm?v=2");
        assert!(
            wasm.contains("\r\ncontent-type: application/wasm\r\n"),
            "{wasm}"
        );
        assert!(get(addr, "/sub/").ends_with("sub"));
        assert!(get(addr, "/with%20space.js").starts_with("http/1.1 200"));
    }

    #[test]
    fn errors_carry_the_headers_too() {
        let addr = Server::bind(&temp_root(), 0).unwrap().spawn();
        let missing = get(addr, "/nope.js");
        assert!(missing.starts_with("http/1.1 404"), "{missing}");
        assert!(has_isolation_headers(&missing), "{missing}");
        let post = request(addr, "POST", "/");
        assert!(post.starts_with("http/1.1 405"), "{post}");
        assert!(has_isolation_headers(&post), "{post}");
        let head = request(addr, "HEAD", "/");
        assert!(
            head.starts_with("http/1.1 200") && head.ends_with("\r\n\r\n"),
            "{head}"
        );
    }

    #[test]
    fn nothing_outside_the_root_is_reachable() {
        let root = temp_root();
        std::fs::write(root.parent().unwrap().join("coi_serve_secret.txt"), "x").unwrap();
        let addr = Server::bind(&root, 0).unwrap().spawn();
        for target in [
            "/../coi_serve_secret.txt",
            "/sub/../../coi_serve_secret.txt",
            "/%2e%2e/coi_serve_secret.txt",
            "/sub/%2e%2e/%2e%2e/coi_serve_secret.txt",
        ] {
            let response = get(addr, target);
            assert!(
                !response.starts_with("http/1.1 200"),
                "{target}: {response}"
            );
        }
    }

    #[test]
    fn a_missing_folder_is_one_readable_error() {
        let err = Server::bind(Path::new("/nonexistent/dist"), 0)
            .err()
            .unwrap();
        assert_eq!(err.to_string(), "/nonexistent/dist is not a folder");
    }
}
