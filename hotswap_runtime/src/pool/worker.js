// One worker of the rayon pool (see mod.rs next to it). Rust embeds this file
// with `wasm_bindgen::link_to!`, so it ships inside the wasm-bindgen output
// and needs no path of its own; the page sends it the URL of the JS glue.
//
// The first message instantiates the app's wasm module against the page's
// shared memory and gives the worker its role:
//  - "thread": run one rayon thread (rayon's own loop, for the life of the
//    page; it never comes back to this event loop);
//  - "dispatcher": hand the page's jobs to rayon, one `run` message each, and
//    come back here after each.

let app = null; // the glue module, once the dispatcher is initialised
const early = []; // jobs that arrived while the module was still loading

self.onmessage = ({ data }) => {
  if (data.kind === "init") {
    init(data);
  } else if (app) {
    run(data);
  } else {
    early.push(data);
  }
};

async function init({ id, role, glueUrl, module, memory, builder }) {
  let glue;
  try {
    glue = await loadGlue(glueUrl, module, memory);
  } catch (e) {
    self.postMessage({ kind: "error", id, message: `cannot load the module: ${e}` });
    return;
  }
  if (role === "thread") {
    // Rust posts "started" from rayon's start handler, then stays in rayon.
    glue.__hotswap_pool_thread_run(builder);
  } else {
    app = glue;
    self.postMessage({ kind: "ready", id });
    early.splice(0).forEach(run);
  }
}

// Instantiates the page's module against the page's memory: that is what
// makes this worker share the page's linear memory. wasm-bindgen's start code
// then gives this instance its own stack and thread-local storage.
async function loadGlue(glueUrl, module, memory) {
  // Under `dx serve` the glue ends with a loader that initialises it as soon
  // as it is imported, here too, with a new memory and the .wasm fetched by an
  // absolute path (which a blob: worker cannot resolve). For the length of the
  // import, lend that loader the page's memory and module, so its instance
  // joins the pool instead of starting a second app. Both are created
  // synchronously during the import, before the glue's first `await`.
  const { Memory } = WebAssembly;
  const { fetch } = globalThis;
  WebAssembly.Memory = function () {
    return memory;
  };
  globalThis.fetch = () => Promise.resolve(module);
  let glue;
  try {
    glue = await import(glueUrl);
  } finally {
    WebAssembly.Memory = Memory;
    globalThis.fetch = fetch;
  }
  if (globalThis.__wasm_split_main_initSync) {
    // dx's loader ran (it sets that name at once, `__dx_mainWasm` when done):
    // wait for its init rather than instantiating the module a second time.
    for (let waited = 0; !globalThis.__dx_mainWasm; waited += 10) {
      if (waited > 30000) throw new Error("dx's loader did not initialise the module");
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  } else {
    await glue.default({ module_or_path: module, memory });
  }
  return glue;
}

function run({ id, job }) {
  try {
    app.__hotswap_pool_dispatch(job);
  } catch (e) {
    self.postMessage({ kind: "error", id, message: String(e) });
  }
}
