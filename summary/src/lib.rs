//! The server example's counters in one sentence, for its `/summary`.
//!
//! A library crate of the workspace that only the server depends on: a save
//! here is hot-patched like one in the server's own crate. (A crate that
//! another workspace member also uses is not: dioxus #5540, see the README.)

/// What the server answered and what is open.
pub fn summary(requests: u64, open_sockets: u64) -> String {
    format!(
        "{} answered, {} open",
        plural::count(requests, "request"),
        plural::count(open_sockets, "WebSocket")
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_sentence_reads_its_counts() {
        assert_eq!(
            super::summary(1, 2),
            "1 request answered, 2 WebSockets open"
        );
    }
}
