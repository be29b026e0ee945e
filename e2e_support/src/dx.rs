use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::process::LoggedProcess;
use crate::{e2e_dir, wait_until, Scratch};

/// What `scripts/common.sh` exports for dx: 1 MiB of glibc's optional static TLS.
pub const STATIC_TLS_TUNABLE: &str = "glibc.rtld.optional_static_tls=1048576";

/// The line hotswap_runtime sends dx on connecting (`session::HELLO` there).
const APP_CONNECTED: &str = "hotswap_runtime: connected, ready for patches";
/// dx's line for a patch link that failed (hotswap-link's refusals included).
const PATCH_REFUSED: &str = "Failed to generate patch";
/// dx's line when it falls back to building the whole app.
const FULL_REBUILD: &str = "Starting full rebuild";

/// A running `dx serve` (normally `--hot-patch`) on a scratch workspace.
///
/// Its output is kept in memory (for waiting on log lines) and in
/// `target/e2e/<name>-dx.log`; when a test panics, the tail is printed.
/// Dropping it stops dx and the app it launched.
pub struct Dx {
    process: LoggedProcess,
    sweeper: Sweeper,
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

    /// [`Dx::serve`] as the dev commands start it, with `save_watch` beside
    /// it (this checkout's build), through the same `watch_saves` of
    /// `templates/dev-lib.sh`: its one line for each save dx leaves
    /// unanswered is in the log.
    pub fn serve_watched(
        scratch: &Scratch,
        name: &str,
        package: &str,
        args: &[&str],
        envs: &[(&str, String)],
    ) -> Dx {
        let mut dx_args = vec!["--hot-patch"];
        dx_args.extend_from_slice(args);
        let watcher = crate::save_watch();
        let port = crate::free_port();
        // A page also gets the compiler's first error from it.
        let web = if args.windows(2).any(|pair| pair == ["--bundle", "web"]) {
            "--web"
        } else {
            ""
        };
        let mut command = Command::new("bash");
        command
            .arg("-c")
            .arg(r#"source "$1" && SAVE_WATCH="$2" watch_saves . "$3" "$4" "$5" && shift 5 && exec dx "$@" "${DX_LOG_ARGS[@]}""#)
            .arg("dev-lib")
            .arg(crate::checkout_root().join("templates/dev-lib.sh"))
            .arg(watcher)
            .arg(package)
            .arg(port.to_string())
            .arg(web);
        Dx::start_command(command, port, scratch, name, package, &[], &dx_args, envs)
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

    /// Start plain `dx serve` (no `--hot-patch`: dx cannot patch shared
    /// memory) for the threaded example, as its README describes: nightly,
    /// std rebuilt with atomics, the rustflags of wasm_mt_dev's `mt-config.toml` (from
    /// `scripts/build-mt --print-rustflags`), cross-origin isolated.
    pub fn serve_threaded_rebuilding(scratch: &Scratch, name: &str) -> Dx {
        let printed = Command::new(crate::checkout_root().join("scripts/build-mt"))
            .arg("--print-rustflags")
            .output()
            .expect("cannot run scripts/build-mt --print-rustflags");
        assert!(
            printed.status.success(),
            "scripts/build-mt --print-rustflags failed"
        );
        let rustflags = String::from_utf8_lossy(&printed.stdout).trim().to_string();
        Dx::serve_rebuilding(
            scratch,
            name,
            "wasm_mt_hotswap_example",
            &[
                "--bundle",
                "web",
                "--target",
                "wasm32-unknown-unknown",
                "--cross-origin-policy",
                "--cargo-args=-Zbuild-std=std,panic_abort",
            ],
            &[
                ("RUSTUP_TOOLCHAIN", "nightly".into()),
                ("RUSTFLAGS", rustflags),
            ],
        )
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
        Dx::start_command(
            Command::new("dx"),
            port,
            scratch,
            name,
            package,
            mode,
            args,
            envs,
        )
    }

    /// `command` is dx, or what execs into dx with the arguments it is given.
    #[allow(clippy::too_many_arguments)] // start's and serve_watched's, passed on
    fn start_command(
        mut command: Command,
        port: u16,
        scratch: &Scratch,
        name: &str,
        package: &str,
        mode: &[&str],
        args: &[&str],
        envs: &[(&str, String)],
    ) -> Dx {
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
            // dx passes it to the app: enough static TLS for hundreds of
            // dlopen'ed patches (scripts/common.sh says why).
            .env("GLIBC_TUNABLES", STATIC_TLS_TUNABLE)
            // The linker the copy's .cargo/config.toml names binds each
            // patch to the running program's statics.
            .env("HOTSWAP_LINK", crate::hotswap_link())
            // dx packs only the rlibs under the workspace folder into the web
            // build's fat archive, so the target dir must stay inside the copy.
            .env_remove("CARGO_TARGET_DIR")
            .envs(envs.iter().map(|(key, value)| (key, value)));
        Dx::launch(name, command, port)
    }

    /// Run `command`, which starts dx (for example an app's `dev` script), the
    /// way [`Dx::serve`] runs dx: its output captured, in its own process
    /// group (so stopping dx also stops the app it launched), and the
    /// `-Csave-temps` leftovers in the `target/` of its folder swept after
    /// every patch. `port` is the port it was told to serve on.
    pub fn launch(name: &str, mut command: Command, port: u16) -> Dx {
        std::fs::create_dir_all(e2e_dir()).unwrap();
        let folder = command
            .get_current_dir()
            .map_or_else(|| PathBuf::from("."), PathBuf::from);
        // Apps made by scripts/new name `hotswap-link` as their linker, and
        // their ./dev runs `save_watch`: this checkout's builds (in one
        // folder) come first on PATH.
        let link = crate::hotswap_link();
        crate::save_watch();
        command
            .env("NO_COLOR", "1")
            .env("CARGO_TERM_COLOR", "never")
            .env("PATH", crate::tools::path_with(link.parent().unwrap()));
        let process = LoggedProcess::spawn(
            &mut command,
            "dx",
            e2e_dir().join(format!("{name}-dx.log")),
            "run scripts/setup to install dioxus-cli 0.7.10",
        );
        eprintln!("dx serves on 127.0.0.1:{port}");
        Dx {
            process,
            sweeper: Sweeper::start(folder.join("target")),
            port,
        }
    }

    /// dx's pid, which is also the id of the process group holding dx, its
    /// builds and the app it launched (`kill -- -<pid>` stops them all).
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// How many `-Csave-temps` leftovers were removed after this session's patches so far.
    pub fn leftovers_removed(&self) -> usize {
        self.sweeper.removed.load(Ordering::SeqCst)
    }

    /// Everything dx printed so far.
    pub fn log(&self) -> String {
        self.process.log()
    }

    /// How many lines of dx's output contain `needle`.
    pub fn count(&self, needle: &str) -> usize {
        self.process.count(needle)
    }

    /// Wait until dx has printed `needle` more than `seen` times; returns the line.
    pub fn wait_for_line(&mut self, needle: &str, seen: usize, timeout: Duration) -> String {
        self.process.wait_for_line(needle, seen, timeout)
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

    /// Wait until dx has registered the app's connection to `/_dioxus`. An edit
    /// saved before that is dropped ("Ignoring hotpatch since there is no ASLR
    /// reference"). hotswap_runtime sends dx a log line as soon as it connects;
    /// dx reads a client's messages only after registering it, so once dx
    /// prints that line it knows the app.
    pub fn wait_for_app_connected(&mut self, timeout: Duration) {
        self.wait_for_line(APP_CONNECTED, 0, timeout);
    }

    /// Make a save that cannot be a patch (`save` writes it) and wait until
    /// `hotswap-link` has refused the patch with a line that names `refusal`
    /// (`src/state.rs: struct Stats changed`) and dx has fallen back to a
    /// full rebuild. Returns dx's refusal line.
    pub fn save_expecting_rebuild<T>(&mut self, refusal: &str, save: impl FnOnce() -> T) -> T {
        let refusals = self.count(PATCH_REFUSED);
        let rebuilds = self.count(FULL_REBUILD);
        let saved = save();
        let refused = self.wait_for_line(PATCH_REFUSED, refusals, Duration::from_secs(300));
        assert!(
            refused.contains(refusal),
            "dx's refusal should name {refusal:?}: {refused}"
        );
        self.wait_for_line(FULL_REBUILD, rebuilds, Duration::from_secs(300));
        saved
    }

    /// Make a save dx will not answer (`save` writes it) and wait for
    /// `save_watch`'s line about `file` (a dx started with
    /// [`Dx::serve_watched`]), which must contain each of `says`. Returns it.
    pub fn save_expecting_unanswered(
        &mut self,
        file: &str,
        says: &[&str],
        save: impl FnOnce(),
    ) -> String {
        let needle = format!("dx did not react to the save of {file}");
        let seen = self.count(&needle);
        save();
        let line = self.wait_for_line(&needle, seen, Duration::from_secs(300));
        for said in says {
            assert!(
                line.contains(said),
                "save_watch's line should say {said:?}: {line}"
            );
        }
        line
    }

    /// Save an edit in `plural`, the workspace crate both examples reach
    /// only through another (`summary`, `tally`): dx 0.7.10 does not watch
    /// it (dioxus #5314), and `save_watch` must say so.
    pub fn save_in_unwatched_plural(&mut self, scratch: &Scratch) -> String {
        self.save_expecting_unanswered(
            "plural/src/lib.rs",
            &["does not watch plural", "#5314"],
            || {
                scratch.edit(
                    "plural/src/lib.rs",
                    "format!(\"{n} {noun}s\")",
                    "format!(\"{n} {noun}s (patched plural)\")",
                )
            },
        )
    }

    /// How many times an app has connected so far (one per process dx started).
    pub fn app_connections(&self) -> usize {
        self.count(APP_CONNECTED)
    }

    /// Wait for connection number `seen + 1`: the app dx started after a
    /// rebuild. A save before then is linked against the previous process.
    pub fn wait_for_app_reconnected(&mut self, seen: usize, timeout: Duration) {
        self.wait_for_line(APP_CONNECTED, seen, timeout);
    }

    /// Panic with dx's exit status if it stopped.
    pub fn assert_running(&mut self) {
        self.process.assert_running();
    }
}

/// Removes dx's `-Csave-temps` leftovers after every patch, as `scripts/dev` does
/// (the same code: the `save_temps_sweep` crate), so long sessions stay fast.
struct Sweeper {
    stop: Arc<AtomicBool>,
    removed: Arc<AtomicUsize>,
}

impl Sweeper {
    fn start(target: PathBuf) -> Sweeper {
        let stop = Arc::new(AtomicBool::new(false));
        let removed = Arc::new(AtomicUsize::new(0));
        let (stopping, counter) = (stop.clone(), removed.clone());
        std::thread::spawn(move || {
            save_temps_sweep::after_each_patch(&target, Duration::from_millis(500), |so_far| {
                counter.store(so_far, Ordering::SeqCst);
                !stopping.load(Ordering::SeqCst)
            })
        });
        Sweeper { stop, removed }
    }
}

impl Drop for Sweeper {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}
