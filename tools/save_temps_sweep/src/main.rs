//! `save_temps_sweep <target> [--while-pid <pid>]`: remove dx's `-Csave-temps`
//! leftovers from `target/**/deps` now, and with `--while-pid` again after
//! every patch for as long as process `pid` (dx) runs. `scripts/dev` runs it
//! beside dx.

use std::path::{Path, PathBuf};
use std::time::Duration;

const USAGE: &str = "usage: save_temps_sweep <target dir> [--while-pid <pid>]";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (target, while_pid) = match args.as_slice() {
        [target] => (PathBuf::from(target), None),
        [target, flag, pid] if flag == "--while-pid" => match pid.parse::<u32>() {
            Ok(pid) => (PathBuf::from(target), Some(pid)),
            Err(_) => fail(&format!("--while-pid {pid:?} is not a process id\n{USAGE}")),
        },
        _ => fail(USAGE),
    };
    let removed = save_temps_sweep::remove(&target, save_temps_sweep::now());
    if removed > 0 {
        println!(
            "removed {removed} files earlier hot patches left in {}",
            target.display()
        );
    }
    if let Some(pid) = while_pid {
        let alive = Path::new("/proc").join(pid.to_string());
        save_temps_sweep::after_each_patch(&target, Duration::from_secs(1), |_| alive.exists());
    }
}

fn fail(message: &str) -> ! {
    eprintln!("{message}");
    std::process::exit(2)
}
