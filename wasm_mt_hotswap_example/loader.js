// Loads the app when the page is served by scripts/build-mt (dx injects its
// own loader instead). index.html's `<!-- build-mt: loader -->` becomes a
// <script> for this file. Initialising the module runs the binary's `main`,
// which starts the worker pool.
import init from "./wasm_mt_hotswap_example.js";

init().catch((err) => {
  const status = document.getElementById("status");
  status.textContent = `Could not load the wasm module: ${err}`;
  status.className = "shown";
  window.mtReadyReject(err);
});
