use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::process::LoggedProcess;
use crate::{e2e_dir, Scratch};

/// A running `wasm_mt_dev`, the dev server of threaded pages (what
/// `scripts/dev mt` and the `./dev` of a `scripts/new mt` app start). Its log
/// is in `target/e2e/<name>-wasm_mt_dev.log`; dropping it stops it.
pub struct MtDev {
    process: LoggedProcess,
    /// Where it serves the page, `/_dioxus` and the patches.
    pub port: u16,
}

impl MtDev {
    /// Build the tool in this checkout and start it on `scratch`'s threaded example.
    pub fn start(scratch: &Scratch, name: &str) -> MtDev {
        MtDev::start_with(
            scratch,
            name,
            &["--package", "wasm_mt_hotswap_example"],
            &[],
        )
    }

    /// Like [`MtDev::start`], with the tool's arguments besides the folder
    /// and port, and variables for its environment.
    pub fn start_with(
        scratch: &Scratch,
        name: &str,
        args: &[&str],
        envs: &[(&str, &str)],
    ) -> MtDev {
        let port = crate::free_port();
        let mut command = Command::new(this_checkouts_build());
        command
            .arg("--workspace")
            .arg(scratch.root())
            .args(args)
            .args(["--port", &port.to_string()])
            .envs(envs.iter().copied())
            // The linker the copy's .cargo/config.toml names, as this
            // checkout builds it, not whichever hotswap-link is installed.
            .env("HOTSWAP_LINK", crate::hotswap_link());
        MtDev::launch(name, command, port)
    }

    /// Run `command`, which starts `wasm_mt_dev` serving on `port` (an
    /// app's `./dev`, say), with this checkout's build of the tool first on
    /// PATH: its output captured, in its own process group (stopped on drop).
    pub fn launch(name: &str, mut command: Command, port: u16) -> MtDev {
        let tool = this_checkouts_build();
        std::fs::create_dir_all(e2e_dir()).unwrap();
        command
            .env("PATH", crate::tools::path_with(tool.parent().unwrap()))
            .env_remove("WASM_MT_DEV")
            .env("CARGO_TERM_COLOR", "never")
            .env_remove("CARGO_TARGET_DIR");
        let process = LoggedProcess::spawn(
            &mut command,
            "wasm_mt_dev",
            e2e_dir().join(format!("{name}-wasm_mt_dev.log")),
            "run scripts/setup (it needs nightly with rust-src and wasm-bindgen-cli)",
        );
        MtDev { process, port }
    }

    /// Wait until the first build is served.
    pub fn wait_until_serving(&mut self, timeout: Duration) {
        self.process.wait_for_line("serving http://", 0, timeout);
    }

    /// Wait for the tool's `patch N ready in M ms` line number `seen + 1`; returns the line.
    pub fn wait_for_patch(&mut self, seen: usize, timeout: Duration) -> String {
        self.process.wait_for_line("ready in", seen, timeout)
    }

    /// Wait until it has printed `needle` more than `seen` times; returns the line.
    pub fn wait_for_line(&mut self, needle: &str, seen: usize, timeout: Duration) -> String {
        self.process.wait_for_line(needle, seen, timeout)
    }

    /// How many lines of its output contain `needle`.
    pub fn count(&self, needle: &str) -> usize {
        self.process.count(needle)
    }

    /// Panic with its exit status if it stopped.
    pub fn assert_running(&mut self) {
        self.process.assert_running();
    }
}

/// The tool built from this checkout, so tests run the current source.
fn this_checkouts_build() -> PathBuf {
    crate::tools::workspace_binary("wasm_mt_dev", "wasm_mt_dev")
}
