//! The files dx's hot-patch builds leave behind, and removing them during a session.
//!
//! dx 0.7.10 compiles with `-Csave-temps` (it links patches from the tip
//! crate's objects), and every build then leaves one or two files per codegen
//! unit in `target/**/deps` (`*.rcgu.bc`, `*.rcgu.no-opt.bc`, `*.rcgu.o`) under
//! a new random name. They pile up patch after patch, and rustc lists `deps/`
//! on every compile: with 170,000 of them a small patch took 0.67 s instead of
//! 0.39 s.
//!
//! Which of them may go, and when:
//! - rustc's incremental cache keeps its own copies under `incremental/`; the
//!   ones in `deps/` are hard links or copies of them, so removing those leaves
//!   the cache whole (we never touch `incremental/`);
//! - dx links a patch from the tip crate's fresh `*.rcgu.o` and deletes them
//!   itself afterwards; every file written or linked before the newest patch
//!   library was made belongs to a build that is over.
//!
//! So after each patch we remove the leftovers whose inode changed (ctime)
//! before the patch library was written. ctime, not mtime: when rustc reuses a
//! codegen unit it hard-links the cached object into `deps/`, which keeps the
//! old mtime but sets a new ctime; a file a running build has just put there
//! is therefore never older than the patch before it.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A point on the file system's clock: ctime in nanoseconds since the epoch.
pub type Stamp = i128;

fn ctime(meta: &std::fs::Metadata) -> Stamp {
    meta.ctime() as i128 * 1_000_000_000 + meta.ctime_nsec() as i128
}

/// Now, on the same clock as [`Stamp`]s (for "everything before now" at start-up).
pub fn now() -> Stamp {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos() as i128)
}

/// The `-Csave-temps` leftovers in `deps/` folders under `target` whose inode
/// last changed before `before`.
pub fn leftovers(target: &Path, before: Stamp) -> Vec<PathBuf> {
    let mut found = Vec::new();
    // deps/ sits at target/<profile>/deps or target/<triple>/<profile>/deps.
    for deps in folders(target, 2, &|name| name == "deps") {
        let files = std::fs::read_dir(&deps).into_iter().flatten().flatten();
        found.extend(files.filter_map(|file| {
            let name = file.file_name();
            let old = file.metadata().is_ok_and(|meta| ctime(&meta) < before);
            (name.to_string_lossy().contains(".rcgu.") && old).then(|| file.path())
        }));
    }
    found
}

/// Delete [`leftovers`]; returns how many went.
pub fn remove(target: &Path, before: Stamp) -> usize {
    leftovers(target, before)
        .iter()
        .filter(|file| std::fs::remove_file(file).is_ok())
        .count()
}

/// When dx wrote its newest patch library (`lib<app>-patch-<ms>.so`, `.wasm`,
/// `.dylib`, `.dll`, next to the app under `target/dx/`), if it made one yet.
pub fn newest_patch(target: &Path) -> Option<Stamp> {
    let mut newest = None;
    let mut dirs = vec![(target.join("dx"), 0)];
    while let Some((dir, depth)) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                // target/dx/<app>/<profile>/<platform>/app/...; web bundles go a little deeper.
                if depth < 7 {
                    dirs.push((entry.path(), depth + 1));
                }
            } else if is_patch(&entry.file_name().to_string_lossy()) {
                if let Ok(meta) = entry.metadata() {
                    newest = newest.max(Some(ctime(&meta)));
                }
            }
        }
    }
    newest
}

fn is_patch(name: &str) -> bool {
    name.starts_with("lib")
        && name.contains("-patch-")
        && [".so", ".wasm", ".dylib", ".dll"]
            .iter()
            .any(|ext| name.ends_with(ext))
}

/// Folders named so that `wanted(name)` holds, at most `depth` levels below `root`.
fn folders(root: &Path, depth: usize, wanted: &dyn Fn(&str) -> bool) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut dirs = vec![(root.to_path_buf(), 0)];
    while let Some((dir, level)) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            if !entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                continue;
            }
            if wanted(&entry.file_name().to_string_lossy()) {
                found.push(entry.path());
            } else if level < depth {
                dirs.push((entry.path(), level + 1));
            }
        }
    }
    found
}

