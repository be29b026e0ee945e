//! Saves in the workspace crates' `src/` folders, a burst at a time.

use std::path::PathBuf;
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

impl Saves {
    pub fn watch(dirs: &[PathBuf]) -> Result<Saves, Error> {
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
        for dir in dirs {
            watcher
                .watch(dir, RecursiveMode::Recursive)
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
        let saves = Saves::watch(std::slice::from_ref(&dir)).unwrap();
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
}
