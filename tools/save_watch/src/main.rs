//! `save_watch <app folder> --package <name> --log <dx log> [--dx-port <port>] [--web] [--while-pid <pid>] [--within <secs>]`:
//! beside `dx serve --hot-patch --log-to-file <dx log>`, print one line for
//! every save of the app's sources that dx left unanswered (see `lib.rs`).
//! The dev scripts run it (`watch_saves` in `templates/dev-lib.sh`).
//!
//! With `--dx-port`, the line goes into dx's own output, as an app's log
//! line over dx's `/_dioxus` socket: dx's full-screen view redraws over
//! anything another process prints to the terminal.
//!
//! With `--web` (the app is a page dx serves), a failed build also puts the
//! compiler's first error where the page's overlay reads it: dx 0.7.10 sends
//! the page only "Cargo build failed - no output location", and keeps the
//! compiler's messages to its own output. The error comes from the compiler
//! itself: `cargo check --message-format=json` of the app, run once dx's
//! build has failed.

use std::collections::hash_map::DefaultHasher;
use std::hash::Hasher;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use notify::{EventKind, RecursiveMode, Watcher};
use save_watch::{Heard, Layout, Watch};

const USAGE: &str = "usage: save_watch <app folder> --package <name> --log <dx log file> [--dx-port <port>] [--web] [--while-pid <pid>] [--within <seconds>]";
/// Where the page looks (`hotswap_runtime`'s web overlay), in the folder dx serves.
const ERROR_FILE: &str = "hotswap-build-error.json";
const TICK: Duration = Duration::from_millis(100);

struct Args {
    folder: PathBuf,
    package: String,
    log: PathBuf,
    while_pid: Option<u32>,
    within: Duration,
    web: bool,
    dx_port: Option<u16>,
}

fn main() {
    let args = parse_args().unwrap_or_else(|message| fail(&format!("{message} ({USAGE})")));
    // A watcher that cannot start must not stop the dev session: say so and leave.
    if let Err(message) = run(&args) {
        eprintln!("save_watch: {message}; saves dx drops will go unnoticed");
    }
}

fn parse_args() -> Result<Args, String> {
    let mut rest = std::env::args().skip(1);
    let folder = rest.next().ok_or("no app folder")?;
    let (mut package, mut log, mut while_pid, mut within) = (None, None, None, 5.0);
    let (mut web, mut dx_port) = (false, None);
    while let Some(flag) = rest.next() {
        if flag == "--web" {
            web = true;
            continue;
        }
        let value = rest.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--package" => package = Some(value),
            "--dx-port" => {
                dx_port = Some(
                    value
                        .parse()
                        .map_err(|_| format!("--dx-port {value:?} is not a port"))?,
                )
            }
            "--log" => log = Some(PathBuf::from(value)),
            "--while-pid" => {
                while_pid = Some(
                    value
                        .parse()
                        .map_err(|_| format!("--while-pid {value:?} is not a process id"))?,
                )
            }
            "--within" => {
                within = value
                    .parse::<f64>()
                    .ok()
                    .filter(|secs| *secs > 0.0)
                    .ok_or(format!("--within {value:?} is not a number of seconds"))?
            }
            _ => return Err(format!("unknown argument {flag}")),
        }
    }
    Ok(Args {
        folder: PathBuf::from(folder),
        package: package.ok_or("--package is missing")?,
        log: log.ok_or("--log is missing")?,
        while_pid,
        within: Duration::from_secs_f64(within),
        web,
        dx_port,
    })
}

