//! The page: starts the pool, draws renders on the canvas, wires the controls
//! and exposes the `window.mt*` functions that tests and the benchmark call.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use hotswap_runtime::pool::Pool;
use hotswap_runtime::subsecond::HotFn;
use js_sys::{Array, Function, Object, Promise, Reflect, Uint8ClampedArray, WebAssembly};
use raytracer_core::{fnv1a64, hash_hex, median_ms};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{future_to_promise, spawn_local};
use web_sys::{
    CanvasRenderingContext2d, HtmlButtonElement, HtmlCanvasElement, HtmlInputElement, ImageData,
    Window,
};

use super::js::{error_text, f64_array, get, get_u32_or, object, set, u32_array};
use crate::render::{self, Frame, REFERENCE_HASH, REFERENCE_HEIGHT, REFERENCE_WIDTH};

/// Size of the picture the page shows; the reference size is far smaller.
const VIEW_WIDTH: u32 = 640;
const VIEW_HEIGHT: u32 = 480;
/// Defaults of `mtBench`, the same as `native_bench`'s.
const BENCH_WIDTH: u32 = 800;
const BENCH_HEIGHT: u32 = 600;
const BENCH_RUNS: u32 = 7;

/// How often each rayon thread has run `mtSafePoint`'s closure: a counter in
/// the shared memory, one per thread (the pool has at most 16).
static SAFE_POINT_RUNS: [AtomicU32; 16] = [const { AtomicU32::new(0) }; 16];

/// Set by `mtHold`, cleared by `mtRelease`: while it is set, every rayon
/// thread stays in one job, as in a long render that never waits in rayon.
static HOLD: AtomicBool = AtomicBool::new(false);

pub fn start() {
    super::js::install_panic_hook();
    spawn_local(async {
        let window = web_sys::window().expect("a page has a window");
        match App::start(&window).await {
            Ok(info) => call_hook(&window, "mtReadyResolve", &info),
            Err(err) => {
                show_status(&window, &format!("Could not start: {}", error_text(&err)));
                call_hook(&window, "mtReadyReject", &err);
            }
        }
    });
}

struct App {
    window: Window,
    pool: Pool,
    canvas: HtmlCanvasElement,
    ctx: CanvasRenderingContext2d,
    threads_input: HtmlInputElement,
    /// Renders drawn since the page loaded.
    frames: Cell<u32>,
}

/// A render with the page's measurements.
struct Timed {
    frame: Frame,
    ms: f64,
}

impl App {
    /// Starts the pool, exposes the globals, draws a first picture and
    /// returns what `window.mtReady` resolves with.
    async fn start(window: &Window) -> Result<JsValue, JsValue> {
        // Without isolation the shared memory cannot be posted to a worker;
        // say so plainly instead of failing later with a cryptic clone error.
        if get(window, "crossOriginIsolated") != JsValue::TRUE {
            return Err("the page is not cross-origin isolated. Serve it with the headers \
                        `Cross-Origin-Opener-Policy: same-origin` and \
                        `Cross-Origin-Embedder-Policy: require-corp` (scripts/build-mt --serve does)"
                .into());
        }
        let document = window.document().ok_or("no document")?;
        let element = |id: &str| {
            document
                .get_element_by_id(id)
                .ok_or(format!("no #{id} in the page"))
        };
        let canvas: HtmlCanvasElement = element("view")?.dyn_into()?;
        let ctx: CanvasRenderingContext2d = canvas
            .get_context("2d")?
            .ok_or("no 2d context")?
            .dyn_into()?;
        let threads_input: HtmlInputElement = element("threads")?.dyn_into()?;
        let button: HtmlButtonElement = element("render")?.dyn_into()?;

        let query = window.location().search()?;
        let requested = web_sys::UrlSearchParams::new_with_str(&query)?.get("workers");
        let cores = window.navigator().hardware_concurrency() as u32;
        let size = crate::pool_size(Some(cores), requested.as_deref());
        show_status(
            window,
            &format!("Starting {size} rayon threads on Web Workers…"),
        );
        let pool = Pool::start(size).await?;

        threads_input.set_max(&size.to_string());
        threads_input.set_value_as_number(size.into());
        let app = Rc::new(App {
            window: window.clone(),
            pool,
            canvas,
            ctx,
            threads_input,
            frames: Cell::new(0),
        });
        app.expose_globals();
        app.wire_controls(&button);
        app.connect_dev_server();
        app.update_threads_label();
        show_status(window, "");
        app.render(app.chosen_threads(), VIEW_WIDTH, VIEW_HEIGHT, false)
            .await?;

        Ok(object(&[
            ("workers", size.into()),
            ("crossOriginIsolated", true.into()),
            ("referenceHash", hash_hex(REFERENCE_HASH).into()),
        ])
        .into())
    }

