//! An axum server hot-patched by `dx serve --hot-patch` without dropping a connection.
//!
//! What lives here is built once and never patched: the listener, the shared
//! state, and a service that forwards every request to the router of the
//! moment. Everything in `app.rs` is reached through a hot boundary and
//! picks up each patch.
//!
//! When dx has to rebuild instead (a save that cannot be a patch), the next
//! process gets the same listening socket and the counters back, through
//! `hotswap_runtime::listen` and `hotswap_runtime::keep`, and this one stops
//! gracefully on `hotswap_runtime::stopping()`.

mod app;
mod state;

use std::convert::Infallible;
use std::io::IsTerminal;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::http::HeaderValue;
use hotswap_runtime::Rebuilt;
use tower::ServiceExt;

use state::Stats;

#[tokio::main]
async fn main() {
    init_logging();
    let addr = match listen_addr() {
        Ok(addr) => addr,
        Err(err) => fail(&err),
    };
    // Under dx the socket outlives this process: a rebuilt server takes it
    // over, and connections made in between wait instead of being refused.
    let listener = match hotswap_runtime::listen(addr).and_then(tokio::net::TcpListener::from_std) {
        Ok(listener) => listener,
        Err(err) => fail(&format!(
            "cannot listen on {addr}: {err} (set PORT to use another port)"
        )),
    };

    // The counters a previous process of this dev session kept, if any.
    let stats = Arc::new(Stats::restored(hotswap_runtime::keep::restored("stats")));
    hotswap_runtime::keep::on_restart("stats", {
        let stats = stats.clone();
        move || stats.clone()
    });
    // The router is a hot boundary: rebuilt through `app::build_router` after
    // every patch, so added or removed routes take effect at once.
    let router = Rebuilt::new(app::build_router, stats.clone());
    hotswap_runtime::connect({
        let stats = stats.clone();
        move || stats.count_patch()
    });

    // The listener never sees a new router; it asks for the current one per request,
    // so keep-alive connections switch to new routes on their next request.
    let sockets = stats.clone();
    let service = tower::service_fn(move |request: Request| {
        stats.count_request();
        let router = router.current();
        async move {
            let mut response = router.as_ref().clone().oneshot(request).await?;
            // This code is never patched, and reads the same static as the
            // patched handlers: `x-greeted` and `/greeted` always agree.
            response
                .headers_mut()
                .insert("x-greeted", HeaderValue::from(app::greeted()));
            Ok::<_, Infallible>(response)
        }
    });

    tracing::info!("serving on http://{addr}");
    let served = axum::serve(listener, tower::make::Shared::new(service))
        .with_graceful_shutdown(async {
            // Ctrl-C, or dx stopping this process to start a rebuilt one:
            // stop accepting, finish the requests in flight, close idle
            // keep-alive connections.
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                () = hotswap_runtime::stopping() => {}
            }
        })
        .await;
    if let Err(err) = served {
        fail(&format!("server stopped: {err}"));
    }
    // Upgraded connections are not the server's to wait for: each open
    // WebSocket sends its close frame on `stopping` (app.rs). dx kills the
    // process one second after asking it to stop, so wait half of that.
    let _ = tokio::time::timeout(Duration::from_millis(500), sockets.sockets_closed()).await;
}

/// Log lines on stdout (dx shows an app's stderr as errors), `info` and up
/// unless `RUST_LOG` says otherwise, e.g. `RUST_LOG=hotswap_runtime=debug`.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stdout().is_terminal())
        .init();
}

/// `HOST` (default 127.0.0.1, loopback only) and `PORT` (default 3000).
fn listen_addr() -> Result<SocketAddr, String> {
    let host = match std::env::var("HOST") {
        Ok(host) => host
            .parse::<IpAddr>()
            .map_err(|_| format!("HOST={host:?} is not an IP address (try HOST=127.0.0.1)"))?,
        Err(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
    };
    let port = match std::env::var("PORT") {
        Ok(port) => port
            .parse::<u16>()
            .map_err(|_| format!("PORT={port:?} is not a port number (try PORT=3000)"))?,
        Err(_) => 3000,
    };
    Ok(SocketAddr::new(host, port))
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1)
}
