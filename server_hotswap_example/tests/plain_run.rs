//! Without dx the example is an ordinary server: it serves at once, starts no
//! dev-server client thread and sits idle (no polling for a dev server that
//! is not there).

use std::process::{Child, Command};
use std::time::Duration;

use e2e_support::{free_port, http, wait_until};

/// hotswap_runtime's client thread, as Linux shows it (names are cut at 15 bytes).
const CLIENT_THREAD: &str = "hotswap-devserv";

#[test]
fn serves_without_a_dev_server_starts_no_client_and_stays_idle() {
    let (server, port) = start(&[]);
    let greeting = wait_until("the server to answer", Duration::from_secs(30), || {
        http::get(port, "/").ok()
    });
    assert_eq!(greeting.status, 200);
    assert!(
        !thread_names(server.0.id())
            .iter()
            .any(|name| name == CLIENT_THREAD),
        "a client thread started without a dev server: {:?}",
        thread_names(server.0.id())
    );

    let before = cpu_ticks(server.0.id());
    std::thread::sleep(Duration::from_secs(2));
    let used = cpu_ticks(server.0.id()) - before;
    // Clock ticks are 10 ms: a busy loop would burn ~200 of them in 2 s.
    assert!(used <= 10, "an idle server used {used} ticks of CPU in 2 s");
}

/// The control for the test above: the same binary told where a dev server
/// is (none listens there) does start the client thread, so looking for it
/// by name finds it when it is there.
#[test]
fn with_a_dev_server_address_the_client_thread_starts() {
    let devserver_port = free_port();
    let (server, port) = start(&[
        ("DIOXUS_DEVSERVER_IP", "127.0.0.1".to_string()),
        ("DIOXUS_DEVSERVER_PORT", devserver_port.to_string()),
    ]);
    wait_until("the server to answer", Duration::from_secs(30), || {
        http::get(port, "/").ok()
    });
    wait_until(
        "the client thread to start",
        Duration::from_secs(10),
        || {
            thread_names(server.0.id())
                .iter()
                .any(|name| name == CLIENT_THREAD)
                .then_some(())
        },
    );
}

fn start(env: &[(&str, String)]) -> (Server, u16) {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_server_hotswap_example"))
        .env("PORT", port.to_string())
        // As if started by hand, even when the tests run under dx.
        .env_remove("DIOXUS_DEVSERVER_IP")
        .env_remove("DIOXUS_DEVSERVER_PORT")
        .envs(env.iter().map(|(key, value)| (key, value)))
        .spawn()
        .expect("cannot start the example");
    (Server(child), port)
}

/// The names of a process's threads (Linux).
fn thread_names(pid: u32) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("comm")).ok())
        .map(|name| name.trim_end().to_string())
        .collect()
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
