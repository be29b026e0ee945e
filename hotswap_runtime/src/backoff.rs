//! How long to wait before reconnecting to the dev server.

use std::time::Duration;

/// A connection must stay up this long before the back-off starts again from
/// the shortest delay: a dev server that accepts and drops at once is not hammered.
pub(crate) const STABLE: Duration = Duration::from_secs(5);

/// 250 ms, doubling up to 5 s: quick after a dx restart, quiet when dx is gone.
#[derive(Default)]
pub(crate) struct Backoff {
    attempt: u32,
}

impl Backoff {
    /// True until the first failed attempt of a series (report a loss once, not every retry).
    pub(crate) fn is_first(&self) -> bool {
        self.attempt == 0
    }

    /// A connection closed after being up for `up_for` (`None`: it never opened).
    pub(crate) fn closed(&mut self, up_for: Option<Duration>) {
        if up_for.is_some_and(|up| up >= STABLE) {
            self.attempt = 0;
        }
    }

    pub(crate) fn next(&mut self) -> Duration {
        let delay = Duration::from_millis(250 << self.attempt.min(5)).min(Duration::from_secs(5));
        self.attempt += 1;
        delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delays(backoff: &mut Backoff, n: usize) -> Vec<u64> {
        (0..n).map(|_| backoff.next().as_millis() as u64).collect()
    }

    #[test]
    fn grows_then_caps() {
        let mut backoff = Backoff::default();
        assert_eq!(
            delays(&mut backoff, 8),
            [250, 500, 1000, 2000, 4000, 5000, 5000, 5000]
        );
    }

    #[test]
    fn resets_only_after_a_connection_stayed_up() {
        let mut backoff = Backoff::default();
        delays(&mut backoff, 3);
        // Accepted and dropped at once, or never opened: keep backing off.
        backoff.closed(Some(Duration::from_millis(50)));
        backoff.closed(None);
        assert_eq!(delays(&mut backoff, 1), [2000]);
        backoff.closed(Some(STABLE));
        assert!(backoff.is_first());
        assert_eq!(delays(&mut backoff, 1), [250]);
    }
}
