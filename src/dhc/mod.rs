//! Domain health checks (`DomainHealthCheck`, short name `dhc`): resolver
//! probes of a domain one owns. Can the resolvers answer, and with the
//! records the owner expects?
//!
//! - [`resource`]: the kind's types, the source of its CRD (kept with the
//!   other custom resources in [`crate::resource::dhc`]).
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
//! - The labels of `dns.lookup.duration`,
//!   `domain_monitor.dhc.propagation.duration` and
//!   `domain_monitor.dhc.canary.delay`, their series budget and the values
//!   of `domain_monitor.dhc.certificate.expiry` belong to the metrics
//!   registry: [`crate::metrics::dhc`].
//! - [`controller`]: the watch, one probing task per check, and the status
//!   writes (only on change).
//!
//! On with `DOMAIN_HEALTH_CHECKS=true` (the chart's
//! `config.domainHealthChecks`, which also grants the rights).

pub mod canary;
pub mod certificate;
pub mod controller;
pub mod evaluate;
pub mod probe;
pub mod propagation;
mod serials;
pub mod tls;

pub use controller::{Settings, run};

/// Resolvers are settings (`DHC_RESOLVERS`) as well as spec entries: their
/// type and its parser live with the configuration.
pub use crate::config::{NamedResolver, parse_resolver_address};
