//! What a native app keeps when dx rebuilds it and starts it again.
//!
//! Some saves cannot be a patch (a static's type, a struct's layout, a new
//! dependency): dx then builds the app anew, stops the running process with
//! `SIGTERM` (it waits one second, then kills it) and starts the new build.
//! Under dx, in a debug build on Linux, this module makes that restart lose
//! as little as it can:
//!
//! - [`listen`] binds the app's listening socket once per dx session and hands
//!   the *same* socket to every later process of the app. A small process of
//!   the library's (the holder) keeps a copy open in between, so a connection
//!   that arrives while the new build starts waits in the kernel's backlog
//!   instead of being refused. The app only sees a [`std::net::TcpListener`].
//! - [`stopping`] resolves when dx asks the process to stop. Hand it to the
//!   server's graceful shutdown: it stops accepting (the socket stays open in
//!   the holder), finishes the requests it has and closes idle keep-alive
//!   connections; open WebSockets can send a close frame with code 1012
//!   (service restart) so their clients reconnect.
//! - [`crate::keep`] saves what the app registered when that `SIGTERM` comes,
//!   and the new process takes it back at start.
//!
//! A release build, a plain `cargo run`, or a platform other than Linux binds
//! normally and never resolves [`stopping`] (under dx on another platform the
//! app says so once).
//!
//! ```ignore
//! let listener = hotswap_runtime::listen(addr)?;
//! let listener = tokio::net::TcpListener::from_std(listener)?;
//! axum::serve(listener, app).with_graceful_shutdown(hotswap_runtime::stopping()).await?;
//! ```

use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::pin::Pin;
use std::task::{Context, Poll};

#[cfg(all(debug_assertions, target_os = "linux"))]
mod dev;
#[cfg(all(debug_assertions, target_os = "linux"))]
mod handover;
#[cfg(all(debug_assertions, target_os = "linux"))]
mod holder;
#[cfg(all(debug_assertions, target_os = "linux"))]
pub(crate) mod kept;
#[cfg(all(debug_assertions, target_os = "linux"))]
mod stop;
#[cfg(all(debug_assertions, target_os = "linux"))]
mod wire;

/// Bind `addr` for serving, non-blocking (ready for `tokio::net::TcpListener::from_std`).
///
/// Under dx (debug build, Linux) the first process of a dx session binds it
/// and starts a holder that keeps it open; every later process of the same
/// app on the same address gets that very socket back. Elsewhere it is
/// `TcpListener::bind`. An address another program uses is an error whose
/// message says so in one line.
///
/// In the holder process itself (the app's own executable, started again by
/// the library) this never returns: call it before your `main` does anything
/// a second copy must not do.
pub fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    hold_if_holder();
    #[cfg(all(debug_assertions, target_os = "linux"))]
    let listener = handover::listen(addr)?;
    #[cfg(not(all(debug_assertions, target_os = "linux")))]
    let listener = {
        #[cfg(debug_assertions)]
        if dioxus_cli_config::is_cli_enabled() {
            static SAID: std::sync::Once = std::sync::Once::new();
            SAID.call_once(|| {
                tracing::info!(
                    "binding {addr} normally: keeping the listener across a rebuild works on Linux only"
                )
            });
        }
        TcpListener::bind(addr)?
    };
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// A future that resolves once dx has asked this process to stop (`SIGTERM`
/// before it starts a rebuilt app). Any number may wait; each resolves.
///
/// Asking for it tells the library that the app stops by itself: without any
/// `stopping()`, the library ends the process right after saving the kept
/// state. Outside dx, in a release build and off Linux it never resolves
/// (`SIGTERM` then ends the process as usual).
pub fn stopping() -> Stopping {
    hold_if_holder();
    #[cfg(all(debug_assertions, target_os = "linux"))]
    stop::subscribe();
    Stopping(())
}

/// Whether dx has asked this process to stop (see [`stopping`]).
pub fn is_stopping() -> bool {
    #[cfg(all(debug_assertions, target_os = "linux"))]
    return stop::is_stopping();
    #[cfg(not(all(debug_assertions, target_os = "linux")))]
    false
}

/// See [`stopping`].
#[derive(Debug)]
#[must_use = "a future does nothing unless awaited"]
pub struct Stopping(());

impl Future for Stopping {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        #[cfg(all(debug_assertions, target_os = "linux"))]
        return stop::poll(cx);
        #[cfg(not(all(debug_assertions, target_os = "linux")))]
        {
            let _ = cx;
            Poll::Pending
        }
    }
}

/// In the holder process, run the holder instead of the app (never returns).
/// Every entry point of the library calls it first, so the second copy of
/// the app runs none of the library's other code.
pub(crate) fn hold_if_holder() {
    #[cfg(all(debug_assertions, target_os = "linux"))]
    if dev::is_holder() {
        holder::run();
    }
}
