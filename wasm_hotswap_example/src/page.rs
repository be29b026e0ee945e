//! Wiring the page: built once, never patched.

use std::cell::RefCell;
use std::rc::Rc;

use hotswap_runtime::subsecond::HotFn;
use wasm_bindgen::{closure::Closure, JsCast};
use web_sys::{Document, HtmlElement};

use crate::view::{self, Counter};

/// The page's state lives in this `Rc`, held by the click listener and the
/// patch callback. (A static or a `thread_local!` would keep its value across
/// patches too: hotswap-link binds patches to them, see `view.rs`.)
struct Page {
    counter: RefCell<Counter>,
    document: Document,
}

/// The name the count is kept under across a reload (`hotswap_runtime::keep`).
const KEPT: &str = "counter";

pub fn start() {
    init_logging();
    let Some(document) = web_sys::window().and_then(|window| window.document()) else {
        return tracing::error!("no document to draw in");
    };
    // After a panic, the page reloads to run the fix: the count comes back.
    let counter: Counter = hotswap_runtime::keep::restored(KEPT).unwrap_or_default();
    let page = Rc::new(Page {
        counter: RefCell::new(counter),
        document,
    });
    hotswap_runtime::keep::on_restart(KEPT, {
        let page = page.clone();
        move || page.counter.borrow().clone()
    });
    let Some(button) = page.element("incrementButton") else {
        return;
    };

    let on_click = Closure::<dyn FnMut()>::new({
        let page = page.clone();
        move || page.click()
    });
    if let Err(err) =
        button.add_event_listener_with_callback("click", on_click.as_ref().unchecked_ref())
    {
        tracing::error!("cannot listen for clicks: {err:?}");
    }
    // The listener lives as long as the page.
    on_click.forget();

    page.render();
    // After a patch, draw again so edits to `view::render` show without a click.
    hotswap_runtime::connect({
        let page = page.clone();
        move || page.render()
    });
}

/// Log lines (hotswap_runtime's too) go to the browser's console, `info` and up.
fn init_logging() {
    use tracing_subscriber::prelude::*;
    let console = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .without_time()
        .with_writer(tracing_web::MakeWebConsoleWriter::new())
        .with_filter(tracing_subscriber::filter::LevelFilter::INFO);
    tracing_subscriber::registry().with(console).init();
}

impl Page {
    fn click(&self) {
        {
            let mut counter = self.counter.borrow_mut();
            // The listener is old code after a patch; the hot boundary finds the new step.
            counter.count += HotFn::current(view::increment_step).call(());
            let count = counter.count;
            counter.history.push(count);
        }
        self.render();
    }

    fn render(&self) {
        let counter = self.counter.borrow();
        if let Some(element) = self.element("counter") {
            element.set_text_content(Some(&counter.count.to_string()));
        }
        if let Some(element) = self.element("hotView") {
            element.set_inner_html(&HotFn::current(view::render).call((&*counter,)));
        }
    }

    fn element(&self, id: &str) -> Option<HtmlElement> {
        let element = self
            .document
            .get_element_by_id(id)
            .and_then(|element| element.dyn_into::<HtmlElement>().ok());
        if element.is_none() {
            tracing::error!("index.html has no #{id}");
        }
        element
    }
}
