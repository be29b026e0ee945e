//! The linker cargo runs for this workspace's targets: see the crate docs
//! (`hotswap_link`). Usage: as `linker` in `.cargo/config.toml`, through the
//! `tools/hotswap_link/linker` script; `hotswap-link --version` prints its version.

use std::ffi::OsString;
use std::process::{Command, ExitCode};

use hotswap_link::{bind_patch, classify, Link, Report};

/// The linker rustc would have run: the C compiler driver.
const REAL_LINKER: &str = "cc";

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    if args.len() == 1 && args[0] == "--version" {
        println!("hotswap-link {}", hotswap_link::VERSION);
        return ExitCode::SUCCESS;
    }
    let link = classify(&args, |name| std::env::var(name).ok());
    trace(&format!("{link:?} {args:?}"));
    match link {
        Link::Plain => real_link(&args),
        Link::DiscardedByDx { output } => match std::fs::write(&output, empty_object()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&format!("cannot write {}: {e}", output.display())),
        },
        Link::Patch(patch) => match bind_patch(&args, &patch) {
            Ok(bound) => {
                let status = real_link(&bound.args);
                let _ = std::fs::remove_dir_all(&bound.scratch);
                if status == ExitCode::SUCCESS {
                    let path = Report::path_for(&patch.output);
                    if let Err(e) = std::fs::write(&path, bound.report.render()) {
                        eprintln!("hotswap-link: cannot write {}: {e}", path.display());
                    }
                }
                status
            }
            // dx logs a failed link's output ("Failed to generate patch: …")
            // and carries on with the file: one without `main` makes it give
            // up on the patch and rebuild the app, which this save needs.
            Err(why) => {
                if let Err(e) = std::fs::write(&patch.output, empty_object()) {
                    eprintln!("hotswap-link: cannot write {}: {e}", patch.output.display());
                }
                fail(&format!("{why}. Not patching: dx rebuilds the app instead"))
            }
        },
    }
}

fn real_link(args: &[OsString]) -> ExitCode {
    match Command::new(REAL_LINKER).args(args).status() {
        Ok(status) if status.success() => ExitCode::SUCCESS,
        Ok(status) => ExitCode::from(status.code().unwrap_or(1).clamp(1, 255) as u8),
        Err(e) => fail(&format!("cannot run the linker `{REAL_LINKER}`: {e}")),
    }
}

/// What dx itself writes in place of a link whose output it discards.
fn empty_object() -> Vec<u8> {
    object::write::Object::new(
        object::BinaryFormat::Elf,
        object::Architecture::X86_64,
        object::Endianness::Little,
    )
    .write()
    .expect("an empty object always writes")
}

fn fail(message: &str) -> ExitCode {
    eprintln!("hotswap-link: {message}");
    trace(message);
    ExitCode::FAILURE
}

/// `HOTSWAP_LINK_LOG=<file>`: every link and its outcome, for debugging.
fn trace(line: &str) {
    use std::io::Write;
    if let Some(path) = std::env::var_os("HOTSWAP_LINK_LOG") {
        if let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(file, "{line}");
        }
    }
}
