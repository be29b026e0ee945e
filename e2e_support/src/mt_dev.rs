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
    /// How it was started, for [`MtDev::restart`].
    command: Box<dyn Fn() -> Command>,
    name: String,
    runs: usize,
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
        let root = scratch.root().to_path_buf();
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let envs: Vec<(String, String)> = envs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let command = move || {
            let mut command = Command::new(this_checkouts_build());
            command
                .arg("--workspace")
                .arg(&root)
                .args(&args)
                .args(["--port", &port.to_string()])
                .envs(envs.iter().map(|(k, v)| (k, v)))
                // The linker the copy's .cargo/config.toml names, as this
                // checkout builds it, not whichever hotswap-link is installed.
                .env("HOTSWAP_LINK", crate::hotswap_link());
            command
        };
        MtDev::launch(name, command, port)
    }

    /// Run the command `command` makes, which starts `wasm_mt_dev` serving
    /// on `port` (an app's `./dev`, say), with this checkout's build of the
    /// tool first on PATH: its output captured, in its own process group
    /// (stopped on drop). [`MtDev::restart`] makes it again.
    pub fn launch(name: &str, command: impl Fn() -> Command + 'static, port: u16) -> MtDev {
        let command: Box<dyn Fn() -> Command> = Box::new(command);
        let process = spawn(&command, &format!("{name}-wasm_mt_dev.log"));
        MtDev {
            process,
            port,
            command,
            name: name.to_string(),
            runs: 1,
        }
    }

    /// Stop it and start it again the same way, on the same port (what a
    /// developer does with `scripts/dev mt` while the page stays open). Its
    /// log goes to `<name>-wasm_mt_dev-<run>.log`.
    pub fn restart(&mut self) {
        self.stop();
        self.start_again();
    }

    /// Stop it (the page loses its connection).
    pub fn stop(&mut self) {
        self.process.stop();
    }

    /// Start it again after [`MtDev::stop`], the same way, on the same port.
    pub fn start_again(&mut self) {
        self.runs += 1;
        let log = format!("{}-wasm_mt_dev-{}.log", self.name, self.runs);
        self.process = spawn(&self.command, &log);
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

fn spawn(command: &dyn Fn() -> Command, log: &str) -> LoggedProcess {
    let tool = this_checkouts_build();
    std::fs::create_dir_all(e2e_dir()).unwrap();
    LoggedProcess::spawn(
        command()
            .env("PATH", crate::tools::path_with(tool.parent().unwrap()))
            .env_remove("WASM_MT_DEV")
            .env("CARGO_TERM_COLOR", "never")
            .env_remove("CARGO_TARGET_DIR"),
        "wasm_mt_dev",
        e2e_dir().join(log),
        "run scripts/setup (it needs nightly with rust-src and wasm-bindgen-cli)",
    )
}

/// The tool built from this checkout, so tests run the current source.
fn this_checkouts_build() -> PathBuf {
    crate::tools::workspace_binary("wasm_mt_dev", "wasm_mt_dev")
}