fn run(args: &Args) -> Result<(), String> {
    let folder = args
        .folder
        .canonicalize()
        .map_err(|err| format!("cannot read {}: {err}", args.folder.display()))?;
    let output = std::process::Command::new("cargo")
        .args(["metadata", "--format-version", "1"])
        .current_dir(&folder)
        .output()
        .map_err(|err| format!("cannot run cargo metadata: {err}"))?;
    if !output.status.success() {
        return Err("cargo metadata failed".into());
    }
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).map_err(|err| format!("cargo metadata: {err}"))?;
    let layout = Layout::from_metadata(&metadata, &args.package)?;
    if layout.lib_and_binary() {
        // Before dx starts (the dev script waits for this watcher): in the
        // terminal's scrollback, above dx's view.
        eprintln!("{}", warning(&format!("{} has a library and a binary: dx {} reports patches of the library's code but patches nothing (dioxus #5778); keep hot code in the binary or in a library crate of its own", args.package, save_watch::DX_VERSION)));
    }
    // dx 0.7.10 serves a page from <target>/dx/<app>/debug/web/public.
    let errors = args.web.then(|| {
        let target = metadata["target_directory"].as_str().unwrap_or("target");
        ErrorFile {
            path: Path::new(target)
                .join("dx")
                .join(&args.package)
                .join("debug/web/public")
                .join(ERROR_FILE),
            folder: folder.clone(),
            package: args.package.clone(),
            generation: Arc::new(AtomicU64::new(0)),
        }
    });
    // An earlier session's error must not stand for this session's first failure.
    if let Some(errors) = &errors {
        let _ = std::fs::remove_file(&errors.path);
    }

    let mut watch = Watch::new(args.within);
    let (tx, saves) = mpsc::channel();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event {
            if matches!(event.kind, EventKind::Create(_) | EventKind::Modify(_)) {
                event.paths.into_iter().for_each(|path| drop(tx.send(path)));
            }
        }
    })
    .map_err(|err| format!("cannot watch files: {err}"))?;
    for dir in layout.folders() {
        watcher
            .watch(&dir, RecursiveMode::Recursive)
            .map_err(|err| format!("cannot watch {}: {err}", dir.display()))?;
        for file in rust_files(&dir) {
            if layout.classify(&file).is_some() {
                if let Some(content) = content_of(&file) {
                    watch.known(&shown(&folder, &file), content);
                }
            }
        }
    }

    // Ready: the dev script starts dx once the log file is there (so no save
    // made after dx's first line can slip past the watcher).
    std::fs::File::create(&args.log)
        .map_err(|err| format!("cannot create {}: {err}", args.log.display()))?;
    let relay = Relay::start(args.dx_port);
    let say = |report: &str| relay.say(report);
    let mut log = Tail::new(args.log.clone());
    let mut lines_from_last_tick: Vec<String> = Vec::new();
    loop {
        if let Some(pid) = args.while_pid {
            if !Path::new("/proc").join(pid.to_string()).exists() {
                return Ok(());
            }
        }
        let now = Instant::now();
        let lines = log.new_lines();
        // dx's first line is taken at once: a save after it is one dx's
        // watcher saw. The others wait a tick (below).
        if lines
            .iter()
            .any(|line| Heard::from_line(line) == Some(Heard::Started))
        {
            watch.heard(Heard::Started, now);
        }
        while let Ok(path) = saves.try_recv() {
            let Some(source) = layout.classify(&path) else {
                continue;
            };
            if let Some(content) = content_of(&path) {
                watch.saved(&shown(&folder, &path), content, &source, now);
            }
        }
        // dx's lines are taken a tick late, so that a save dx already acted
        // on has reached the watch first, whichever watcher saw it sooner.
        for line in std::mem::replace(&mut lines_from_last_tick, lines) {
            if let Some(errors) = &errors {
                errors.follow(&line);
            }
            if let Some(heard) = Heard::from_line(&line) {
                watch
                    .heard(heard, now)
                    .iter()
                    .for_each(|report| say(report));
            }
        }
        watch.due(now).iter().for_each(|report| say(report));
        std::thread::sleep(TICK);
    }
}

/// The compiler's first error for the page, kept only while the build it
/// belongs to is the latest.
struct ErrorFile {
    path: PathBuf,
    folder: PathBuf,
    package: String,
    /// Bumped by every build dx starts: a check that ends after it is stale.
    generation: Arc<AtomicU64>,
}

