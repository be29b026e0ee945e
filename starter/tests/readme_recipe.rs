//! The by-hand recipe in the READMEs ("Use it in your app") says the same as
//! `templates/`, line by line, so what the end-to-end tests prove with apps made
//! from the templates is what the READMEs tell a user to type.

use std::path::Path;

use e2e_support::checkout_root;
use starter::{code_blocks, dev_command, read, starter_commands, Block};

const READMES: [&str; 2] = ["README.md", "hotswap_runtime/README.md"];

/// The recipe's subsections, the template each one follows, and the crate
/// name its dev command uses.
const KINDS: [(&str, &str, &str); 3] = [
    ("An axum server", "server", "my_server"),
    ("A wasm-bindgen page", "web", "my_page"),
    ("A threaded rayon page", "mt", "my_threads"),
];

#[test]
fn the_recipe_matches_the_templates() {
    for readme in READMES {
        let blocks = code_blocks(&read(&checkout_root().join(readme)));
        for (heading, kind, name) in KINDS {
            let template = checkout_root().join("templates").join(kind);
            let recipe: Vec<&Block> = blocks.iter().filter(|b| b.heading == heading).collect();
            let langs: Vec<&str> = recipe.iter().map(|b| b.lang.as_str()).collect();
            let tomls = langs.iter().take_while(|lang| **lang == "toml").count();
            let typed_in_order = tomls >= 1
                && langs.last() == Some(&"sh")
                && langs[tomls..langs.len() - 1]
                    .iter()
                    .all(|lang| *lang == "rust");
            assert!(
                typed_in_order,
                "{readme}, {heading:?}: expected Cargo.toml (and .cargo/config.toml or rust-toolchain.toml) lines, then Rust, then the commands; found {langs:?}"
            );
            for block in recipe {
                let what = format!("{readme}, {heading:?}");
                let has = |header: &str| block.lines.iter().any(|l| l.starts_with(header));
                match block.lang.as_str() {
                    "toml" if has("[target.") => {
                        lines_in_template_file(&what, block, &template, ".cargo/config.toml")
                    }
                    "toml" if has("[toolchain]") => {
                        lines_in_template_file(&what, block, &template, "rust-toolchain.toml")
                    }
                    "toml" => toml_lines_in_template(&what, block, &template),
                    "rust" => rust_lines_in_template(&what, block, &template),
                    "sh" => commands_in_dev_script(&what, block, &template, name),
                    other => panic!("{what}: unexpected {other:?} block"),
                }
            }
        }
    }
}

#[test]
fn the_starter_block_is_what_the_end_to_end_tests_run() {
    let readme = read(&checkout_root().join("README.md"));
    let commands = starter_commands(&readme);
    assert!(checkout_root().join(&commands.new).is_file());
    for kind in ["web", "mt"] {
        assert!(
            readme.contains(&format!("`scripts/new {kind} ")),
            "the README names the {kind} starter"
        );
    }
    for kind in ["server", "web", "mt"] {
        let dev = checkout_root()
            .join("templates")
            .join(kind)
            .join(&commands.dev);
        assert!(dev.is_file(), "{} is what the README runs", dev.display());
    }
}

/// Cargo.toml lines. The dependency on hotswap_runtime is the template's
/// placeholder (a path or git table `scripts/new` fills in), with the rayon
/// pool's feature where the template asks for it.
fn toml_lines_in_template(what: &str, block: &Block, template: &Path) {
    let cargo_toml = read(&template.join("Cargo.toml"));
    let template_lines: Vec<&str> = cargo_toml.lines().map(str::trim).collect();
    let pool = template_lines.contains(&"hotswap_runtime = {{hotswap_runtime_pool}}");
    assert!(pool || template_lines.contains(&"hotswap_runtime = {{hotswap_runtime}}"));
    let mut dependency = false;
    for line in code_lines(block, " #") {
        if line.starts_with("hotswap_runtime = ") {
            dependency = true;
            assert_eq!(
                line.contains(r#"features = ["rayon-pool"]"#),
                pool,
                "{what}: `{line}`: the rayon-pool feature as in {}/Cargo.toml",
                template.display()
            );
        } else {
            assert!(
                template_lines.contains(&line),
                "{what}: `{line}` is not in {}/Cargo.toml",
                template.display()
            );
        }
    }
    assert!(dependency, "{what}: the toml block names hotswap_runtime");
}

/// A `.cargo/config.toml` or `rust-toolchain.toml` block: the template has
/// those lines in its own `file` (the kind's, or else the one all share).
fn lines_in_template_file(what: &str, block: &Block, template: &Path, file: &str) {
    let own = template.join(file);
    let path = if own.is_file() {
        own
    } else {
        template.join("..").join(file)
    };
    let text = read(&path);
    let template_lines: Vec<&str> = text.lines().map(str::trim).collect();
    for line in code_lines(block, " #") {
        assert!(
            template_lines.contains(&line),
            "{what}: `{line}` is not in {}",
            path.display()
        );
    }
}

fn rust_lines_in_template(what: &str, block: &Block, template: &Path) {
    let sources: String = std::fs::read_dir(template.join("src"))
        .unwrap()
        .map(|entry| read(&entry.unwrap().path()))
        .collect();
    let source_lines: Vec<&str> = sources.lines().map(str::trim).collect();
    for line in code_lines(block, " //") {
        assert!(
            source_lines.contains(&line),
            "{what}: `{line}` is not in {}/src",
            template.display()
        );
    }
}

/// `export A=1 B=2` lines are what the dev script (and the dev-lib.sh it
/// sources) exports; the other line is the command it runs (`dx serve …`,
/// `wasm_mt_dev …`).
fn commands_in_dev_script(what: &str, block: &Block, template: &Path, name: &str) {
    let dev = read(&template.join("dev"));
    let environment = dev.clone() + &read(&template.join("../dev-lib.sh"));
    for line in code_lines(block, " #") {
        if let Some(exports) = line.strip_prefix("export ") {
            for export in exports.split_whitespace() {
                let (name, value) = export.split_once('=').unwrap();
                // `export NAME=value`, or one that appends to what the user had.
                let exported = environment.lines().map(str::trim).any(|line| {
                    line == format!("export {export}")
                        || (line.starts_with(&format!("export {name}=\""))
                            && line.ends_with(&format!("{value}\"")))
                });
                assert!(
                    exported,
                    "{what}: `{export}` is not what {}/dev exports",
                    template.display()
                );
            }
        } else {
            assert_eq!(
                dev_command(line, "unused"),
                dev_command(&dev, name),
                "{what}: the command differs from {}/dev",
                template.display()
            );
        }
    }
}

/// The block's lines, trimmed, without comments and blank lines.
fn code_lines<'a>(block: &'a Block, comment: &str) -> Vec<&'a str> {
    block
        .lines
        .iter()
        .map(|line| line.split(comment).next().unwrap().trim())
        .filter(|line| !line.is_empty() && !line.starts_with(comment.trim()))
        .collect()
}
