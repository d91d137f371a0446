//! `status.health` of a `MonitoredDomain`: what health mode found, as the
//! status shows it. The pure evaluation that fills it in is
//! [`crate::health::evaluate`]; these are only the CRD-facing types, so the
//! resource does not depend on the health logic.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `status.health`: what health mode found.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthStatus {
    /// The registration as the registry (RDAP, else WHOIS) last showed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration: Option<RegistrationView>,
    /// The registry lock, from the registration's statuses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock: Option<LockView>,
    /// The name servers at the parent, the registry and the domain's own
    /// servers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delegation: Option<DelegationView>,
    /// DNSSEC (with `spec.health.dnssec` other than `Ignore`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dnssec: Option<DnssecView>,
}

/// The registration as the registry shows it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegistrationView {
    /// The sponsoring registrar.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registrar: Option<String>,
    /// When the registration expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Time>,
    /// The EPP statuses, sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub statuses: Vec<String>,
    /// The name servers at the registry, lower case without the trailing
    /// dot, sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nameservers: Vec<String>,
}

/// The lock statuses of a registration.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LockView {
    /// All three `server*Prohibited` statuses are set.
    pub locked: bool,
    /// The `server*Prohibited` statuses that are missing for a registry lock.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
    /// The `client*Prohibited` statuses that are set (the registrar's lock;
    /// not a registry lock).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub client: Vec<String>,
}

/// The name servers of a domain as each party sees them. Names are lower
/// case without the trailing dot.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DelegationView {
    /// The NS set in the parent zone (the TLD's authoritative servers).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parent: Vec<String>,
    /// The name servers of the registry's object (RDAP, else WHOIS).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub registry: Vec<String>,
    /// Each of the domain's own servers, asked directly.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub child: Vec<ChildView>,
    /// Where the views differ from each other or from
    /// `expectedNameservers`, one sentence each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drift: Vec<String>,
    /// Listed servers that did not answer, or answered without authority.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lame: Vec<String>,
}

/// What one of the domain's own servers answered.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChildView {
    /// The server's host name.
    pub server: String,
    /// It answered.
    pub answered: bool,
    /// It answered with authority (the AA bit).
    pub authoritative: bool,
    /// The NS set it serves at the zone apex.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nameservers: Vec<String>,
}

/// DNSSEC of the domain.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DnssecView {
    /// The parent publishes a DS record for the domain.
    pub ds_at_parent: bool,
    /// The domain's servers publish a DNSKEY.
    pub dnskey_at_child: bool,
    /// A DS matches a DNSKEY.
    pub matched: bool,
    /// When the earliest signature of the checked records expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature_expires_at: Option<Time>,
    /// The chain of trust validates.
    pub valid: bool,
    /// What is wrong, when something is, naming the server and the key
    /// tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// The finding in one word, as the `DNSSECValid` condition's reason:
    /// `Valid`, `Unsigned`, `NotDelegatedSecurely`, `MissingDNSKEY`,
    /// `DSMismatch`, `SignatureExpired`, `SignatureNotYetValid`,
    /// `SignatureInvalid`, `SignatureMissing`, `ChainBroken` or
    /// `InsecureParent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}
