//! The `DomainHealthCheck` custom resource (short name `dhc`): which records
//! of a domain must resolve, at which resolvers, to what.
//!
//! These types are the source of truth for `crds/domainhealthcheck.yaml`:
//! `domain-monitor crd --kind domain-health-check` prints the YAML generated
//! from them and a test fails when the committed file drifts.
//!
//! Nothing volatile is in the status (no latencies, no "checked at"): it
//! is written only when a settled result changes. Latencies go to the
//! `dns.lookup.duration` metric.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, CustomResourceExt, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Probes of a domain one owns: each record asked at each resolver every
/// interval, its answers compared with what is expected.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "domainmonitor.io",
    version = "v1alpha1",
    kind = "DomainHealthCheck",
    plural = "domainhealthchecks",
    singular = "domainhealthcheck",
    shortname = "dhc",
    namespaced,
    doc = "Resolver probes of a domain one owns: do the resolvers answer, and with the expected records?",
    status = "DomainHealthCheckStatus",
    printcolumn = r#"{"name":"Domain","type":"string","jsonPath":".status.domain"}"#,
    printcolumn = r#"{"name":"Resolving","type":"string","jsonPath":".status.conditions[?(@.type==\"Resolving\")].status","description":"True when every resolver answers every record (NOERROR)."}"#,
    printcolumn = r#"{"name":"Answers","type":"string","jsonPath":".status.conditions[?(@.type==\"AnswersMatch\")].status","description":"True when every answer meets the records' expectations."}"#,
    printcolumn = r#"{"name":"Converged","type":"string","jsonPath":".status.conditions[?(@.type==\"Converged\")].status","description":"True when every authoritative server and resolver serve the same SOA serial."}"#,
    printcolumn = r#"{"name":"Certificate","type":"string","priority":1,"jsonPath":".status.conditions[?(@.type==\"CertificateValid\")].reason","description":"Valid, or why a spec.tls certificate is not (Expired, HostnameMismatch, UntrustedChain, ...)."}"#,
    printcolumn = r#"{"name":"Reason","type":"string","priority":1,"jsonPath":".status.conditions[?(@.type==\"AnswersMatch\")].reason"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[x_kube(
    validation = Rule::new("has(self.domain) != has(self.domainRef)").message("set exactly one of domain (a name such as example.com) or domainRef (the name of a MonitoredDomain in this namespace)")
)]
#[serde(rename_all = "camelCase")]
pub struct DomainHealthCheckSpec {
    /// The domain (zone) the records belong to, such as `example.com`.
    /// Either this or `domainRef`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 3, max = 254))]
    #[x_kube(
        validation = Rule::new("!self.matches('[\\\\s/:@?#]')").message("domain must be a bare name such as example.com: no white space, scheme, path, port or e-mail user"),
        validation = Rule::new("self.matches('^[^.]+[.][^.]+') && !self.contains('..')").message("domain needs at least two labels, such as example.com, and no empty labels")
    )]
    pub domain: Option<String>,

    /// The name of a `MonitoredDomain` in the same namespace whose
    /// `spec.domain` is the domain. Either this or `domain`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub domain_ref: Option<String>,

    /// The records to ask, each at every resolver.
    #[schemars(length(min = 1, max = 32))]
    pub records: Vec<RecordProbe>,

    /// The recursive resolvers to ask. Empty: the operator's default set
    /// (`DHC_RESOLVERS`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 8))]
    #[x_kube(
        validation = Rule::new("self.all(r, self.exists_one(o, o.name == r.name))").message("resolvers[].name must be unique")
    )]
    pub resolvers: Vec<ResolverSpec>,

    /// TLS endpoints whose certificates are checked every interval: a TLS
    /// handshake with each, the chain verified against the system roots
    /// and the operator's `DHC_CA_BUNDLE`, the leaf's names against the
    /// server name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub tls: Vec<TlsTarget>,

    /// How close a certificate's expiry (`notAfter`) may come before
    /// `CertificateExpiring` turns `True`, as a duration such as `14d`,
    /// `30d` or `336h` (default `14d`): numbers of at most 9 digits, each
    /// followed by a unit (d, h, m, s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32))]
    #[x_kube(
        validation = Rule::new(super::WARNING_DURATION_RULE).message("certificateWarning must be a duration such as 14d, 30d or 336h (units d, h, m, s; at most 9 digits a number)")
    )]
    pub certificate_warning: Option<String>,

    /// How often every record is asked at every resolver, as a duration
    /// such as `30s`, `5m` or `1h` (default `1m`, at least `10s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32))]
    #[x_kube(
        validation = Rule::new(super::INTERVAL_DURATION_RULE).message("interval must be a duration such as 30s, 5m or 1h"),
        validation = Rule::new(format!("!{} || duration(self) >= duration('10s')", super::INTERVAL_DURATION_RULE)).message("interval must be at least 10s")
    )]
    pub interval: Option<String>,

    /// Consecutive failed probes (SERVFAIL, REFUSED, timeout) of one record
    /// at one resolver before the status shows the failure (default 3):
    /// a single transient failure does not flip a condition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 20))]
    pub failure_threshold: Option<u32>,

    /// A canary TXT record the owner (or external-dns) rewrites with its
    /// publish time as `t=<Unix seconds>`, to measure publish →
    /// resolvable end to end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<CanarySpec>,
}

