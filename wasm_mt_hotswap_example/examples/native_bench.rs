//! Times the reference scene rendered natively with rayon on 1..N threads and
//! prints one line of JSON, the same shape the page's `window.mtBench`
//! returns, so the two can be compared side by side:
//!
//! ```text
//! cargo run --release -p wasm_mt_hotswap_example --example native_bench -- \
//!     [--width 800] [--height 600] [--runs 7] [--threads 1,2] [--row-hashes]
//! ```
//!
//! `--runs 1 --width 64 --height 48` prints the reference render's hash, the
//! number the browser tests compare a page's render with; `--row-hashes`
//! adds each row's (`row_hashes`), which `mtRender({rowHashes: true})` gives
//! for a frame in the page.

use std::time::Instant;

use raytracer_core::{fnv1a64, hash_hex, median_ms};
use wasm_mt_hotswap_example::render::{native_pool, render, row_hashes};

fn main() {
    let mut width = 800;
    let mut height = 600;
    let mut runs = 7;
    let mut threads = vec![1, 2];
    let mut rows = false;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--row-hashes" {
            rows = true;
            continue;
        }
        let value = args.next().unwrap_or_else(|| usage(&flag));
        let number = |v: &str| v.parse::<u32>().unwrap_or_else(|_| usage(&flag));
        match flag.as_str() {
            "--width" => width = number(&value),
            "--height" => height = number(&value),
            "--runs" => runs = number(&value),
            "--threads" => threads = value.split(',').map(number).collect(),
            _ => usage(&flag),
        }
    }
    if width == 0 || height == 0 || runs == 0 || threads.contains(&0) {
        usage("a zero");
    }

    let mut hash = None;
    let mut first_rows = None;
    let mut results = Vec::new();
    for &n in &threads {
        // The pool is started before timing, as the page's pool is.
        let pool = native_pool(n);
        // One untimed run so page faults and thread wake-ups of the first
        // configuration don't count against it.
        pool.install(|| render(width, height, n));
        let samples: Vec<f64> = (0..runs)
            .map(|_| {
                let start = Instant::now();
                let frame = pool.install(|| render(width, height, n));
                let ms = start.elapsed().as_secs_f64() * 1000.0;
                hash.get_or_insert(fnv1a64(&frame.pixels));
                if rows {
                    first_rows.get_or_insert_with(|| row_hashes(&frame.pixels, width));
                }
                ms
            })
            .collect();
        let samples_json: Vec<String> = samples.iter().map(|ms| format!("{ms:.3}")).collect();
        results.push(format!(
            r#"{{"threads":{n},"median_ms":{:.3},"samples_ms":[{}]}}"#,
            median_ms(&samples),
            samples_json.join(",")
        ));
    }
    let row_hashes = first_rows.map_or(String::new(), |rows| {
        let quoted: Vec<String> = rows
            .iter()
            .map(|row| format!(r#""{}""#, hash_hex(*row)))
            .collect();
        format!(r#","row_hashes":[{}]"#, quoted.join(","))
    });
    println!(
        r#"{{"kind":"native","width":{width},"height":{height},"runs":{runs},"hash":"{}","results":[{}]{row_hashes}}}"#,
        hash_hex(hash.expect("at least one run")),
        results.join(",")
    );
}

fn usage(bad: &str) -> ! {
    eprintln!(
        "native_bench: bad argument near `{bad}`\n\
         usage: native_bench [--width N] [--height N] [--runs N] [--threads 1,2,..] [--row-hashes]"
    );
    std::process::exit(2)
}
