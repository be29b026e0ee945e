use std::process::Command;
use std::time::Duration;

use crate::process::LoggedProcess;
use crate::{e2e_dir, Scratch};

/// A running `wasm_mt_dev`, the threaded example's dev server (what
/// `scripts/dev mt` starts), on a scratch workspace. Its log is in
/// `target/e2e/<name>-wasm_mt_dev.log`; dropping it stops it.
pub struct MtDev {
    process: LoggedProcess,
    /// Where it serves the page, `/_dioxus` and the patches.
    pub port: u16,
    /// How it was started, for [`MtDev::restart`].
    command: Vec<String>,
    envs: Vec<(String, String)>,
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
        let tool = crate::tools::workspace_binary("wasm_mt_dev", "wasm_mt_dev");
        let port = crate::free_port();
        let mut command = vec![
            tool.display().to_string(),
            "--workspace".to_string(),
            scratch.root().display().to_string(),
        ];
        command.extend(args.iter().map(|a| a.to_string()));
        command.extend(["--port".to_string(), port.to_string()]);
        let envs: Vec<(String, String)> = envs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let process = spawn(&command, &envs, &format!("{name}-wasm_mt_dev.log"));
        MtDev {
            process,
            port,
            command,
            envs,
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
        self.process = spawn(&self.command, &self.envs, &log);
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
}

fn spawn(command: &[String], envs: &[(String, String)], log: &str) -> LoggedProcess {
    std::fs::create_dir_all(e2e_dir()).unwrap();
    LoggedProcess::spawn(
        Command::new(&command[0])
            .args(&command[1..])
            .envs(envs.iter().map(|(k, v)| (k, v)))
            .env("CARGO_TERM_COLOR", "never")
            // The linker the copy's .cargo/config.toml names, as this
            // checkout builds it, not whichever hotswap-link is installed.
            .env("HOTSWAP_LINK", crate::hotswap_link())
            .env_remove("CARGO_TARGET_DIR"),
        "wasm_mt_dev",
        e2e_dir().join(log),
        "run scripts/setup (it needs nightly with rust-src and wasm-bindgen-cli)",
    )
}
