//! The plain JS objects the page and the pool's workers exchange, typed.
//!
//! `worker.js` reads and writes the same fields: `kind` (`init`, `run`,
//! `started`, `ready`, `done`, `error`, `panicked`), `id` (which request a
//! reply answers), and per kind the rest.

use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(extends = js_sys::Object)]
    pub(crate) type Message;

    #[wasm_bindgen(method, getter)]
    pub(crate) fn kind(this: &Message) -> Option<String>;
    #[wasm_bindgen(method, setter)]
    pub(crate) fn set_kind(this: &Message, kind: &str);
    #[wasm_bindgen(method, getter)]
    pub(crate) fn id(this: &Message) -> Option<u32>;
    #[wasm_bindgen(method, setter)]
    pub(crate) fn set_id(this: &Message, id: u32);
    /// `error`: why; `panicked`: the panic's message.
    #[wasm_bindgen(method, getter)]
    pub(crate) fn message(this: &Message) -> Option<String>;
    #[wasm_bindgen(method, setter)]
    pub(crate) fn set_message(this: &Message, text: &str);
    /// `panicked`: where, `file:line:column`.
    #[wasm_bindgen(method, getter)]
    pub(crate) fn at(this: &Message) -> Option<String>;
    #[wasm_bindgen(method, setter)]
    pub(crate) fn set_at(this: &Message, at: &str);
    /// `done`: the address of the boxed result (`handoff`).
    #[wasm_bindgen(method, getter)]
    pub(crate) fn value(this: &Message) -> Option<u32>;
    #[wasm_bindgen(method, setter)]
    pub(crate) fn set_value(this: &Message, address: u32);
    /// `run`: the address of the boxed job (`handoff`).
    #[wasm_bindgen(method, setter)]
    pub(crate) fn set_job(this: &Message, address: u32);
    /// `init` of a rayon thread: the address of its boxed `rayon::ThreadBuilder`.
    #[wasm_bindgen(method, setter)]
    pub(crate) fn set_builder(this: &Message, address: u32);
    /// `init`: `thread` or `dispatcher`.
    #[wasm_bindgen(method, setter)]
    pub(crate) fn set_role(this: &Message, role: &str);
    /// `init`: the URL of the wasm-bindgen glue to import.
    #[wasm_bindgen(method, setter, js_name = glueUrl)]
    pub(crate) fn set_glue_url(this: &Message, url: &str);
    /// `init`: the page's `WebAssembly.Module`.
    #[wasm_bindgen(method, setter)]
    pub(crate) fn set_module(this: &Message, module: &JsValue);
    /// `init`: the page's shared `WebAssembly.Memory`.
    #[wasm_bindgen(method, setter)]
    pub(crate) fn set_memory(this: &Message, memory: &JsValue);
}

impl Message {
    pub(crate) fn new(kind: &str, id: u32) -> Message {
        let message: Message = js_sys::Object::new().unchecked_into();
        message.set_kind(kind);
        message.set_id(id);
        message
    }
}
