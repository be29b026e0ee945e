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

    #[test]
    fn the_patch_links_over_shared_memory_with_the_base_maximum() {
        let args = patch_args(16384, &["stub.o".into(), "a.o".into()], Path::new("p.wasm"));
        let joined = args.join(" ");
        assert!(joined.starts_with("-flavor wasm --shared-memory --import-memory"));
        assert!(joined.contains("--pie --experimental-pic"));
        assert!(joined.contains("--max-memory=1073741824"));
        // The stub comes first: its TLS segment must start the TLS block.
        assert!(joined.ends_with("-o p.wasm stub.o a.o"));
    }
}
