//! The web client: a browser `WebSocket` to dx, patches applied in the page,
//! status drawn in a small overlay and logged through `tracing`.

mod build;
pub(crate) mod keep;
mod overlay;
mod socket;
pub mod threaded;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use js_sys::Promise;
use subsecond::JumpTable;
use wasm_bindgen::{closure::Closure, JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::after_patch;
use crate::message;
use crate::session::{Platform, Session};
use crate::status::Status;
use socket::{Handlers, Socket};

/// A patch that has not landed after this long is reported as failed.
/// subsecond fetches, compiles and instantiates it in the background and gives
/// no error back; errors on the page (below) usually tell us sooner.
const LANDING_TIMEOUT_MS: f64 = 20_000.0;

thread_local! {
    // subsecond wants `Send + Sync` handlers; a page's callbacks hold JS values
    // and `Rc`s. Patches land on the thread that applied them (this one), so
    // the handler we give subsecond looks the app's callbacks up here.
    static ON_PATCH: RefCell<Vec<Box<dyn Fn()>>> = const { RefCell::new(Vec::new()) };
    // The latest panic message: subsecond loads a patch in a task of its own
    // and unwraps its errors there, so a failed load is a panic.
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
    // Set by `connect_threaded`: the app's threads share one memory, and
    // patches go to every one of them (`threaded`) instead of to subsecond.
    static THREADED: RefCell<Option<Threaded>> = const { RefCell::new(None) };
    // The page's code panicked. On wasm32 that aborts whatever ran, so the
    // app's state may be half-updated or borrowed for ever: the next patch
    // (the fix) runs in a reloaded page instead of this one.
    static PANICKED: Cell<bool> = const { Cell::new(false) };
    // The session, for the panic hook: a panic while a patch is on its way in
    // is that patch failing to load, not the page's code.
    static SESSION: RefCell<Option<Rc<Session<Web>>>> = const { RefCell::new(None) };
}

#[derive(Clone)]
struct Threaded {
    threads: Rc<dyn crate::EveryThread>,
    session: Option<Rc<Session<Web>>>,
    /// Patches are applied one at a time, in the order they came.
    queue: Rc<RefCell<Option<Promise>>>,
    /// Built by wasm_mt_dev, with what a patch links against.
    patchable: bool,
}

/// Like `connect`, for an app whose threads share one memory.
pub(crate) fn connect_threaded(
    on_patch: impl Fn() + 'static,
    threads: impl crate::EveryThread + 'static,
) {
    // Only a build made by wasm_mt_dev has what a patch links against. Any
    // other dev server (dx without --hot-patch) is still listened to, for its
    // rebuild-and-reload messages; a plain static server has none.
    let patchable = threaded::own_build_id().is_some();
    THREADED.with(|threaded| {
        *threaded.borrow_mut() = Some(Threaded {
            threads: Rc::new(threads),
            session: None,
            queue: Rc::default(),
            patchable,
        })
    });
    open_sessions(on_patch, !patchable);
}

pub(crate) fn connect(on_patch: impl Fn() + 'static) {
    open_sessions(on_patch, false);
}

/// Connect to the dev server; with `only_if_there`, give up quietly when the
/// page turns out to be served without one.
fn open_sessions(on_patch: impl Fn() + 'static, only_if_there: bool) {
    let Some(location) = web_sys::window().map(|window| window.location()) else {
        return tracing::error!(
            "hot-patching is off: no `window` here (call connect from the page, not a worker)"
        );
    };
    let (Ok(protocol), Ok(host)) = (location.protocol(), location.host()) else {
        return tracing::error!("hot-patching is off: cannot read the page's location");
    };
    let scheme = if protocol == "https:" { "wss" } else { "ws" };
    let base = format!("{scheme}://{host}/_dioxus");

    ON_PATCH.with(|callbacks| callbacks.borrow_mut().push(Box::new(on_patch)));
    let session = Rc::new(Session::new(Web));
    THREADED.with(|threaded| {
        if let Some(threaded) = threaded.borrow_mut().as_mut() {
            threaded.session = Some(session.clone());
        }
    });
    session.on_landed(|| ON_PATCH.with(|callbacks| callbacks.borrow().iter().for_each(|f| f())));
    SESSION.with(|slot| *slot.borrow_mut() = Some(session.clone()));
    after_patch::schedule_with(schedule_after_landing);
    remember_panics();
    on_page_errors(session.clone());

    let endpoint = base.clone();
    // dx sends a (re)connecting page its latest patch at once. Frames wait
    // here until the page knows which build dx serves (`build::check`), so
    // that no patch is applied before that is decided.
    let held: Rc<RefCell<Option<Vec<Vec<u8>>>>> = Rc::default();
    let opened = (session.clone(), held.clone());
    let received = (session.clone(), held);
    let frame = move |data: &[u8]| {
        let (session, held) = &received;
        if let Some(waiting) = held.borrow_mut().as_mut() {
            return waiting.push(data.to_vec());
        }
        // Not borrowed any more: a panic in a patch must not leave it so.
        session.handle_binary(data);
    };
    let frame = Rc::new(frame);
    let text_frame = frame.clone();
    Socket::keep_open(
        format!("{base}?build_id={}", Web.own_build_id()),
        Handlers {
            on_open: Box::new(move || {
                let (session, held) = &opened;
                *held.borrow_mut() = Some(Vec::new());
                // Which build does dx serve now? After a dx restart it may be another one.
                let (checked, release) = (session.clone(), held.clone());
                build::check(session.clone(), move || {
                    // A page the library reloaded runs the patch the page
                    // before it had: dx does not send it again.
                    if let Some((build, table)) = keep::take_patch() {
                        checked.reapply(&build, table);
                    }
                    let waiting = release.borrow_mut().take();
                    for data in waiting.into_iter().flatten() {
                        checked.handle_binary(&data);
                    }
                });
                Some(session.connected(&endpoint))
            }),
            on_text: Box::new(move |text| text_frame(text.as_bytes())),
            on_binary: Box::new(move |data| frame(data)),
            on_lost: Box::new(|reason| Web.report(Status::Disconnected { reason })),
            only_if_there,
        },
    );
    // dx publishes compiler errors on a second socket, just after the
    // `FullReloadFailed` on the first: show them when they come.
    let report_build_error = |text: &str| {
        if let Some(details) = message::build_error(text) {
            Web.report(Status::BuildFailed {
                details: Some(details),
            });
        }
    };
    Socket::keep_open(
        format!("{base}/build_status"),
        Handlers {
            on_open: Box::new(|| None),
            on_text: Box::new(report_build_error),
            on_binary: Box::new(move |data| report_build_error(&String::from_utf8_lossy(data))),
            on_lost: Box::new(|reason| tracing::debug!("{reason}")),
            only_if_there,
        },
    );
    every(2_000, move || session.fail_if_stuck(LANDING_TIMEOUT_MS));
}

/// Called by subsecond's handler (through `after_patch::record_landing`):
/// the rebuilds and `on_patch` run from a timer of their own, after subsecond
/// has committed the patch and let go of its lock, so a panic in them cannot
/// stop later patches.
fn schedule_after_landing() {
    let Some(window) = web_sys::window() else {
        return;
    };
    let run = Closure::once_into_js(after_landing);
    let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(run.unchecked_ref(), 0);
}

fn after_landing() {
    if !PANICKED.get() {
        return after_patch::run_pending();
    }
    if after_patch::take_pending() > 0 {
        // The fix (or another attempt at it): run it in a fresh page.
        Web.report(Status::ReloadingAfterPanic { kept: keep::keys() });
        Web.reload();
    }
}

/// Keep the message of the latest panic, show a panic of the page's code at
/// once (where, what, and what happens next), then let the hook already in
/// place print it.
fn remember_panics() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        // The hook is the whole program's, worker threads' too: a pool
        // worker's panic goes to the page through the pool's hook.
        #[cfg(feature = "rayon-pool")]
        if crate::pool::on_pool_worker() {
            return previous(info);
        }
        LAST_PANIC.with(|last| *last.borrow_mut() = Some(info.to_string()));
        let loading_a_patch = SESSION.with(|session| {
            session
                .borrow()
                .as_ref()
                .is_some_and(|session| session.patch_in_flight())
        });
        // A patch that fails to load is reported as such (`on_page_errors`).
        // After a first panic, later ones are often its echo (a `RefCell`
        // it left borrowed): the overlay keeps showing the first.
        if !loading_a_patch && PANICKED.replace(true) {
            tracing::error!("panicked again, after the panic shown in the overlay: {info}");
        } else if !loading_a_patch {
            Web.report(Status::Panicked {
                thread: None,
                message: crate::js_error::panic_message(info),
                at: crate::js_error::panic_location(info),
                kept: keep::keys(),
            });
        }
        previous(info);
    }));
}

