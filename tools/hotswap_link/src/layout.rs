//! The layout guard: saves that a patch must not carry, found in the sources.
//!
//! A patch brings new code, not new data layouts. Values built by the running
//! program keep the layout their type had when it was built: patched code that
//! reads a `Stats` with a field added in front reads every field shifted, and
//! writes into its neighbours. dx 0.7.10 never looks at layouts, so this guard
//! compares, item by item, the sources the running program was built from
//! with the sources of the patch:
//!
//! - `struct`, `enum` and `union` definitions, with their attributes (derives,
//!   `repr`) and generics;
//! - `type` aliases (a field may be declared through one);
//! - a `static`'s type (not its initialiser: the running value is kept, which
//!   `hotswap_link`'s binding reports);
//! - a `thread_local!`'s names and types, and a new one (running threads have
//!   no slot for it);
//! - a `const` that one of the above names in the same file (an array length).
//!
//! Items are compared as token streams (`syn`), so formatting, comments and
//! doc comments do not count, and a change to a function body never does.
//! Items defined inside function bodies or by macros are not seen.
//!
//! dx's path: at dx's base link the wrapper records the items of every source
//! file cargo lists for the executable (its dep-info names the app's own crates
//! and its path dependencies, not registry crates) in a [`Snapshot`] beside the
//! executable; at each patch link it compares the files again and refuses the
//! patch on the first change, so dx rebuilds. `wasm_mt_dev` keeps a snapshot
//! of its own base build and asks the same question on each save.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use quote::ToTokens;
use syn::{Attribute, Item, ItemMod};

/// The items of one file that a patch cannot change, by a readable key
/// (`struct inner::Mode`), as normalised tokens.
pub type Frozen = BTreeMap<String, String>;

/// `None` when the file does not parse (rustc will say why).
pub fn frozen_items(source: &str) -> Option<Frozen> {
    let file = syn::parse_file(source).ok()?;
    let mut out = Frozen::new();
    let mut consts = Vec::new();
    collect(&file.items, "", &mut out, &mut consts);
    // Only the constants a frozen item names: a tweak of any other constant
    // is an ordinary patch.
    let named: BTreeSet<&str> = out
        .values()
        .flat_map(|tokens| tokens.split(|c: char| !(c.is_alphanumeric() || c == '_')))
        .collect();
    let consts: Vec<(String, String)> = consts
        .into_iter()
        .filter(|(key, _)| named.contains(key.rsplit(['.', ':', ' ']).next().unwrap_or(key)))
        .collect();
    for (key, tokens) in consts {
        insert(&mut out, key, tokens);
    }
    Some(out)
}

