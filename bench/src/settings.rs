//! Build settings a scratch copy is measured with.
//!
//! By default a scratch copy has the checkout's own root `Cargo.toml` and
//! `.cargo/config.toml`, so the benchmark measures the committed settings.
//! Two environment variables try alternatives, in the scratch copies only:
//!
//! - `BENCH_PROFILE_DEV`: the body of `[profile.dev]`, lines separated by
//!   newlines or `;`. It replaces `[profile.dev]` and every
//!   `[profile.dev.*]` section, and may add such sections itself, e.g.
//!   `BENCH_PROFILE_DEV='debug = 0; [profile.dev.package."*"]; opt-level = 1'`.
//!   An empty value means Cargo's defaults.
//! - `BENCH_LINKER`: `lld` (link with `-fuse-ld=lld`) or `cc` (the system
//!   default), written as the `[target.x86_64-unknown-linux-gnu]` section of
//!   `.cargo/config.toml`; both keep the workspace's linker wrapper
//!   (`tools/hotswap_link`), which then runs `cc` with those flags.

use std::path::Path;

use e2e_support::Scratch;
use serde_json::{json, Value};

pub const HOST_SECTION: &str = "[target.x86_64-unknown-linux-gnu]";
/// The wrapper every link of a patch must go through (see the module comment).
const WRAPPER_LINE: &str = "linker = \"tools/hotswap_link/linker\"\n";
const LLD_FLAGS_LINE: &str = "rustflags = [\"-C\", \"link-arg=-fuse-ld=lld\"]\n";

pub struct Settings {
    profile_dev: Option<String>,
    linker: Option<Linker>,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Linker {
    Lld,
    Cc,
}

impl Settings {
    pub fn from_env() -> Settings {
        let profile_dev = std::env::var("BENCH_PROFILE_DEV").ok().map(|body| {
            body.split([';', '\n'])
                .map(str::trim)
                .filter(|line| !line.is_empty())
                .collect::<Vec<_>>()
                .join("\n")
        });
        let linker = std::env::var("BENCH_LINKER")
            .ok()
            .map(|name| match name.as_str() {
                "lld" => Linker::Lld,
                "cc" | "default" => Linker::Cc,
                _ => panic!("BENCH_LINKER={name:?}: use lld or cc"),
            });
        Settings {
            profile_dev,
            linker,
        }
    }

    /// Write the overrides into a fresh scratch copy.
    pub fn apply(&self, scratch: &Scratch) {
        if let Some(body) = &self.profile_dev {
            let path = scratch.root().join("Cargo.toml");
            let text = read(&path);
            std::fs::write(&path, replace_profile_dev(&text, body)).unwrap();
        }
        if let Some(linker) = self.linker {
            let path = scratch.root().join(".cargo").join("config.toml");
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let mut text = remove_section(&text, HOST_SECTION);
            if !text.is_empty() && !text.ends_with("\n\n") {
                text.push('\n');
            }
            text.push_str(HOST_SECTION);
            text.push('\n');
            text.push_str(WRAPPER_LINE);
            if linker == Linker::Lld {
                text.push_str(LLD_FLAGS_LINE);
            }
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, text).unwrap();
        }
    }

    /// What a scratch copy ends up with, for the report: the `[profile.dev]`
    /// sections and the host linker.
    pub fn describe(scratch: &Scratch) -> Value {
        let manifest = read(&scratch.root().join("Cargo.toml"));
        let config = std::fs::read_to_string(scratch.root().join(".cargo").join("config.toml"))
            .unwrap_or_default();
        let host = section(&config, HOST_SECTION);
        let cc = if host.contains("fuse-ld=lld") {
            "lld"
        } else {
            "cc (system default)"
        };
        let linker = if host.contains("hotswap_link") {
            format!("hotswap-link, then {cc}")
        } else {
            cc.to_string()
        };
        json!({ "profile_dev": profile_dev_text(&manifest), "linker": linker })
    }

