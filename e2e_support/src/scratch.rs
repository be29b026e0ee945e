use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::checkout_root;

/// A copy of the workspace that a test may edit.
///
/// It lives at a fixed path per name, outside the checkout (so the checkout's
/// `.cargo/config.toml` does not apply twice and dx never watches the
/// checkout), and is refreshed file by file: unchanged files keep their
/// mtimes, and its `target/` is kept, so cargo reuses what it built last time.
pub struct Scratch {
    root: PathBuf,
}

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let checkout = checkout_root();
        let root = std::env::temp_dir()
            .join(format!(
                "hotswap-e2e-{:08x}",
                fnv(checkout.to_string_lossy().as_bytes())
            ))
            .join(name);
        let files = workspace_files(&checkout);
        for file in &files {
            let source = std::fs::read(checkout.join(file))
                .unwrap_or_else(|err| panic!("cannot read {}: {err}", file.display()));
            let dest = root.join(file);
            if std::fs::read(&dest).ok().as_deref() != Some(source.as_slice()) {
                std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
                std::fs::write(&dest, source).unwrap();
            }
            // Scripts stay executable (the linker script .cargo/config.toml names, for one).
            let mode = std::fs::metadata(checkout.join(file))
                .unwrap()
                .permissions();
            if std::fs::metadata(&dest).unwrap().permissions() != mode {
                std::fs::set_permissions(&dest, mode).unwrap();
            }
        }
        let keep: HashSet<PathBuf> = files.into_iter().collect();
        remove_others(&root, &root, &keep);
        // Earlier dx sessions' patch leftovers only slow this one down.
        let removed = save_temps_sweep::remove(&root.join("target"), save_temps_sweep::now());
        if removed > 0 {
            eprintln!(
                "removed {removed} files earlier hot patches left in {}",
                root.join("target").display()
            );
        }
        Scratch { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Replace the one occurrence of `from` with `to` in `file`, like a save in an editor.
    pub fn edit(&self, file: &str, from: &str, to: &str) {
        self.edit_all(file, &[(from, to)]);
    }

    /// Several replacements written in one save, so dx sees one change.
    pub fn edit_all(&self, file: &str, replacements: &[(&str, &str)]) {
        edit_file(&self.root.join(file), replacements);
    }
}

/// Replace each `from` (which must occur exactly once) with its `to` and write
/// the file in one save; returns the moment of the write, for latency timing.
pub fn edit_file(path: &Path, replacements: &[(&str, &str)]) -> Instant {
    let mut text = std::fs::read_to_string(path)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()));
    for (from, to) in replacements {
        let found = text.matches(from).count();
        assert_eq!(
            found,
            1,
            "expected {from:?} once in {}, found it {found} times",
            path.display()
        );
        text = text.replacen(from, to, 1);
    }
    let written = Instant::now();
    std::fs::write(path, text)
        .unwrap_or_else(|err| panic!("cannot write {}: {err}", path.display()));
    written
}

/// Tracked files plus untracked ones that are not ignored: what a user would have.
fn workspace_files(checkout: &Path) -> Vec<PathBuf> {
    let output = Command::new("git")
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .current_dir(checkout)
        .output()
        .expect("the end-to-end tests need git to list the workspace's files");
    assert!(
        output.status.success(),
        "git ls-files failed in {}",
        checkout.display()
    );
    output
        .stdout
        .split(|&byte| byte == 0)
        .filter(|name| !name.is_empty())
        .map(|name| PathBuf::from(String::from_utf8_lossy(name).into_owned()))
        .filter(|name| checkout.join(name).is_file())
        .collect()
}

/// Delete files a previous run left that the workspace no longer has.
fn remove_others(root: &Path, dir: &Path, keep: &HashSet<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let relative = path.strip_prefix(root).unwrap().to_path_buf();
        if path.is_dir() {
            // The copy's build output: kept between runs so cargo rebuilds little.
            if relative == Path::new("target") {
                continue;
            }
            remove_others(root, &path, keep);
        } else if !keep.contains(&relative) {
            let _ = std::fs::remove_file(&path);
        }
    }
}

fn fnv(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c9dc5u32, |hash, &byte| {
        (hash ^ byte as u32).wrapping_mul(0x01000193)
    })
}