/// A canary TXT record: whoever publishes DNS changes rewrites it with the
/// time of publication, `t=<Unix seconds>` (such as `t=1764600000`; other
/// fields may follow after white space or `;`, such as `t=1764600000
/// by=external-dns`). Each round the operator reads it at the zone's
/// authoritative servers and at each resolver, and times how long a new
/// value takes to become resolvable.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CanarySpec {
    /// The TXT record's owner name relative to the domain, such as
    /// `_canary` (for `_canary.<domain>`); `@` for the domain itself.
    #[schemars(length(min = 1, max = 253))]
    #[x_kube(
        validation = Rule::new("self == '@' || self.matches('^[A-Za-z0-9_*]([A-Za-z0-9_-]*[A-Za-z0-9_])?([.][A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?)*$')").message("canary.name must be @ (the domain itself) or a name relative to the domain such as _canary: no trailing dot, no white space")
    )]
    pub name: String,
}

/// One record to ask.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RecordProbe {
    /// The owner name relative to the domain: `@` for the domain itself,
    /// `www` for `www.<domain>`.
    #[schemars(length(min = 1, max = 253))]
    #[x_kube(
        validation = Rule::new("self == '@' || self.matches('^[A-Za-z0-9_*]([A-Za-z0-9_-]*[A-Za-z0-9_])?([.][A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?)*$')").message("name must be @ (the domain itself) or a name relative to the domain such as www or _dmarc: no trailing dot, no white space")
    )]
    pub name: String,

    /// The record type asked.
    #[serde(rename = "type")]
    pub record_type: ProbeRecordType,

    /// What the answer must hold: each expectation must be met by at least
    /// one record of the answer. Empty: any non-empty answer matches.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub expect: Vec<Expectation>,
}

/// One expectation about an answer, compared with each record's data in
/// presentation form (RFC 1035 §5.1) without the final dot of names and
/// without the quotes of TXT strings (the strings of one TXT record are
/// joined): `192.0.2.1`, `10 mx.example.com`, `v=spf1 -all`. Exactly one of
/// `exact`, `contains` or `regex`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[x_kube(
    validation = Rule::new("(has(self.exact) ? 1 : 0) + (has(self.contains) ? 1 : 0) + (has(self.regex) ? 1 : 0) == 1").message("each expect entry sets exactly one of exact, contains or regex")
)]
#[serde(rename_all = "camelCase")]
pub struct Expectation {
    /// A record's data equals this (names compared without case).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub exact: Option<String>,
    /// A record's data contains this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub contains: Option<String>,
    /// A record's data matches this regular expression (Rust `regex`
    /// syntax; anchor it with `^…$` to match the whole data).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub regex: Option<String>,
}

/// The record types a probe can ask (RFC 1035, RFC 3596, RFC 8659).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[allow(clippy::upper_case_acronyms)]
pub enum ProbeRecordType {
    /// IPv4 address.
    A,
    /// IPv6 address.
    AAAA,
    /// Alias.
    CNAME,
    /// Mail exchange.
    MX,
    /// Text.
    TXT,
    /// Name server.
    NS,
    /// Start of authority.
    SOA,
    /// Certification authority authorization.
    CAA,
}

impl ProbeRecordType {
    /// Every type, in declaration order.
    pub const ALL: [Self; 8] = [
        Self::A,
        Self::AAAA,
        Self::CNAME,
        Self::MX,
        Self::TXT,
        Self::NS,
        Self::SOA,
        Self::CAA,
    ];

    /// The mnemonic (`A`, `AAAA`, …), as in the spec and in metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::A => "A",
            Self::AAAA => "AAAA",
            Self::CNAME => "CNAME",
            Self::MX => "MX",
            Self::TXT => "TXT",
            Self::NS => "NS",
            Self::SOA => "SOA",
            Self::CAA => "CAA",
        }
    }
}

