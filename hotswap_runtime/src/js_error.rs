//! JS exceptions, rejections and panics, for the messages the library prints.

use wasm_bindgen::{JsCast, JsValue};

/// An exception or rejection as one readable line.
pub(crate) fn describe(err: &JsValue) -> String {
    err.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.to_string()))
        .or_else(|| err.as_string())
        .unwrap_or_else(|| format!("{err:?}"))
}

/// A panic's message (a panic hook's view of it).
pub(crate) fn panic_message(info: &std::panic::PanicHookInfo) -> String {
    info.payload_as_str().unwrap_or("(no message)").to_string()
}

/// Where a panic happened, as `file:line:column`.
pub(crate) fn panic_location(info: &std::panic::PanicHookInfo) -> Option<String> {
    info.location()
        .map(|at| format!("{}:{}:{}", at.file(), at.line(), at.column()))
}
