//! Small helpers for the plain JS objects the page and workers exchange.

use js_sys::{Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};

pub fn get(obj: &JsValue, key: &str) -> JsValue {
    Reflect::get(obj, &key.into()).unwrap_or(JsValue::UNDEFINED)
}

pub fn get_u32(obj: &JsValue, key: &str) -> Result<u32, JsValue> {
    get(obj, key)
        .as_f64()
        .filter(|n| n.fract() == 0.0 && (0.0..=u32::MAX as f64).contains(n))
        .map(|n| n as u32)
        .ok_or_else(|| JsValue::from_str(&format!("`{key}` must be a non-negative integer")))
}

/// `obj[key]` as u32, or `default` when it is missing (`undefined`/`null`).
pub fn get_u32_or(obj: &JsValue, key: &str, default: u32) -> Result<u32, JsValue> {
    if get(obj, key).is_undefined() || get(obj, key).is_null() {
        Ok(default)
    } else {
        get_u32(obj, key)
    }
}

pub fn set(obj: &Object, key: &str, value: impl Into<JsValue>) {
    // Setting a property on a plain object cannot fail.
    let _ = Reflect::set(obj, &key.into(), &value.into());
}

/// A plain `{}` built from key/value pairs.
pub fn object(pairs: &[(&str, JsValue)]) -> Object {
    let obj = Object::new();
    for (key, value) in pairs {
        set(&obj, key, value.clone());
    }
    obj
}

pub fn u32_array(values: &[u32]) -> JsValue {
    values
        .iter()
        .map(|&v| JsValue::from(v))
        .collect::<js_sys::Array>()
        .into()
}

pub fn f64_array(values: &[f64]) -> JsValue {
    values
        .iter()
        .map(|&v| JsValue::from(v))
        .collect::<js_sys::Array>()
        .into()
}

/// `Err` values from JS land (exceptions, rejected promises) as one readable line.
pub fn error_text(err: &JsValue) -> String {
    err.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| err.as_string())
        .unwrap_or_else(|| format!("{err:?}"))
}

/// Panics are aborts in this build (`panic_abort`), so print the message
/// before the trap loses it.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        web_sys::console::error_1(&info.to_string().into());
    }));
}
