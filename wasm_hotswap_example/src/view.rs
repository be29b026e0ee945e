//! The hot part of the page: edit anything here while `scripts/dev wasm` runs.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

/// Clicks the hot code has seen, in a private static, and the steps it took,
/// in a `thread_local!`: patched code uses the running page's copies of both
/// (hotswap-link binds each patch to them), so they survive every patch too.
static CLICKS_SEEN: AtomicU64 = AtomicU64::new(0);
thread_local! {
    static STEPS: RefCell<Vec<i64>> = const { RefCell::new(Vec::new()) };
}

/// What the page remembers. It outlives every patch, so its layout is fixed
/// for the life of the page: adding a field needs a full rebuild (and a reload).
/// It is also kept across the reload that runs the fix of a panic (`page.rs`).
#[derive(Default, Clone, serde::Serialize, serde::Deserialize)]
pub struct Counter {
    pub count: i64,
    /// The count after each click, newest last.
    pub history: Vec<i64>,
}

/// How much one click adds.
pub fn increment_step() -> i64 {
    record(1)
}

fn record(step: i64) -> i64 {
    CLICKS_SEEN.fetch_add(1, Ordering::Relaxed);
    STEPS.with(|steps| steps.borrow_mut().push(step));
    step
}

/// The part of the page drawn from the state, re-run after every click and every patch.
pub fn render(counter: &Counter) -> String {
    let items: String = counter
        .history
        .iter()
        .rev()
        .take(5)
        .map(|count| format!("<li>{count}</li>"))
        .collect();
    let steps: i64 = STEPS.with(|steps| steps.borrow().iter().sum());
    format!(
        "<p class=\"label\">Last counts (newest first)</p><ul>{items}</ul>\
         <p class=\"total\">{}</p>\
         <p class=\"kept\">{} clicks in a static, steps adding up to {steps} in a thread-local</p>",
        // From the workspace's `tally` crate (which counts with `plural`).
        tally::clicks_so_far(counter.history.len() as u64),
        CLICKS_SEEN.load(Ordering::Relaxed)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_last_five_counts_newest_first() {
        let counter = Counter {
            count: 7,
            history: (1..=7).collect(),
        };
        let html = render(&counter);
        assert!(html.contains("<ul><li>7</li><li>6</li><li>5</li><li>4</li><li>3</li></ul>"));
        assert!(html.contains("7 clicks so far"));
    }
}
