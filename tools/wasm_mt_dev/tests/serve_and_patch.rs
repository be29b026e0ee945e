//! End to end, without a browser: the real tool builds the threaded example in
//! a scratch copy and serves it; a WebSocket client on `/_dioxus` sees a save of
//! the shading code become a patch in dx's format that follows the loader
//! contract (DESIGN.md section 5), and a save that does not compile become dx's
//! error messages. The page-side loader is tested in the browser tests.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use e2e_support::{ws, Browser, MtDev, Scratch, FIRST_BUILD, PATCH};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};
use wasm_mt_dev::patch::{readable, CONTRACT_IMPORTS};
use wasm_mt_dev::wasm::ModuleView;

const SCENE: &str = "wasm_mt_hotswap_example/raytracer_core/src/scene.rs";
const SKY: &str = "let k = 0.5 * (ray.dir.y + 1.0);";
/// Where the sky's gradient is computed, and the function it is in.
const SKY_FILE: &str = "wasm_mt_hotswap_example/src/shade.rs";
const SKY_FN: &str = "::shade::sky";
const PACKAGE: &str = "wasm_mt_hotswap_example";

/// `/_dioxus` or `/_dioxus/build_status` of the tool, reads timing out every 500 ms.
fn socket(tool: &MtDev, path: &str) -> WebSocket<MaybeTlsStream<TcpStream>> {
    let (socket, _) = tungstenite::connect(format!("ws://127.0.0.1:{}{path}", tool.port))
        .unwrap_or_else(|e| panic!("cannot open {path}: {e}"));
    if let MaybeTlsStream::Plain(stream) = socket.get_ref() {
        stream
            .set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
    }
    socket
}

/// A plain HTTP/1.0 GET: status, headers (lowercase names), body bytes.
fn http_get(port: u16, path: &str) -> (u16, HashMap<String, String>, Vec<u8>) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP response has a blank line");
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, response[split + 4..].to_vec())
}

/// Text frames until one satisfies `pick`, or the deadline.
fn read_until<T>(
    socket: &mut WebSocket<MaybeTlsStream<TcpStream>>,
    what: &str,
    timeout: Duration,
    mut pick: impl FnMut(&str) -> Option<T>,
    seen: &mut Vec<String>,
) -> T {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        match socket.read() {
            Ok(Message::Text(text)) => {
                seen.push(text.to_string());
                if let Some(found) = pick(&text) {
                    return found;
                }
            }
            Ok(_) => {}
            Err(e) if ws::is_read_timeout(&e) => {}
            Err(e) => panic!("the socket failed while waiting for {what}: {e}"),
        }
    }
    panic!("no {what} within {timeout:?}; frames seen: {seen:#?}");
}

