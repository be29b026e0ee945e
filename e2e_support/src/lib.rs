//! The end-to-end test harness: everything the examples' `tests/` share.
//!
//! - [`Scratch`]: a copy of the workspace to edit, so tests never touch the checkout;
//! - [`Dx`]: the real `dx serve --hot-patch`, its log captured and shown on failure;
//! - [`Browser`]: headless Debian Chromium over the DevTools protocol;
//! - [`http`]: a tiny HTTP/1.1 client that can hold a keep-alive connection open;
//! - [`ws::Socket`]: a WebSocket client that can stay open across a patch;
//! - [`wait_until`]: polling with a deadline and a message that says what did not happen;
//! - [`overlay`]: what the page's hot-patch overlay counts and says.
//!
//! Build artefacts are reused between runs: every scratch copy lives at a fixed
//! path with its own `target/` (dx wants the target folder inside the workspace).

pub mod browser;
mod dx;
pub mod http;
pub mod load;
mod mt_dev;
pub mod overlay;
mod process;
mod scratch;
mod tools;
mod wait;
pub mod ws;

pub use browser::Browser;
pub use dx::Dx;
pub use mt_dev::MtDev;
pub use save_temps_sweep;
pub use scratch::{edit_file, Scratch};
pub use serde_json;
pub use tools::{hotswap_link, save_watch, workspace_binary};
pub use wait::{free_port, poll_every, wait_until};

use std::path::PathBuf;
use std::time::Duration;

/// How long dx's first build may take: on a fresh machine it compiles every dependency.
pub const FIRST_BUILD: Duration = Duration::from_secs(20 * 60);

/// How long one patch (or one page step) may take before a test gives up.
pub const PATCH: Duration = Duration::from_secs(120);

/// The checkout the tests run from (the workspace root).
pub fn checkout_root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.parent()
        .expect("e2e_support sits in the workspace")
        .to_path_buf()
}

/// Where logs and screenshots go, outside any folder dx watches: `target/e2e/` of the checkout.
pub fn e2e_dir() -> PathBuf {
    checkout_root().join("target").join("e2e")
}
