use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use e2e_support::{checkout_root, edit_file};

use crate::starter_commands;

/// An app made with the README's `scripts/new <kind> <dir>`, in a folder
/// outside the checkout.
#[derive(Clone)]
pub struct App {
    pub root: PathBuf,
    dev: String,
}

impl App {
    /// Make a `kind` app in `<temp>/hotswap-starter-<checkout>/<name>`. The
    /// folder is fixed and its `target/` is kept from the last run (moved
    /// aside while `scripts/new`, which wants a new folder, runs), so cargo
    /// rebuilds only the app itself.
    pub fn create(kind: &str, name: &str) -> App {
        let root = app_folder(name);
        let kept = root.with_extension("target");
        if root.join("target").is_dir() {
            let _ = std::fs::remove_dir_all(&kept);
            std::fs::rename(root.join("target"), &kept).unwrap();
        }
        if root.exists() {
            std::fs::remove_dir_all(&root).unwrap();
        }
        let new = starter_commands(&readme()).new;
        let output = Command::new(checkout_root().join(&new))
            .arg(kind)
            .arg(&root)
            .current_dir(checkout_root())
            .output()
            .unwrap_or_else(|err| panic!("cannot run {new}: {err}"));
        assert!(
            output.status.success(),
            "{new} {kind} {} failed:\n{}{}",
            root.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        if kept.is_dir() {
            std::fs::rename(&kept, root.join("target")).unwrap();
        }
        App {
            root,
            dev: starter_commands(&readme()).dev,
        }
    }

    /// The README's dev command, run in the app's folder, with the
    /// environment of a user who has not set `CARGO_TARGET_DIR`.
    pub fn dev(&self) -> Command {
        let mut command = Command::new(self.root.join(&self.dev));
        command
            .current_dir(&self.root)
            .env_remove("CARGO_TARGET_DIR");
        command
    }

    /// Save an edit to one of the app's files, like an editor; returns when it was written.
    pub fn edit(&self, file: &str, replacements: &[(&str, &str)]) -> Instant {
        edit_file(&self.root.join(file), replacements)
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.root.join(file)
    }
}

/// A fixed folder per checkout, outside it, so `target/` is reused between runs.
fn app_folder(name: &str) -> PathBuf {
    let mut hash = std::collections::hash_map::DefaultHasher::new();
    checkout_root().hash(&mut hash);
    let base = std::env::temp_dir().join(format!("hotswap-starter-{:016x}", hash.finish()));
    std::fs::create_dir_all(&base).unwrap();
    base.join(name)
}

/// The root README of the checkout.
pub fn readme() -> String {
    read(&checkout_root().join("README.md"))
}

pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()))
}