    /// Renders on `threads` of the pool's threads, without blocking the page.
    async fn render_on(&self, threads: u32, width: u32, height: u32) -> Result<Timed, JsValue> {
        if width == 0 || height == 0 {
            return Err("width and height must be at least 1".into());
        }
        let threads = threads.clamp(1, self.pool.size());
        let start = now();
        let frame = self
            .pool
            .run(move || render::render(width, height, threads))
            .await?;
        Ok(Timed {
            frame,
            ms: now() - start,
        })
    }

    /// Renders, shows the picture and the timing, and returns the stats that
    /// also land in `window.renderStats` (with each row's hash if `rows`).
    async fn render(
        &self,
        threads: u32,
        width: u32,
        height: u32,
        rows: bool,
    ) -> Result<Object, JsValue> {
        let timed = self.render_on(threads, width, height).await?;
        let frame = &timed.frame;
        self.draw(frame)?;
        self.frames.set(self.frames.get() + 1);
        let stats = stats(&timed, self.frames.get());
        if rows {
            let hashes: Array = render::row_hashes(&frame.pixels, frame.width)
                .into_iter()
                .map(|row| JsValue::from(hash_hex(row)))
                .collect();
            set(&stats, "rowHashes", hashes);
        }
        set(&self.window, "renderStats", stats.clone());
        // Main-thread code behind a hot boundary: edit `stats_line` and the next render shows it.
        let line = HotFn::current(stats_line).call((&timed, self.pool.size(), self.frames.get()));
        self.set_text("stats", &line);
        Ok(stats)
    }

    fn draw(&self, frame: &Frame) -> Result<(), JsValue> {
        self.canvas.set_width(frame.width);
        self.canvas.set_height(frame.height);
        // `ImageData` refuses views of a SharedArrayBuffer, and wasm memory is
        // one here, so copy the pixels out first.
        let copy = Uint8ClampedArray::new_with_length(frame.pixels.len() as u32);
        copy.copy_from(&frame.pixels);
        let image =
            ImageData::new_with_js_u8_clamped_array_and_sh(&copy, frame.width, frame.height)?;
        self.ctx.put_image_data(&image, 0.0, 0.0)
    }

    /// FNV-1a of what the canvas holds now, read back through `getImageData`.
    fn canvas_hash(&self) -> Result<String, JsValue> {
        let (w, h) = (self.canvas.width(), self.canvas.height());
        let data = self
            .ctx
            .get_image_data(0.0, 0.0, w.into(), h.into())?
            .data();
        Ok(hash_hex(fnv1a64(&data)))
    }

    /// The reference render at the reference size, with the hashes a test
    /// compares against the native render.
    async fn render_reference(&self, threads: u32) -> Result<Object, JsValue> {
        let stats = self
            .render(threads, REFERENCE_WIDTH, REFERENCE_HEIGHT, false)
            .await?;
        let hash = get(&stats, "hash").as_string().unwrap_or_default();
        let expected = hash_hex(REFERENCE_HASH);
        set(&stats, "canvasHash", self.canvas_hash()?);
        set(&stats, "expectedHash", expected.as_str());
        set(&stats, "matches", hash == expected);
        Ok(stats)
    }

    /// Median render time for each thread count; the result has the same shape
    /// as `native_bench`'s output line.
    async fn bench(&self, options: &JsValue) -> Result<Object, JsValue> {
        let width = get_u32_or(options, "width", BENCH_WIDTH)?;
        let height = get_u32_or(options, "height", BENCH_HEIGHT)?;
        let runs = get_u32_or(options, "runs", BENCH_RUNS)?.max(1);
        let thread_counts: Vec<u32> = match get(options, "threads").dyn_into::<Array>() {
            Ok(list) => list
                .iter()
                .filter_map(|v| v.as_f64())
                .map(|n| n as u32)
                .collect(),
            Err(_) => vec![1, 2],
        };
        let mut hash = String::new();
        let results = Array::new();
        for threads in thread_counts {
            // Untimed warm-up, as in native_bench.
            self.render_on(threads, width, height).await?;
            let mut samples = Vec::new();
            let mut used = 0;
            for _ in 0..runs {
                let timed = self.render_on(threads, width, height).await?;
                samples.push(timed.ms);
                used = timed.frame.shares;
                hash = hash_hex(fnv1a64(&timed.frame.pixels));
            }
            results.push(&object(&[
                ("threads", used.into()),
                ("median_ms", median_ms(&samples).into()),
                ("samples_ms", f64_array(&samples)),
            ]));
        }
        Ok(object(&[
            ("kind", "wasm".into()),
            ("width", width.into()),
            ("height", height.into()),
            ("runs", runs.into()),
            ("hash", hash.into()),
            ("results", results.into()),
        ]))
    }

