//! A short soak of each hot-patched example, so a regression that kills long
//! sessions fails `scripts/test`: 20 consecutive patches must all land as hot
//! patches, with no failed request, no reconnection and no page reload. Timing
//! is reported (target/bench/soak-*-20.json), never asserted.
//!
//! Both in one test: each starts a dx and compiles with both cores.

use std::process::Command;

use e2e_support::serde_json::{self, Value};

const PATCHES: usize = 20;

#[test]
fn twenty_patches_in_one_session_lose_nothing() {
    for app in ["server", "wasm"] {
        let report = soak(app);
        let count = |key: &str| report[key].as_u64().unwrap_or(u64::MAX);
        let summary = format!("soak {app}: {report}");
        assert_eq!(count("attempted"), PATCHES as u64, "{summary}");
        assert_eq!(count("landed"), PATCHES as u64, "lost patches; {summary}");
        assert_eq!(
            count("hot_patches"),
            PATCHES as u64,
            "rebuilds instead of patches; {summary}"
        );
        assert_eq!(count("requests_failed"), 0, "failed requests; {summary}");
        assert_eq!(count("reconnects"), 0, "reconnections; {summary}");
        assert_eq!(count("reloads"), 0, "page reloads; {summary}");
        if app == "server" {
            assert!(count("requests_sent") > 0, "{summary}");
        }
    }
}

fn soak(app: &str) -> Value {
    let status = Command::new(env!("CARGO_BIN_EXE_hotswap_bench"))
        .args(["soak", app, &PATCHES.to_string()])
        .status()
        .expect("cannot run the benchmark binary");
    assert!(
        status.success(),
        "scripts/bench soak {app} {PATCHES} failed (its output is above)"
    );
    let path = e2e_support::checkout_root()
        .join("target/bench")
        .join(format!("soak-{app}-{PATCHES}.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()));
    serde_json::from_str(&text).unwrap()
}