    /// One line for the tables, e.g. `[profile.dev] debug = 0; linker: lld`.
    pub fn one_line(described: &Value) -> String {
        let profile = described["profile_dev"]
            .as_str()
            .unwrap_or("")
            .replace('\n', "; ");
        let profile = if profile.trim() == "[profile.dev]" {
            "[profile.dev] (Cargo's defaults)".to_string()
        } else {
            profile.replacen("[profile.dev]; ", "[profile.dev] ", 1)
        };
        format!(
            "{profile}; linker: {}",
            described["linker"].as_str().unwrap_or("?")
        )
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()))
}

fn is_header(line: &str) -> bool {
    line.trim_start().starts_with('[')
}

fn is_profile_dev(line: &str) -> bool {
    let line = line.trim();
    line == "[profile.dev]" || line.starts_with("[profile.dev.")
}

/// `[profile.dev]` and its `[profile.dev.*]` sections (comments dropped), as one string.
pub fn profile_dev_text(manifest: &str) -> String {
    let mut inside = false;
    let mut out = Vec::new();
    for line in manifest.lines() {
        if is_header(line) {
            inside = is_profile_dev(line);
        }
        let code = line.split('#').next().unwrap_or("").trim();
        if inside && !code.is_empty() {
            out.push(code.to_string());
        }
    }
    out.join("\n")
}

/// The manifest with every `[profile.dev*]` section replaced by `[profile.dev]` + `body`.
fn replace_profile_dev(manifest: &str, body: &str) -> String {
    let mut inside = false;
    let mut kept: Vec<&str> = Vec::new();
    for line in manifest.lines() {
        if is_header(line) {
            inside = is_profile_dev(line);
        }
        if !inside {
            kept.push(line);
        }
    }
    let mut out = kept.join("\n").trim_end().to_string();
    out.push_str("\n\n[profile.dev]\n");
    if !body.is_empty() {
        out.push_str(body);
        out.push('\n');
    }
    out
}

fn section(config: &str, header: &str) -> String {
    let mut inside = false;
    let mut out = String::new();
    for line in config.lines() {
        if is_header(line) {
            inside = line.trim() == header;
        }
        if inside {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

pub fn remove_section(config: &str, header: &str) -> String {
    let mut inside = false;
    let mut out = String::new();
    for line in config.lines() {
        if is_header(line) {
            inside = line.trim() == header;
        }
        if !inside {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = "[workspace]\nmembers = [\"a\"]\n\n[profile.dev]\n# why\ndebug = 0\n\n[profile.dev.package.\"*\"]\nopt-level = 1\n\n[profile.release]\nlto = true\n";

    #[test]
    fn replaces_every_profile_dev_section() {
        let out = replace_profile_dev(MANIFEST, "debug = \"line-tables-only\"");
        assert!(out.contains("[profile.release]\nlto = true"));
        assert!(out.ends_with("[profile.dev]\ndebug = \"line-tables-only\"\n"));
        assert!(!out.contains("opt-level"));
        assert_eq!(
            profile_dev_text(&out),
            "[profile.dev]\ndebug = \"line-tables-only\""
        );
    }

    #[test]
    fn describes_settings_on_one_line() {
        let described = json!({ "profile_dev": "[profile.dev]\ndebug = 0", "linker": "lld" });
        assert_eq!(
            Settings::one_line(&described),
            "[profile.dev] debug = 0; linker: lld"
        );
        let described = json!({ "profile_dev": "[profile.dev]", "linker": "cc" });
        assert_eq!(
            Settings::one_line(&described),
            "[profile.dev] (Cargo's defaults); linker: cc"
        );
    }

    #[test]
    fn reads_profile_dev_without_comments() {
        assert_eq!(
            profile_dev_text(MANIFEST),
            "[profile.dev]\ndebug = 0\n[profile.dev.package.\"*\"]\nopt-level = 1"
        );
    }

    #[test]
    fn swaps_only_the_host_section() {
        let config = "[target.wasm32-unknown-unknown]\nrustflags = [\"x\"]\n\n[target.x86_64-unknown-linux-gnu]\nrustflags = [\"y\"]\n";
        let out = remove_section(config, HOST_SECTION);
        assert_eq!(
            out,
            "[target.wasm32-unknown-unknown]\nrustflags = [\"x\"]\n\n"
        );
        assert!(section(config, HOST_SECTION).contains("\"y\""));
    }
}