    /// Hot patches, when `scripts/dev mt` serves the page: each is loaded
    /// into every thread, then the picture is rendered again with it.
    fn connect_dev_server(self: &Rc<Self>) {
        let app = self.clone();
        let rerender = move || {
            let app = app.clone();
            spawn_local(async move {
                let threads = app.chosen_threads();
                if let Err(err) = app.render(threads, VIEW_WIDTH, VIEW_HEIGHT, false).await {
                    show_status(&app.window, &format!("Render failed: {}", error_text(&err)));
                }
            });
        };
        hotswap_runtime::connect_threaded(rerender, self.pool.clone());
    }

    /// Counts, in shared memory, one run per rayon thread at its safe point,
    /// and returns who ran it and every thread's count so far.
    async fn safe_point(&self) -> Result<Object, JsValue> {
        let threads: Vec<u32> = self
            .pool
            .at_safe_point(|index| {
                SAFE_POINT_RUNS[index].fetch_add(1, Ordering::SeqCst);
            })
            .await?
            .into_iter()
            .map(|(index, ())| index)
            .collect();
        let runs: Vec<u32> = SAFE_POINT_RUNS[..self.pool.size() as usize]
            .iter()
            .map(|count| count.load(Ordering::SeqCst))
            .collect();
        Ok(object(&[
            ("threads", u32_array(&threads)),
            ("runs", u32_array(&runs)),
        ]))
    }

    /// Every rayon thread renders the reference alone, at its safe point, and
    /// reports the hash: after a hot patch, all of them must have the new one.
    async fn thread_hashes(&self) -> Result<Array, JsValue> {
        let hashes = self
            .pool
            .at_safe_point(|_| hash_hex(render::reference_hash_on_this_thread()))
            .await?;
        Ok(hashes
            .into_iter()
            .map(|(thread, hash)| {
                JsValue::from(object(&[("thread", thread.into()), ("hash", hash.into())]))
            })
            .collect())
    }

