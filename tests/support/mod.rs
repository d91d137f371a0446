//! The harness shared by the integration tests, the benchmarks
//! (`benches/*.rs` include it with `#[path = "../tests/support/mod.rs"]`) and
//! the demo's local world (`examples/local_world.rs`, the same way): real
//! servers on loopback, the test API server and the operator as a process.
//! Each binary uses a subset, so unused-item warnings are expected here.
#![allow(dead_code)]

use std::{future::Future, net::SocketAddr, path::PathBuf, time::Duration};

use domain_monitor::{check::dns::Settings as DnsSettings, config::RateLimit};

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

/// Calls `probe` every `every` until it returns `Ok`, and returns that
/// value. `Err` carries what the probe saw instead; once `patience` has
/// passed, panics with `timed_out(what it saw last)`, so that the failure
/// names what was awaited and what was there.
pub async fn poll<T, S, Fut>(
    patience: Duration,
    every: Duration,
    mut probe: impl FnMut() -> Fut,
    timed_out: impl FnOnce(S) -> String,
) -> T
where
    Fut: Future<Output = Result<T, S>>,
{
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        match probe().await {
            Ok(value) => return value,
            Err(seen) if tokio::time::Instant::now() >= deadline => panic!("{}", timed_out(seen)),
            Err(_) => tokio::time::sleep(every).await,
        }
    }
}

/// Calls `probe` every 500 ms until it returns `Some`, and returns that
/// value; panics after `patience` naming `what` was awaited.
pub async fn wait_until<T, Fut>(what: &str, patience: Duration, mut probe: impl FnMut() -> Fut) -> T
where
    Fut: Future<Output = Option<T>>,
{
    poll(
        patience,
        Duration::from_millis(500),
        || {
            let seen = probe();
            async move { seen.await.ok_or(()) }
        },
        |()| format!("timed out after {patience:?} waiting for {what}"),
    )
    .await
}

/// A loopback TCP port nothing listens on (free at the time of asking):
/// a connection to it is refused at once.
pub fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port()
}

/// `count` requests per second.
pub fn rate_limit(count: u32) -> RateLimit {
    RateLimit {
        count: std::num::NonZeroU32::new(count).expect("non-zero"),
        per: Duration::from_secs(1),
    }
}

/// Settings of a DNS checker that asks `servers` (authoritative servers of
/// a TLD or parent zone, on port 53 for the names they delegate to) within
/// `timeout`, without recursive resolvers and practically unthrottled.
pub fn dns_settings(servers: Vec<SocketAddr>, timeout: Duration) -> DnsSettings {
    DnsSettings {
        servers,
        recursive_resolvers: Vec::new(),
        authoritative_port: 53,
        timeout,
        rate_limit: rate_limit(10_000_000),
    }
}
