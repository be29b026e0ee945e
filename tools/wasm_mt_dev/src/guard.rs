//! Saves that a patch cannot carry, found before compiling.
//!
//! A patch brings new code, not new data layouts: the running threads keep
//! values built with the old layout of a `struct`, `enum` or `union`, and the
//! statics and thread-locals of the base keep their old initial values. So a
//! save that changes one of those items, compared with the version the base was
//! built from, is rebuilt instead. Items are compared as token streams (`syn`),
//! so formatting and comments do not count.

use std::collections::BTreeMap;

use quote::ToTokens;
use syn::{Item, ItemMod};

/// The items of one file that a patch cannot change, by a readable key.
pub type Frozen = BTreeMap<String, String>;

/// `None` when the file does not parse (rustc will say why).
pub fn frozen_items(source: &str) -> Option<Frozen> {
    let file = syn::parse_file(source).ok()?;
    let mut out = Frozen::new();
    collect(&file.items, "", &mut out);
    Some(out)
}

fn collect(items: &[Item], path: &str, out: &mut Frozen) {
    for item in items {
        let (kind, name) = match item {
            Item::Struct(s) => ("struct", s.ident.to_string()),
            Item::Enum(e) => ("enum", e.ident.to_string()),
            Item::Union(u) => ("union", u.ident.to_string()),
            Item::Static(s) => ("static", s.ident.to_string()),
            Item::Macro(m) if m.mac.path.is_ident("thread_local") => {
                ("thread_local!", m.mac.tokens.to_string())
            }
            Item::Mod(ItemMod {
                ident,
                content: Some((_, inner)),
                ..
            }) => {
                collect(inner, &format!("{path}{ident}::"), out);
                continue;
            }
            _ => continue,
        };
        let key = if kind == "thread_local!" {
            format!(
                "{kind} in {}",
                if path.is_empty() { "the file" } else { path }
            )
        } else {
            format!("{kind} {path}{name}")
        };
        // Several thread_local! blocks in one module: keep them apart.
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
        out.insert(key, item.to_token_stream().to_string());
    }
}

/// The first frozen item that `now` changes compared with `then`, as a sentence.
/// New structs and statics are fine (nothing running has them); a new or
/// changed thread-local is not (the running threads have no slot for it).
pub fn unpatchable_change(then: &Frozen, now: &Frozen) -> Option<String> {
    for (key, tokens) in now {
        match then.get(key) {
            Some(old) if old != tokens => return Some(format!("{key} changed")),
            None if key.starts_with("thread_local!") => return Some(format!("{key} is new")),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
        pub struct Scene { pub width: u32, pub height: u32 }
        static GREETING: &str = "hi";
        thread_local! { static ID: Cell<u32> = const { Cell::new(0) }; }
        mod inner { pub enum Mode { A, B } }
        pub fn sky(y: f32) -> f32 { y * 0.5 }
    "#;

    fn change(from: &str, to: &str) -> Option<String> {
        let then = frozen_items(BASE).unwrap();
        let now = frozen_items(&BASE.replace(from, to)).unwrap();
        unpatchable_change(&then, &now)
    }

    #[test]
    fn function_bodies_and_formatting_are_patchable() {
        assert_eq!(change("y * 0.5", "y * 0.25"), None);
        assert_eq!(
            change(
                "pub struct Scene { pub width",
                "pub struct Scene {\n   pub width"
            ),
            None
        );
        assert_eq!(change("pub fn sky", "pub struct New; pub fn sky"), None);
    }

    #[test]
    fn layouts_statics_and_thread_locals_are_not() {
        assert_eq!(
            change("pub height: u32", "pub height: u64").as_deref(),
            Some("struct Scene changed")
        );
        assert_eq!(
            change("\"hi\"", "\"hello\"").as_deref(),
            Some("static GREETING changed")
        );
        assert_eq!(
            change("A, B", "A, B, C").as_deref(),
            Some("enum inner::Mode changed")
        );
        assert_eq!(
            change("Cell::new(0)", "Cell::new(1)").as_deref(),
            Some("thread_local! in the file changed")
        );
    }

    #[test]
    fn a_file_that_does_not_parse_gives_none() {
        assert_eq!(frozen_items("fn ("), None);
    }
}
