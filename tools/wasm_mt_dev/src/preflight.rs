//! What the tool needs besides the app, checked before the first build: a
//! missing piece is then one line saying what to install, not a build that
//! "failed" and waits for a save that cannot fix it.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Nightly with rust-src (the base rebuilds std with atomics), and a
/// wasm-bindgen CLI of the version in the app's `Cargo.lock`.
pub fn check(workspace: &Path) -> Result<(), String> {
    rust_src(nightly_sysroot().as_deref())?;
    let lock = std::fs::read_to_string(workspace.join("Cargo.lock")).ok();
    let installed = Command::new("wasm-bindgen")
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    wasm_bindgen_matches(lock.as_deref(), installed.as_deref())
}

fn nightly_sysroot() -> Option<PathBuf> {
    let output = Command::new("rustc")
        .args(["--print", "sysroot"])
        .env("RUSTUP_TOOLCHAIN", "nightly")
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    Some(PathBuf::from(
        String::from_utf8_lossy(&output.stdout).trim(),
    ))
}

fn rust_src(sysroot: Option<&Path>) -> Result<(), String> {
    let Some(sysroot) = sysroot else {
        return Err(
            "no nightly toolchain, which the shared-memory build needs: \
                    rustup toolchain install nightly --component rust-src"
                .into(),
        );
    };
    if sysroot.join("lib/rustlib/src/rust/library").is_dir() {
        Ok(())
    } else {
        Err("nightly has no rust-src, which -Zbuild-std needs: \
             rustup component add rust-src --toolchain nightly"
            .into())
    }
}

/// `installed` is `wasm-bindgen --version`'s output. Without a `Cargo.lock`
/// yet (cargo writes it in the first build) there is nothing to compare.
fn wasm_bindgen_matches(lock: Option<&str>, installed: Option<&str>) -> Result<(), String> {
    let have = installed.and_then(|text| text.split_whitespace().nth(1));
    let Some(lock) = lock else {
        return have.map(drop).ok_or_else(|| {
            "the wasm-bindgen CLI is not on PATH: cargo install wasm-bindgen-cli --locked".into()
        });
    };
    let mut lines = lock.lines();
    let want = lines
        .position(|line| line.trim() == r#"name = "wasm-bindgen""#)
        .and_then(|_| lines.next())
        .and_then(|line| line.trim().strip_prefix("version = \""))
        .and_then(|rest| rest.strip_suffix('"'));
    let Some(want) = want else {
        return Err(
            "the app does not depend on wasm-bindgen (Cargo.lock has no entry), \
                    which a threaded page needs"
                .into(),
        );
    };
    if have == Some(want) {
        Ok(())
    } else {
        Err(format!(
            "the wasm-bindgen CLI is {} but Cargo.lock has wasm-bindgen {want}: \
             cargo install wasm-bindgen-cli --version ={want} --locked --force",
            have.unwrap_or("missing")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCK: &str = "[[package]]\nname = \"wasm-bindgen\"\nversion = \"0.2.127\"\n\
                        [[package]]\nname = \"wasm-bindgen-futures\"\nversion = \"0.4.50\"\n";

    #[test]
    fn the_cli_must_be_the_version_the_lock_file_has() {
        assert_eq!(
            wasm_bindgen_matches(Some(LOCK), Some("wasm-bindgen 0.2.127\n")),
            Ok(())
        );
        let older = wasm_bindgen_matches(Some(LOCK), Some("wasm-bindgen 0.2.100\n")).unwrap_err();
        assert!(
            older.starts_with(
                "the wasm-bindgen CLI is 0.2.100 but Cargo.lock has wasm-bindgen 0.2.127:"
            ),
            "{older}"
        );
        assert!(wasm_bindgen_matches(Some(LOCK), None)
            .unwrap_err()
            .starts_with("the wasm-bindgen CLI is missing"));
        assert!(
            wasm_bindgen_matches(Some("[[package]]\nname = \"rayon\"\n"), None)
                .unwrap_err()
                .contains("does not depend on wasm-bindgen")
        );
        assert_eq!(
            wasm_bindgen_matches(None, Some("wasm-bindgen 0.2.127")),
            Ok(())
        );
        assert!(wasm_bindgen_matches(None, None).is_err());
    }

    #[test]
    fn nightly_and_its_rust_src_are_named_when_missing() {
        assert!(rust_src(None)
            .unwrap_err()
            .starts_with("no nightly toolchain"));
        let bare = std::env::temp_dir().join(format!("wasm_mt_dev-sysroot-{}", std::process::id()));
        std::fs::create_dir_all(&bare).unwrap();
        assert!(rust_src(Some(&bare))
            .unwrap_err()
            .starts_with("nightly has no rust-src"));
        std::fs::create_dir_all(bare.join("lib/rustlib/src/rust/library")).unwrap();
        assert_eq!(rust_src(Some(&bare)), Ok(()));
        std::fs::remove_dir_all(&bare).unwrap();
    }
}
