//! The linker cargo runs for this workspace's targets: see the crate docs
//! (`hotswap_link`). Usage: as `linker` in `.cargo/config.toml`, through the
//! `tools/hotswap_link/linker` script; `hotswap-link --version` prints its version.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use hotswap_link::{bind_patch, bind_wasm_patch, classify, is_wasm, Bound, Link, Report};

/// The linker rustc would have run natively: the C compiler driver.
const NATIVE_LINKER: &str = "cc";

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
        Link::DxBase { output } => {
            // A snapshot left by an earlier build must not stand for this one.
            if let Some(old) = hotswap_link::layout_snapshot_of(&output) {
                let _ = std::fs::remove_file(old);
            }
            let status = real_link(&args);
            if status == ExitCode::SUCCESS {
                // Without a snapshot every later patch is linked unguarded
                // (and the runtime says so), but the app itself is fine.
                match hotswap_link::record_layout(&args, &output) {
                    Ok(files) => trace(&format!("layout snapshot of {files} files")),
                    Err(e) => eprintln!(
                        "hotswap-link: layout changes will not be caught until the next full build: {e}"
                    ),
                }
            }
            status
        }
        Link::DiscardedByDx { output } => match std::fs::write(&output, empty_object()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&format!("cannot write {}: {e}", output.display())),
        },
        Link::Patch(patch) => link_bound(
            guarded(|| layout_checked(&args, &patch.output, || bind_patch(&args, &patch))),
            &patch.output,
            empty_object,
        ),
        Link::WasmPatch { output } => link_bound(
            guarded(|| layout_checked(&args, &output, || bind_wasm_patch(&args, &output))),
            &output,
            empty_wasm,
        ),
    }
}

/// The layout guard before the binding: a save that changed a type the
/// running program holds is refused, so dx rebuilds instead of patching.
fn layout_checked(
    args: &[OsString],
    output: &Path,
    bind: impl FnOnce() -> Result<Bound, String>,
) -> Result<Bound, String> {
    let guarded = hotswap_link::check_layout(args, output)?;
    let mut bound = bind()?;
    bound.report.unguarded = !guarded;
    Ok(bound)
}

/// A bug in the binding must not leave dx with no patch and no rebuild: a
/// panic is refused like any patch that cannot be bound.
fn guarded(
    bind: impl FnOnce() -> Result<Bound, String> + std::panic::UnwindSafe,
) -> Result<Bound, String> {
    std::panic::catch_unwind(bind).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("a panic");
        Err(format!("hotswap-link failed ({what}); please report it"))
    })
}

/// Links a bound patch and writes its report beside it; or refuses it: dx
/// reads the output anyway, and `refused` makes it one dx cannot patch with
/// (so it rebuilds the app) instead of one it stops at ("Build failed").
fn link_bound(bound: Result<Bound, String>, output: &Path, refused: fn() -> Vec<u8>) -> ExitCode {
    match bound {
        Ok(bound) => {
            let status = real_link(&bound.args);
            let _ = std::fs::remove_dir_all(&bound.scratch);
            if status == ExitCode::SUCCESS {
                let path = Report::path_for(output);
                if let Err(e) = std::fs::write(&path, bound.report.render()) {
                    eprintln!("hotswap-link: cannot write {}: {e}", path.display());
                }
            }
            status
        }
        Err(why) => {
            let _ = std::fs::remove_dir_all(hotswap_link::scratch_dir(output));
            let _ = std::fs::write(output, refused());
            fail(&format!("{why}. Not patching: dx rebuilds the app instead"))
        }
    }
}

fn real_link(args: &[OsString]) -> ExitCode {
    let (linker, args) = if is_wasm(args) {
        match rust_lld() {
            Ok(lld) => (lld, wasm_ld_args(args)),
            Err(e) => return fail(&e),
        }
    } else {
        (PathBuf::from(NATIVE_LINKER), args.to_vec())
    };
    match Command::new(&linker).args(&args).status() {
        Ok(status) if status.success() => ExitCode::SUCCESS,
        Ok(status) => ExitCode::from(status.code().unwrap_or(1).clamp(1, 255) as u8),
        Err(e) => fail(&format!(
            "cannot run the linker `{}`: {e}",
            linker.display()
        )),
    }
}

/// rustc's wasm-ld is `rust-lld -flavor wasm`, which rustc asks for itself;
/// dx's own links drop the flag.
fn wasm_ld_args(args: &[OsString]) -> Vec<OsString> {
    if args.first().is_some_and(|a| a == "-flavor") {
        return args.to_vec();
    }
    let mut out: Vec<OsString> = vec!["-flavor".into(), "wasm".into()];
    out.extend(args.iter().cloned());
    out
}

/// The toolchain's `rust-lld`: on PATH when rustc runs the linker (it puts its
/// own tools first), else in the sysroot of the `rustc` this environment
/// selects (dx runs its links with a PATH without it).
fn rust_lld() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("PATH") {
        if let Some(found) = std::env::split_paths(&path)
            .map(|dir| dir.join("rust-lld"))
            .find(|p| p.is_file())
        {
            return Ok(found);
        }
    }
    let output = Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .map_err(|e| format!("cannot run rustc to find rust-lld: {e}"))?;
    let sysroot = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    let rustlib = sysroot.join("lib/rustlib");
    std::fs::read_dir(&rustlib)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("bin/rust-lld"))
        .find(|p| p.is_file())
        .ok_or_else(|| format!("no rust-lld under {}", rustlib.display()))
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

/// A wasm module with nothing but a note in it: dx reads its assets (the
/// `object` crate wants 16 bytes at least to tell a file's kind), then finds
/// no function table to make a jump table of, the error that makes it rebuild.
fn empty_wasm() -> Vec<u8> {
    let mut module = wasm_encoder::Module::new();
    module.section(&wasm_encoder::CustomSection {
        name: "hotswap-link".into(),
        data: b"refused: see dx's log".as_slice().into(),
    });
    module.finish()
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
