//! A page of the threaded example left open in headless Chromium while the
//! real tool is restarted and the code edited: a restart that builds the same
//! app keeps patching the page, one that really builds anew reloads it, and a
//! save whose code would call a function the running program lacks is
//! rebuilt and reloaded instead of being sent as a patch that traps.
//!
//! Each reloaded or patched state is told apart by the reference render's
//! hash: the sky's gradient changes with each edit.

use e2e_support::serde_json::json;
use e2e_support::{overlay, wait_until, Browser, MtDev, Scratch, FIRST_BUILD, PATCH};

const SHADE: &str = "wasm_mt_hotswap_example/src/shade.rs";
const SKY: &str = "let k = 0.5 * (ray.dir.y + 1.0);";
/// The sky as it is, times 1 from a JS binding the base does not have (the
/// base has every function of std, js-sys and web-sys: a new `extern`
/// block is how a save comes to call what it lacks).
const SKY_THROUGH_NEW_BINDING: &str = "let k = 0.5 * (ray.dir.y + 1.0) * one();";
const SKY_DOC: &str = "/// The sky behind everything";
const NEW_BINDING: &str = r#"#[cfg(target_arch = "wasm32")]
#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = Math, js_name = abs)]
    fn js_abs(x: f64) -> f64;
}

#[cfg(target_arch = "wasm32")]
fn one() -> f32 {
    js_abs(-1.0) as f32
}

#[cfg(not(target_arch = "wasm32"))]
fn one() -> f32 {
    1.0
}

/// The sky behind everything"#;

#[test]
fn an_open_page_follows_restarts_and_a_call_the_base_lacks_rebuilds() {
    // The same copy as serve_and_patch and the example's browser test: its
    // target/mt-dev (std built for wasm with atomics) serves all three.
    let scratch = Scratch::new("wasm_mt_dev");
    let mut tool = MtDev::start(&scratch, "open-page");
    let serving = tool.wait_for_line("serving http://", 0, FIRST_BUILD);
    let mut browser = Browser::launch();
    browser.goto(&format!("http://127.0.0.1:{}/", tool.port));
    open(&mut browser);
    let original = reference_hash(&mut browser);

    // 1. Two patches, the second back to the code the base was built from;
    // then the tool stopped and started again: it builds the same base, so
    // the page, not reloaded, reconnects and takes the next patch (which
    // must not look like one it has applied already).
    scratch.edit(SHADE, SKY, "let k = 0.25 * (ray.dir.y + 1.0);");
    overlay::wait_for_patches(&mut browser, 1);
    let quarter = reference_hash(&mut browser);
    assert_ne!(quarter, original);
    scratch.edit(SHADE, "let k = 0.25 * (ray.dir.y + 1.0);", SKY);
    overlay::wait_for_patches(&mut browser, 2);
    assert_eq!(reference_hash(&mut browser), original);
    let connects = overlay::count(&mut browser, "connects");
    tool.restart();
    let again = tool.wait_for_line("serving http://", 0, FIRST_BUILD);
    assert_eq!(
        build_id(&again),
        build_id(&serving),
        "the code the base was built from builds the same base again"
    );
    browser.wait_for(
        "the page to reconnect to the restarted tool",
        &format!("Number(document.getElementById('hotswap-status').dataset.connects) > {connects}"),
        PATCH,
    );
    scratch.edit(SHADE, SKY, "let k = 0.75 * (ray.dir.y + 1.0);");
    overlay::wait_for_patches(&mut browser, 3);
    assert_ne!(
        reference_hash(&mut browser),
        original,
        "the patch after the restart ran"
    );
    assert_eq!(
        browser.eval("window.pageId === performance.timeOrigin"),
        true,
        "the page reloaded"
    );

    // 2. Stopped, the code edited meanwhile, started again: a new build.
    // The page is told to reload, and the new page runs the new code.
    tool.stop();
    scratch.edit(
        SHADE,
        "let k = 0.75 * (ray.dir.y + 1.0);",
        "let k = 0.25 * (ray.dir.y + 1.0);",
    );
    tool.start_again();
    let rebuilt = tool.wait_for_line("serving http://", 0, FIRST_BUILD);
    assert_ne!(build_id(&rebuilt), build_id(&serving));
    wait_for_reload(&mut browser);
    open(&mut browser);
    assert_eq!(reference_hash(&mut browser), quarter);

    // 3. A save whose code calls a function the base lacks: not a patch (it
    // would trap on every rayon thread) but a rebuild, said in one line that
    // names the function, and a reload into the new code.
    scratch.edit_all(
        SHADE,
        &[
            ("let k = 0.25 * (ray.dir.y + 1.0);", SKY_THROUGH_NEW_BINDING),
            (SKY_DOC, NEW_BINDING),
        ],
    );
    let line = tool.wait_for_line("cannot hot-patch this save", 0, PATCH);
    assert!(
        line.contains("JS binding") && line.contains("__wbg_abs_") && line.contains("rebuilding"),
        "{line}"
    );
    wait_for_reload(&mut browser);
    open(&mut browser);
    assert_eq!(reference_hash(&mut browser), original);
    assert_eq!(tool.count("ready in"), 0, "a patch was sent: {line}");
}

/// Wait for the page to be up and connected, and mark it: a reload loses the mark.
fn open(browser: &mut Browser) {
    browser.eval("window.mtReady");
    browser.wait_for(
        "the page to connect to wasm_mt_dev",
        "document.getElementById('hotswap-status')?.dataset.connects",
        PATCH,
    );
    browser.eval("window.pageId = performance.timeOrigin");
}

fn wait_for_reload(browser: &mut Browser) {
    let reloaded = "window.pageId === undefined && document.readyState === 'complete'";
    wait_until("the page to reload", PATCH, || {
        (browser.try_eval(reloaded) == Ok(json!(true))).then_some(())
    });
}

/// The reference scene's hash, rendered on every rayon thread of the page.
fn reference_hash(browser: &mut Browser) -> String {
    let render = browser.eval("window.renderReference()");
    render["hash"]
        .as_str()
        .unwrap_or_else(|| panic!("renderReference: {render}"))
        .to_string()
}

/// The `N` of `serving http://… (build id N)`.
fn build_id(line: &str) -> &str {
    line.rsplit("build id ")
        .next()
        .and_then(|tail| tail.strip_suffix(')'))
        .unwrap_or_else(|| panic!("no build id in {line:?}"))
}
