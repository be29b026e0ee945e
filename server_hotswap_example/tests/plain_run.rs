//! Without dx the example is an ordinary server: it serves at once and sits
//! idle (no polling for a dev server that is not there).

use std::process::{Child, Command};
use std::time::Duration;

use e2e_support::{free_port, http, wait_until};

#[test]
fn serves_without_a_dev_server_and_stays_idle() {
    let port = free_port();
    let server = Server(
        Command::new(env!("CARGO_BIN_EXE_server_hotswap_example"))
            .env("PORT", port.to_string())
            // As if started by hand, even when the tests run under dx.
            .env_remove("DIOXUS_DEVSERVER_IP")
            .env_remove("DIOXUS_DEVSERVER_PORT")
            .spawn()
            .expect("cannot start the example"),
    );
    let greeting = wait_until("the server to answer", Duration::from_secs(30), || {
        http::get(port, "/").ok()
    });
    assert_eq!(greeting.status, 200);

    let before = cpu_ticks(server.0.id());
    std::thread::sleep(Duration::from_secs(2));
    let used = cpu_ticks(server.0.id()) - before;
    // Clock ticks are 10 ms: a busy loop would burn ~200 of them in 2 s.
    assert!(used <= 10, "an idle server used {used} ticks of CPU in 2 s");
}

/// User + system CPU time of a process, in clock ticks (Linux).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
