//! The wasm example's running total of clicks, in words.
//!
//! A library crate of the workspace that only the page depends on: a save
//! here is hot-patched like one in the page's own crate. (A crate that
//! another workspace member also uses is not: dioxus #5540, see the README.)

/// The page's running total.
pub fn clicks_so_far(clicks: u64) -> String {
    format!("{} so far", plural::count(clicks, "click"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_total_reads_its_count() {
        assert_eq!(super::clicks_so_far(7), "7 clicks so far");
        assert_eq!(super::clicks_so_far(1), "1 click so far");
    }
}
