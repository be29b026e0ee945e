//! Which app to build: a package of the workspace and one of its binaries,
//! found through `cargo metadata`, wherever the package's folder is and
//! whatever its binary is called.

use std::path::{Path, PathBuf};

use cargo_metadata::{Metadata, MetadataCommand, Package};

/// The app the tool builds, serves and patches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct App {
    /// The workspace root: cargo runs there, `target/` is under it.
    pub workspace: PathBuf,
    pub package: String,
    /// The package's folder (its `index.html`, an optional `mt-config.toml`).
    pub package_dir: PathBuf,
    /// The binary target: the `.wasm` cargo links and the glue's name.
    pub bin: String,
}

/// Reads the workspace of `dir` and picks the app (see [`choose`]).
pub fn locate(dir: &Path, package: Option<&str>, bin: Option<&str>) -> Result<App, String> {
    let metadata = MetadataCommand::new()
        .current_dir(dir)
        .no_deps()
        .exec()
        .map_err(|e| {
            let detail = e.to_string();
            let first = detail.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
            format!(
                "cannot read the Cargo workspace of {}: {}",
                dir.display(),
                first.trim()
            )
        })?;
    choose(&metadata, package, bin)
}

/// The package named `package` (or else the workspace's only package with a
/// binary) and its binary named `bin` (or else its `default-run`, its only
/// binary, or the one named like the package). Anything else is one line
/// saying what to pass.
pub fn choose(
    metadata: &Metadata,
    package: Option<&str>,
    bin: Option<&str>,
) -> Result<App, String> {
    let members = metadata.workspace_packages();
    let has_bin = |p: &&Package| p.targets.iter().any(|t| t.is_bin());
    let chosen = match package {
        Some(name) => members
            .iter()
            .copied()
            .find(|p| p.name.as_str() == name)
            .ok_or_else(|| {
                format!(
                    "no package `{name}` in the workspace at {} (its packages: {})",
                    metadata.workspace_root,
                    names(members.iter().map(|p| p.name.as_str()))
                )
            })?,
        None => {
            let apps: Vec<&Package> = members.iter().copied().filter(has_bin).collect();
            match apps.as_slice() {
                [one] => *one,
                [] => {
                    return Err(format!(
                        "the workspace at {} has no package with a binary to serve",
                        metadata.workspace_root
                    ))
                }
                several => {
                    return Err(format!(
                        "the workspace at {} has several packages with a binary ({}): pick one with --package",
                        metadata.workspace_root,
                        names(several.iter().map(|p| p.name.as_str()))
                    ))
                }
            }
        }
    };
    let bins: Vec<&str> = chosen
        .targets
        .iter()
        .filter(|t| t.is_bin())
        .map(|t| t.name.as_str())
        .collect();
    let picked = match bin {
        Some(name) => bins.iter().copied().find(|b| *b == name).ok_or_else(|| {
            format!(
                "package `{}` has no binary `{name}` (its binaries: {})",
                chosen.name,
                names(bins.iter().copied())
            )
        })?,
        None => chosen
            .default_run
            .as_deref()
            .or(match bins.as_slice() {
                [one] => Some(*one),
                _ => bins.iter().copied().find(|b| *b == chosen.name.as_str()),
            })
            .ok_or_else(|| {
                if bins.is_empty() {
                    format!(
                        "package `{}` has no binary: a threaded app needs a `main` that starts the page",
                        chosen.name
                    )
                } else {
                    format!(
                        "package `{}` has several binaries ({}): pick one with --bin",
                        chosen.name,
                        names(bins.iter().copied())
                    )
                }
            })?,
    };
    Ok(App {
        workspace: metadata.workspace_root.clone().into_std_path_buf(),
        package: chosen.name.to_string(),
        package_dir: chosen
            .manifest_path
            .parent()
            .map(|d| d.to_path_buf().into_std_path_buf())
            .unwrap_or_default(),
        bin: picked.to_string(),
    })
}

fn names<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let mut names: Vec<&str> = names.collect();
    names.sort_unstable();
    names.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A workspace on disk, read by the real `cargo metadata`.
    fn workspace(name: &str, members: &[(&str, &str, &[&str])]) -> PathBuf {
        let root =
            std::env::temp_dir().join(format!("wasm_mt_dev-locate-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let list: Vec<String> = members
            .iter()
            .map(|(dir, _, _)| format!("{dir:?}"))
            .collect();
        write(
            &root.join("Cargo.toml"),
            &format!(
                "[workspace]\nresolver = \"2\"\nmembers = [{}]\n",
                list.join(", ")
            ),
        );
        for (dir, package, bins) in members {
            let mut manifest = format!(
                "[package]\nname = \"{package}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n"
            );
            write(&root.join(dir).join("src/lib.rs"), "");
            for bin in *bins {
                manifest.push_str(&format!(
                    "[[bin]]\nname = \"{bin}\"\npath = \"src/{bin}.rs\"\n"
                ));
                write(
                    &root.join(dir).join(format!("src/{bin}.rs")),
                    "fn main() {}\n",
                );
            }
            write(&root.join(dir).join("Cargo.toml"), &manifest);
        }
        root
    }

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn finds_the_one_app_in_any_folder_with_any_binary_name() {
        let root = workspace(
            "one",
            &[
                ("apps/viewer", "viewer", &["view-app"]),
                ("core", "core", &[]),
            ],
        );
        // From a member's folder too: cargo finds the workspace.
        let app = locate(&root.join("core"), None, None).unwrap();
        let root = root.canonicalize().unwrap();
        assert_eq!(
            app,
            App {
                workspace: root.clone(),
                package: "viewer".into(),
                package_dir: root.join("apps/viewer"),
                bin: "view-app".into(),
            }
        );
    }

    #[test]
    fn says_in_one_line_what_to_pass_when_it_cannot_choose() {
        let root = workspace(
            "several",
            &[
                ("viewer", "viewer", &["view-app"]),
                ("tool", "tool", &["a", "b"]),
            ],
        );
        let err = |package, bin| locate(&root, package, bin).unwrap_err();
        assert!(err(None, None).ends_with(
            "has several packages with a binary (tool, viewer): pick one with --package"
        ));
        assert_eq!(
            err(Some("tool"), None),
            "package `tool` has several binaries (a, b): pick one with --bin"
        );
        assert_eq!(
            err(Some("tool"), Some("c")),
            "package `tool` has no binary `c` (its binaries: a, b)"
        );
        assert!(err(Some("nope"), None).ends_with("(its packages: tool, viewer)"));
        assert_eq!(locate(&root, Some("tool"), Some("b")).unwrap().bin, "b");
        let missing = locate(&root.join("no/such/dir"), None, None).unwrap_err();
        assert!(
            missing.starts_with("cannot read the Cargo workspace of"),
            "{missing}"
        );
        assert!(!missing.contains('\n'), "{missing}");
    }
}