fn collect(items: &[Item], path: &str, out: &mut Frozen, consts: &mut Vec<(String, String)>) {
    for item in items {
        let (key, tokens) = match item {
            Item::Struct(s) => {
                let mut s = s.clone();
                strip_docs(&mut s.attrs);
                s.fields.iter_mut().for_each(|f| strip_docs(&mut f.attrs));
                (format!("struct {path}{}", s.ident), s.to_token_stream())
            }
            Item::Enum(e) => {
                let mut e = e.clone();
                strip_docs(&mut e.attrs);
                for variant in &mut e.variants {
                    strip_docs(&mut variant.attrs);
                    variant
                        .fields
                        .iter_mut()
                        .for_each(|f| strip_docs(&mut f.attrs));
                }
                (format!("enum {path}{}", e.ident), e.to_token_stream())
            }
            Item::Union(u) => {
                let mut u = u.clone();
                strip_docs(&mut u.attrs);
                u.fields
                    .named
                    .iter_mut()
                    .for_each(|f| strip_docs(&mut f.attrs));
                (format!("union {path}{}", u.ident), u.to_token_stream())
            }
            Item::Type(t) => {
                let mut t = t.clone();
                strip_docs(&mut t.attrs);
                (format!("type {path}{}", t.ident), t.to_token_stream())
            }
            Item::Static(s) => {
                let (mutability, ty) = (&s.mutability, &s.ty);
                (
                    format!("static {path}{}", s.ident),
                    quote::quote!(#mutability #ty),
                )
            }
            Item::Const(c) => {
                let mut c = c.clone();
                strip_docs(&mut c.attrs);
                consts.push((
                    format!("const {path}{}", c.ident),
                    c.to_token_stream().to_string(),
                ));
                continue;
            }
            Item::Trait(t) => {
                // `dyn Trait` values the program built hold vtables laid out
                // by the trait's methods and their order; default bodies do
                // not count.
                let mut t = t.clone();
                strip_docs(&mut t.attrs);
                for item in &mut t.items {
                    match item {
                        syn::TraitItem::Fn(f) => {
                            strip_docs(&mut f.attrs);
                            f.default = None;
                        }
                        syn::TraitItem::Const(c) => {
                            strip_docs(&mut c.attrs);
                            c.default = None;
                        }
                        syn::TraitItem::Type(ty) => strip_docs(&mut ty.attrs),
                        _ => {}
                    }
                }
                (format!("trait {path}{}", t.ident), t.to_token_stream())
            }
            // `std::thread_local!` as well as `thread_local!`.
            Item::Macro(m)
                if m.mac
                    .path
                    .segments
                    .last()
                    .is_some_and(|last| last.ident == "thread_local") =>
            {
                for (name, ty) in thread_locals(&m.mac.tokens) {
                    insert(out, format!("thread_local! {path}{name}"), ty);
                }
                continue;
            }
            Item::Mod(ItemMod {
                ident,
                content: Some((_, inner)),
                ..
            }) => {
                collect(inner, &format!("{path}{ident}::"), out, consts);
                continue;
            }
            _ => continue,
        };
        insert(out, key, tokens.to_string());
    }
}

/// Two items of one name (under different `cfg`s) are kept apart.
fn insert(out: &mut Frozen, key: String, tokens: String) {
    let key = (0..)
        .map(|n| {
            if n == 0 {
                key.clone()
            } else {
                format!("{key} #{n}")
            }
        })
        .find(|k| !out.contains_key(k))
        .expect("an unbounded range");
    out.insert(key, tokens);
}

fn strip_docs(attrs: &mut Vec<Attribute>) {
    attrs.retain(|a| !a.path().is_ident("doc"));
}

/// The names and types declared in a `thread_local!` block; every token when
/// it does not read as declarations (any change then counts).
fn thread_locals(tokens: &proc_macro2::TokenStream) -> Vec<(String, String)> {
    use syn::parse::{ParseStream, Parser};
    let declarations = |input: ParseStream| {
        let mut out = Vec::new();
        while !input.is_empty() {
            input.call(Attribute::parse_outer)?;
            input.parse::<syn::Visibility>()?;
            input.parse::<syn::Token![static]>()?;
            let name: syn::Ident = input.parse()?;
            input.parse::<syn::Token![:]>()?;
            let ty: syn::Type = input.parse()?;
            input.parse::<syn::Token![=]>()?;
            input.parse::<syn::Expr>()?;
            if !input.is_empty() {
                input.parse::<syn::Token![;]>()?;
            }
            out.push((name.to_string(), ty.to_token_stream().to_string()));
        }
        Ok(out)
    };
    declarations
        .parse2(tokens.clone())
        .unwrap_or_else(|_: syn::Error| vec![("(unreadable)".into(), tokens.to_string())])
}

/// The first frozen item that `now` changes compared with `then`, as a
/// sentence. New structs and statics are fine (nothing running has them); a
/// new thread-local is not. One that is gone counts too: a type renamed or
/// moved (and maybe changed on the way) looks like one removed and one new,
/// and the running program may hold it.
pub fn unpatchable_change(then: &Frozen, now: &Frozen) -> Option<String> {
    for (key, tokens) in now {
        match then.get(key) {
            Some(old) if old != tokens && key.starts_with("static") => {
                return Some(format!("{key} changed type"))
            }
            Some(old) if old != tokens => return Some(format!("{key} changed")),
            None if key.starts_with("thread_local!") => return Some(format!("{key} is new")),
            _ => {}
        }
    }
    then.keys()
        .find(|key| !now.contains_key(*key))
        .map(|key| format!("{key} was removed, renamed or moved"))
}

/// The frozen items of a set of source files, as a running program was built
/// from them.
#[derive(Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Snapshot {
    pub files: BTreeMap<PathBuf, Frozen>,
    /// Files saved after the build read them: what the program was built
    /// from is unknown, so a patch is refused until the next build.
    #[serde(default)]
    pub stale: Vec<PathBuf>,
}

impl Snapshot {
    /// Reads `files` now, after a build that read them no later than
    /// `built`: a file modified since is marked stale. A file that cannot be
    /// read or parsed is left out: the build that reads it fails first.
    pub fn take(files: impl IntoIterator<Item = PathBuf>, built: SystemTime) -> Snapshot {
        let mut snapshot = Snapshot::default();
        for file in files {
            let Ok(source) = std::fs::read_to_string(&file) else {
                continue;
            };
            let modified = std::fs::metadata(&file).and_then(|m| m.modified());
            if modified.is_ok_and(|modified| modified > built) {
                snapshot.stale.push(file.clone());
            }
            if let Some(items) = frozen_items(&source) {
                snapshot.files.insert(file, items);
            }
        }
        snapshot
    }