/// Sweep after every patch dx makes in `target` until `go_on(removed so far)`
/// returns false; checks every `interval`. Returns how many files went.
pub fn after_each_patch(
    target: &Path,
    interval: Duration,
    mut go_on: impl FnMut(usize) -> bool,
) -> usize {
    let mut swept_up_to = newest_patch(target);
    let mut removed = 0;
    while go_on(removed) {
        std::thread::sleep(interval);
        let newest = newest_patch(target);
        if newest > swept_up_to {
            if let Some(patch) = newest {
                removed += remove(target, patch);
            }
            swept_up_to = newest;
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_target(name: &str) -> PathBuf {
        let target =
            std::env::temp_dir().join(format!("save-temps-sweep-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&target);
        target
    }

    /// Return once the file system stamps a new inode change later than
    /// `file`'s: its clock may be coarser than a few writes take.
    fn clock_past(file: &Path) {
        let stamp = ctime(&std::fs::metadata(file).unwrap());
        let probe = file.with_extension("clock-probe");
        loop {
            std::fs::write(&probe, "").unwrap();
            let later = ctime(&std::fs::metadata(&probe).unwrap()) > stamp;
            std::fs::remove_file(&probe).unwrap();
            if later {
                return;
            }
        }
    }

    #[test]
    fn finds_leftovers_only_in_deps() {
        let target = temp_target("deps");
        let deps = target.join("x86_64-unknown-linux-gnu/desktop-dev/deps");
        std::fs::create_dir_all(&deps).unwrap();
        std::fs::create_dir_all(target.join("debug/deps")).unwrap();
        std::fs::create_dir_all(target.join("debug/incremental/app-1/s-1")).unwrap();
        for file in ["app-1.abc.rcgu.bc", "app-1.d", "libapp-1.rlib"] {
            std::fs::write(deps.join(file), "").unwrap();
        }
        std::fs::write(target.join("debug/deps/app-2.x.rcgu.no-opt.bc"), "").unwrap();
        std::fs::write(target.join("debug/app.rcgu.bc"), "").unwrap();
        std::fs::write(target.join("debug/incremental/app-1/s-1/x.rcgu.o"), "").unwrap();
        let mut found: Vec<String> = leftovers(&target, now() + 1_000_000_000)
            .iter()
            .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        found.sort();
        assert_eq!(found, ["app-1.abc.rcgu.bc", "app-2.x.rcgu.no-opt.bc"]);
        std::fs::remove_dir_all(&target).unwrap();
    }

    #[test]
    fn keeps_what_was_linked_in_after_the_patch() {
        let target = temp_target("linked");
        let deps = target.join("debug/deps");
        let cache = target.join("debug/incremental/app-1/s-1");
        let app = target.join("dx/app/debug/linux/app");
        for dir in [&deps, &cache, &app] {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(deps.join("app-1.old.rcgu.o"), "").unwrap();
        // rustc reuses a codegen unit from its cache: the object is old, its link into deps/ is new.
        std::fs::write(cache.join("reused.o"), "").unwrap();
        clock_past(&cache.join("reused.o"));
        std::fs::write(app.join("libapp-patch-1.so"), "").unwrap();
        let patch = newest_patch(&target).expect("the patch library is found");
        clock_past(&app.join("libapp-patch-1.so"));
        std::fs::hard_link(cache.join("reused.o"), deps.join("app-1.reused.rcgu.o")).unwrap();
        std::fs::write(deps.join("app-1.fresh.rcgu.o"), "").unwrap();

        assert_eq!(remove(&target, patch), 1);
        let mut left: Vec<String> = std::fs::read_dir(&deps)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["app-1.fresh.rcgu.o", "app-1.reused.rcgu.o"]);
        assert!(
            cache.join("reused.o").exists(),
            "the incremental cache is left alone"
        );
        std::fs::remove_dir_all(&target).unwrap();
    }

    #[test]
    fn sweeps_once_per_new_patch() {
        let target = temp_target("watch");
        let deps = target.join("debug/deps");
        let app = target.join("dx/app/debug/web/public/wasm");
        std::fs::create_dir_all(&deps).unwrap();
        std::fs::create_dir_all(&app).unwrap();
        std::fs::write(deps.join("app-1.a.rcgu.bc"), "").unwrap();
        // The patch written below must be stamped later than this leftover.
        clock_past(&deps.join("app-1.a.rcgu.bc"));
        let mut rounds = 0;
        let removed = after_each_patch(&target, Duration::from_millis(5), |_| {
            rounds += 1;
            if rounds == 2 {
                std::fs::write(app.join("libapp-patch-2.wasm"), "").unwrap();
            }
            rounds < 4
        });
        assert_eq!(removed, 1);
        assert!(!deps.join("app-1.a.rcgu.bc").exists());
        std::fs::remove_dir_all(&target).unwrap();
    }
}
