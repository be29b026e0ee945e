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

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("cannot bind a port on 127.0.0.1")
        .port()
}
