//! The benchmarks behind `scripts/bench`: each prints a table on stdout,
//! progress on stderr, and writes `target/bench/<name>.json`.
//!
//! Timings on a shared machine are noisy, so every figure is a median over
//! repeated runs and every comparison is a ratio of two medians measured in
//! the same run.

mod cleanup;
mod common;
mod mt;
mod mt_patch;
mod rebuild;
mod server;
mod settings;
mod soak;
mod wasm;

const USAGE: &str = "\
usage: scripts/bench <server|wasm|mt|mt-patch|rebuild|soak server|soak wasm>

  server  save -> new response: dx hot patch vs cargo rebuild + restart,
          for the server example as it is and with 3,000 generated functions
  wasm    save -> change live in the page: dx hot patch vs dx rebuild + reload
  mt      the multi-threaded wasm ray tracer: 1 vs 2 workers, and vs native
  mt-patch
          save -> new shading live in every thread of the threaded ray tracer:
          wasm_mt_dev hot patch (1 and 2 threads) vs dx rebuild + reload
  rebuild a field added in front of the server's Stats under ~100 requests/s:
          rebuilt or patched, failed requests, longest request, counters,
          WebSocket close code; this project vs dx's rebuild alone vs plain dx
  soak server [N], soak wasm [N]
          one long session: N consecutive patches (default 200); lost patches,
          failed requests, reconnects, reloads and latency drift

environment:
  BENCH_RUNS=10               measured edits per mode (server, wasm; rebuild: 3)
  BENCH_SIZES=small,large     which server sizes to run
  BENCH_PROFILE_DEV='debug = 0; codegen-units = 16'
                              try another [profile.dev] in the scratch copies
                              (default: the checkout's Cargo.toml)
  BENCH_LINKER=lld|cc         try another host linker in the scratch copies
                              (default: the checkout's .cargo/config.toml)
  BENCH_MT_RUNS=7             renders per thread count (mt)";

fn main() {
    // Failures are panics with a readable message: print just that line.
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("unknown failure");
        eprintln!("error: {message}");
    }));
    cleanup::install();

    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("server") => server::run(),
        Some("wasm") => wasm::run(),
        Some("mt") => mt::run(),
        Some("mt-patch") => mt_patch::run(),
        Some("rebuild") => rebuild::run(),
        Some("soak") => soak::run(&args[1..]),
        Some("-h" | "--help" | "help") => println!("{USAGE}"),
        None => {
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
        Some(other) => {
            eprintln!("error: unknown benchmark {other:?}\n\n{USAGE}");
            std::process::exit(2);
        }
    }
}
