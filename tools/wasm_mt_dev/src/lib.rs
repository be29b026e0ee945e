//! `wasm_mt_dev`: the dev server that hot-patches a wasm app whose threads
//! share one memory (the threaded example, or any package), beside the stock
//! dx. See `DESIGN.md` for how and why, and its last section for the contract
//! with the page-side loader.
//!
//! Pipeline: [`base`] builds the app once (recording the compiler invocations
//! through [`capture`]), [`layout`] reads where everything is in it, [`prepare`]
//! makes it patchable, [`publish`] puts the page in place; for each save
//! [`replay`] recompiles the edited crates, [`objects`] + [`link`] make the
//! patch, [`patch`] resolves it against the base and builds the jump table,
//! [`reach`] refuses a patch whose reachable code calls what the base lacks;
//! [`session`] ties it together, [`server`] serves the page and the `/_dioxus`
//! messages.

pub mod base;
pub mod capture;
pub mod crate_env;
pub mod layout;
pub mod link;
pub mod locate;
pub mod objects;
pub mod patch;
pub mod preflight;
pub mod prepare;
pub mod publish;
pub mod reach;
pub mod replay;
pub mod server;
pub mod session;
#[cfg(test)]
mod test_rustc;
pub mod wasm;
pub mod watch;

use std::fmt;

/// An error with one readable sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(pub String);

impl Error {
    pub fn msg(message: impl Into<String>) -> Error {
        Error(message.into())
    }

    /// Adds what we were doing in front.
    pub fn context(self, what: impl fmt::Display) -> Error {
        Error(format!("{what}: {}", self.0))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl From<wasmparser::BinaryReaderError> for Error {
    fn from(e: wasmparser::BinaryReaderError) -> Error {
        Error(format!("malformed wasm: {e}"))
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Error {
        Error(e.to_string())
    }
}

/// walrus reports errors as `anyhow::Error`; keep the whole chain in one line.
pub fn walrus_error(e: impl fmt::Display) -> Error {
    Error(format!("walrus: {e:#}"))
}

/// Prints one line of the tool's log on stderr.
pub fn say(line: impl fmt::Display) {
    eprintln!("wasm_mt_dev: {line}");
}
