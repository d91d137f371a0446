//! Helpers shared by the security suites (`tests/security_*.rs`): checkers
//! set up the way those suites attack them, domain names, run-unique secrets.

use std::{net::SocketAddr, time::Duration};

use domain_monitor::{
    check::rdap::{RdapChecker, Settings as RdapSettings},
    domain_name::DomainName,
};
use rand::Rng;
use url::Url;

use super::rate_limit;

/// The media type of RDAP answers (RFC 7480 §4.2).
pub const RDAP_JSON: &str = "application/rdap+json";

/// `name` as a [`DomainName`]; panics on a name the test should not use.
pub fn domain(name: &str) -> DomainName {
    DomainName::parse(name).expect("valid test domain")
}

/// `n` random lower-case hex digits: secrets unique to one run.
pub fn random_hex(n: usize) -> String {
    let mut rng = rand::rng();
    (0..n)
        .map(|_| char::from_digit(rng.random_range(0..16), 16).expect("hex digit"))
        .collect()
}

/// Standard base64 (RFC 4648 §4), for credentials that travel as `Basic`
/// authorization.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0_u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// An RDAP checker for `.test` at `base` (timeout `timeout`) whose redirects
/// to other hosts resolve through `dns_servers`, private addresses allowed
/// or not. The IANA bootstrap points at the discard port: only the override
/// is ever asked.
pub fn guarded_rdap_checker(
    base: &str,
    timeout: Duration,
    dns_servers: Vec<SocketAddr>,
    allow_private: bool,
) -> RdapChecker {
    RdapChecker::new(RdapSettings {
        bootstrap_url: Url::parse("http://127.0.0.1:9/dns.json").expect("URL"),
        overrides: [("test".to_owned(), Url::parse(base).expect("URL"))]
            .into_iter()
            .collect(),
        timeout,
        rate_limit: rate_limit(10_000),
        dns_servers,
        allow_private,
        weak_404_tlds: Vec::new(),
    })
    .expect("RDAP checker")
}
