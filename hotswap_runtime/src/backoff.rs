//! How long to wait before reconnecting to the dev server.

use std::time::Duration;

/// 250 ms, doubling up to 5 s: quick after a dx restart, quiet when dx is gone.
#[derive(Default)]
pub(crate) struct Backoff {
    attempt: u32,
}

impl Backoff {
    pub(crate) fn is_first(&self) -> bool {
        self.attempt == 0
    }

    pub(crate) fn reset(&mut self) {
        self.attempt = 0;
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

    #[test]
    fn grows_then_caps() {
        let mut backoff = Backoff::default();
        let delays: Vec<u64> = (0..8).map(|_| backoff.next().as_millis() as u64).collect();
        assert_eq!(delays, [250, 500, 1000, 2000, 4000, 5000, 5000, 5000]);
        backoff.reset();
        assert!(backoff.is_first());
    }
}
