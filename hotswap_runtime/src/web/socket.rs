//! A browser `WebSocket` that reopens itself with back-off, without leaking.
//!
//! Its event handlers and the retry timer are created once per `Socket` and
//! reused by every `WebSocket` it opens, so a page that reconnects all day
//! holds the same four closures. A `WebSocket` constructor that throws is
//! retried like a closed connection.

use std::cell::{Cell, OnceCell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use js_sys::Uint8Array;
use wasm_bindgen::{closure::Closure, JsCast};
use web_sys::{BinaryType, MessageEvent, WebSocket};

use crate::backoff::Backoff;

type OnBinary = Box<dyn Fn(&[u8])>;

/// What the owner of a socket does with its events.
pub(super) struct Handlers {
    /// The socket opened; returns a frame to send at once, if any.
    pub on_open: Box<dyn Fn() -> Option<String>>,
    pub on_text: Box<dyn Fn(&str)>,
    pub on_binary: OnBinary,
    /// The socket closed, or could not be opened (reported once per outage).
    pub on_lost: Box<dyn Fn(String)>,
    /// The page may be served without a dev server (a plain static server): if
    /// the first attempt fails, stop quietly instead of retrying for ever.
    pub only_if_there: bool,
}

pub(super) struct Socket {
    url: String,
    handlers: Handlers,
    backoff: RefCell<Backoff>,
    /// When the current connection opened (`performance.now()`), if it did.
    opened_ms: Cell<Option<f64>>,
    ever_opened: Cell<bool>,
    ws: RefCell<Option<WebSocket>>,
    callbacks: OnceCell<Callbacks>,
}

struct Callbacks {
    open: Closure<dyn FnMut()>,
    message: Closure<dyn FnMut(MessageEvent)>,
    close: Closure<dyn FnMut()>,
    retry: Closure<dyn FnMut()>,
}

impl Socket {
    /// Open `url` and keep it open for the life of the page.
    pub(super) fn keep_open(url: String, handlers: Handlers) {
        let socket = Rc::new(Socket {
            url,
            handlers,
            backoff: RefCell::default(),
            opened_ms: Cell::new(None),
            ever_opened: Cell::new(false),
            ws: RefCell::new(None),
            callbacks: OnceCell::new(),
        });
        // The closures hold the socket and the socket holds them: both live as
        // long as the page, once, however often it reconnects.
        let callbacks = Callbacks {
            open: Closure::new({
                let socket = socket.clone();
                move || socket.opened()
            }),
            message: Closure::new({
                let socket = socket.clone();
                move |event: MessageEvent| socket.message(event)
            }),
            close: Closure::new({
                let socket = socket.clone();
                move || socket.closed()
            }),
            retry: Closure::new({
                let socket = socket.clone();
                move || socket.open()
            }),
        };
        let _ = socket.callbacks.set(callbacks);
        socket.open();
    }

    fn callbacks(&self) -> &Callbacks {
        self.callbacks.get().expect("set in keep_open")
    }

    fn open(&self) {
        let ws = match WebSocket::new(&self.url) {
            Ok(ws) => ws,
            Err(err) => {
                if self.no_dev_server() {
                    return;
                }
                if self.backoff.borrow().is_first() {
                    (self.handlers.on_lost)(format!("cannot open {}: {err:?}", self.url));
                }
                self.backoff.borrow_mut().closed(None);
                return self.retry_later();
            }
        };
        ws.set_binary_type(BinaryType::Arraybuffer);
        let callbacks = self.callbacks();
        ws.set_onopen(Some(callbacks.open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(callbacks.message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(callbacks.close.as_ref().unchecked_ref()));
        *self.ws.borrow_mut() = Some(ws);
    }

    fn opened(&self) {
        self.opened_ms.set(Some(super::now_ms()));
        self.ever_opened.set(true);
        if let Some(frame) = (self.handlers.on_open)() {
            if let Some(ws) = self.ws.borrow().as_ref() {
                let _ = ws.send_with_str(&frame);
            }
        }
    }

    fn message(&self, event: MessageEvent) {
        let data = event.data();
        match data.as_string() {
            Some(text) => (self.handlers.on_text)(&text),
            None => (self.handlers.on_binary)(&Uint8Array::new(&data).to_vec()),
        }
    }

    fn closed(&self) {
        self.ws.borrow_mut().take();
        if self.no_dev_server() {
            return;
        }
        let up_for = self
            .opened_ms
            .take()
            .map(|opened| Duration::from_secs_f64((super::now_ms() - opened).max(0.0) / 1000.0));
        if up_for.is_some() || self.backoff.borrow().is_first() {
            (self.handlers.on_lost)(format!("{} closed", self.url));
        }
        self.backoff.borrow_mut().closed(up_for);
        self.retry_later();
    }

    /// Whether to give up: the first attempt failed and none is needed.
    fn no_dev_server(&self) -> bool {
        let give_up = self.handlers.only_if_there && !self.ever_opened.get();
        if give_up {
            tracing::info!("no dev server at {}: hot-patching is off", self.url);
        }
        give_up
    }

    fn retry_later(&self) {
        let delay = self.backoff.borrow_mut().next();
        tracing::debug!(?delay, "reopening {}", self.url);
        if let Some(window) = web_sys::window() {
            let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(
                self.callbacks().retry.as_ref().unchecked_ref(),
                delay.as_millis() as i32,
            );
        }
    }
}
