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
    /// A patch is ready. `for_pid` is the process it was built for (`None` on the web).
    Patch {
        table: Box<JumpTable>,
        for_pid: Option<u32>,
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
}

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
    let msg: DevserverMsg = serde_json::from_str(text).map_err(|err| {
        UnreadableMessage(format!("{err} (message starts with {:?})", preview(text)))
    })?;
    Ok(match msg {
        DevserverMsg::HotReload(reload) => match reload.jump_table {
            Some(table) => DevEvent::Patch {
                table: Box::new(table),
                for_pid: reload.for_pid,
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
        _ => DevEvent::NothingToDo,
    })
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
    Some(strip_html(html))
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
            dx_ms,
        } = parse(PATCH).unwrap()
        else {
            panic!("expected a patch")
        };
        assert_eq!(for_pid, Some(77));
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
    fn malformed_and_unknown_messages_are_errors_that_say_what_came() {
        for bad in [
            "not json",
            r#""SomethingNew""#,
            r#"{"HotReload":{"jump_table":42}}"#,
            "",
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
        assert_eq!(build_error("garbage"), None);
    }
}