/// DESIGN.md 5.3 steps 1-3, as the loader does them, in two new threads of the
/// real page, so that the app's own threads (and its loader, if it has one) are
/// left alone: each worker instantiates the base from the page's module and
/// memory through wasm-bindgen's glue (as the pool's workers do), grows its own
/// table by `ifunc_count`, and instantiates the patch with the six contract
/// imports and its own stack pointer and TLS base. The first one also reads
/// `dylink.0`, grows the shared memory and applies the data relocations; the
/// second must find the patch's data initialised by the first.
const LINK_IN_TWO_THREADS: &str = r#"(async () => {
  const jump = JUMP_TABLE;
  const glueUrl = new URL('/wasm_mt_hotswap_example.js', location).href;
  const glue = await import(glueUrl);
  const page = await glue.default();
  const baseModule = await WebAssembly.compileStreaming(fetch('/wasm_mt_hotswap_example_bg.wasm'));
  const patch = await WebAssembly.compile(await (await fetch(jump.lib)).arrayBuffer());
  const source = `self.onmessage = async ({ data }) => {
    try {
      const { glueUrl, baseModule, memory, patch, jump } = data;
      let { memoryBase } = data;
      const glue = await import(glueUrl);
      const base = await glue.default({ module_or_path: baseModule, memory });
      const table = base.__indirect_function_table;
      let info = null;
      if (memoryBase === undefined) {
        const dylink = new Uint8Array(WebAssembly.Module.customSections(patch, 'dylink.0')[0]);
        let p = 0;
        const uleb = () => { let r = 0, s = 0, b; do { b = dylink[p++]; r |= (b & 0x7f) << s; s += 7; } while (b & 0x80); return r >>> 0; };
        while (p < dylink.length) {
          const type = dylink[p++], size = uleb(), end = p + size;
          if (type === 1) info = { memorySize: uleb(), memoryAlign: uleb(), tableSize: uleb(), tableAlign: uleb() };
          p = end;
        }
        memoryBase = memory.grow(Math.ceil(info.memorySize / 65536)) * 65536;
      }
      const tableBase = table.grow(jump.ifunc_count);
      const i32 = (v) => new WebAssembly.Global({ value: 'i32', mutable: false }, v);
      const tlsBefore = base.__tls_base.value;
      const { exports } = new WebAssembly.Instance(patch, { env: {
        memory, __indirect_function_table: table,
        __stack_pointer: base.__stack_pointer, __tls_base: base.__tls_base,
        __memory_base: i32(memoryBase), __table_base: i32(tableBase) } });
      if (info) exports.__wasm_apply_data_relocs();
      let filled = 0;
      for (let i = 0; i < jump.ifunc_count; i++) if (table.get(tableBase + i)) filled++;
      const arityMismatch = Object.entries(jump.map).filter(([slot, index]) => {
        const old = table.get(Number(slot)), now = table.get(tableBase + index);
        return !old || !now || old.length !== now.length;
      }).map(([slot]) => slot);
      postMessage({ info, memoryBase, tableBase, filled, arityMismatch, tlsBefore,
                    tlsAfter: base.__tls_base.value, exports: Object.keys(exports) });
    } catch (e) { postMessage({ error: String(e) }); }
  };`;
  const url = URL.createObjectURL(new Blob([source], { type: 'text/javascript' }));
  const link = async (memoryBase) => {
    const worker = new Worker(url, { type: 'module' });
    const reply = await new Promise((resolve) => {
      worker.onmessage = ({ data }) => resolve(data);
      worker.onerror = (e) => resolve({ error: String(e.message || e) });
      worker.postMessage({ glueUrl, baseModule, memory: page.memory, patch, jump, memoryBase });
    });
    worker.terminate();
    return reply;
  };
  const first = await link(undefined);
  const second = first.error ? null : await link(first.memoryBase);
  return { first, second };
})()"#;

/// Waits for a unit `DevserverMsg` (`"HotPatchStart"`, ...).
fn wait_for_unit(
    socket: &mut WebSocket<MaybeTlsStream<TcpStream>>,
    name: &str,
    seen: &mut Vec<String>,
) {
    let quoted = format!("\"{name}\"");
    read_until(socket, name, PATCH, |t| (t == quoted).then_some(()), seen);
}

/// Waits for the next `HotReload` message and returns it, parsed.
fn wait_for_hot_reload(
    socket: &mut WebSocket<MaybeTlsStream<TcpStream>>,
    what: &str,
    seen: &mut Vec<String>,
) -> serde_json::Value {
    read_until(
        socket,
        what,
        PATCH,
        |t| {
            serde_json::from_str::<serde_json::Value>(t)
                .ok()
                .filter(|v| v.get("HotReload").is_some())
        },
        seen,
    )
}

