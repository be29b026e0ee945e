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

/// `HOTSWAP_RESTART=plain` (or `off`) turns the restart support off: the app
/// binds its port itself, keeps nothing and ends on `SIGTERM`, as under plain
/// dx (to compare, as `scripts/bench rebuild` does, or to rule this module
/// out). Any other value leaves it on, with one warning.
pub(crate) const RESTART_ENV: &str = "HOTSWAP_RESTART";

/// What [`RESTART_ENV`] asks for.
#[derive(Debug, PartialEq)]
enum Setting {
    /// Unset or empty: the restart support is on.
    On,
    /// `plain` or `off`.
    Plain,
    /// Anything else (`0`, `false`, a typo): not understood, so left on.
    Unknown,
}

fn setting(value: Option<&std::ffi::OsStr>) -> Setting {
    match value.map(|value| value.to_str().map(str::trim)) {
        None | Some(Some("")) => Setting::On,
        Some(Some(value))
            if value.eq_ignore_ascii_case("plain") || value.eq_ignore_ascii_case("off") =>
        {
            Setting::Plain
        }
        Some(_) => Setting::Unknown,
    }
}

/// Whether this process was started by dx and may keep things across its
/// restarts (see [`RESTART_ENV`]).
pub(crate) fn restart_enabled() -> bool {
    if !dioxus_cli_config::is_cli_enabled() {
        return false;
    }
    let value = std::env::var_os(RESTART_ENV);
    let setting = setting(value.as_deref());
    let shown = value.as_deref().unwrap_or_default().to_string_lossy();
    static SAID: std::sync::Once = std::sync::Once::new();
    match setting {
        Setting::On => {}
        Setting::Plain => SAID.call_once(|| {
            tracing::info!(
                "{RESTART_ENV}={shown}: a rebuild keeps neither the listening socket nor any state"
            )
        }),
        Setting::Unknown => SAID.call_once(|| {
            tracing::warn!(
                "{RESTART_ENV}={shown:?} is not understood, so a rebuild still keeps the socket \
                 and the state (`plain` or `off` turns that off)"
            )
        }),
    }
    setting != Setting::Plain
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn plain_or_off_turn_it_off_anything_else_leaves_it_on() {
        assert_eq!(setting(None), Setting::On);
        assert_eq!(setting(Some(OsStr::new(""))), Setting::On);
        for off in ["plain", "off", "OFF", " plain\n"] {
            assert_eq!(setting(Some(OsStr::new(off))), Setting::Plain, "{off:?}");
        }
        for unknown in ["0", "false", "no", "plane"] {
            assert_eq!(
                setting(Some(OsStr::new(unknown))),
                Setting::Unknown,
                "{unknown:?}"
            );
        }
    }
}
