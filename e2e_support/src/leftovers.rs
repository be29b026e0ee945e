//! What dx's hot-patch builds leave behind.

use std::path::{Path, PathBuf};

/// The files dx's builds leave in `deps/` folders under `target`.
///
/// dx 0.7.10 compiles with `-Csave-temps` (it links patches from the tip
/// crate's objects), and every thin build then leaves one or two files per
/// codegen unit (`*.rcgu.bc`, `*.rcgu.no-opt.bc`, `*.rcgu.dwo`) with a new
/// random name. They pile up patch after patch, and rustc lists `deps/` on
/// every compile: with 170,000 of them a small patch took 0.67 s instead of
/// 0.39 s. Nothing reads them again.
pub fn save_temps_leftovers(target: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut dirs = vec![(target.to_path_buf(), 0)];
    // deps/ sits at target/<profile>/deps or target/<triple>/<profile>/deps.
    while let Some((dir, depth)) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if !entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                continue;
            }
            if entry.file_name() == "deps" {
                let files = std::fs::read_dir(&path).into_iter().flatten().flatten();
                found.extend(
                    files
                        .filter(|file| file.file_name().to_string_lossy().contains(".rcgu."))
                        .map(|file| file.path()),
                );
            } else if depth < 2 {
                dirs.push((path, depth + 1));
            }
        }
    }
    found
}

/// Delete [`save_temps_leftovers`]; returns how many there were.
pub fn remove_save_temps_leftovers(target: &Path) -> usize {
    let leftovers = save_temps_leftovers(target);
    for file in &leftovers {
        let _ = std::fs::remove_file(file);
    }
    leftovers.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_leftovers_only_in_deps() {
        let target = std::env::temp_dir().join(format!("e2e-leftovers-{}", std::process::id()));
        let deps = target.join("x86_64-unknown-linux-gnu/desktop-dev/deps");
        std::fs::create_dir_all(&deps).unwrap();
        std::fs::create_dir_all(target.join("debug/deps")).unwrap();
        for file in ["app-1.abc.rcgu.bc", "app-1.d", "libapp-1.rlib"] {
            std::fs::write(deps.join(file), "").unwrap();
        }
        std::fs::write(target.join("debug/deps/app-2.x.rcgu.no-opt.bc"), "").unwrap();
        std::fs::write(target.join("debug/app.rcgu.bc"), "").unwrap();
        let mut found: Vec<String> = save_temps_leftovers(&target)
            .iter()
            .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        found.sort();
        assert_eq!(found, ["app-1.abc.rcgu.bc", "app-2.x.rcgu.no-opt.bc"]);
        std::fs::remove_dir_all(&target).unwrap();
    }
}
