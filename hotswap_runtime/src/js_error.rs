//! JS exceptions and rejections, for the messages the library prints.

use wasm_bindgen::{JsCast, JsValue};

/// An exception or rejection as one readable line.
pub(crate) fn describe(err: &JsValue) -> String {
    err.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.to_string()))
        .or_else(|| err.as_string())
        .unwrap_or_else(|| format!("{err:?}"))
}
