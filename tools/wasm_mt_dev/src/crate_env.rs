//! Which environment variables a crate's recorded rustc invocation keeps.
//!
//! A replay must see what cargo set for that crate (`CARGO_PKG_NAME`,
//! `OUT_DIR`, a build script's `cargo:rustc-env`, `[env]` from cargo's
//! config), since `env!` reads them at compile time. Everything else the
//! wrapper sees it inherited from this tool, and a replay inherits it again
//! from this tool: so it is never written to disk, and tokens and passwords in
//! the developer's environment stay out of `target/`.
//!
//! The tool tells its wrapper which names it had itself ([`INHERITED_VAR`]:
//! names only, no values); the wrapper records the variables cargo sets for
//! every crate ([`set_by_cargo`]) and any name the tool did not have.

use std::collections::{BTreeMap, BTreeSet};

/// The names of the tool's own environment, one per line, for the wrapper.
pub const INHERITED_VAR: &str = "WASM_MT_DEV_INHERITED";

/// The value of [`INHERITED_VAR`] for the tool's current environment.
pub fn inherited_names() -> String {
    let names: Vec<String> = std::env::vars_os()
        .filter_map(|(name, _)| name.into_string().ok())
        .collect();
    names.join("\n")
}

/// Variables cargo sets for each crate it compiles (the cargo book's
/// "Environment variables Cargo sets for crates"), and the toolchain rustup
/// picks. A replay sets them again even if this tool has a value of its own
/// (run by `cargo run`, it has its own `CARGO_PKG_NAME`).
pub fn set_by_cargo(name: &str) -> bool {
    const NAMES: &[&str] = &[
        "CARGO",
        "CARGO_MANIFEST_DIR",
        "CARGO_MANIFEST_PATH",
        "CARGO_MANIFEST_LINKS",
        "CARGO_CRATE_NAME",
        "CARGO_BIN_NAME",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_TARGET_TMPDIR",
        "CARGO_RUSTC_CURRENT_DIR",
        "OUT_DIR",
        "RUSTUP_TOOLCHAIN",
    ];
    const PREFIXES: &[&str] = &["CARGO_PKG_", "CARGO_BIN_EXE_", "CARGO_CFG_"];
    NAMES.contains(&name) || PREFIXES.iter().any(|prefix| name.starts_with(prefix))
}

/// What the wrapper records of `vars`, given the tool's names (`inherited`,
/// the value of [`INHERITED_VAR`]); `skip` are the wrapper's own variables.
pub fn to_record(
    vars: impl IntoIterator<Item = (String, String)>,
    inherited: &str,
    skip: &[&str],
) -> BTreeMap<String, String> {
    let inherited: BTreeSet<&str> = inherited.lines().collect();
    vars.into_iter()
        .filter(|(name, _)| !skip.contains(&name.as_str()))
        .filter(|(name, _)| set_by_cargo(name) || !inherited.contains(name.as_str()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn keeps_what_cargo_set_and_drops_what_the_tool_had() {
        let recorded = to_record(
            vars(&[
                ("CARGO_PKG_NAME", "app"),
                ("CARGO_MANIFEST_DIR", "/w/app"),
                ("OUT_DIR", "/w/target/out"),
                // From a build script's `cargo:rustc-env`, or `[env]`: the tool never had it.
                ("APP_BUILT_WITH", "feature-x"),
                // The developer's environment, inherited by cargo from the tool.
                ("GITHUB_TOKEN", "ghp_secret"),
                ("CARGO_REGISTRY_TOKEN", "cio_secret"),
                ("HOME", "/home/me"),
                ("WASM_MT_DEV_CAPTURE", "/w/target/records"),
            ]),
            "GITHUB_TOKEN\nCARGO_REGISTRY_TOKEN\nHOME\nCARGO_PKG_NAME",
            &["WASM_MT_DEV_CAPTURE"],
        );
        let names: Vec<&str> = recorded.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "APP_BUILT_WITH",
                "CARGO_MANIFEST_DIR",
                "CARGO_PKG_NAME",
                "OUT_DIR"
            ]
        );
        assert_eq!(recorded["CARGO_PKG_NAME"], "app");
    }
}
