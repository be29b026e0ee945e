//! `wasm_tls_fixup <in.wasm> [-o <out.wasm>]`: see the crate docs. Without
//! `-o` the module is fixed in place. Exits 1 with one line on stderr when the
//! module cannot be made ready for wasm-bindgen's thread transform.

use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: wasm_tls_fixup <in.wasm> [-o <out.wasm>]";

fn main() -> ExitCode {
    match run() {
        Ok(message) => {
            println!("{message}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("wasm_tls_fixup: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<String, String> {
    let (input, output) = parse_args(std::env::args().skip(1))?;
    let wasm = std::fs::read(&input).map_err(|e| format!("{}: {e}", input.display()))?;
    let (fixed, fixup) =
        wasm_tls_fixup::fix_bytes(&wasm).map_err(|e| format!("{}: {e}", input.display()))?;
    let output = output.unwrap_or_else(|| input.clone());
    let bytes = fixed.as_deref().unwrap_or(&wasm);
    if fixed.is_some() || output != input {
        std::fs::write(&output, bytes).map_err(|e| format!("{}: {e}", output.display()))?;
    }
    let written = if output == input {
        String::new()
    } else {
        format!(" (written to {})", output.display())
    };
    Ok(if fixup.changed() {
        format!(
            "wasm_tls_fixup: {}: exported {} from the name section{written}",
            input.display(),
            fixup.exported.join(", ")
        )
    } else {
        format!(
            "wasm_tls_fixup: {}: TLS exports present{written}",
            input.display()
        )
    })
}

fn parse_args(
    mut args: impl Iterator<Item = String>,
) -> Result<(PathBuf, Option<PathBuf>), String> {
    let mut input = None;
    let mut output = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-o" | "--output" => output = Some(args.next().ok_or(USAGE)?.into()),
            "-h" | "--help" => return Err(USAGE.into()),
            _ if input.is_none() && !arg.starts_with('-') => input = Some(arg.into()),
            _ => return Err(format!("unexpected argument `{arg}`\n{USAGE}")),
        }
    }
    Ok((input.ok_or(USAGE)?, output))
}
