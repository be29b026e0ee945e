// One worker of the pool (see src/pool.rs). Rust embeds this file with
// `wasm_bindgen::link_to!`, so it ships inside the wasm-bindgen output and
// needs no path of its own; the page sends it the URL of the JS glue instead.
//
// The first message instantiates the app's wasm module against the page's
// shared memory. Every later message is one task: Rust handles it, this script
// posts the reply, and the worker goes back to its event loop. A worker never
// loops inside Rust between tasks, so a message sent to every worker (a
// broadcast, later a hot patch) is picked up as soon as the current task ends.

let app = null; // the glue module, once initialised
let workerId = null;
const early = []; // tasks that arrived while the module was still loading

self.onmessage = ({ data }) => {
  if (data.kind === "init") {
    init(data);
  } else if (app) {
    run(data);
  } else {
    early.push(data);
  }
};

async function init({ seq, worker, glueUrl, module, memory }) {
  workerId = worker;
  try {
    const glue = await import(glueUrl);
    // Passing the page's module and memory makes this instance share the
    // page's linear memory; wasm-bindgen's start code gives it its own stack
    // and thread-local storage.
    await glue.default({ module_or_path: module, memory });
    glue.worker_started(worker);
    app = glue;
    self.postMessage({ kind: "ready", seq, worker });
    early.splice(0).forEach(run);
  } catch (e) {
    self.postMessage({ kind: "error", seq, worker, message: String(e) });
  }
}

function run(task) {
  try {
    self.postMessage(app.worker_handle(task));
  } catch (e) {
    self.postMessage({ kind: "error", seq: task.seq, worker: workerId, message: String(e) });
  }
}
