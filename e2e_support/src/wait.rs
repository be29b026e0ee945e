use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Poll `check` every 100 ms until it returns `Some`, or panic after `timeout`
/// saying `what` did not happen.
pub fn wait_until<T>(what: &str, timeout: Duration, check: impl FnMut() -> Option<T>) -> T {
    poll_every(Duration::from_millis(100), what, timeout, check)
}

/// [`wait_until`] with another polling interval (a benchmark polls faster).
pub fn poll_every<T>(
    interval: Duration,
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return value;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(interval);
    }
}

/// A port on 127.0.0.1 for a server a test is about to start: free now, and
/// never handed out twice by this process (two calls in a row used to be able
/// to return the same port).
///
/// It comes from below Linux's ephemeral range (32768-60999), where the
/// kernel picks ports for `bind(0)` and for outgoing connections: between
/// this check and the server's own bind, nothing takes it but a program
/// that chooses ports by hand.
pub fn free_port() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    static GIVEN: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    const FIRST: u16 = 20_000;
    const COUNT: u64 = 12_000;
    let mut given = GIVEN
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    for _ in 0..COUNT {
        // A fresh random seed per call: std's hasher keys are random.
        let random = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        let port = FIRST + (random % COUNT) as u16;
        if !given.contains(&port) && std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            given.insert(port);
            return port;
        }
    }
    panic!(
        "no free port on 127.0.0.1 between {FIRST} and {}",
        FIRST as u64 + COUNT
    );
}

#[cfg(test)]
mod tests {
    #[test]
    fn ports_are_not_handed_out_twice() {
        let ports: std::collections::BTreeSet<u16> = (0..200).map(|_| super::free_port()).collect();
        assert_eq!(ports.len(), 200);
        assert!(ports.iter().all(|port| (20_000..32_000).contains(port)));
    }
}
