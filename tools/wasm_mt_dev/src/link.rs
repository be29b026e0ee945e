//! Linking a patch with nightly's own wasm-ld (`rust-lld -flavor wasm`).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::Error;

/// `rust-lld` of the toolchain that compiled the objects (its LLVM wrote them).
pub fn find_rust_lld(rustc: &Path) -> Result<PathBuf, Error> {
    let output = Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .map_err(|e| Error::msg(format!("cannot run {}: {e}", rustc.display())))?;
    let sysroot = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    let host = Command::new(rustc)
        .args(["-vV"])
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        })
        .unwrap_or_else(|| "x86_64-unknown-linux-gnu".into());
    let lld = sysroot.join("lib/rustlib").join(host).join("bin/rust-lld");
    if lld.is_file() {
        Ok(lld)
    } else {
        Err(Error::msg(format!(
            "no rust-lld at {} (the toolchain's `rust-lld` component is missing)",
            lld.display()
        )))
    }
}

/// The patch link's arguments: a position-independent module over the base's
/// shared memory and table; what it does not define becomes an import that
/// `patch::resolve` satisfies from the base.
pub fn patch_args(max_memory_pages: u64, inputs: &[PathBuf], out: &Path) -> Vec<String> {
    let mut args: Vec<String> = [
        "-flavor",
        "wasm",
        "--shared-memory",
        "--import-memory",
        "--import-table",
        "--pie",
        "--experimental-pic",
        "--allow-undefined",
        "--no-entry",
        "--no-demangle",
        // Keep every function of the recompiled crates, so every address-taken
        // one (a HotFn boundary) is in the patch's table and the jump table.
        "--no-gc-sections",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.push(format!("--max-memory={}", max_memory_pages * 65536));
    args.push("-o".into());
    args.push(out.display().to_string());
    args.extend(inputs.iter().map(|p| p.display().to_string()));
    args
}

pub fn link(lld: &Path, args: &[String]) -> Result<(), Error> {
    let output = Command::new(lld)
        .args(args)
        .output()
        .map_err(|e| Error::msg(format!("cannot run {}: {e}", lld.display())))?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    // lld's first lines say what failed; a crash adds a long stack dump.
    let message: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("error") || l.contains("warning"))
        .take(20)
        .collect();
    Err(Error::msg(format!(
        "linking the patch failed: {}",
        if message.is_empty() {
            stderr.lines().take(5).collect::<Vec<_>>().join("\n")
        } else {
            message.join("\n")
        }
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rustc::{folder, rustc, strings};
    use crate::wasm::{ImportKind, ModuleView};

    /// What wasm-ld makes of the arguments: a module that imports a shared
    /// memory with the base's maximum and the base's table, and keeps a
    /// function no code calls.
    #[test]
    fn the_patch_links_over_shared_memory_with_the_base_maximum() {
        let dir = folder("link");
        // The static takes the function's address: the patch needs a table.
        let source = "#![no_std]\n\
            #[no_mangle] pub extern \"C\" fn hotswap_seven() -> u32 { 7 }\n\
            #[no_mangle] pub static HOTSWAP_SEVEN: extern \"C\" fn() -> u32 = hotswap_seven;\n\
            #[panic_handler] fn panic(_: &core::panic::PanicInfo) -> ! { loop {} }\n";
        let args = strings(&[
            "--target=wasm32-unknown-unknown",
            "--crate-type=lib",
            "--emit=obj",
            "-Ctarget-feature=+atomics,+bulk-memory",
            "-Crelocation-model=pic",
            "-o",
            "seven.o",
        ]);
        rustc(&dir, "seven", source, &args);

        let lld = find_rust_lld(Path::new("rustc")).unwrap();
        let out = dir.join("patch.wasm");
        link(&lld, &patch_args(16384, &[dir.join("seven.o")], &out)).unwrap();
        let bytes = std::fs::read(&out).unwrap();
        let view = ModuleView::parse(&bytes).unwrap();
        let import = |name: &str| {
            view.imports
                .iter()
                .find(|import| import.module == "env" && import.name == name)
                .map(|import| import.kind)
        };
        assert_eq!(
            import("memory"),
            Some(ImportKind::Memory {
                shared: true,
                maximum: Some(16384)
            })
        );
        assert_eq!(import("__indirect_function_table"), Some(ImportKind::Table));
        assert!(
            view.func_names.values().any(|name| name == "hotswap_seven"),
            "an uncalled function was dropped: {:?}",
            view.func_names
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
