//! The web client: a browser `WebSocket` to dx, patches applied in the page,
//! status drawn in a small overlay and logged to the console.

mod overlay;

use std::cell::RefCell;
use std::rc::Rc;

use subsecond::JumpTable;
use wasm_bindgen::{closure::Closure, JsCast};
use web_sys::{MessageEvent, WebSocket};

use crate::backoff::Backoff;
use crate::message;
use crate::session::{Platform, Session};
use crate::status::Status;

/// A patch that has not landed after this long is reported as failed.
/// subsecond fetches, compiles and instantiates it in the background and gives
/// no error back, so silence is the only failure signal we get.
const LANDING_TIMEOUT_MS: f64 = 20_000.0;

thread_local! {
    // subsecond wants `Send + Sync` handlers; a page's callbacks hold JS values
    // and `Rc`s. Patches land on the thread that applied them (this one), so
    // the handler we give subsecond looks the app's callbacks up here.
    static ON_PATCH: RefCell<Vec<Box<dyn Fn()>>> = const { RefCell::new(Vec::new()) };
}

pub(crate) fn connect(on_patch: impl Fn() + 'static) {
    let Some(location) = web_sys::window().map(|window| window.location()) else {
        return crate::log_error(
            "hot-patching is off: no `window` here (call connect from the page, not a worker)",
        );
    };
    let (Ok(protocol), Ok(host)) = (location.protocol(), location.host()) else {
        return crate::log_error("hot-patching is off: cannot read the page's location");
    };
    let scheme = if protocol == "https:" { "wss" } else { "ws" };
    let base = format!("{scheme}://{host}/_dioxus");

    ON_PATCH.with(|callbacks| callbacks.borrow_mut().push(Box::new(on_patch)));
    let session = Rc::new(Session::new(Web));
    session.on_landed(|| ON_PATCH.with(|callbacks| callbacks.borrow().iter().for_each(|f| f())));

    let patches = Rc::clone(&session);
    let endpoint = base.clone();
    keep_open(
        format!("{base}?build_id={}", dioxus_cli_config::build_id()),
        Rc::new(move || {
            Web.report(Status::Connected {
                endpoint: endpoint.clone(),
            })
        }),
        Rc::new(move |text: &str| patches.handle(text)),
    );
    // dx publishes compiler errors on a second socket, just after the
    // `FullReloadFailed` on the first: show them when they come.
    keep_open(
        format!("{base}/build_status"),
        Rc::new(|| {}),
        Rc::new(|text: &str| {
            if let Some(details) = message::build_error(text) {
                Web.report(Status::BuildFailed {
                    details: Some(details),
                });
            }
        }),
    );
    every(2_000, move || session.fail_if_stuck(LANDING_TIMEOUT_MS));
}

/// Open `url`, call `on_open` each time it opens, pass each text frame to
/// `on_text`, reopen with back-off when it closes.
fn keep_open(url: String, on_open: Rc<dyn Fn()>, on_text: Rc<dyn Fn(&str)>) {
    open(Rc::new(Socket {
        url,
        on_open,
        on_text,
        backoff: RefCell::new(Backoff::default()),
    }));
}

struct Socket {
    url: String,
    on_open: Rc<dyn Fn()>,
    on_text: Rc<dyn Fn(&str)>,
    backoff: RefCell<Backoff>,
}

fn open(socket: Rc<Socket>) {
    let ws = match WebSocket::new(&socket.url) {
        Ok(ws) => ws,
        Err(err) => return crate::log_error(&format!("cannot open {}: {err:?}", socket.url)),
    };
    // The closures live as long as the page: every socket we open keeps its handlers.
    let onopen = Closure::<dyn FnMut()>::new({
        let socket = Rc::clone(&socket);
        move || {
            socket.backoff.borrow_mut().reset();
            (socket.on_open)();
        }
    });
    ws.set_onopen(Some(onopen.as_ref().unchecked_ref()));
    onopen.forget();

    let onmessage = Closure::<dyn FnMut(MessageEvent)>::new({
        let socket = Rc::clone(&socket);
        move |event: MessageEvent| match event.data().as_string() {
            Some(text) => (socket.on_text)(&text),
            None => Web.report(Status::Ignored {
                reason: "ignoring a binary dev-server message".into(),
            }),
        }
    });
    ws.set_onmessage(Some(onmessage.as_ref().unchecked_ref()));
    onmessage.forget();

    let onclose = Closure::<dyn FnMut()>::new(move || {
        if socket.backoff.borrow().is_first() {
            Web.report(Status::Disconnected {
                reason: format!("{} closed", socket.url),
            });
        }
        let delay = socket.backoff.borrow_mut().next().as_millis() as i32;
        let socket = Rc::clone(&socket);
        after(delay, move || open(socket));
    });
    ws.set_onclose(Some(onclose.as_ref().unchecked_ref()));
    onclose.forget();
}

fn after(ms: i32, f: impl FnOnce() + 'static) {
    let Some(window) = web_sys::window() else {
        return;
    };
    let f = Closure::once_into_js(f);
    let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(f.unchecked_ref(), ms);
}

fn every(ms: i32, f: impl FnMut() + 'static) {
    let Some(window) = web_sys::window() else {
        return;
    };
    let f = Closure::<dyn FnMut()>::new(f);
    let _ = window
        .set_interval_with_callback_and_timeout_and_arguments_0(f.as_ref().unchecked_ref(), ms);
    f.forget();
}

/// The page's side of a session.
struct Web;

impl Platform for Web {
    fn report(&self, status: Status) {
        let line = format!("[hotswap] {status}");
        if status.is_error() {
            web_sys::console::error_1(&line.into());
        } else {
            web_sys::console::log_1(&line.into());
        }
        overlay::show(&status);
    }

    fn now_ms(&self) -> f64 {
        web_sys::window()
            .and_then(|window| window.performance())
            .map_or(0.0, |performance| performance.now())
    }

    fn own_pid(&self) -> Option<u32> {
        None
    }

    fn apply(&self, table: JumpTable) -> Result<(), String> {
        if !table.lib.to_string_lossy().ends_with(".wasm") {
            return Err(format!(
                "{} is not a wasm patch (is dx serving this page with --bundle web?)",
                table.lib.display()
            ));
        }
        // SAFETY: the table was built by the dx serving this page from the
        // module it runs. Fetching and instantiating happen later, in the
        // background; `on_landed` reports when the table is committed.
        unsafe { subsecond::apply_patch(table) }.map_err(|err| err.to_string())
    }

    fn reload(&self) {
        self.report(Status::Reloading);
        if let Some(window) = web_sys::window() {
            let _ = window.location().reload();
        }
    }
}
