//! The harness shared by the integration tests, the benchmarks
//! (`benches/*.rs` include it with `#[path = "../tests/support/mod.rs"]`) and
//! the demo's local world (`examples/local_world.rs`, the same way): real
//! servers on loopback, the test API server and the operator as a process.
//! Each binary uses a subset, so unused-item warnings are expected here.
#![allow(dead_code)]

use std::path::PathBuf;

pub mod chaos;
pub mod cluster;
pub mod dhc;
pub mod dns_script;
pub mod health;
pub mod http_stub;
pub mod lab;
pub mod nsd;
pub mod operator;
pub mod prometheus;
pub mod promql;
pub mod proxy;
pub mod rdap_srv;
pub mod security;
pub mod throttle;
pub mod tls;
pub mod tools;
pub mod unbound;
pub mod whois_server;
pub mod world;

/// Cargo's target directory: `CARGO_TARGET_DIR` when set (relative to the
/// repository root, as Cargo reads it there), else `<repo>/target`. The
/// project's tools (`tools/test-apiserver`, …) and debug builds live in it.
pub fn target_dir() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    std::env::var_os("CARGO_TARGET_DIR")
        .filter(|dir| !dir.is_empty())
        .map_or_else(|| root.join("target"), |dir| root.join(dir))
}
