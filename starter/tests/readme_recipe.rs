//! The by-hand recipe in the READMEs ("Use it in your app") says the same as
//! `templates/`, line by line, so what the end-to-end tests prove with apps made
//! from the templates is what the READMEs tell a user to type.

use std::path::Path;

use e2e_support::checkout_root;
use starter::{code_blocks, dx_command, read, starter_commands, Block};

const READMES: [&str; 2] = ["README.md", "hotswap_runtime/README.md"];

/// The recipe's subsections, the template each one follows, and the crate
/// name its dx line uses.
const KINDS: [(&str, &str, &str); 2] = [
    ("An axum server", "server", "my_server"),
    ("A wasm-bindgen page", "web", "my_page"),
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
                "{readme}, {heading:?}: expected Cargo.toml (and .cargo/config.toml) lines, then Rust, then the commands; found {langs:?}"
            );
            for block in recipe {
                let what = format!("{readme}, {heading:?}");
                match block.lang.as_str() {
                    "toml" if block.lines.iter().any(|l| l.starts_with("[target.")) => {
                        cargo_config_in_template(&what, block, &template)
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
    assert!(
        readme.contains("`scripts/new web "),
        "the README names the web starter"
    );
    for kind in ["server", "web"] {
        let dev = checkout_root()
            .join("templates")
            .join(kind)
            .join(&commands.dev);
        assert!(dev.is_file(), "{} is what the README runs", dev.display());
    }
}

fn toml_lines_in_template(what: &str, block: &Block, template: &Path) {
    let cargo_toml = read(&template.join("Cargo.toml"));
    let template_lines: Vec<&str> = cargo_toml.lines().map(str::trim).collect();
    assert!(template_lines.contains(&"hotswap_runtime = {{hotswap_runtime}}"));
    let mut dependency = false;
    for line in code_lines(block, " #") {
        if line.starts_with("hotswap_runtime = ") {
            dependency = true;
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

/// A `.cargo/config.toml` block: the template has those lines in its own.
fn cargo_config_in_template(what: &str, block: &Block, template: &Path) {
    let config = read(&template.join(".cargo/config.toml"));
    let template_lines: Vec<&str> = config.lines().map(str::trim).collect();
    for line in code_lines(block, " #") {
        assert!(
            template_lines.contains(&line),
            "{what}: `{line}` is not in {}/.cargo/config.toml",
            template.display()
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
/// sources) exports; the `dx serve` line is its dx command.
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
                dx_command(line, "unused"),
                dx_command(&dev, name),
                "{what}: the dx command differs from {}/dev",
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
