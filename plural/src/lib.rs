//! How a count of something reads in English: "1 click", "3 clicks".
//!
//! The examples reach it only through `summary` (the server) and `tally`
//! (the page): it is the workspace's dependency of a dependency, which dx
//! 0.7.10 does not watch (dioxus #5314; the README says what a save here does).

/// `n` and the noun, in the plural unless `n` is one.
pub fn count(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("{n} {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_is_singular_and_the_rest_plural() {
        assert_eq!(super::count(1, "click"), "1 click");
        assert_eq!(super::count(0, "click"), "0 clicks");
        assert_eq!(super::count(3, "request"), "3 requests");
    }
}