/// A worker thread of the page panicked (`thread` names it): with
/// `panic_abort` that thread is gone and its pool cannot run the app's jobs
/// or take a patch, so the next patch (the fix) reloads the page instead.
#[cfg(feature = "rayon-pool")]
pub(crate) fn worker_panicked(thread: &str, message: String, at: Option<String>) {
    if PANICKED.replace(true) {
        return tracing::error!(
            "{thread} panicked too, after the panic shown in the overlay: {message}"
        );
    }
    Web.report(Status::Panicked {
        thread: Some(thread.to_string()),
        message,
        at,
        kept: keep::keys(),
    });
}

/// subsecond loads a patch in a task of its own and unwraps every error there:
/// a panic while a patch is on its way in, and the error it raises on the
/// page, say why that patch failed, now rather than after the landing
/// timeout. Other errors on the page are not the patch's.
fn on_page_errors(session: Rc<Session<Web>>) {
    let Some(window) = web_sys::window() else {
        return;
    };
    let failed = Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
        match LAST_PANIC.with(|last| last.borrow_mut().take()) {
            Some(panic) if session.patch_in_flight() => session.fail_in_flight(&panic),
            _ => tracing::debug!(
                "an error on the page, not the patch's: {}",
                describe_error_event(&event)
            ),
        }
    });
    for kind in ["error", "unhandledrejection"] {
        let _ = window.add_event_listener_with_callback(kind, failed.as_ref().unchecked_ref());
    }
    // Listens for the life of the page.
    failed.forget();
}