    /// What a save of `file` changes that a patch cannot carry, as
    /// `<file>: struct Stats changed`. A file new since the snapshot only
    /// counts for a new thread-local.
    pub fn change_in(&self, file: &Path) -> Option<String> {
        if self.stale.iter().any(|stale| stale == file) {
            return Some(format!(
                "{} was saved while the running program was being built, so its layout there is unknown",
                shown(file)
            ));
        }
        let now = frozen_items(&std::fs::read_to_string(file).ok()?)?;
        let empty = Frozen::new();
        let then = self.files.get(file).unwrap_or(&empty);
        unpatchable_change(then, &now).map(|why| format!("{}: {why}", shown(file)))
    }

    /// The first change in any file of the snapshot (see [`Self::change_in`]).
    pub fn first_change(&self) -> Option<String> {
        self.stale
            .iter()
            .chain(self.files.keys())
            .find_map(|file| self.change_in(file))
    }

    pub fn write(&self, path: &Path) -> Result<(), String> {
        let json = serde_json::to_vec(self).expect("a map of strings serialises");
        std::fs::write(path, json).map_err(|e| format!("cannot write {}: {e}", path.display()))
    }

    /// `None` when there is none (a base linked before the guard existed).
    pub fn read(path: &Path) -> Result<Option<Snapshot>, String> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| format!("cannot read {}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        }
    }
}

/// Where the snapshot of the executable `exe` (dx's name for it) built in
/// cargo's profile folder `profile_dir` (`target/debug`) is kept: the base
/// link writes it there, and each patch link finds that folder above the
/// objects it links (`target/debug/deps/*.rcgu.o`).
pub fn snapshot_path(profile_dir: &Path, exe: &str) -> PathBuf {
    let exe = exe.trim_end_matches(".wasm").replace('-', "_");
    profile_dir.join(format!("{exe}.hotswap-layout.json"))
}

/// The Rust sources a dep-info file (`target/debug/<exe>.d`, which cargo
/// writes with absolute paths) names: the app's own crates and its path
/// dependencies, not the registry's.
pub fn sources_in_dep_info(dep_info: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = dep_info
        .lines()
        .filter_map(|line| line.split_once(": ").map(|(_, deps)| deps))
        .flat_map(split_escaped)
        .filter(|file| file.ends_with(".rs"))
        .map(PathBuf::from)
        .collect();
    files.sort();
    files.dedup();
    files
}