/// A recursive resolver to ask.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "camelCase")]
pub struct ResolverSpec {
    /// A short name for status and metrics, such as `google` or `office`.
    #[schemars(length(min = 1, max = 63))]
    #[x_kube(
        validation = Rule::new("self.matches('^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$')").message("resolvers[].name must be a short label of letters, digits, '.', '_' or '-', such as google or office")
    )]
    pub name: String,
    /// Its IP address, with an optional port: `192.0.2.53`, `192.0.2.53:5353`,
    /// `2001:db8::53` or `[2001:db8::53]:5353` (default port 53).
    #[schemars(length(min = 2, max = 64))]
    #[x_kube(
        validation = Rule::new("isIP(self) || (self.matches('^[0-9.]+:[0-9]+$') && isIP(self.split(':')[0])) || (self.matches('^\\\\[[0-9A-Fa-f:.]+\\\\]:[0-9]+$'))").message("resolvers[].address must be an IP address with an optional port, such as 192.0.2.53, 192.0.2.53:5353 or [2001:db8::53]:5353")
    )]
    pub address: String,
}

/// A TLS endpoint.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TlsTarget {
    /// The host to connect to: a DNS name (resolved by the operator's
    /// system resolver) or an IP address.
    #[schemars(length(min = 1, max = 253))]
    #[x_kube(
        validation = Rule::new("!self.matches('[\\\\s/@?#]')").message("tls[].host must be a bare host name or IP address such as www.example.com: no scheme, path or white space; the port goes in tls[].port")
    )]
    pub host: String,
    /// The TCP port (default 443).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<u16>,
    /// The server name sent in the TLS handshake (default: `host`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub sni: Option<String>,
}

/// What the probes found, settled: a failure shows only once it lasted
/// `failureThreshold` probes. Written only through the status subresource,
/// and only when it changes.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DomainHealthCheckStatus {
    /// The domain probed (lower-case A-label).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// Per resolver, the settled result of each record.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resolvers: Vec<ResolverStatus>,
    /// The zone's SOA serial at its authoritative servers and at each
    /// resolver, and how long the last serial change took to reach them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub propagation: Option<PropagationStatus>,
    /// Each `spec.tls` endpoint's certificate, settled, in the order of
    /// the spec.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certificates: Vec<CertificateStatus>,
    /// The canary TXT record's publish time where it is published and
    /// where it is resolved, and how long each resolver took to serve it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<CanaryStatus>,
    /// `Resolving`, `AnswersMatch` and `Converged`; with `spec.tls`,
    /// `CertificateValid` and `CertificateExpiring` too.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// One resolver's settled results.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResolverStatus {
    /// Its name from the spec (or the default set).
    pub name: String,
    /// The address asked (`ip:port`).
    pub address: String,
    /// Each record's result, in the order of `spec.records`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub records: Vec<RecordResult>,
}

/// The SOA serial of the domain (RFC 1035 §3.3.13) where it is published
/// and where it is resolved.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PropagationStatus {
    /// The highest serial an authoritative server serves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<u32>,
    /// Each authoritative server (the domain's NS set, as the first
    /// answering resolver gives it) and the serial it serves; none when it
    /// did not answer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authoritative: Vec<ServerSerial>,
    /// Each resolver and the serial it serves.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resolvers: Vec<ResolverSerial>,
    /// The latest serial change seen, and when each resolver served it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_change: Option<SerialChange>,
}

/// One authoritative server's serial.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServerSerial {
    /// Its host name, from the NS set.
    pub server: String,
    /// The address asked, one of the host's `A` or `AAAA` addresses with
    /// the port: `192.0.2.53:53`, `[2001:db8::53]:53`. A host with several
    /// addresses has one entry per address.
    pub address: String,
    /// The serial it serves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<u32>,
}

/// One resolver's serial.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResolverSerial {
    /// Its name.
    pub name: String,
    /// The serial it serves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<u32>,
}

/// A serial change and its way to the resolvers.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SerialChange {
    /// The new serial.
    pub serial: u32,
    /// The probe round that first saw it at an authoritative server.
    pub detected_at: Time,
    /// Per resolver, when it first served it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resolvers: Vec<Convergence>,
}

/// When one resolver first served a new serial.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Convergence {
    /// The resolver's name.
    pub name: String,
    /// The probe round in which it first served the serial; absent while it
    /// serves an older one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub converged_at: Option<Time>,
    /// `convergedAt - detectedAt` in whole seconds (precision: one
    /// `interval`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds: Option<u64>,
}

