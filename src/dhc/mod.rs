//! Domain health checks (`DomainHealthCheck`, short name `dhc`): resolver
//! probes of a domain one owns. Can the resolvers answer, and with the
//! records the owner expects?
//!
//! - [`resource`]: the kind's types, the source of its CRD.
//! - [`probe`]: one answer turned into a result and matched against the
//!   expectations (pure).
//! - [`evaluate`]: results settled against `failureThreshold`, and the
//!   `Resolving` and `AnswersMatch` conditions (pure).
//! - [`propagation`]: SOA serials folded into `status.propagation`, the
//!   convergence time of each resolver after a serial change, and the
//!   `Converged` condition (pure); `serials.rs` asks the serials.
//! - [`tls`]: the certificate of one `spec.tls` endpoint: a TLS handshake,
//!   the chain verified against the system roots and `DHC_CA_BUNDLE`, the
//!   leaf's expiry, issuer and names.
//! - [`certificate`]: certificates settled against `failureThreshold`, and
//!   the `CertificateValid` and `CertificateExpiring` conditions (pure).
//! - [`canary`]: the canary TXT record's publish time read at the
//!   authoritative servers and at each resolver, and the publish →
//!   resolvable delay per resolver (`status.canary`).
//! - [`metrics`]: the labels of `dns.lookup.duration`,
//!   `domain_monitor.dhc.propagation.duration` and
//!   `domain_monitor.dhc.canary.delay`, and their series budget; the
//!   values of `domain_monitor.dhc.certificate.expiry`.
//! - [`controller`]: the watch, one probing task per check, and the status
//!   writes (only on change).
//!
//! On with `DOMAIN_HEALTH_CHECKS=true` (the chart's
//! `config.domainHealthChecks`, which also grants the rights).

pub mod canary;
pub mod certificate;
pub mod controller;
pub mod evaluate;
pub mod metrics;
pub mod probe;
pub mod propagation;
pub mod resource;
mod serials;
pub mod tls;

use std::{net::SocketAddr, str::FromStr};

pub use controller::{Settings, run};

/// A recursive resolver with its name: one entry of `DHC_RESOLVERS`
/// (`name=address`), or of a check's `spec.resolvers`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedResolver {
    /// The name in status and metrics.
    pub name: String,
    /// Its address and port.
    pub address: SocketAddr,
}

impl FromStr for NamedResolver {
    type Err = String;

    /// `name=ip`, `name=ip:port` or `name=[v6]:port`.
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let (name, address) = raw.trim().split_once('=').ok_or_else(|| {
            format!(
                "expected name=address such as google=8.8.8.8 or local=127.0.0.1:5353, not {raw:?}"
            )
        })?;
        let valid_name = !name.is_empty()
            && name.len() <= 63
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if !valid_name {
            return Err(format!(
                "resolver name {name:?} must be a short label of letters, digits, '.', '_' or '-'"
            ));
        }
        Ok(Self {
            name: name.to_owned(),
            address: parse_resolver_address(address)?,
        })
    }
}

/// A resolver address: an IP address with an optional port (default 53),
/// `[v6]:port` for IPv6 with a port.
///
/// # Errors
/// A message quoting the address and the accepted forms.
pub fn parse_resolver_address(raw: &str) -> Result<SocketAddr, String> {
    let raw = raw.trim();
    raw.parse::<SocketAddr>()
        .or_else(|_| raw.parse::<std::net::IpAddr>().map(|ip| SocketAddr::new(ip, 53)))
        .map_err(|_| {
            format!("resolver address {raw:?} must be an IP address with an optional port, such as 192.0.2.53, 192.0.2.53:5353 or [2001:db8::53]:5353")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_resolvers_parse_with_and_without_port() {
        let google: NamedResolver = "google=8.8.8.8".parse().unwrap();
        assert_eq!(google.address, "8.8.8.8:53".parse().unwrap());
        let local: NamedResolver = "local=[::1]:5353".parse().unwrap();
        assert_eq!(local.address, "[::1]:5353".parse().unwrap());
        assert!(
            "8.8.8.8"
                .parse::<NamedResolver>()
                .unwrap_err()
                .contains("name=address")
        );
        assert!(
            "x=localhost"
                .parse::<NamedResolver>()
                .unwrap_err()
                .contains("IP address")
        );
    }
}
