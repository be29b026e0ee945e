//! What `hotswap_runtime`'s overlay (`#hotswap-status`) says in a page: its
//! counters (`data-patches`, `data-connects`, ...) and its text.

use std::time::Duration;

use crate::Browser;

/// The overlay's counter `data-<name>` (0 when there is none yet).
pub fn count(browser: &mut Browser, name: &str) -> u64 {
    let value = browser.eval(&format!(
        "Number(document.getElementById('hotswap-status')?.dataset.{name} || 0)"
    ));
    value.as_u64().unwrap_or(0)
}

/// Wait until `patches` patches have landed in the page and the overlay says
/// "patched"; returns its text.
pub fn wait_for_patches(browser: &mut Browser, patches: u64, timeout: Duration) -> String {
    let expression = format!(
        "(() => {{ const s = document.getElementById('hotswap-status'); \
           return s && Number(s.dataset.patches || 0) >= {patches} && s.textContent; }})()"
    );
    let text = browser.wait_for(&format!("patch {patches} to land"), &expression, timeout);
    let text = text.as_str().unwrap_or_default().to_string();
    assert!(text.contains("patched"), "{text}");
    text
}