/// What the canary TXT record (`spec.canary`) says where it is published
/// and where it is resolved. Publish times only move forward: a server or
/// resolver that does not answer, or serves no valid `t=` value, or an
/// older one, keeps what it showed.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CanaryStatus {
    /// The canary's name (fully qualified, without the final dot).
    pub name: String,
    /// The newest publish time (the `t=` value) an authoritative server
    /// serves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_at: Option<Time>,
    /// The probe round that first saw `publishedAt` at an authoritative
    /// server; absent when it was there already at the check's first round.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authoritative_at: Option<Time>,
    /// Each resolver: the newest publish time it served, and when.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resolvers: Vec<CanaryResolver>,
}

/// The newest canary value one resolver served.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CanaryResolver {
    /// The resolver's name.
    pub name: String,
    /// The newest publish time it served.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_at: Option<Time>,
    /// The probe round in which it first served `publishedAt`; absent when
    /// it served it already at its first round (a baseline, not a change).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolvable_at: Option<Time>,
    /// `resolvableAt - publishedAt` in whole seconds: publish → resolvable
    /// (precision: one `interval`; 0 when the publisher's clock is ahead).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_seconds: Option<u64>,
    /// `resolvableAt - authoritativeAt` in whole seconds: how long after
    /// the authoritative servers first served the value this resolver did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since_authoritative_seconds: Option<u64>,
}

/// The settled result of one record at one resolver.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecordResult {
    /// The name asked (fully qualified, without the final dot).
    pub name: String,
    /// The type asked.
    #[serde(rename = "type")]
    pub record_type: ProbeRecordType,
    /// How the resolver answered.
    pub rcode: LookupOutcome,
    /// The records of the asked type in the answer, in presentation form,
    /// sorted (at most 16).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub answers: Vec<String>,
    /// Whether the answer met every expectation.
    pub matches: bool,
}

/// How a resolver answered one query: its response code (RFC 1035 §4.1.1,
/// RFC 6895 §2.3), or why there was none.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[allow(clippy::upper_case_acronyms)]
pub enum LookupOutcome {
    /// An answer (RCODE 0), possibly empty.
    NOERROR,
    /// The name does not exist (RCODE 3).
    NXDOMAIN,
    /// The resolver failed (RCODE 2): often a broken zone or DNSSEC.
    SERVFAIL,
    /// The resolver refused to answer (RCODE 5): an ACL.
    REFUSED,
    /// Another response code.
    OtherRcode,
    /// No answer before the timeout.
    Timeout,
    /// The query could not be sent (no socket, no route).
    Error,
}

impl LookupOutcome {
    /// Every outcome, in declaration order.
    pub const ALL: [Self; 7] = [
        Self::NOERROR,
        Self::NXDOMAIN,
        Self::SERVFAIL,
        Self::REFUSED,
        Self::OtherRcode,
        Self::Timeout,
        Self::Error,
    ];

    /// The word in the status (`NOERROR`, `Timeout`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NOERROR => "NOERROR",
            Self::NXDOMAIN => "NXDOMAIN",
            Self::SERVFAIL => "SERVFAIL",
            Self::REFUSED => "REFUSED",
            Self::OtherRcode => "OtherRcode",
            Self::Timeout => "Timeout",
            Self::Error => "Error",
        }
    }

    /// The `outcome` label of `dns.lookup.duration` (`noerror`,
    /// `nxdomain`, `servfail`, `refused`, `other_rcode`, `timeout`,
    /// `error`).
    pub fn label(self) -> &'static str {
        match self {
            Self::NOERROR => "noerror",
            Self::NXDOMAIN => "nxdomain",
            Self::SERVFAIL => "servfail",
            Self::REFUSED => "refused",
            Self::OtherRcode => "other_rcode",
            Self::Timeout => "timeout",
            Self::Error => "error",
        }
    }

    /// Whether this is a resolver failure that may be transient (SERVFAIL,
    /// REFUSED, another RCODE, timeout, error), held back until
    /// `failureThreshold` probes in a row. NOERROR and NXDOMAIN are
    /// answers and show at once.
    pub fn is_failure(self) -> bool {
        !matches!(self, Self::NOERROR | Self::NXDOMAIN)
    }
}

