//! A dev server under test (dx, wasm_mt_dev): its output kept in memory for
//! waiting on log lines and in a file for reading after a failure, its whole
//! process group stopped when it is dropped.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::wait_until;

pub(crate) struct LoggedProcess {
    /// What the messages call it ("dx").
    name: &'static str,
    child: Child,
    log: Arc<Mutex<String>>,
    log_path: PathBuf,
}

impl LoggedProcess {
    /// Start `command` in a process group of its own (so that stopping it
    /// stops what it launched), its stdout and stderr going to `log_path`.
    /// `install_hint` says how to get the program if it cannot start.
    pub(crate) fn spawn(
        command: &mut Command,
        name: &'static str,
        log_path: PathBuf,
        install_hint: &str,
    ) -> LoggedProcess {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let mut child = command
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {name} ({err}): {install_hint}"));
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
        eprintln!("started {name}, log in {}", log_path.display());
        LoggedProcess {
            name,
            child,
            log,
            log_path,
        }
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything it printed so far.
    pub(crate) fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// How many lines of its output contain `needle`.
    pub(crate) fn count(&self, needle: &str) -> usize {
        self.log()
            .lines()
            .filter(|line| line.contains(needle))
            .count()
    }

    /// Wait until it has printed `needle` more than `seen` times; returns the line.
    pub(crate) fn wait_for_line(&mut self, needle: &str, seen: usize, timeout: Duration) -> String {
        wait_until(
            &format!("{} to print {needle:?}", self.name),
            timeout,
            || {
                self.assert_running();
                self.log()
                    .lines()
                    .filter(|line| line.contains(needle))
                    .nth(seen)
                    .map(str::to_string)
            },
        )
    }

    /// Panic with its exit status if it stopped.
    pub(crate) fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("{} exited early with {status}", self.name);
        }
    }

    /// Stop its whole process group (SIGTERM, then SIGKILL).
    pub(crate) fn stop(&mut self) {
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

impl Drop for LoggedProcess {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            let log = self.log();
            let lines: Vec<&str> = log.lines().collect();
            let tail = &lines[lines.len().saturating_sub(150)..];
            eprintln!(
                "----- last {} lines of {}'s output (all of it in {}) -----\n{}\n-----",
                tail.len(),
                self.name,
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
