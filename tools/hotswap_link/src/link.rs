//! Which link dx asked for, read from the linker's arguments and environment.

use std::ffi::OsString;
use std::path::PathBuf;

/// The kinds of link this wrapper sees.
#[derive(Debug, PartialEq, Eq)]
pub enum Link {
    /// dx's link of one hot patch (`-shared -o …/lib<exe>-patch-<ms>.so`,
    /// with dx's `stub.o` among the inputs).
    Patch(Patch),
    /// rustc's own link of a crate while dx builds for hot-patching. dx throws
    /// its output away (it links the base and each patch itself, right
    /// after), and without a wrapper it writes an empty object instead: do the
    /// same, or every patch would pay for a full link of the program.
    DiscardedByDx { output: PathBuf },
    /// Anything else (cargo build, dx's own base link, build scripts): the
    /// real linker, untouched.
    Plain,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Patch {
    pub output: PathBuf,
    /// The running program: the executable beside the patch.
    pub base: PathBuf,
    pub stub: PathBuf,
}

/// dx sets this (to 1) for every rustc it runs while it builds for hot-patching.
const DX_LINK: &str = "DX_LINK";

pub fn classify(args: &[OsString], env: impl Fn(&str) -> Option<String>) -> Link {
    let text: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let Some(output) = text
        .iter()
        .position(|a| a == "-o")
        .and_then(|i| text.get(i + 1))
        .map(PathBuf::from)
    else {
        return Link::Plain;
    };
    if let Some(base) = patch_base(&output) {
        if text.iter().any(|a| a == "-shared") {
            if let Some(stub) = text.iter().find(|a| a.ends_with("/stub.o")) {
                return Link::Patch(Patch {
                    output,
                    base,
                    stub: PathBuf::from(stub),
                });
            }
        }
    }
    // dx's own base link adds `--export-dynamic-symbol,main`; rustc's link
    // under `-Clink-dead-code` (which dx sets for hot-patch builds only)
    // passes no `--gc-sections`.
    let under_dx = env(DX_LINK).is_some();
    let dx_base_link = text
        .iter()
        .any(|a| a.contains("--export-dynamic-symbol,main"));
    let dead_code_kept = !text.iter().any(|a| a.contains("--gc-sections"));
    if under_dx && !dx_base_link && dead_code_kept && !output.to_string_lossy().ends_with(".so") {
        return Link::DiscardedByDx { output };
    }
    Link::Plain
}

/// `dir/lib<exe>-patch-<digits>.so` -> `dir/<exe>`.
fn patch_base(output: &std::path::Path) -> Option<PathBuf> {
    let name = output.file_name()?.to_str()?;
    let stem = name.strip_prefix("lib")?.strip_suffix(".so")?;
    let (exe, millis) = stem.rsplit_once("-patch-")?;
    if exe.is_empty() || millis.is_empty() || !millis.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(output.with_file_name(exe))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn under_dx(name: &str) -> Option<String> {
        (name == "DX_LINK").then(|| "1".to_string())
    }

    #[test]
    fn a_patch_link_names_the_base_beside_it() {
        let link = classify(
            &args(&[
                "/t/deps/app-1.rcgu.o",
                "/b/app/stub.o",
                "-shared",
                "-o",
                "/b/app/libmy_app-patch-1764520000123.so",
            ]),
            no_env,
        );
        assert_eq!(
            link,
            Link::Patch(Patch {
                output: "/b/app/libmy_app-patch-1764520000123.so".into(),
                base: "/b/app/my_app".into(),
                stub: "/b/app/stub.o".into(),
            })
        );
    }

    #[test]
    fn without_dx_stub_or_shared_it_is_not_a_patch() {
        let out = "/b/app/libmy_app-patch-17.so";
        assert_eq!(
            classify(&args(&["-shared", "-o", out]), no_env),
            Link::Plain
        );
        assert_eq!(
            classify(&args(&["/b/stub.o", "-o", out]), no_env),
            Link::Plain
        );
        assert_eq!(
            classify(
                &args(&["/b/stub.o", "-shared", "-o", "/b/libfoo.so"]),
                no_env
            ),
            Link::Plain
        );
    }

    #[test]
    fn rustc_links_under_dx_hot_patching_are_skipped_but_base_builds_link() {
        let rustc = ["main.o", "-o", "/t/deps/app-abc"];
        assert_eq!(
            classify(&args(&rustc), under_dx),
            Link::DiscardedByDx {
                output: "/t/deps/app-abc".into()
            }
        );
        // Outside dx, or in a build with dead code removed (dx serve without
        // --hot-patch), the link is real.
        assert_eq!(classify(&args(&rustc), no_env), Link::Plain);
        let gc = ["main.o", "-Wl,--gc-sections", "-o", "/t/deps/app-abc"];
        assert_eq!(classify(&args(&gc), under_dx), Link::Plain);
        // dx's own link of the base.
        let fat = ["main.o", "-Wl,--export-dynamic-symbol,main", "-o", "/t/app"];
        assert_eq!(classify(&args(&fat), under_dx), Link::Plain);
        // A proc macro or other shared library rustc links.
        let dylib = ["m.o", "-shared", "-o", "/t/deps/libmacro-1.so"];
        assert_eq!(classify(&args(&dylib), under_dx), Link::Plain);
    }
}