fn describe_error_event(event: &JsValue) -> String {
    if let Some(error) = event.dyn_ref::<web_sys::ErrorEvent>() {
        return error.message();
    }
    if let Some(rejection) = event.dyn_ref::<web_sys::PromiseRejectionEvent>() {
        let reason = rejection.reason();
        return reason
            .as_string()
            .or_else(|| {
                reason
                    .dyn_ref::<js_sys::Error>()
                    .map(|err| String::from(err.to_string()))
            })
            .unwrap_or_else(|| format!("{reason:?}"));
    }
    "an error on the page".to_string()
}

/// Reload the page after a panic, taking `table` (the fix) along.
fn reload_with(table: JumpTable) {
    SESSION.with(|session| {
        if let Some(session) = session.borrow().as_ref() {
            session.take_along(table);
        }
    });
    Web.report(Status::ReloadingAfterPanic { kept: keep::keys() });
    Web.reload();
}

/// Queues `table` behind the patches still being applied, on every thread.
fn apply_threaded(threaded: Threaded, table: JumpTable) -> Result<(), String> {
    if !threaded.patchable {
        return Err(
            "this build cannot take patches: its threads share one memory, which dx \
                    0.7.10 cannot patch; serve it with scripts/dev mt (wasm_mt_dev)"
                .into(),
        );
    }
    let session = threaded.session.ok_or("not connected yet")?;
    let threads = threaded.threads;
    let previous = threaded.queue.borrow_mut().take();
    let next = wasm_bindgen_futures::future_to_promise(async move {
        if let Some(previous) = previous {
            // Its failure was reported already; this patch still gets its turn.
            let _ = JsFuture::from(previous).await;
        }
        let lib = table.lib.clone();
        session.loading_starts(&lib);
        if let Err(reason) = threaded::apply(table, &*threads).await {
            session.fail_patch(&lib, &reason);
        }
        Ok(JsValue::UNDEFINED)
    });
    *threaded.queue.borrow_mut() = Some(next);
    Ok(())
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

thread_local! {
    /// How many statuses the overlay has shown: a wait for the compiler's
    /// error ends as soon as anything else was shown.
    static SHOWN: Cell<u64> = const { Cell::new(0) };
}

/// After a build failure that came without the compiler's message (all dx
/// 0.7.10 sends for a patch), wait for the dev command to put the compiler's
/// first error beside the page (`message::COMPILER_ERROR_FILE`; it runs
/// `cargo check` once dx's build failed, which takes a moment) and show it.
fn follow_compiler_error(status: &Status) {
    let shown = SHOWN.with(|shown| {
        shown.set(shown.get() + 1);
        shown.get()
    });
    if !matches!(status, Status::BuildFailed { details: None }) {
        return;
    }
    wasm_bindgen_futures::spawn_local(async move {
        // A cold `cargo check` of the page's crates can take a minute.
        for _ in 0..240 {
            sleep_ms(500).await;
            if SHOWN.get() != shown {
                return;
            }
            let text = fetch_text(message::COMPILER_ERROR_FILE).await;
            if let Some(details) = text.as_deref().and_then(message::compiler_error) {
                if SHOWN.get() == shown {
                    Web.report(Status::BuildFailed {
                        details: Some(details),
                    });
                }
                return;
            }
        }
    });
}

async fn sleep_ms(ms: i32) {
    let wait = Promise::new(&mut |resolve, _| {
        if let Some(window) = web_sys::window() {
            let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
        }
    });
    let _ = JsFuture::from(wait).await;
}

/// The body of `url` when the server has it (a 404 is `None`).
async fn fetch_text(url: &str) -> Option<String> {
    let init = web_sys::RequestInit::new();
    init.set_cache(web_sys::RequestCache::NoStore);
    let response = JsFuture::from(web_sys::window()?.fetch_with_str_and_init(url, &init))
        .await
        .ok()?
        .dyn_into::<web_sys::Response>()
        .ok()?;
    if !response.ok() {
        return None;
    }
    JsFuture::from(response.text().ok()?)
        .await
        .ok()?
        .as_string()
}

/// `performance.now()`: milliseconds on the page's monotonic clock.
fn now_ms() -> f64 {
    web_sys::window()
        .and_then(|window| window.performance())
        .map_or(0.0, |performance| performance.now())
}

/// The page's side of a session.
struct Web;

impl Web {
    /// For what happens outside a session's frames (a socket lost, a build error).
    fn report(&self, status: Status) {
        status.log();
        self.show(&status);
    }
}

impl Platform for Web {
    fn show(&self, status: &Status) {
        overlay::show(status);
        follow_compiler_error(status);
    }

    fn now_ms(&self) -> f64 {
        now_ms()
    }

    fn own_pid(&self) -> Option<u32> {
        None
    }

    fn own_build_id(&self) -> u64 {
        threaded::own_build_id().unwrap_or_else(dioxus_cli_config::build_id)
    }

    fn apply(&self, table: JumpTable) -> Result<(), String> {
        if !table.lib.to_string_lossy().ends_with(".wasm") {
            return Err(format!(
                "{} is not a wasm patch (is dx serving this page with --bundle web?)",
                table.lib.display()
            ));
        }
        if let Some(threaded) = THREADED.with(|threaded| threaded.borrow().clone()) {
            if PANICKED.get() {
                // A thread that panicked is gone and the page's state may be
                // half-updated: run the fix in a fresh page, which gets this
                // patch from the reload.
                reload_with(table);
                return Ok(());
            }
            return apply_threaded(threaded, table);
        }
        LAST_PANIC.with(|last| last.borrow_mut().take());
        // What hotswap-link bound, from the report it wrote beside the patch
        // (dx serves it from the same folder), said before the patch lands so
        // the overlay's "patched" line can carry it.
        let report = table.lib.with_extension("hotswap").display().to_string();
        wasm_bindgen_futures::spawn_local(async move {
            let text = fetch_text(&report).await;
            let (line, bound) =
                crate::statics::log_report(&table.lib.display().to_string(), text.as_deref());
            overlay::note_statics(line, bound);
            // SAFETY: the table was built by the dx serving this page from the
            // module it runs (`build::check` refuses patches once dx serves
            // another build). On the web `apply_patch` only starts fetching
            // and instantiating, in the background (a failure there is a
            // panic, which `on_page_errors` reports); `on_landed` reports when
            // the table is committed.
            let _ = unsafe { subsecond::apply_patch(table) };
        });
        Ok(())
    }

    /// Reload the page, keeping what the app asked to keep. The reload is
    /// asked for first: it happens once this task ends, even if a snapshot of
    /// a state a panic left borrowed aborts on the way.
    fn reload(&self) {
        if let Some(window) = web_sys::window() {
            let _ = window.location().reload();
        }
        let patch = SESSION.with(|session| session.borrow().as_ref()?.build_and_patch());
        if let Some((build, table)) = patch {
            keep::save_patch(&build, &table);
        }
        keep::save_all();
    }
}
