use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::{e2e_dir, wait_until, Scratch};

/// A running `dx serve` (normally `--hot-patch`) on a scratch workspace.
///
/// Its output is kept in memory (for waiting on log lines) and in
/// `target/e2e/<name>-dx.log`; when a test panics, the tail is printed.
/// Dropping it stops dx and the app it launched.
pub struct Dx {
    child: Child,
    log: Arc<Mutex<String>>,
    log_path: PathBuf,
    /// The dev server's port (the page's port for web apps).
    pub port: u16,
}

impl Dx {
    /// Start `dx serve --hot-patch` for `package` with extra dx arguments and
    /// environment for the app.
    pub fn serve(
        scratch: &Scratch,
        name: &str,
        package: &str,
        args: &[&str],
        envs: &[(&str, String)],
    ) -> Dx {
        Dx::start(scratch, name, package, &["--hot-patch"], args, envs)
    }

    /// Start `dx serve` *without* `--hot-patch`: every saved Rust edit is a full
    /// rebuild followed by a restart (native) or a page reload (web). It is what
    /// hot-patching is measured against.
    pub fn serve_rebuilding(
        scratch: &Scratch,
        name: &str,
        package: &str,
        args: &[&str],
        envs: &[(&str, String)],
    ) -> Dx {
        Dx::start(scratch, name, package, &[], args, envs)
    }

    fn start(
        scratch: &Scratch,
        name: &str,
        package: &str,
        mode: &[&str],
        args: &[&str],
        envs: &[(&str, String)],
    ) -> Dx {
        let port = crate::free_port();
        let mut command = Command::new("dx");
        command
            .current_dir(scratch.root())
            .arg("serve")
            .args(mode)
            .args(["--interactive", "false", "--open", "false"])
            .args(["--addr", "127.0.0.1", "--port", &port.to_string()])
            .args(["--package", package])
            .args(args)
            .env("NO_DOWNLOADS", "1")
            .env("DX_TELEMETRY_ENABLED", "false")
            .env("CARGO_INCREMENTAL", "1")
            // dx packs only the rlibs under the workspace folder into the web
            // build's fat archive, so the target dir must stay inside the copy.
            .env_remove("CARGO_TARGET_DIR")
            .envs(envs.iter().map(|(key, value)| (key, value)));
        Dx::launch(name, command, port)
    }

    /// Run `command`, which starts dx (for example an app's `dev` script), the
    /// way [`Dx::serve`] runs dx: its output captured, in its own process group.
    /// `port` is the port it was told to serve on.
    pub fn launch(name: &str, mut command: Command, port: u16) -> Dx {
        std::fs::create_dir_all(e2e_dir()).unwrap();
        let log_path = e2e_dir().join(format!("{name}-dx.log"));
        command
            .env("NO_COLOR", "1")
            .env("CARGO_TERM_COLOR", "never")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group, so stopping dx also stops the app it launched.
            .process_group(0);
        let mut child = command.spawn().unwrap_or_else(|err| {
            panic!(
                "cannot start {command:?} ({err}): run scripts/setup to install dioxus-cli 0.7.10"
            )
        });
        let log = Arc::new(Mutex::new(String::new()));
        let file = Arc::new(Mutex::new(File::create(&log_path).unwrap()));
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        for stream in [
            Box::new(stdout) as Box<dyn std::io::Read + Send>,
            Box::new(stderr),
        ] {
            let (log, file) = (log.clone(), file.clone());
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let line = strip_ansi(&line);
                    let _ = writeln!(file.lock().unwrap(), "{line}");
                    let mut log = log.lock().unwrap();
                    log.push_str(&line);
                    log.push('\n');
                }
            });
        }
        eprintln!(
            "started dx on 127.0.0.1:{port}, log in {}",
            log_path.display()
        );
        Dx {
            child,
            log,
            log_path,
            port,
        }
    }

    /// dx's pid, which is also the id of the process group holding dx, its
    /// builds and the app it launched (`kill -- -<pid>` stops them all).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything dx printed so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// How many lines of dx's output contain `needle`.
    pub fn count(&self, needle: &str) -> usize {
        self.log()
            .lines()
            .filter(|line| line.contains(needle))
            .count()
    }

    /// Wait until dx has printed `needle` more than `seen` times; returns the line.
    pub fn wait_for_line(&mut self, needle: &str, seen: usize, timeout: Duration) -> String {
        wait_until(&format!("dx to print {needle:?}"), timeout, || {
            self.assert_running();
            self.log()
                .lines()
                .filter(|line| line.contains(needle))
                .nth(seen)
                .map(str::to_string)
        })
    }

    /// Wait for dx's `Hot-patching: <file> took <N>ms` line number `seen + 1`
    /// and return N, dx's own time for the patch (NaN if the line changes shape).
    pub fn wait_for_patch(&mut self, seen: usize, timeout: Duration) -> f64 {
        let line = self.wait_for_line("Hot-patching:", seen, timeout);
        line.rsplit("took ")
            .next()
            .and_then(|rest| rest.trim().trim_end_matches("ms").parse().ok())
            .unwrap_or(f64::NAN)
    }

    /// Wait for dx's first build. dx does not retry a first build that failed,
    /// so a failure ends the wait at once.
    pub fn wait_for_first_build(&mut self, timeout: Duration) {
        wait_until("dx's first build", timeout, || {
            self.assert_running();
            let log = self.log();
            if log.contains("Build completed successfully") {
                return Some(());
            }
            if let Some(line) = log.lines().find(|line| line.contains("Build failed")) {
                panic!("dx's first build failed (it will not retry): {line}");
            }
            None
        });
    }

    /// Wait until the app has connected to dx's `/_dioxus` (it logs that), and
    /// give dx a moment to register it: an edit saved before dx knows the app's
    /// address is dropped ("Ignoring hotpatch since there is no ASLR reference").
    pub fn wait_for_app_connected(&mut self, timeout: Duration) {
        self.wait_for_line("[hotswap] connected to the dev server", 0, timeout);
        std::thread::sleep(Duration::from_secs(2));
    }

    /// Panic with dx's exit status if it stopped.
    pub fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("dx exited early with {status}");
        }
    }

    fn stop(&mut self) {
        let group = format!("-{}", self.child.id());
        for signal in ["-TERM", "-KILL"] {
            let _ = Command::new("kill").args([signal, "--", &group]).status();
            for _ in 0..50 {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

impl Drop for Dx {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            let log = self.log();
            let lines: Vec<&str> = log.lines().collect();
            let tail = &lines[lines.len().saturating_sub(150)..];
            eprintln!(
                "----- last {} lines of dx's output (all of it in {}) -----\n{}\n-----",
                tail.len(),
                self.log_path.display(),
                tail.join("\n")
            );
        }
    }
}

fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ params final-byte
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn strips_colours() {
        assert_eq!(
            super::strip_ansi(
                "\u{1b}[1;32mHot-patching:\u{1b}[0m a.rs took \u{1b}[35m12ms\u{1b}[0m"
            ),
            "Hot-patching: a.rs took 12ms"
        );
    }
}
