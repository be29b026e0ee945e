//! Built once, never patched: the listener, and a service that hands every
//! request to the router of the moment. Edit `app.rs` while `./dev` runs.

mod app;

use std::net::{Ipv4Addr, SocketAddr};

use axum::extract::Request;
use hotswap_runtime::Rebuilt;
use tower::ServiceExt;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() {
    // hotswap_runtime says through `tracing` when a patch lands and why one
    // failed: without a subscriber a failed patch would go unseen. dx shows
    // stdout; RUST_LOG=hotswap_runtime=debug says more.
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).init();
    let port = std::env::var("PORT").map_or(Ok(3000), |port| port.parse());
    let Ok(port) = port else {
        eprintln!("error: PORT is not a port number (try PORT=3000)");
        std::process::exit(1);
    };
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    // Under dx the socket outlives this process: when dx rebuilds the app,
    // the new process takes it over and connections made meanwhile wait.
    let listener = match hotswap_runtime::listen(addr).and_then(tokio::net::TcpListener::from_std) {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("error: cannot listen on {addr}: {err} (set PORT to use another port)");
            std::process::exit(1);
        }
    };

    // Hot boundary: the router is built by `app::router` again after every patch.
    let router = Rebuilt::new(app::router, ());
    hotswap_runtime::connect(|| println!("patched"));

    let service = tower::service_fn(move |request: Request| {
        let router = router.current();
        async move { router.as_ref().clone().oneshot(request).await }
    });
    println!("serving on http://{addr}");
    // When dx stops this process for a rebuilt one: no new connections,
    // requests in flight finish. Outside dx it never resolves.
    axum::serve(listener, tower::make::Shared::new(service))
        .with_graceful_shutdown(hotswap_runtime::stopping())
        .await
        .expect("the server stopped");
}
