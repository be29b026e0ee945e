//! Built once, never patched: the page's state and its event listener.
//! Edit `app.rs` while `./dev` runs.

mod app;

use std::cell::Cell;
use std::rc::Rc;

use hotswap_runtime::subsecond::HotFn;
use wasm_bindgen::{closure::Closure, JsCast};
use web_sys::Document;

/// Held by the click listener and the patch callback. Not a `thread_local!`:
/// thread-locals of the patched crate start empty after a patch.
struct Page {
    document: Document,
    clicks: Cell<u32>,
}

impl Page {
    fn render(&self) {
        if let Some(view) = self.document.get_element_by_id("view") {
            // Hot boundary: this code stays old after a patch, `app::view` is looked up anew.
            view.set_inner_html(&HotFn::current(app::view).call((self.clicks.get(),)));
        }
    }
}

fn main() {
    let Some(document) = web_sys::window().and_then(|window| window.document()) else {
        return;
    };
    // A panic aborts the page; the library reloads it to run the fix, and
    // the clicks come back (hotswap_runtime::keep).
    let page = Rc::new(Page {
        document,
        clicks: Cell::new(hotswap_runtime::keep::restored("clicks").unwrap_or(0)),
    });
    hotswap_runtime::keep::on_restart("clicks", {
        let page = page.clone();
        move || page.clicks.get()
    });

    let on_click = Closure::<dyn FnMut()>::new({
        let page = page.clone();
        move || {
            page.clicks.set(page.clicks.get() + 1);
            page.render();
        }
    });
    if let Some(button) = page.document.get_element_by_id("button") {
        let _ = button.add_event_listener_with_callback("click", on_click.as_ref().unchecked_ref());
    }
    on_click.forget(); // the listener lives as long as the page

    page.render();
    // After each patch, draw again so the edit shows without a click.
    hotswap_runtime::connect(move || page.render());
}
