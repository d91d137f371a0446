//! Helpers shared by the benchmark binaries that run real servers
//! (`checks`, `operator`): test mode, the run itself, rounding.

use std::path::Path;

use serde_json::Value;

/// Whether `cargo bench` (or bench/run.sh) started this binary: `--bench`
/// is among its arguments. Under `cargo test` (test mode) it is not, and
/// the test harness's own flags may be, which are not ours to parse:
/// prints `hint` and answers `false` then.
pub fn benchmarking(hint: &str) -> bool {
    let bench = std::env::args().any(|arg| arg == "--bench");
    if !bench {
        println!("{hint}");
    }
    bench
}

/// Runs `work` on a two-thread runtime, writes its result to `out` as
/// pretty JSON (creating the folder) and prints it. On SIGINT/SIGTERM
/// `work` is dropped, and with it every server and process it started, and
/// the process exits with 130.
pub fn run_to_file(name: &str, out: &Path, work: impl Future<Output = Value>) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let result = runtime.block_on(async {
        tokio::select! {
            result = work => Some(result),
            () = stop_signal() => None,
        }
    });
    let Some(result) = result else {
        eprintln!("{name}: stopped by a signal");
        std::process::exit(130);
    };
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).expect("results directory");
    }
    let text = serde_json::to_string_pretty(&result).expect("JSON");
    std::fs::write(out, &text).expect("write the results");
    println!("{text}");
}

/// Resolves on SIGINT or SIGTERM.
pub async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).expect("listen for SIGTERM");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}

/// `value` rounded to `digits` decimals.
pub fn round(value: f64, digits: i32) -> f64 {
    let factor = 10_f64.powi(digits);
    (value * factor).round() / factor
}
