//! Built once, never patched: the rayon pool on Web Workers, the canvas, and
//! the calls into `app.rs`, the code every thread runs. Edit `app.rs` while
//! `./dev` runs.

mod app;

use std::rc::Rc;

use hotswap_runtime::pool::Pool;
use hotswap_runtime::subsecond::HotFn;
use js_sys::Uint8ClampedArray;
use rayon::prelude::*;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::spawn_local;
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement, ImageData};

const WIDTH: u32 = 320;
const HEIGHT: u32 = 240;

/// Runs on the page only: wasm-bindgen's thread support skips `main` in workers.
fn main() {
    spawn_local(async {
        if let Err(err) = start().await {
            show(&format!("Could not start: {err}"));
        }
    });
}

async fn start() -> Result<(), String> {
    let window = web_sys::window().ok_or("no window")?;
    let isolated = js_sys::Reflect::get(&window, &"crossOriginIsolated".into());
    if isolated.ok() != Some(JsValue::TRUE) {
        return Err("the page is not cross-origin isolated, so no worker can share its memory: serve it with ./dev".into());
    }
    let canvas = window
        .document()
        .and_then(|document| document.get_element_by_id("picture"))
        .and_then(|element| element.dyn_into::<HtmlCanvasElement>().ok())
        .ok_or("no <canvas id=\"picture\"> in index.html")?
        .get_context("2d")
        .map_err(text)?
        .and_then(|context| context.dyn_into::<CanvasRenderingContext2d>().ok())
        .ok_or("no 2d context")?;

    // One rayon thread per core (2 to 8), each a Web Worker sharing this page's memory.
    let threads = (window.navigator().hardware_concurrency() as u32).clamp(2, 8);
    let pool = Pool::start(threads).await?;
    let page = Rc::new(Page {
        canvas,
        pool: pool.clone(),
    });
    // Each patch is loaded into every thread before any runs it; then draw again.
    let on_patch = {
        let page = page.clone();
        move || spawn_local(redraw(page.clone()))
    };
    hotswap_runtime::connect_threaded(on_patch, pool);
    page.draw().await
}

/// What the page keeps: the patch callback draws again with it.
struct Page {
    canvas: CanvasRenderingContext2d,
    pool: Pool,
}

impl Page {
    /// Computes the picture on the pool (the page awaits, it never blocks),
    /// shows it, then asks every thread for one colour.
    async fn draw(&self) -> Result<(), String> {
        let pixels = self.pool.run(render).await?;
        // ImageData refuses a view of shared memory: copy the pixels out.
        let copy = Uint8ClampedArray::new_with_length(pixels.len() as u32);
        copy.copy_from(&pixels);
        let image = ImageData::new_with_js_u8_clamped_array_and_sh(&copy, WIDTH, HEIGHT);
        self.canvas
            .put_image_data(&image.map_err(text)?, 0.0, 0.0)
            .map_err(text)?;

        // Once on every thread, between its jobs: the colour of the centre.
        // After a patch, every thread answers with the new code.
        let centres = self
            .pool
            .at_safe_point(|_| HotFn::current(app::color).call((0.5, 0.5)))
            .await?;
        let answers: Vec<String> = centres
            .iter()
            .map(|(thread, [r, g, b])| format!("thread {thread}: #{r:02x}{g:02x}{b:02x}"))
            .collect();
        let answers = answers.join(" · ");
        show(&format!("Each thread's colour for the centre: {answers}"));
        Ok(())
    }
}

/// Ordinary rayon code, run on the pool: the rows in parallel, each through
/// a hot boundary (`app::row` is looked up anew for every row).
fn render() -> Vec<u8> {
    (0..HEIGHT)
        .into_par_iter()
        .flat_map_iter(|y| HotFn::current(app::row).call((y, WIDTH, HEIGHT)))
        .collect()
}

async fn redraw(page: Rc<Page>) {
    if let Err(err) = page.draw().await {
        show(&format!("Could not draw: {err}"));
    }
}

/// The line under the picture.
fn show(line: &str) {
    let document = web_sys::window().and_then(|window| window.document());
    if let Some(element) = document.and_then(|d| d.get_element_by_id("threads")) {
        element.set_text_content(Some(line));
    }
}

fn text(err: JsValue) -> String {
    format!("{err:?}")
}