impl ErrorFile {
    fn follow(&self, line: &str) {
        if save_watch::build_failed(line) {
            let generation = self.generation.load(Ordering::SeqCst);
            let (path, folder, package, current) = (
                self.path.clone(),
                self.folder.clone(),
                self.package.clone(),
                self.generation.clone(),
            );
            std::thread::spawn(move || {
                let Some(error) = first_error(&folder, &package) else {
                    return;
                };
                if current.load(Ordering::SeqCst) == generation {
                    let _ = std::fs::write(&path, error.to_json());
                }
            });
        } else if matches!(
            Heard::from_line(line),
            Some(Heard::PatchStarted | Heard::Patched | Heard::FullRebuild)
        ) {
            self.generation.fetch_add(1, Ordering::SeqCst);
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// The first error of the app's page build, from the compiler.
fn first_error(folder: &Path, package: &str) -> Option<save_watch::CompilerError> {
    let output = std::process::Command::new("cargo")
        .args(["check", "--message-format=json", "--package", package])
        .args(["--target", "wasm32-unknown-unknown"])
        .current_dir(folder)
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    save_watch::CompilerError::first(&String::from_utf8_lossy(&output.stdout))
}

/// The build id the relay connects with: neither the app's (0) nor a
/// fullstack server's (1), so dx takes it for no app (`client_connected`).
const RELAY_BUILD_ID: u64 = 0x5a7e;

/// Puts lines into dx's output as an app's log (`ClientMsg::Log`), else on
/// standard error. One connection for the session: dx sends its latest patch
/// again to every app and page whenever anything connects, so connecting
/// once, before the first patch, sends nothing.
struct Relay {
    lines: Option<mpsc::Sender<String>>,
    connected: Arc<AtomicBool>,
}

impl Relay {
    fn start(port: Option<u16>) -> Relay {
        let connected = Arc::new(AtomicBool::new(false));
        let Some(port) = port else {
            return Relay {
                lines: None,
                connected,
            };
        };
        let (tx, rx) = mpsc::channel::<String>();
        let up = connected.clone();
        std::thread::spawn(move || loop {
            let Some(mut socket) = connect(port) else {
                std::thread::sleep(Duration::from_millis(500));
                continue;
            };
            up.store(true, Ordering::SeqCst);
            // Read all dx sends (patches, to every socket): a socket nobody
            // reads would fill up and stall dx's sending.
            loop {
                if let Ok(line) = rx.try_recv() {
                    let message = serde_json::json!({"Log": {"level": "warn", "messages": [line]}});
                    if socket
                        .send(tungstenite::Message::text(message.to_string()))
                        .is_err()
                    {
                        eprintln!("{}", warning(&line));
                        break;
                    }
                }
                match socket.read() {
                    Ok(_) => {}
                    Err(tungstenite::Error::Io(err))
                        if matches!(
                            err.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) => {}
                    Err(_) => break,
                }
            }
            up.store(false, Ordering::SeqCst);
        });
        Relay {
            lines: Some(tx),
            connected,
        }
    }

    fn say(&self, report: &str) {
        match &self.lines {
            Some(lines) if self.connected.load(Ordering::SeqCst) => {
                let _ = lines.send(report.to_string());
            }
            _ => eprintln!("{}", warning(report)),
        }
    }
}

fn connect(port: u16) -> Option<tungstenite::WebSocket<std::net::TcpStream>> {
    let stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    let url = format!("ws://127.0.0.1:{port}/_dioxus?build_id={RELAY_BUILD_ID}");
    let (socket, _) = tungstenite::client(url, stream.try_clone().ok()?).ok()?;
    stream.set_read_timeout(Some(TICK)).ok()?;
    Some(socket)
}

fn warning(report: &str) -> String {
    format!("\x1b[1;33mwarning:\x1b[0m {report}")
}

fn fail(message: &str) -> ! {
    eprintln!("save_watch: {message}");
    std::process::exit(2)
}

/// How the user names the file: relative to the app's folder.
fn shown(folder: &Path, file: &Path) -> String {
    file.strip_prefix(folder)
        .unwrap_or(file)
        .display()
        .to_string()
}

fn content_of(file: &Path) -> Option<u64> {
    let bytes = std::fs::read(file).ok()?;
    let mut hasher = DefaultHasher::new();
    hasher.write(&bytes);
    Some(hasher.finish())
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut to_visit = vec![dir.to_path_buf()];
    while let Some(dir) = to_visit.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            let name = entry.file_name();
            if name == "target" || name.to_string_lossy().starts_with('.') {
                continue;
            }
            if path.is_dir() {
                to_visit.push(path);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                found.push(path);
            }
        }
    }
    found
}

/// The lines dx appends to its log file (which the dev script empties first).
struct Tail {
    path: PathBuf,
    offset: u64,
    partial: String,
}

impl Tail {
    fn new(path: PathBuf) -> Tail {
        Tail {
            path,
            offset: 0,
            partial: String::new(),
        }
    }

    fn new_lines(&mut self) -> Vec<String> {
        let Ok(mut file) = std::fs::File::open(&self.path) else {
            return Vec::new();
        };
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        if len < self.offset {
            self.offset = 0;
            self.partial.clear();
        }
        let mut bytes = Vec::new();
        if file.seek(SeekFrom::Start(self.offset)).is_err() || file.read_to_end(&mut bytes).is_err()
        {
            return Vec::new();
        }
        self.offset += bytes.len() as u64;
        self.partial.push_str(&String::from_utf8_lossy(&bytes));
        let Some(end) = self.partial.rfind('\n') else {
            return Vec::new();
        };
        let complete: Vec<String> = self.partial[..end].lines().map(str::to_string).collect();
        self.partial.drain(..=end);
        complete
    }
}
