//! Reading what the dev server sends.
//!
//! dx speaks `DevserverMsg` (from `dioxus-devtools-types`) as JSON text frames on
//! `/_dioxus`. We parse with dx's own types so the wire format has one source of
//! truth, then boil each message down to the few events a hot-patched app acts on.

use dioxus_devtools_types::DevserverMsg;
use subsecond::JumpTable;

/// One message from the dev server, reduced to what this crate acts on.
#[derive(Debug)]
pub enum DevEvent {
    /// dx saw an edit and started compiling a patch.
    PatchStarted,
    /// A patch is ready. `for_pid` is the process it was built for (`None` on
    /// the web), `for_build_id` the build (dx numbers the app it launched 0).
    Patch {
        table: Box<JumpTable>,
        for_pid: Option<u32>,
        for_build_id: Option<u64>,
        /// How long dx took from the edit to the finished patch.
        dx_ms: u64,
    },
    /// dx gave up patching and is rebuilding the whole app.
    FullRebuildStarted,
    /// The build (patch or full rebuild) failed: the running code stays.
    BuildFailed,
    /// dx finished a full rebuild: a page must reload to run it.
    ReloadRequested,
    /// dx is shutting down.
    Shutdown,
    /// A well-formed message that carries nothing for us (templates, assets).
    NothingToDo,
    /// A message this version does not know, probably from a newer dx: `kind` is its name.
    Unknown { kind: String },
}

/// The messages of dx 0.7.10's `DevserverMsg`; anything else is from a newer dx.
const KNOWN: [&str; 6] = [
    "HotReload",
    "HotPatchStart",
    "FullReloadStart",
    "FullReloadFailed",
    "FullReloadCommand",
    "Shutdown",
];

/// A dev-server message we could not read. Holds a short, printable reason.
#[derive(Debug, PartialEq)]
pub struct UnreadableMessage(pub String);

impl std::fmt::Display for UnreadableMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ignoring a dev-server message I cannot read: {}", self.0)
    }
}

/// Parse one text frame from `/_dioxus`.
pub fn parse(text: &str) -> Result<DevEvent, UnreadableMessage> {
    let msg: DevserverMsg = match serde_json::from_str(text) {
        Ok(msg) => msg,
        Err(err) => {
            let json = serde_json::from_str(text).ok();
            return match json.as_ref().and_then(kind).filter(|k| !KNOWN.contains(k)) {
                Some(kind) => Ok(DevEvent::Unknown {
                    kind: kind.to_string(),
                }),
                None => Err(UnreadableMessage(format!(
                    "{err} (message starts with {:?})",
                    preview(text)
                ))),
            };
        }
    };
    Ok(match msg {
        DevserverMsg::HotReload(reload) => match reload.jump_table {
            Some(table) => DevEvent::Patch {
                table: Box::new(table),
                for_pid: reload.for_pid,
                for_build_id: reload.for_build_id,
                dx_ms: reload.ms_elapsed,
            },
            None => DevEvent::NothingToDo,
        },
        DevserverMsg::HotPatchStart => DevEvent::PatchStarted,
        DevserverMsg::FullReloadStart => DevEvent::FullRebuildStarted,
        DevserverMsg::FullReloadFailed => DevEvent::BuildFailed,
        DevserverMsg::FullReloadCommand => DevEvent::ReloadRequested,
        DevserverMsg::Shutdown => DevEvent::Shutdown,
        // `DevserverMsg` is non-exhaustive: a newer dx may say things we do not know yet.
        other => DevEvent::Unknown {
            kind: serde_json::to_value(&other)
                .ok()
                .as_ref()
                .and_then(kind)
                .unwrap_or("unnamed")
                .to_string(),
        },
    })
}

/// The name of an externally tagged enum value: `"Name"` or `{"Name": ...}`.
fn kind(json: &serde_json::Value) -> Option<&str> {
    match json {
        serde_json::Value::String(name) => Some(name),
        serde_json::Value::Object(map) if map.len() == 1 => map.keys().next().map(String::as_str),
        _ => None,
    }
}

/// Parse one binary frame: dx sends text, so a binary frame is read as UTF-8 text
/// (the same on native and web).
pub fn parse_binary(bytes: &[u8]) -> Result<DevEvent, UnreadableMessage> {
    match std::str::from_utf8(bytes) {
        Ok(text) => parse(text),
        Err(_) => Err(UnreadableMessage(format!(
            "a binary message of {} bytes that is not UTF-8 text",
            bytes.len()
        ))),
    }
}

/// The compiler output dx publishes on `/_dioxus/build_status` when a build fails.
///
/// Other statuses (building, ready) return `None`. dx renders the error as HTML
/// (ANSI colours turned into spans); we strip the tags so it reads as plain text.
pub fn build_error(text: &str) -> Option<String> {
    let status: serde_json::Value = serde_json::from_str(text).ok()?;
    if status.get("type")?.as_str()? != "BuildError" {
        return None;
    }
    let html = status.get("data")?.get("error")?.as_str()?;
    let text = strip_html(html);
    // dx 0.7.10 publishes only this line when a patch does not compile (the
    // compiler's errors stay in its own output), and its advice is about its
    // terminal view: better say nothing than send the user to press `t`.
    (!text.starts_with("Cargo build failed - no output location")).then_some(text)
}

