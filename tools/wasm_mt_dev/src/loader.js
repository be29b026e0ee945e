// Starts a threaded app's page. wasm_mt_dev writes this file beside the
// wasm-bindgen output as `loader.js`, with __GLUE__ replaced by the glue's
// name, and puts a <script type="module"> for it where index.html has
// `<!-- build-mt: loader -->` (scripts/build-mt does the same with this file).
// Initialising the module runs the binary's `main`, which starts the app
// (and its worker pool); the workers import the glue by themselves.
import init from "./__GLUE__.js";

init().catch((err) => {
  console.error("could not load the wasm module:", err);
  // The page may say so its own way (the example shows it and fails its
  // `mtReady`): the event's `detail` is the error.
  window.dispatchEvent(new CustomEvent("wasm-load-failed", { detail: err }));
});
