//! Which link dx asked for, read from the linker's arguments and environment.

use std::ffi::OsString;
use std::path::PathBuf;

/// The kinds of link this wrapper sees.
#[derive(Debug, PartialEq, Eq)]
pub enum Link {
    /// dx's link of one hot patch (`-shared -o …/lib<exe>-patch-<ms>.so`,
    /// with dx's `stub.o` among the inputs).
    Patch(Patch),
    /// dx's link of one hot patch of a web app (`--pie … -o
    /// …/lib<exe>-patch-<ms>.wasm`, wasm-ld arguments without `-flavor`).
    WasmPatch { output: PathBuf },
    /// rustc's own link of a crate while dx builds for hot-patching. dx throws
    /// its output away (it links the base and each patch itself, right
    /// after), and without a wrapper it writes an empty object instead: do the
    /// same, or every patch would pay for a full link of the program.
    DiscardedByDx { output: PathBuf },
    /// dx's own link of the running program (the "fat" link, natively with
    /// `main` exported, on the web without rustc's `-flavor wasm`): the real
    /// linker, then the layout guard's snapshot of the sources beside it.
    DxBase { output: PathBuf },
    /// Anything else (cargo build, build scripts): the real linker, untouched.
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

/// Whether the link makes a wasm module: rustc asks for wasm-ld with
/// `-flavor wasm`; dx's own links (which drop that flag) write a `.wasm` or
/// read wasm objects.
pub fn is_wasm(args: &[OsString]) -> bool {
    let text: Vec<std::borrow::Cow<'_, str>> = args.iter().map(|a| a.to_string_lossy()).collect();
    if text.windows(2).any(|w| w[0] == "-flavor" && w[1] == "wasm") {
        return true;
    }
    if output_of(&text).is_some_and(|o| o.ends_with(".wasm")) {
        return true;
    }
    text.iter()
        .find(|a| a.ends_with(".o"))
        .and_then(|first| {
            let mut magic = [0u8; 4];
            use std::io::Read;
            std::fs::File::open(first.as_ref())
                .and_then(|mut f| f.read_exact(&mut magic))
                .ok()
                .map(|()| &magic == b"\0asm")
        })
        .unwrap_or(false)
}

fn output_of<S: AsRef<str>>(text: &[S]) -> Option<&str> {
    text.iter()
        .position(|a| a.as_ref() == "-o")
        .and_then(|i| text.get(i + 1))
        .map(|o| o.as_ref())
}

pub fn classify(args: &[OsString], env: impl Fn(&str) -> Option<String>) -> Link {
    let text: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let Some(output) = output_of(&text).map(PathBuf::from) else {
        return Link::Plain;
    };
    let rustc_wasm_link = text.windows(2).any(|w| w[0] == "-flavor" && w[1] == "wasm");
    if is_patch_name(&output, "wasm") && text.iter().any(|a| a == "--pie") && !rustc_wasm_link {
        return Link::WasmPatch { output };
    }
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
    // dx's own base link adds `--export-dynamic-symbol,main` (natively) or
    // drops rustc's `-flavor wasm` (on the web); rustc's link under
    // `-Clink-dead-code` (which dx sets for hot-patch builds only) passes no
    // `--gc-sections`.
    let under_dx = env(DX_LINK).is_some();
    let dx_base_link = text
        .iter()
        .any(|a| a.contains("--export-dynamic-symbol,main"))
        || (is_wasm(args) && !rustc_wasm_link);
    let dead_code_kept = !text.iter().any(|a| a.contains("--gc-sections"));
    if dx_base_link {
        return Link::DxBase { output };
    }
    if under_dx && dead_code_kept && !output.to_string_lossy().ends_with(".so") {
        return Link::DiscardedByDx { output };
    }
    Link::Plain
}

/// `dir/lib<exe>-patch-<digits>.so` -> `dir/<exe>`.
fn patch_base(output: &std::path::Path) -> Option<PathBuf> {
    is_patch_name(output, "so").then(|| Some(output.with_file_name(patched_exe(output)?)))?
}

/// The executable a patch is for, by dx's name for the patch:
/// `lib<exe>-patch-<ms>.<extension>` -> `<exe>`.
pub fn patched_exe(output: &std::path::Path) -> Option<&str> {
    let name = output.file_name()?.to_str()?;
    let (exe, _) = name.strip_prefix("lib")?.rsplit_once("-patch-")?;
    Some(exe)
}

/// Whether `output` is named as dx names a patch: `lib<exe>-patch-<ms>.<extension>`.
fn is_patch_name(output: &std::path::Path, extension: &str) -> bool {
    let Some(name) = output.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    let Some(stem) = name
        .strip_prefix("lib")
        .and_then(|n| n.strip_suffix(extension))
        .and_then(|n| n.strip_suffix('.'))
    else {
        return false;
    };
    stem.rsplit_once("-patch-").is_some_and(|(exe, millis)| {
        !exe.is_empty() && !millis.is_empty() && millis.bytes().all(|b| b.is_ascii_digit())
    })
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
        assert_eq!(
            classify(&args(&fat), under_dx),
            Link::DxBase {
                output: "/t/app".into()
            }
        );
        // A proc macro or other shared library rustc links.
        let dylib = ["m.o", "-shared", "-o", "/t/deps/libmacro-1.so"];
        assert_eq!(classify(&args(&dylib), under_dx), Link::Plain);
    }

    #[test]
    fn wasm_links_dx_patches_rustcs_and_dx_base() {
        // dx's patch link: wasm-ld arguments, no -flavor.
        let patch = [
            "/t/deps/app-1.rcgu.o",
            "--import-memory",
            "--pie",
            "--experimental-pic",
            "-o",
            "/b/public/wasm/libapp-patch-1764520000123.wasm",
        ];
        assert_eq!(
            classify(&args(&patch), under_dx),
            Link::WasmPatch {
                output: "/b/public/wasm/libapp-patch-1764520000123.wasm".into()
            }
        );
        assert!(is_wasm(&args(&patch)));
        // rustc's own link through dx (thrown away) and outside dx (real).
        let rustc = [
            "-flavor",
            "wasm",
            "a.o",
            "--no-gc-sections",
            "-o",
            "/t/deps/app-1.wasm",
        ];
        assert_eq!(
            classify(&args(&rustc), under_dx),
            Link::DiscardedByDx {
                output: "/t/deps/app-1.wasm".into()
            }
        );
        assert_eq!(classify(&args(&rustc), no_env), Link::Plain);
        // dx's fat link of the base: rustc's arguments without -flavor.
        let fat = [
            "a.o",
            "--whole-archive",
            "/t/libdeps-1.a",
            "-o",
            "/b/app.wasm",
        ];
        assert_eq!(
            classify(&args(&fat), under_dx),
            Link::DxBase {
                output: "/b/app.wasm".into()
            }
        );
        assert!(is_wasm(&args(&fat)));
        assert!(!is_wasm(&args(&["a.o", "-o", "/t/app"])));
    }
}
