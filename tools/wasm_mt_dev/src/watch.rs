//! Saves of the workspace crates' sources, a burst at a time.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use notify::{EventKind, RecursiveMode, Watcher};

use crate::Error;

/// Keeps the watcher alive; [`Saves::next`] blocks until files were saved.
pub struct Saves {
    _watcher: notify::RecommendedWatcher,
    rx: mpsc::Receiver<PathBuf>,
}

/// An editor's save is several events (truncate, write, rename): wait this
/// long after the last one before acting on the burst.
const QUIET: Duration = Duration::from_millis(60);

/// A folder whose `.rs` files are sources: with its subfolders, or alone.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Watched {
    pub dir: PathBuf,
    pub recursive: bool,
}

/// A package's sources, wherever they are in its folder (`src/`, `build.rs`,
/// a `[[bin]] path`, `benches/`): the folder itself and every subfolder but
/// build output (`target`, `dist`), `node_modules` and hidden ones. Not the
/// whole folder recursively: a build's output must not look like a save.
pub fn package_folders(dir: &Path) -> Vec<Watched> {
    let mut out = vec![Watched {
        dir: dir.to_path_buf(),
        recursive: false,
    }];
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for path in entries.flatten().map(|e| e.path()).filter(|p| p.is_dir()) {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if !matches!(name, "target" | "dist" | "node_modules") && !name.starts_with('.') {
            out.push(Watched {
                dir: path,
                recursive: true,
            });
        }
    }
    out
}

/// The `.rs` files of `watched`.
pub fn rust_files(watched: &Watched) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let Ok(entries) = std::fs::read_dir(&watched.dir) else {
        return files;
    };
    for path in entries.flatten().map(|e| e.path()) {
        if path.is_dir() {
            if watched.recursive {
                files.extend(rust_files(&Watched {
                    dir: path,
                    recursive: true,
                }));
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

impl Saves {
    pub fn watch(folders: &[Watched]) -> Result<Saves, Error> {
        let (tx, rx) = mpsc::channel();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                let Ok(event) = event else { return };
                if matches!(event.kind, EventKind::Access(_) | EventKind::Remove(_)) {
                    return;
                }
                for path in event.paths {
                    if path.extension().is_some_and(|e| e == "rs") {
                        let _ = tx.send(path);
                    }
                }
            })
            .map_err(|e| Error::msg(format!("cannot watch files: {e}")))?;
        for Watched { dir, recursive } in folders {
            let mode = if *recursive {
                RecursiveMode::Recursive
            } else {
                RecursiveMode::NonRecursive
            };
            watcher
                .watch(dir, mode)
                .map_err(|e| Error::msg(format!("cannot watch {}: {e}", dir.display())))?;
        }
        Ok(Saves {
            _watcher: watcher,
            rx,
        })
    }

    /// The files of the next burst of saves, and when the burst began.
    pub fn next(&self) -> Option<(Vec<PathBuf>, Instant)> {
        let first = self.rx.recv().ok()?;
        let began = Instant::now();
        let mut files = vec![first];
        while let Ok(path) = self.rx.recv_timeout(QUIET) {
            files.push(path);
        }
        files.sort();
        files.dedup();
        Some((files, began))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_writes_to_several_files_is_one_save() {
        let dir = std::env::temp_dir().join(format!("wasm_mt_dev-watch-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let saves = Saves::watch(&package_folders(&dir)).unwrap();
        let (scene, shade) = (dir.join("scene.rs"), dir.join("shade.rs"));
        // Writes of two files, 10 ms apart (QUIET is 60 ms), still being
        // made while `next` waits: without coalescing, the burst would hold
        // the first file only.
        let writer = std::thread::spawn({
            let (scene, shade, notes) = (scene.clone(), shade.clone(), dir.join("notes.txt"));
            move || {
                for (file, text) in [
                    (&scene, "a"),
                    (&notes, "ignored"),
                    (&shade, "b"),
                    (&scene, "ab"),
                ] {
                    std::fs::write(file, text).unwrap();
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        });
        let (files, _) = saves.next().unwrap();
        writer.join().unwrap();
        let names: Vec<_> = files.iter().filter_map(|f| f.file_name()).collect();
        assert_eq!(names, ["scene.rs", "shade.rs"], "{files:?}");

        // A write after the burst went quiet is the next save, on its own.
        std::fs::write(&shade, "bc").unwrap();
        let (files, _) = saves.next().unwrap();
        assert_eq!(files, [shade], "{files:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_package_is_watched_everywhere_but_in_its_build_output() {
        let dir = std::env::temp_dir().join(format!("wasm_mt_dev-folders-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for sub in ["src/bin", "benches", "target/debug", ".git", "dist"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        for file in [
            "build.rs",
            "src/lib.rs",
            "src/bin/tool.rs",
            "benches/b.rs",
            "target/debug/gen.rs",
        ] {
            std::fs::write(dir.join(file), "").unwrap();
        }
        let folders = package_folders(&dir);
        let mut files: Vec<PathBuf> = folders
            .iter()
            .flat_map(rust_files)
            .map(|f| f.strip_prefix(&dir).unwrap().to_path_buf())
            .collect();
        files.sort();
        let expected: Vec<PathBuf> = ["benches/b.rs", "build.rs", "src/bin/tool.rs", "src/lib.rs"]
            .iter()
            .map(PathBuf::from)
            .collect();
        assert_eq!(files, expected);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