/// Make-style dependency lists escape spaces in paths as `\ `.
fn split_escaped(deps: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut chars = deps.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&' ') => {
                current.push(' ');
                chars.next();
            }
            ' ' => {
                if !current.is_empty() {
                    out.push(std::mem::take(&mut current));
                }
            }
            _ => current.push(c),
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// A path as the user would type it: relative to the current folder when
/// inside it.
fn shown(file: &Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|dir| file.strip_prefix(dir).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| file.to_path_buf())
        .display()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
        /// Counters.
        #[derive(Default)]
        pub struct Scene { pub width: u32, pub height: u32, pub tiles: [u8; TILES] }
        const TILES: usize = 4;
        const SPEED: f32 = 1.0;
        type Id = u32;
        static GREETING: &str = "hi";
        static mut TICKS: u64 = 0;
        thread_local! { static ID: Cell<u32> = const { Cell::new(0) }; }
        std::thread_local! { static NAME: RefCell<String> = RefCell::new(String::new()); }
        mod inner { pub enum Mode { A, B } }
        pub trait Shade { fn sky(&self) -> f32 { 0.5 } fn ground(&self) -> f32; }
        pub fn sky(y: f32) -> f32 { y * 0.5 }
    "#;

    fn change(from: &str, to: &str) -> Option<String> {
        assert!(BASE.contains(from), "{from:?} is not in the test source");
        let then = frozen_items(BASE).unwrap();
        let now = frozen_items(&BASE.replace(from, to)).unwrap();
        unpatchable_change(&then, &now)
    }

    #[test]
    fn bodies_initialisers_docs_and_formatting_are_patchable() {
        assert_eq!(change("y * 0.5", "y * 0.25"), None);
        assert_eq!(
            change(
                "pub struct Scene { pub width",
                "pub struct Scene {\n   pub width"
            ),
            None
        );
        assert_eq!(change("pub fn sky", "pub struct New; pub fn sky"), None);
        assert_eq!(change("\"hi\"", "\"hello\""), None);
        assert_eq!(change("Cell::new(0)", "Cell::new(1)"), None);
        assert_eq!(change("/// Counters.", "/// Counters, kept."), None);
        assert_eq!(change("SPEED: f32 = 1.0", "SPEED: f32 = 2.0"), None);
        assert_eq!(
            change("const TILES", "/// How many.\n        const TILES"),
            None
        );
        assert_eq!(change("{ 0.5 }", "{ 0.25 }"), None, "a default body");
    }

    #[test]
    fn layouts_and_types_of_statics_are_not() {
        let cases = [
            ("pub height: u32", "pub height: u64", "struct Scene changed"),
            (
                "pub width: u32,",
                "pub depth: u8, pub width: u32,",
                "struct Scene changed",
            ),
            (
                "#[derive(Default)]",
                "#[derive(Default, Clone)]",
                "struct Scene changed",
            ),
            (
                "TILES: usize = 4",
                "TILES: usize = 8",
                "const TILES changed",
            ),
            ("type Id = u32", "type Id = u64", "type Id changed"),
            (
                "GREETING: &str",
                "GREETING: &[u8]",
                "static GREETING changed type",
            ),
            (
                "static mut TICKS",
                "static TICKS",
                "static TICKS changed type",
            ),
            ("A, B", "A, B, C", "enum inner::Mode changed"),
            ("ID: Cell<u32>", "ID: Cell<u64>", "thread_local! ID changed"),
            (
                "        thread_local! {",
                "        thread_local! { static MORE: u8 = 0;",
                "thread_local! MORE is new",
            ),
            (
                "NAME: RefCell<String>",
                "NAME: RefCell<Vec<u8>>",
                "thread_local! NAME changed",
            ),
            (
                "fn ground(&self) -> f32;",
                "fn ground(&self) -> f32; fn sea(&self) -> f32;",
                "trait Shade changed",
            ),
            (
                "pub struct Scene {",
                "pub struct World {",
                "struct Scene was removed, renamed or moved",
            ),
            (
                "mod inner { pub enum Mode { A, B } }",
                "pub enum Mode { A, B }",
                "enum inner::Mode was removed, renamed or moved",
            ),
        ];
        for (from, to, said) in cases {
            assert_eq!(
                change(from, to).as_deref(),
                Some(said),
                "{from:?} -> {to:?}"
            );
        }
    }

    #[test]
    fn a_file_that_does_not_parse_gives_none() {
        assert_eq!(frozen_items("fn ("), None);
    }

    #[test]
    fn a_snapshot_finds_the_changed_file_after_a_round_trip() {
        let dir = std::env::temp_dir().join(format!("hotswap-layout-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (state, app) = (dir.join("state.rs"), dir.join("app.rs"));
        std::fs::write(&state, "pub struct Stats { pub requests: u64 }").unwrap();
        std::fs::write(&app, "pub fn hello() -> u32 { 1 }").unwrap();
        let path = snapshot_path(&dir, "my-app.wasm");
        assert_eq!(path, dir.join("my_app.hotswap-layout.json"));
        Snapshot::take([state.clone(), app.clone()], SystemTime::now())
            .write(&path)
            .unwrap();
        let snapshot = Snapshot::read(&path).unwrap().unwrap();

        std::fs::write(&app, "pub fn hello() -> u32 { 2 }").unwrap();
        assert_eq!(snapshot.first_change(), None);
        std::fs::write(
            &state,
            "pub struct Stats { pub errors: u64, pub requests: u64 }",
        )
        .unwrap();
        let said = snapshot.first_change().unwrap();
        assert!(said.ends_with("state.rs: struct Stats changed"), "{said}");

        assert_eq!(Snapshot::read(&dir.join("none.json")).unwrap(), None);

        // A file saved after the build read it: its layout there is unknown.
        let before = SystemTime::now() - std::time::Duration::from_secs(60);
        let stale = Snapshot::take([app.clone()], before);
        assert_eq!(stale.stale, std::slice::from_ref(&app));
        let said = stale.first_change().unwrap();
        assert!(said.contains("app.rs was saved while"), "{said}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn dep_info_gives_the_rust_sources_with_their_spaces() {
        let dep_info = "/w/target/debug/app: /w/app/src/main.rs /w/my\\ lib/src/lib.rs /w/app/build.txt\n\n/w/app/src/main.rs:\n";
        assert_eq!(
            sources_in_dep_info(dep_info),
            [
                PathBuf::from("/w/app/src/main.rs"),
                PathBuf::from("/w/my lib/src/lib.rs")
            ]
        );
    }
}