#[test]
fn a_save_becomes_a_patch_in_dx_format_and_a_bad_save_an_error() {
    let scratch = Scratch::new("wasm_mt_dev");
    let mut tool = MtDev::start(&scratch, "wasm_mt_dev");
    tool.wait_until_serving(FIRST_BUILD);

    // The page is served cross-origin isolated, and its module has the exports
    // the contract promises (they must survive wasm-bindgen).
    let (status, headers, _) = http_get(tool.port, "/");
    assert_eq!(status, 200);
    assert_eq!(headers["cross-origin-opener-policy"], "same-origin");
    assert_eq!(headers["cross-origin-embedder-policy"], "require-corp");
    let (status, _, base) = http_get(tool.port, &format!("/{PACKAGE}_bg.wasm"));
    assert_eq!(status, 200);
    let base = ModuleView::parse(&base).unwrap();
    let build_id = base
        .exported_const("__hotswap_build_id")
        .expect("the served module exports __hotswap_build_id");
    for name in [
        "__stack_pointer",
        "__tls_base",
        "__indirect_function_table",
        "memory",
    ] {
        assert!(
            base.exported(name).is_some(),
            "the served module does not export {name}"
        );
    }
    let base_slots: HashMap<u32, String> = base
        .table_slots()
        .into_iter()
        .filter_map(|(func, slot)| Some((slot, base.func_names.get(&func)?.clone())))
        .collect();

    let mut devserver = socket(&tool, &format!("/_dioxus?build_id={build_id}"));
    let mut status_socket = socket(&tool, "/_dioxus/build_status");
    let mut seen = Vec::new();

    // A change of the sky's gradient, in the shading code the workers run.
    scratch.edit(SKY_FILE, SKY, "let k = 0.25 * (ray.dir.y + 1.0);");
    wait_for_unit(&mut devserver, "HotPatchStart", &mut seen);
    let message = wait_for_hot_reload(&mut devserver, "a HotReload message", &mut seen);
    let reload = &message["HotReload"];
    assert_eq!(reload["for_build_id"], build_id as u64);
    assert_eq!(reload["for_pid"], serde_json::Value::Null);
    let table = &reload["jump_table"];
    assert_eq!(table["aslr_reference"], 0);
    let lib = table["lib"].as_str().unwrap();
    assert!(
        lib.starts_with("/_hotswap/") && lib.ends_with(".wasm"),
        "{lib}"
    );
    let map = table["map"].as_object().unwrap();
    assert!(!map.is_empty(), "an empty jump table: {table}");

    let (status, headers, patch) = http_get(tool.port, lib);
    assert_eq!(status, 200, "the patch {lib} is not served");
    assert_eq!(headers["content-type"], "application/wasm");
    assert_eq!(headers["cross-origin-embedder-policy"], "require-corp");
    let features = wasmparser::WasmFeatures::default() | wasmparser::WasmFeatures::THREADS;
    wasmparser::Validator::new_with_features(features)
        .validate_all(&patch)
        .expect("the patch validates with threads");
    let view = ModuleView::parse(&patch).unwrap();
    for import in &view.imports {
        assert!(
            import.module == "env" && CONTRACT_IMPORTS.contains(&import.name.as_str()),
            "the patch imports {}.{}, outside the contract",
            import.module,
            import.name
        );
    }
    // The edited function is in the patch, and every jump names the same
    // function on both sides.
    assert!(
        view.func_names
            .values()
            .any(|n| readable(n).ends_with(SKY_FN)),
        "the patch does not define the edited function ({SKY_FN})"
    );
    let patch_table: Vec<&String> = view
        .elements
        .iter()
        .filter(|e| e.offset.is_none())
        .flat_map(|e| e.funcs.iter())
        .map(|f| &view.func_names[f])
        .collect();
    assert_eq!(
        table["ifunc_count"].as_u64().unwrap() as usize,
        patch_table.len()
    );
    for (slot, index) in map {
        let slot: u32 = slot.parse().unwrap();
        let index = index.as_u64().unwrap() as usize;
        assert_eq!(
            base_slots.get(&slot),
            Some(patch_table[index]),
            "slot {slot} and patch index {index} name different functions"
        );
    }

    // The loader contract, done by hand in two new threads of the real page.
    let mut browser = Browser::launch();
    browser.goto(&format!("http://127.0.0.1:{}/", tool.port));
    browser.eval("window.mtReady");
    let linked = browser.eval(&LINK_IN_TWO_THREADS.replace("JUMP_TABLE", &table.to_string()));
    eprintln!("linked in two threads: {linked}");
    let (first, second) = (&linked["first"], &linked["second"]);
    assert_eq!(first["error"], serde_json::Value::Null, "{linked}");
    assert_eq!(second["error"], serde_json::Value::Null, "{linked}");
    assert_eq!(first["info"]["tableSize"], table["ifunc_count"], "{linked}");
    for thread in [first, second] {
        assert_eq!(thread["filled"], table["ifunc_count"], "{linked}");
        assert_eq!(thread["arityMismatch"], serde_json::json!([]), "{linked}");
        assert_eq!(thread["tlsBefore"], thread["tlsAfter"], "{linked}");
        assert_eq!(
            thread["exports"],
            serde_json::json!(["__wasm_apply_data_relocs"]),
            "{linked}"
        );
    }
    assert_eq!(first["tableBase"], second["tableBase"], "{linked}");
    assert_ne!(
        first["tlsBefore"], second["tlsBefore"],
        "each thread has its own TLS block: {linked}"
    );
    // The app still renders.
    let render = browser.eval("window.renderReference()");
    assert!(
        render["hash"].as_str().is_some_and(|h| h.len() == 16),
        "{render}"
    );
    drop(browser);

    // A save that does not compile: dx's failure message, then the compiler's
    // output on the status socket. The page keeps running the last patch.
    scratch.edit(SKY_FILE, "let k = 0.25 *", "let k = \"half\" *");
    wait_for_unit(&mut devserver, "FullReloadFailed", &mut seen);
    let error = read_until(
        &mut status_socket,
        "a BuildError status",
        PATCH,
        |t| {
            let v: serde_json::Value = serde_json::from_str(t).ok()?;
            (v["type"] == "BuildError")
                .then(|| v["data"]["error"].as_str().unwrap_or("").to_string())
        },
        &mut seen,
    );
    // A string times a float: rustc's "cannot multiply `&str` by `f32`".
    assert!(
        error.contains("error[E0369]") && error.contains("cannot multiply"),
        "{error}"
    );
    assert!(
        error.contains(Path::new(SKY_FILE).file_name().unwrap().to_str().unwrap()),
        "the error names the file: {error}"
    );
    assert!(
        !error.contains('\u{1b}'),
        "ANSI colours reach the page: {error}"
    );

    // Fixing it patches again.
    scratch.edit(SKY_FILE, "let k = \"half\" *", "let k = 0.75 *");
    let second = wait_for_hot_reload(&mut devserver, "the second HotReload", &mut seen);
    let second_lib = second["HotReload"]["jump_table"]["lib"].as_str().unwrap();
    assert_ne!(second_lib, lib, "each patch has its own file");
    assert_eq!(http_get(tool.port, second_lib).0, 200);

    // A page of another build is told to reload instead of getting patches.
    let mut stale = socket(&tool, "/_dioxus?build_id=1");
    wait_for_unit(&mut stale, "FullReloadCommand", &mut seen);

    // A changed struct cannot be patched (the tool does not tell a harmless
    // change from a layout change): it rebuilds and tells the page to reload.
    scratch.edit(
        SCENE,
        "#[derive(Clone, Copy, Debug)]\npub struct Ray",
        "#[derive(Clone, Copy, Debug, PartialEq)]\npub struct Ray",
    );
    wait_for_unit(&mut devserver, "FullReloadStart", &mut seen);
    wait_for_unit(&mut devserver, "FullReloadCommand", &mut seen);
    let (_, _, rebuilt) = http_get(tool.port, &format!("/{PACKAGE}_bg.wasm"));
    let rebuilt_id = ModuleView::parse(&rebuilt)
        .unwrap()
        .exported_const("__hotswap_build_id");
    assert!(
        rebuilt_id.is_some() && rebuilt_id != Some(build_id),
        "a rebuilt base has a new build id"
    );
}
