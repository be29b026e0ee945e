//! What this process knows about the dx session it runs in, from its environment.
//!
//! dx gives every process it starts the same `DIOXUS_SESSION_CACHE_DIR`: a
//! temporary folder it creates once per `dx serve` (it never reuses one). So
//! that folder names the session: the kept state lives in it, and a holder
//! hands its socket only to processes of its own session.

use std::path::PathBuf;

/// Set (to the holder's socket name) in the environment of the holder process.
pub(super) const HOLDER_ENV: &str = "HOTSWAP_RUNTIME_HOLDER";
/// The pid of the dx that started the app, for the holder to outlive it by nothing.
pub(super) const DX_PID_ENV: &str = "HOTSWAP_RUNTIME_DX_PID";

/// `HOTSWAP_RESTART=plain` turns the restart support off: the app binds its
/// port itself, keeps nothing and ends on `SIGTERM`, as under plain dx (to
/// compare, as `scripts/bench rebuild` does, or to rule this module out).
pub(crate) const RESTART_ENV: &str = "HOTSWAP_RESTART";

/// Whether this process was started by dx and may keep things across its
/// restarts (see [`RESTART_ENV`]).
pub(crate) fn restart_enabled() -> bool {
    if !dioxus_cli_config::is_cli_enabled() {
        return false;
    }
    if std::env::var(RESTART_ENV).is_ok_and(|value| value == "plain") {
        static SAID: std::sync::Once = std::sync::Once::new();
        SAID.call_once(|| {
            tracing::info!(
                "{RESTART_ENV}=plain: a rebuild keeps neither the listening socket nor any state"
            )
        });
        return false;
    }
    true
}

/// This dx session's folder, when dx started this process.
pub(super) fn session_dir() -> Option<PathBuf> {
    if !restart_enabled() {
        return None;
    }
    dioxus_cli_config::session_cache_dir().filter(|dir| !dir.as_os_str().is_empty())
}

/// This dx session, as a string the holder compares.
pub(super) fn session() -> Option<String> {
    session_dir().map(|dir| dir.display().to_string())
}

pub(super) fn is_holder() -> bool {
    std::env::var_os(HOLDER_ENV).is_some()
}
