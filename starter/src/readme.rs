//! The README read the way a user reads it: its code blocks, the starter's
//! commands, and dx command lines compared token by token.

/// A fenced code block and the heading it sits under.
#[derive(Debug)]
pub struct Block {
    pub heading: String,
    pub lang: String,
    pub lines: Vec<String>,
}

pub fn code_blocks(markdown: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut heading = String::new();
    let mut open: Option<Block> = None;
    for line in markdown.lines() {
        let fence = line.trim_start().strip_prefix("```");
        match (open.as_mut(), fence) {
            (Some(_), Some(_)) => blocks.extend(open.take()),
            (Some(block), None) => block.lines.push(line.to_string()),
            (None, Some(lang)) => {
                open = Some(Block {
                    heading: heading.clone(),
                    lang: lang.trim().to_string(),
                    lines: Vec::new(),
                })
            }
            (None, None) if line.starts_with('#') => {
                heading = line.trim_start_matches('#').trim().to_string();
            }
            (None, None) => {}
        }
    }
    blocks
}

/// What the README's "Start your own app" block tells a user to type:
/// `<new> <kind> <dir>`, then `cd <dir> && <dev>`.
#[derive(Debug, PartialEq)]
pub struct StarterCommands {
    /// The starter script, relative to the checkout (`scripts/new`).
    pub new: String,
    /// The dev command, relative to the new app (`./dev`).
    pub dev: String,
}

pub fn starter_commands(readme: &str) -> StarterCommands {
    let block = code_blocks(readme)
        .into_iter()
        .find(|block| block.heading == "Start your own app" && block.lang == "sh")
        .expect("the README has a sh block under \"Start your own app\"");
    let lines: Vec<&str> = block
        .lines
        .iter()
        .map(|line| line.split(" #").next().unwrap().trim())
        .filter(|line| !line.is_empty())
        .collect();
    let [new_line, dev_line] = lines[..] else {
        panic!("expected two commands in the starter block, found {lines:?}");
    };
    let new: Vec<&str> = new_line.split_whitespace().collect();
    let [script, _kind, dir] = new[..] else {
        panic!("expected `scripts/new <kind> <dir>`, found {new_line:?}");
    };
    let (cd, dev) = dev_line
        .split_once(" && ")
        .unwrap_or_else(|| panic!("expected `cd <dir> && <dev command>`, found {dev_line:?}"));
    assert_eq!(
        cd,
        format!("cd {dir}"),
        "the README must cd into the new app"
    );
    StarterCommands {
        new: script.to_string(),
        dev: dev.trim().to_string(),
    }
}

/// The command a dev script runs (the line it `exec`s: `dx serve …`,
/// `wasm_mt_dev …`), or a README's command line, as tokens: `exec` and
/// `"$@"` dropped, `"${PORT:-8080}"` read as its default, the template's
/// `{{name}}` filled in with `name`.
pub fn dev_command(text: &str, name: &str) -> Vec<String> {
    let joined = text.replace("\\\n", " ");
    let lines: Vec<&str> = joined.lines().map(str::trim).collect();
    let line = lines
        .iter()
        .find(|line| line.starts_with("exec "))
        .or_else(|| lines.iter().find(|line| !line.is_empty()))
        .unwrap_or_else(|| panic!("no command in:\n{text}"));
    line.split_whitespace()
        .filter(|token| !["exec", "\"$@\""].contains(token))
        .map(|token| {
            let default = token
                .strip_prefix("\"${")
                .and_then(|rest| rest.strip_suffix("}\""))
                .and_then(|rest| rest.split_once(":-"))
                .map_or(token, |(_, default)| default);
            default.replace("{{name}}", name)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const README: &str = "# Title\n\n## Start your own app\n\ntext\n\n```sh\n\
        scripts/new server ../app   # a comment\ncd ../app && ./dev\n```\n\n\
        ### A page\n\n```toml\na = 1\n```\n";

    #[test]
    fn finds_blocks_under_their_heading() {
        let blocks = code_blocks(README);
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0].heading, "Start your own app");
        assert_eq!(blocks[1].heading, "A page");
        assert_eq!(blocks[1].lang, "toml");
        assert_eq!(blocks[1].lines, ["a = 1"]);
    }

    #[test]
    fn reads_the_starter_commands() {
        assert_eq!(
            starter_commands(README),
            StarterCommands {
                new: "scripts/new".into(),
                dev: "./dev".into()
            }
        );
    }

    #[test]
    #[should_panic(expected = "must cd into the new app")]
    fn a_cd_elsewhere_is_a_disagreement() {
        starter_commands(&README.replace("cd ../app", "cd ../other"));
    }

    #[test]
    fn reads_a_dev_script_dx_line_like_a_readme_line() {
        let script =
            "say hi\nexec dx serve --package {{name}} \\\n  --port \"${PORT:-8080}\" \"$@\"\n";
        assert_eq!(
            dev_command(script, "my_page"),
            dev_command("dx serve --package my_page --port 8080", "unused")
        );
    }

    #[test]
    fn a_tool_named_by_a_variable_reads_as_its_default() {
        let script = "exec \"${WASM_MT_DEV:-wasm_mt_dev}\" --port \"${PORT:-8090}\" \"$@\"\n";
        assert_eq!(
            dev_command(script, "unused"),
            ["wasm_mt_dev", "--port", "8090"]
        );
    }
}