/// Where the dev command puts the compiler's first error of a failed build of
/// a page (`tools/save_watch --web`), in the folder dx serves: dx 0.7.10
/// sends the page nothing better than "Cargo build failed - no output location".
pub const COMPILER_ERROR_FILE: &str = "/hotswap-build-error.json";

/// The compiler's first error as the overlay shows it, `file:line:column: message`,
/// from the file [`COMPILER_ERROR_FILE`] names (anything else is `None`: dx
/// answers a missing file with the page's HTML).
pub fn compiler_error(text: &str) -> Option<String> {
    let error: serde_json::Value = serde_json::from_str(text).ok()?;
    Some(format!(
        "{}:{}:{}: {}",
        error.get("file")?.as_str()?,
        error.get("line")?.as_u64()?,
        error.get("column")?.as_u64()?,
        error.get("message")?.as_str()?
    ))
}

fn strip_html(html: &str) -> String {
    let mut text = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

fn preview(text: &str) -> String {
    text.chars().take(60).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATCH: &str = r#"{"HotReload":{"templates":[],"assets":[],"ms_elapsed":412,
        "jump_table":{"lib":"/tmp/libpatch-1.so","map":{"4096":8192},"aslr_reference":10,
        "new_base_address":20,"ifunc_count":0},"for_build_id":0,"for_pid":77}}"#;

    #[test]
    fn reads_a_patch() {
        let DevEvent::Patch {
            table,
            for_pid,
            for_build_id,
            dx_ms,
        } = parse(PATCH).unwrap()
        else {
            panic!("expected a patch")
        };
        assert_eq!(for_pid, Some(77));
        assert_eq!(for_build_id, Some(0));
        assert_eq!(dx_ms, 412);
        assert_eq!(table.map.get(&4096), Some(&8192));
        assert_eq!(table.lib.to_str(), Some("/tmp/libpatch-1.so"));
    }

    #[test]
    fn reads_the_unit_messages() {
        assert!(matches!(
            parse(r#""HotPatchStart""#),
            Ok(DevEvent::PatchStarted)
        ));
        assert!(matches!(
            parse(r#""FullReloadFailed""#),
            Ok(DevEvent::BuildFailed)
        ));
        assert!(matches!(
            parse(r#""FullReloadCommand""#),
            Ok(DevEvent::ReloadRequested)
        ));
        assert!(matches!(
            parse(r#""FullReloadStart""#),
            Ok(DevEvent::FullRebuildStarted)
        ));
        assert!(matches!(parse(r#""Shutdown""#), Ok(DevEvent::Shutdown)));
    }

    #[test]
    fn a_reload_without_jump_table_asks_nothing() {
        let msg = r#"{"HotReload":{"templates":[],"assets":[],"ms_elapsed":1,"jump_table":null,"for_build_id":null,"for_pid":null}}"#;
        assert!(matches!(parse(msg), Ok(DevEvent::NothingToDo)));
    }

    #[test]
    fn messages_of_a_newer_dx_are_named_not_errors() {
        for (text, name) in [
            (r#""SomethingNew""#, "SomethingNew"),
            (r#"{"NewThing":{"x":1}}"#, "NewThing"),
        ] {
            match parse(text) {
                Ok(DevEvent::Unknown { kind }) => assert_eq!(kind, name),
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn binary_frames_are_read_as_text() {
        assert!(matches!(
            parse_binary(br#""HotPatchStart""#),
            Ok(DevEvent::PatchStarted)
        ));
        let err = parse_binary(&[0xff, 0xfe, 0x00]).unwrap_err();
        assert!(err.to_string().contains("3 bytes"), "{err}");
    }

    #[test]
    fn malformed_messages_are_errors_that_say_what_came() {
        for bad in [
            "not json",
            r#"{"HotReload":{"jump_table":42}}"#,
            "",
            "[1, 2]",
        ] {
            let err = parse(bad).unwrap_err();
            assert!(err.to_string().contains("cannot read"), "{err}");
        }
        let long = "x".repeat(500);
        assert!(parse(&long).unwrap_err().0.len() < 200);
    }

    #[test]
    fn build_errors_come_out_as_plain_text() {
        let status = r#"{"type":"BuildError","data":{"error":"<span style=\"color:red\">error[E0308]</span>: mismatched types &amp; more"}}"#;
        assert_eq!(
            build_error(status).as_deref(),
            Some("error[E0308]: mismatched types & more")
        );
        assert_eq!(build_error(r#"{"type":"Ready"}"#), None);
        let dx = r#"{"type":"BuildError","data":{"error":"Cargo build failed - no output location. Toggle tracing mode (press `t`) for more information."}}"#;
        assert_eq!(build_error(dx), None, "the overlay says: see dx's output");
        assert_eq!(build_error("garbage"), None);
    }

    #[test]
    fn the_compiler_error_reads_as_file_line_column_message() {
        let file = r#"{"file":"src/view.rs","line":28,"column":12,"message":"mismatched types"}"#;
        assert_eq!(
            compiler_error(file).as_deref(),
            Some("src/view.rs:28:12: mismatched types")
        );
        assert_eq!(compiler_error("<!DOCTYPE html><html></html>"), None);
        assert_eq!(compiler_error(r#"{"file":"src/view.rs"}"#), None);
    }
}