    /// Keeps every rayon thread in one job until `mtRelease` (it sleeps in a
    /// loop, leaving the cores to others), then resolves.
    async fn hold(&self) -> Result<JsValue, JsValue> {
        HOLD.store(true, Ordering::SeqCst);
        self.pool
            .at_safe_point(|_| {
                while HOLD.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
            .await?;
        Ok(JsValue::UNDEFINED)
    }

    /// The shared memory's size and every instance's function table length:
    /// the page's and, at its safe point, each rayon thread's.
    async fn wasm_sizes(&self) -> Result<Object, JsValue> {
        let table_length = || {
            wasm_bindgen::function_table()
                .unchecked_into::<WebAssembly::Table>()
                .length()
        };
        let threads: Vec<u32> = self
            .pool
            .at_safe_point(move |_| table_length())
            .await?
            .into_iter()
            .map(|(_, length)| length)
            .collect();
        let memory = wasm_bindgen::memory().unchecked_into::<WebAssembly::Memory>();
        let bytes = get(&memory.buffer(), "byteLength");
        Ok(object(&[
            ("memoryBytes", bytes),
            ("pageTable", table_length().into()),
            ("threadTables", u32_array(&threads)),
        ]))
    }

    fn chosen_threads(&self) -> u32 {
        let n = self.threads_input.value_as_number();
        if n.is_finite() && n >= 1.0 {
            n as u32
        } else {
            self.pool.size()
        }
    }

    fn update_threads_label(&self) {
        self.set_text("threads-value", &self.chosen_threads().to_string());
    }

    fn set_text(&self, id: &str, text: &str) {
        if let Some(el) = self.window.document().and_then(|d| d.get_element_by_id(id)) {
            el.set_text_content(Some(text));
        }
    }

    fn wire_controls(self: &Rc<Self>, button: &HtmlButtonElement) {
        let rerender = {
            let app = self.clone();
            Closure::<dyn Fn()>::new(move || {
                let app = app.clone();
                spawn_local(async move {
                    app.update_threads_label();
                    if let Err(err) = app
                        .render(app.chosen_threads(), VIEW_WIDTH, VIEW_HEIGHT, false)
                        .await
                    {
                        show_status(&app.window, &format!("Render failed: {}", error_text(&err)));
                    }
                });
            })
        };
        let relabel = {
            let app = self.clone();
            Closure::<dyn Fn()>::new(move || app.update_threads_label())
        };
        button.set_onclick(Some(rerender.as_ref().unchecked_ref()));
        self.threads_input
            .set_onchange(Some(rerender.as_ref().unchecked_ref()));
        self.threads_input
            .set_oninput(Some(relabel.as_ref().unchecked_ref()));
        // The page never removes these controls, so the handlers live as long as it does.
        rerender.forget();
        relabel.forget();
    }

    /// The test and benchmark interface; README.md lists it.
    fn expose_globals(self: &Rc<Self>) {
        let app = self.clone();
        expose_async(&self.window, "mtRender", move |options| {
            let app = app.clone();
            async move {
                let threads = get_u32_or(&options, "threads", app.chosen_threads())?;
                let width = get_u32_or(&options, "width", VIEW_WIDTH)?;
                let height = get_u32_or(&options, "height", VIEW_HEIGHT)?;
                let rows = get(&options, "rowHashes") == JsValue::TRUE;
                app.render(threads, width, height, rows)
                    .await
                    .map(Into::into)
            }
        });
        let app = self.clone();
        expose_async(&self.window, "renderReference", move |options| {
            let app = app.clone();
            async move {
                let threads = get_u32_or(&options, "threads", app.pool.size())?;
                app.render_reference(threads).await.map(Into::into)
            }
        });
        let app = self.clone();
        expose_async(&self.window, "mtBench", move |options| {
            let app = app.clone();
            async move { app.bench(&options).await.map(Into::into) }
        });
        let app = self.clone();
        expose_async(&self.window, "mtSafePoint", move |_| {
            let app = app.clone();
            async move { app.safe_point().await.map(Into::into) }
        });
        let app = self.clone();
        expose_async(&self.window, "mtThreadHashes", move |_| {
            let app = app.clone();
            async move { app.thread_hashes().await.map(Into::into) }
        });
        let app = self.clone();
        expose_async(&self.window, "mtHold", move |_| {
            let app = app.clone();
            async move { app.hold().await }
        });
        let release = Closure::<dyn Fn()>::new(|| HOLD.store(false, Ordering::SeqCst));
        set(&self.window, "mtRelease", release.into_js_value());
        let app = self.clone();
        expose_async(&self.window, "mtWasmSizes", move |_| {
            let app = app.clone();
            async move { app.wasm_sizes().await.map(Into::into) }
        });
        // Read by code that is never patched: the page's own copy of the static.
        let rows = Closure::<dyn Fn() -> f64>::new(|| render::rows_rendered() as f64);
        set(&self.window, "mtRowsRendered", rows.into_js_value());
        let app = self.clone();
        let canvas_hash =
            Closure::<dyn Fn() -> Result<String, JsValue>>::new(move || app.canvas_hash());
        set(&self.window, "mtCanvasHash", canvas_hash.into_js_value());
    }
}

/// The line under the picture.
fn stats_line(timed: &Timed, pool_size: u32, frame_number: u32) -> String {
    let frame = &timed.frame;
    let used: Vec<String> = frame.threads_used.iter().map(u32::to_string).collect();
    format!(
        "{}×{} in {:.1} ms on {} of {} rayon threads (took part: {}) · frame {}",
        frame.width,
        frame.height,
        timed.ms,
        frame.shares,
        pool_size,
        used.join(", "),
        frame_number
    )
}

fn stats(timed: &Timed, frame_number: u32) -> Object {
    let frame = &timed.frame;
    object(&[
        ("ms", timed.ms.into()),
        ("threads", frame.shares.into()),
        ("workersUsed", u32_array(&frame.threads_used)),
        ("width", frame.width.into()),
        ("height", frame.height.into()),
        ("hash", hash_hex(fnv1a64(&frame.pixels)).into()),
        ("frame", frame_number.into()),
    ])
}

/// Sets `window[name]` to a function taking one optional argument and
/// returning a promise.
fn expose_async<F, Fut>(window: &Window, name: &str, f: F)
where
    F: Fn(JsValue) -> Fut + 'static,
    Fut: std::future::Future<Output = Result<JsValue, JsValue>> + 'static,
{
    let closure = Closure::<dyn Fn(JsValue) -> Promise>::new(move |arg| future_to_promise(f(arg)));
    set(window, name, closure.into_js_value());
}

/// Calls `window[name](arg)` if index.html defined it (see its `mtReady`).
fn call_hook(window: &Window, name: &str, arg: &JsValue) {
    match Reflect::get(window, &name.into()).map(|f| f.dyn_into::<Function>()) {
        Ok(Ok(f)) => {
            let _ = f.call1(&JsValue::NULL, arg);
        }
        // Another page without the hooks: still give tests something to await.
        _ if name == "mtReadyResolve" => set(window, "mtReady", Promise::resolve(arg)),
        _ => set(window, "mtReady", Promise::reject(arg)),
    }
}

fn now() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map_or(0.0, |p| p.now())
}

fn show_status(window: &Window, text: &str) {
    if let Some(el) = window
        .document()
        .and_then(|d| d.get_element_by_id("status"))
    {
        el.set_text_content(Some(text));
        el.set_class_name(if text.is_empty() { "" } else { "shown" });
    }
}