/// What one TLS endpoint's certificate was found to be: the reason of the
/// `CertificateValid` condition when it is the first endpoint not valid.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum CertificateVerdict {
    /// The chain verifies to a trusted root, every certificate is within
    /// its validity period, and the leaf's names cover the server name.
    Valid,
    /// The leaf (or another certificate of the chain) is past `notAfter`.
    Expired,
    /// The leaf (or another certificate of the chain) is before
    /// `notBefore`.
    NotYetValid,
    /// The leaf's subject alternative names do not cover the server name.
    HostnameMismatch,
    /// The chain does not lead to a trusted root (system roots or
    /// `DHC_CA_BUNDLE`), or a certificate of it is revoked or unusable.
    UntrustedChain,
    /// The leaf cannot be parsed or is not valid for a TLS server.
    InvalidCertificate,
    /// No TLS session: no address, no TCP connection, or the handshake
    /// failed before a certificate was seen.
    HandshakeFailed,
}

impl CertificateVerdict {
    /// Every verdict, in declaration order.
    pub const ALL: [Self; 7] = [
        Self::Valid,
        Self::Expired,
        Self::NotYetValid,
        Self::HostnameMismatch,
        Self::UntrustedChain,
        Self::InvalidCertificate,
        Self::HandshakeFailed,
    ];

    /// The word in the status and in condition reasons.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Valid => "Valid",
            Self::Expired => "Expired",
            Self::NotYetValid => "NotYetValid",
            Self::HostnameMismatch => "HostnameMismatch",
            Self::UntrustedChain => "UntrustedChain",
            Self::InvalidCertificate => "InvalidCertificate",
            Self::HandshakeFailed => "HandshakeFailed",
        }
    }
}

/// The settled certificate of one `spec.tls` endpoint. Nothing volatile
/// (no handshake time, no countdown): it changes when the certificate or
/// its verdict does.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CertificateStatus {
    /// The host connected to.
    pub host: String,
    /// The TCP port.
    pub port: u16,
    /// The server name sent (SNI) and checked against the leaf's names.
    pub server_name: String,
    /// What the certificate was found to be.
    pub verdict: CertificateVerdict,
    /// The leaf's `notAfter` (RFC 5280 §4.1.2.5); absent when no
    /// certificate was seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_after: Option<Time>,
    /// The leaf's issuer, as an RFC 4514 distinguished name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// The leaf's DNS names (subject alternative names, RFC 5280
    /// §4.2.1.6), sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_names: Vec<String>,
    /// What went wrong, for verdicts other than `Valid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// A warning that does not make the certificate invalid: the server
    /// does not send the intermediate certificate, which clients that
    /// follow the leaf's AIA `caIssuers` URL (browsers) fetch and others
    /// (curl, most libraries) do not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The CRD as YAML, exactly as committed in `crds/domainhealthcheck.yaml`.
pub fn crd_yaml() -> Result<String, serde_yaml::Error> {
    serde_yaml::to_string(&DomainHealthCheck::crd())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_crd_matches_the_types() {
        let committed = include_str!("../../crds/domainhealthcheck.yaml");
        assert_eq!(
            crd_yaml().unwrap(),
            committed,
            "crds/domainhealthcheck.yaml is stale: run `just crd` and commit the result"
        );
    }

    #[test]
    fn crd_has_the_names_users_type() {
        let crd = DomainHealthCheck::crd();
        assert_eq!(crd.spec.group, crate::resource::GROUP);
        assert_eq!(crd.spec.names.plural, "domainhealthchecks");
        assert_eq!(crd.spec.names.short_names, Some(vec!["dhc".to_owned()]));
        assert_eq!(crd.spec.scope, "Namespaced");
        let version = &crd.spec.versions[0];
        assert!(version.subresources.as_ref().unwrap().status.is_some());
        let columns: Vec<_> = version
            .additional_printer_columns
            .as_ref()
            .unwrap()
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(
            columns,
            [
                "Domain",
                "Resolving",
                "Answers",
                "Converged",
                "Certificate",
                "Reason",
                "Age"
            ]
        );
    }

    #[test]
    fn record_type_is_the_mnemonic_on_the_wire() {
        let probe: RecordProbe =
            serde_json::from_value(serde_json::json!({"name": "@", "type": "AAAA"})).unwrap();
        assert_eq!(probe.record_type, ProbeRecordType::AAAA);
        for t in ProbeRecordType::ALL {
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
        }
        for o in LookupOutcome::ALL {
            assert_eq!(serde_json::to_value(o).unwrap(), o.as_str());
        }
        for v in CertificateVerdict::ALL {
            assert_eq!(serde_json::to_value(v).unwrap(), v.as_str());
        }
    }
}
