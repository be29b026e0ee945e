//! Putting a freshly built page in place of the served one.
//!
//! A page that stays open across a restart of the tool asks, on every
//! reconnection, how the server describes the `.wasm` it loaded
//! (`hotswap_runtime`'s build check: `Last-Modified`, `Content-Length`); a
//! different answer means another build, and the page refuses every later
//! patch. A restart builds the same app again when nothing changed, so files
//! whose bytes are the same are left as they are, with their modification
//! times: only a real change looks like one.

use std::path::{Path, PathBuf};

use crate::Error;

/// Makes `dist` hold exactly `staging`'s files, then removes `staging`. A
/// file of `dist` with the same bytes is kept as it is.
pub fn publish(staging: &Path, dist: &Path) -> Result<(), Error> {
    let wanted = files(staging)?;
    for relative in &wanted {
        let (from, to) = (staging.join(relative), dist.join(relative));
        if std::fs::read(&to).ok() == Some(std::fs::read(&from)?) {
            continue;
        }
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::rename(&from, &to)
            .map_err(|e| Error::msg(format!("cannot replace {}: {e}", to.display())))?;
    }
    if dist.is_dir() {
        for relative in files(dist)? {
            if !wanted.contains(&relative) {
                std::fs::remove_file(dist.join(&relative))?;
            }
        }
    }
    std::fs::remove_dir_all(staging)?;
    Ok(())
}

/// The files under `root`, relative to it, sorted.
fn files(root: &Path) -> Result<Vec<PathBuf>, Error> {
    let mut out = Vec::new();
    let mut folders = vec![root.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder)? {
            let path = entry?.path();
            if path.is_dir() {
                folders.push(path);
            } else {
                out.push(path.strip_prefix(root).unwrap_or(&path).to_path_buf());
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    #[test]
    fn unchanged_files_keep_their_time_changed_ones_are_replaced_gone_ones_removed() {
        let root = crate::test_rustc::folder("publish");
        let (staging, dist) = (root.join("next"), root.join("dist"));
        let write = |dir: &Path, name: &str, text: &str| {
            let path = dir.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        write(&dist, "app_bg.wasm", "same");
        write(&dist, "index.html", "old");
        write(&dist, "snippets/gone.js", "gone");
        let long_ago = SystemTime::now() - Duration::from_secs(3600);
        let wasm = std::fs::File::options()
            .write(true)
            .open(dist.join("app_bg.wasm"))
            .unwrap();
        wasm.set_modified(long_ago).unwrap();
        drop(wasm);
        write(&staging, "app_bg.wasm", "same");
        write(&staging, "index.html", "new");
        write(&staging, "snippets/worker.js", "new");

        publish(&staging, &dist).unwrap();
        assert_eq!(
            files(&dist).unwrap(),
            ["app_bg.wasm", "index.html", "snippets/worker.js"].map(PathBuf::from)
        );
        let modified = |name: &str| {
            std::fs::metadata(dist.join(name))
                .unwrap()
                .modified()
                .unwrap()
        };
        assert_eq!(modified("app_bg.wasm"), long_ago);
        assert!(modified("index.html") > long_ago);
        assert_eq!(
            std::fs::read_to_string(dist.join("index.html")).unwrap(),
            "new"
        );
        assert!(!staging.exists());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
