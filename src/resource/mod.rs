//! The custom resources: `MonitoredDomain` here, with `status.health` in
//! [`health`], and `DomainHealthCheck` in [`dhc`].
//!
//! These types are the source of truth for `crds/monitoreddomain.yaml` and
//! `crds/domainhealthcheck.yaml`: `domain-monitor crd` prints the YAML
//! generated from them and a test fails when a committed file drifts. They
//! are data (fields, words, predicates) and import nothing from the rest of
//! the crate but [`crate::words`](mod@crate::words), so every other module may read them.

pub mod dhc;
pub mod health;

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, CustomResourceExt, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The field manager of every status write the operator makes, to either
/// kind (server-side apply and merge patches alike).
pub const FIELD_MANAGER: &str = "domain-monitor";

/// The CEL test of a warning period as users write it (`expiryWarning`,
/// `certificateWarning`): numbers of at most 9 digits, each followed by a
/// unit, d, h, m or s (`30d`, `720h`, `14d12h`).
pub const WARNING_DURATION_RULE: &str = "self.matches('^([0-9]{1,9}(d|h|m|s))+$')";

/// The CEL test of an interval (`checkInterval`, `interval`): CEL's own
/// duration syntax, numbers each followed by ms, s, m or h (`90s`, `1h30m`),
/// so that `duration(self)` reads it.
pub const INTERVAL_DURATION_RULE: &str = "self.matches('^([0-9]+(ms|s|m|h))+$')";

/// API group of every resource the operator owns.
pub const GROUP: &str = "domainmonitor.io";
/// Label that marks resources created by the domain list sync.
pub const SOURCE_LABEL: &str = "domainmonitor.io/source";
/// Value of [`SOURCE_LABEL`] on synced resources.
pub const SOURCE_API: &str = "api";

/// What the user asks the operator to watch.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "domainmonitor.io",
    version = "v1alpha1",
    kind = "MonitoredDomain",
    plural = "monitoreddomains",
    singular = "monitoreddomain",
    shortname = "md",
    namespaced,
    doc = "A domain name watched around the clock until it can be registered.",
    status = "MonitoredDomainStatus",
    printcolumn = r#"{"name":"Domain","type":"string","jsonPath":".spec.domain"}"#,
    printcolumn = r#"{"name":"Priority","type":"boolean","jsonPath":".spec.priority"}"#,
    printcolumn = r#"{"name":"Availability","type":"string","jsonPath":".status.availability"}"#,
    printcolumn = r#"{"name":"Health","type":"string","jsonPath":".status.conditions[?(@.type==\"Healthy\")].status","description":"The Healthy condition of health mode (spec.health): True, False or Unknown; empty when health mode is off."}"#,
    printcolumn = r#"{"name":"Confidence","type":"number","format":"float","jsonPath":".status.confidence"}"#,
    printcolumn = r#"{"name":"Expires","type":"string","jsonPath":".status.registration.expiresAt"}"#,
    printcolumn = r#"{"name":"Verified","type":"date","jsonPath":".status.lastCheckedAt","description":"When a check last confirmed the verdict in this status. Checks that change nothing are not written, so this is at most STATUS_HEARTBEAT (default 24h) old while the operator runs; the operator's /domains endpoint and metrics give the latest check."}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct MonitoredDomainSpec {
    /// The domain name to watch. Unicode (IDN) and mixed case are accepted; the
    /// operator checks and reports the lower-case A-label (punycode) form.
    #[schemars(length(min = 3, max = 254))]
    #[x_kube(
        validation = Rule::new("!self.matches('[\\\\s/:@?#]')").message("domain must be a bare name such as example.com: no white space, scheme, path, port or e-mail user"),
        validation = Rule::new("!self.startsWith('.') && !self.contains('..')").message("domain must not contain empty labels (a leading dot or two dots in a row)"),
        validation = Rule::new("self.matches('^[^.]+[.][^.]+')").message("domain needs at least two labels, such as example.com")
    )]
    pub domain: String,

    /// Priority domains are checked on the (shorter) priority interval.
    #[serde(default)]
    pub priority: bool,

    /// Overrides the check interval for this domain, as a duration such as
    /// `90s`, `15m` or `1h`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32))]
    #[x_kube(
        validation = Rule::new(INTERVAL_DURATION_RULE).message("checkInterval must be a duration such as 90s, 15m or 1h"),
        validation = Rule::new(format!("!{INTERVAL_DURATION_RULE} || duration(self) >= duration('10s')")).message("checkInterval must be at least 10s")
    )]
    pub check_interval: Option<String>,

    /// Health checks for a domain you own: registration, registry lock,
    /// expiry, delegation and DNSSEC (see `status.health`). Absent: only
    /// availability is watched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<HealthSpec>,
}

/// What health mode checks, and what it expects (`spec.health`).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HealthSpec {
    /// The name servers the domain should be delegated to (host names;
    /// case and a trailing dot do not matter). Empty: the parent, registry
    /// and child views are only compared with each other.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16), inner(length(min = 1, max = 253)))]
    #[x_kube(
        validation = Rule::new("self.all(n, n.matches('^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?([.][A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)+[.]?$') && !n.matches('[.][0-9]+[.]?$'))").message("expectedNameservers must be host names such as ns1.example.net: no scheme, port, address or white space")
    )]
    pub expected_nameservers: Vec<String>,

    /// Whether a registry lock (`serverTransferProhibited`,
    /// `serverUpdateProhibited` and `serverDeleteProhibited`) is required:
    /// `Required` makes its absence unhealthy; `Ignore` (the default) only
    /// reports it.
    #[serde(default)]
    pub registry_lock: RegistryLockPolicy,

    /// Whether the domain must be signed with DNSSEC: `Required`,
    /// `Optional` (checked when signed) or `Ignore` (the default).
    #[serde(default)]
    pub dnssec: DnssecPolicy,

    /// How long before expiry `ExpiringSoon` turns true, as a duration such
    /// as `30d`, `720h` or `14d12h` (default `30d`): numbers of at most 9
    /// digits, each followed by a unit (d, h, m, s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32))]
    #[x_kube(
        validation = Rule::new(WARNING_DURATION_RULE).message("expiryWarning must be a duration such as 30d, 720h or 14d12h (units d, h, m, s; at most 9 digits a number)")
    )]
    pub expiry_warning: Option<String>,

    /// A short label carried into the health metrics and alerts (e.g.
    /// `critical`, `tier-1`), so that alerts can be routed by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32))]
    #[x_kube(
        validation = Rule::new("self.matches('^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$')").message("criticality must be a short label of letters, digits, '.', '_' or '-' (at most 32), starting and ending with a letter or digit, such as critical or tier-1")
    )]
    pub criticality: Option<String>,
}

impl HealthSpec {
    /// The settings with the name servers normalised (lower case, no
    /// trailing dot, sorted, each once), after the rules the CRD's schema
    /// states: an error says what is wrong, in the schema's words. Used
    /// where a spec comes from elsewhere than the API server (the domain
    /// list sync).
    pub fn validated(mut self) -> Result<Self, String> {
        let mut nameservers = std::collections::BTreeSet::new();
        for name in &self.expected_nameservers {
            let normal = name.trim_end_matches('.').to_ascii_lowercase();
            let label_ok = |l: &str| {
                !l.is_empty()
                    && l.len() <= 63
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                    && !l.starts_with('-')
                    && !l.ends_with('-')
            };
            // An all-numeric last label is an IPv4 address, not a host
            // name (no TLD is all-numeric, RFC 3696 §2).
            let numeric_tld = normal
                .rsplit('.')
                .next()
                .is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit()));
            if normal.len() > 253
                || normal.split('.').count() < 2
                || !normal.split('.').all(label_ok)
                || numeric_tld
            {
                return Err(format!(
                    "expectedNameservers must be host names such as ns1.example.net, not {name:?}"
                ));
            }
            nameservers.insert(normal);
        }
        if nameservers.len() > 16 {
            return Err("expectedNameservers lists at most 16 servers".to_owned());
        }
        self.expected_nameservers = nameservers.into_iter().collect();
        if let Some(warning) = &self.expiry_warning {
            let form = warning.len() <= 32
                && warning.ends_with(['d', 'h', 'm', 's'])
                && warning
                    .chars()
                    .all(|c| c.is_ascii_digit() || matches!(c, 'd' | 'h' | 'm' | 's'))
                && warning.starts_with(|c: char| c.is_ascii_digit())
                && warning
                    .split(['d', 'h', 'm', 's'])
                    .all(|number| number.len() <= 9);
            if !form || humantime::parse_duration(warning).is_err() {
                return Err(format!(
                    "expiryWarning must be a duration such as 30d, 720h or 14d12h (units d, h, m, s; at most 9 digits a number), not {warning:?}"
                ));
            }
        }
        if let Some(criticality) = &self.criticality {
            let ok = !criticality.is_empty()
                && criticality.len() <= 32
                && criticality
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
                && criticality.starts_with(|c: char| c.is_ascii_alphanumeric())
                && criticality.ends_with(|c: char| c.is_ascii_alphanumeric());
            if !ok {
                return Err(format!(
                    "criticality must be a short label of letters, digits, '.', '_' or '-' (at most 32), starting and ending with a letter or digit, not {criticality:?}"
                ));
            }
        }
        Ok(self)
    }
}

/// Whether a registry lock is required.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum RegistryLockPolicy {
    /// The three `server*Prohibited` statuses must be set.
    Required,
    /// The lock is reported, not required.
    #[default]
    Ignore,
}

impl RegistryLockPolicy {
    /// Every policy, in declaration order.
    pub const ALL: [Self; 2] = [Self::Required, Self::Ignore];

    /// The word in `spec.health.registryLock` (as serialised).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Required => "Required",
            Self::Ignore => "Ignore",
        }
    }
}

crate::words!(RegistryLockPolicy, "registry lock policy");

/// Whether DNSSEC is required.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum DnssecPolicy {
    /// The domain must be signed, with a DS at the parent matching a DNSKEY.
    Required,
    /// When signed, the signatures must validate; unsigned is fine.
    Optional,
    /// DNSSEC is not checked.
    #[default]
    Ignore,
}

impl DnssecPolicy {
    /// Every policy, in declaration order.
    pub const ALL: [Self; 3] = [Self::Required, Self::Optional, Self::Ignore];

    /// The word in `spec.health.dnssec` (as serialised).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Required => "Required",
            Self::Optional => "Optional",
            Self::Ignore => "Ignore",
        }
    }
}

crate::words!(DnssecPolicy, "DNSSEC policy");

/// The verdict on a domain, as `kubectl get md` shows it.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum Availability {
    /// Not checked yet, or the checks were inconclusive.
    #[default]
    Unknown,
    /// Someone holds the name.
    Registered,
    /// The name can be registered now: the evidence reached the
    /// notification threshold (`CONFIDENCE_THRESHOLD`).
    Available,
    /// The registry's answers look free, but not yet with the confidence a
    /// notification needs (a first "not found" awaiting its confirmation over
    /// time, or weak evidence only). Not a promise: do not register on it.
    Unconfirmed,
    /// Expired and in the registry's autoRenew or redemption grace period.
    Expiring,
    /// Scheduled for deletion by the registry (pendingDelete).
    PendingDelete,
    /// Reserved, premium or blocked by the registry or registrar.
    Reserved,
    /// The name in the spec is not a valid domain name.
    Invalid,
    /// The checks failed; see `checks` and the conditions.
    Error,
}

impl Availability {
    /// Every availability, in declaration order.
    pub const ALL: [Self; 9] = [
        Self::Unknown,
        Self::Registered,
        Self::Available,
        Self::Unconfirmed,
        Self::Expiring,
        Self::PendingDelete,
        Self::Reserved,
        Self::Invalid,
        Self::Error,
    ];

    /// The word in the status, on `kubectl get md` and in metrics
    /// (`Available`, `PendingDelete`…: as serialised).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "Unknown",
            Self::Registered => "Registered",
            Self::Available => "Available",
            Self::Unconfirmed => "Unconfirmed",
            Self::Expiring => "Expiring",
            Self::PendingDelete => "PendingDelete",
            Self::Reserved => "Reserved",
            Self::Invalid => "Invalid",
            Self::Error => "Error",
        }
    }
}

crate::words!(Availability, "availability");

impl Availability {
    /// Whether the availability settles the question: anything but
    /// `Unknown`, `Error` and `Invalid` (a verdict that is not conclusive
    /// keeps the last conclusive one in the status).
    pub fn is_conclusive(self) -> bool {
        !matches!(self, Self::Unknown | Self::Error | Self::Invalid)
    }

    /// Whether the name is in a phase of the registry's deletion lifecycle
    /// (`Expiring` or `PendingDelete`): still held, on its way to release.
    pub fn in_lifecycle(self) -> bool {
        matches!(self, Self::Expiring | Self::PendingDelete)
    }

    /// Whether someone holds the name: `Registered`, or in its lifecycle.
    pub fn is_held(self) -> bool {
        self == Self::Registered || self.in_lifecycle()
    }
}

/// Why a status is written (the `reason` of `domain_monitor.status.writes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WriteReason {
    /// The resource's first verdict.
    First,
    /// Its first registration facts, the availability unchanged: the deep
    /// layers catching up after a first pass.
    Facts,
    /// Something visible changed.
    Change,
    /// Nothing changed for `STATUS_HEARTBEAT` (default 24h).
    Refresh,
    /// The notification outbox entry changed.
    Notification,
    /// The name in the spec is not a valid domain name.
    Invalid,
}

impl WriteReason {
    /// Every reason, in declaration order.
    pub const ALL: [Self; 6] = [
        Self::First,
        Self::Facts,
        Self::Change,
        Self::Refresh,
        Self::Notification,
        Self::Invalid,
    ];

    /// The word in logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::First => "first",
            Self::Facts => "facts",
            Self::Change => "change",
            Self::Refresh => "refresh",
            Self::Notification => "notification",
            Self::Invalid => "invalid",
        }
    }
}

/// A top-level field of [`MonitoredDomainStatus`] that a write can change
/// (the `field` of `domain_monitor.status.changes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusField {
    /// `availability`.
    Availability,
    /// `confidence`.
    Confidence,
    /// `lastTransitionAt`.
    LastTransitionAt,
    /// `predictedDropAt`.
    PredictedDropAt,
    /// `observedGeneration`.
    ObservedGeneration,
    /// `domain`.
    Domain,
    /// `checks`.
    Checks,
    /// `registration`.
    Registration,
    /// `conditions`.
    Conditions,
    /// `notification`.
    Notification,
    /// `health`.
    Health,
}

impl StatusField {
    /// The field's name in the status.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Availability => "availability",
            Self::Confidence => "confidence",
            Self::LastTransitionAt => "lastTransitionAt",
            Self::PredictedDropAt => "predictedDropAt",
            Self::ObservedGeneration => "observedGeneration",
            Self::Domain => "domain",
            Self::Checks => "checks",
            Self::Registration => "registration",
            Self::Conditions => "conditions",
            Self::Notification => "notification",
            Self::Health => "health",
        }
    }
}

/// What the operator has learnt about a domain. Written only through the
/// status subresource.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MonitoredDomainStatus {
    /// The normalised A-label that was checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// The current verdict.
    #[serde(default)]
    pub availability: Availability,
    /// How sure the verdict is, from 0.0 to 1.0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub confidence: Option<f64>,
    /// When the check that last confirmed this status finished. A check
    /// that changes nothing visible is not written, so this is at most
    /// `STATUS_HEARTBEAT` (default 24h) old while the operator runs; the
    /// operator's `/domains` and `/domain/{d}` serve the latest check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_checked_at: Option<Time>,
    /// When the next check is due.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_check_at: Option<Time>,
    /// When `availability` last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_at: Option<Time>,
    /// What RDAP or WHOIS revealed about the registration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration: Option<Registration>,
    /// When the registry is expected to release the name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predicted_drop_at: Option<Time>,
    /// The latest result of each checker, keyed by checker name (`dns`, `http`,
    /// `rdap`, `registrar`, `whois`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub checks: BTreeMap<String, CheckRecord>,
    /// Delivery state of the availability notification (a durable outbox).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification: Option<NotificationState>,
    /// Standard conditions, e.g. `Ready` and `Available`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Health mode's findings (only with `spec.health`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<health::HealthStatus>,
}

/// Registration facts from RDAP or WHOIS.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Registration {
    /// The sponsoring registrar.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registrar: Option<String>,
    /// When the name was registered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Time>,
    /// When the registration expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Time>,
    /// Registry status codes, e.g. `clientHold`, `redemptionPeriod`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub statuses: Vec<String>,
    /// Delegated name servers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nameservers: Vec<String>,
}

/// What one checker concluded.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum CheckOutcome {
    /// Evidence that the name is registered.
    Registered,
    /// Evidence that the name is free.
    Available,
    /// Reserved, premium or blocked.
    Reserved,
    /// The server answered but proves nothing either way.
    Inconclusive,
    /// The server refused to answer because of rate limits.
    RateLimited,
    /// The check failed (network, protocol or parse error).
    Error,
    /// The checker was not run (not configured, or not needed).
    Skipped,
}

impl CheckOutcome {
    /// Every outcome, in declaration order.
    pub const ALL: [Self; 7] = [
        Self::Registered,
        Self::Available,
        Self::Reserved,
        Self::Inconclusive,
        Self::RateLimited,
        Self::Error,
        Self::Skipped,
    ];

    /// The word in callbacks, span attributes and metrics (`registered`,
    /// `available`, `reserved`, `inconclusive`, `rate_limited`, `error`,
    /// `skipped`). The status (`status.checks.*.result`) is serialised in
    /// camelCase and spells one of them differently: `rateLimited`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Registered => "registered",
            Self::Available => "available",
            Self::Reserved => "reserved",
            Self::Inconclusive => "inconclusive",
            Self::RateLimited => "rate_limited",
            Self::Error => "error",
            Self::Skipped => "skipped",
        }
    }
}

crate::words!(CheckOutcome, "check outcome");

/// The latest result of one checker.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckRecord {
    /// What the checker concluded.
    pub result: CheckOutcome,
    /// When the check ran.
    pub checked_at: Time,
    /// How long it took, in milliseconds.
    pub duration_ms: u64,
    /// The key evidence, e.g. `NXDOMAIN from a.nic.example`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The error, when the check failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Delivery state of the availability notification.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotificationState {
    /// `Pending` until the receiver answers 2xx, then `Delivered`; `Failed` when
    /// the receiver rejected it permanently.
    pub state: NotificationDelivery,
    /// Sent as the `Idempotency-Key` header; stable across retries.
    pub idempotency_key: String,
    /// The notification body, so a restarted operator can deliver it unchanged.
    pub payload: String,
    /// Delivery attempts so far.
    #[serde(default)]
    pub attempts: u32,
    /// When the notification was recorded.
    pub created_at: Time,
    /// When the next attempt is due.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<Time>,
    /// The last delivery error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When the receiver accepted it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<Time>,
}

/// Where a notification is in its delivery.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum NotificationDelivery {
    /// Recorded, not yet accepted by the receiver.
    Pending,
    /// Accepted by the receiver (2xx).
    Delivered,
    /// Rejected permanently (a 4xx other than 408/429).
    Failed,
}

impl NotificationDelivery {
    /// Every state, in declaration order.
    pub const ALL: [Self; 3] = [Self::Pending, Self::Delivered, Self::Failed];

    /// The word in `status.notification.state` (as serialised).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Delivered => "Delivered",
            Self::Failed => "Failed",
        }
    }
}

crate::words!(NotificationDelivery, "notification state");

// === conditions, shared by every resource kind ===

/// The longest condition message kept, in characters; longer ones are cut.
pub const CONDITION_MESSAGE_CHARS: usize = 1024;

/// `t` as a status time, in whole seconds: the API server keeps whole
/// seconds, so the status is built with whole seconds too and what is
/// compared in memory is what is stored.
pub fn time(t: jiff::Timestamp) -> Time {
    Time(jiff::Timestamp::from_second(t.as_second()).unwrap_or(t))
}

/// The condition `type_` with `status`, `reason` and `message` (cut to
/// [`CONDITION_MESSAGE_CHARS`]), keeping the `lastTransitionTime` of the
/// same type in `old` while its status holds, else `now` (Kubernetes API
/// conventions, "Typical status properties").
pub fn condition(
    old: &[Condition],
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
    generation: Option<i64>,
    now: jiff::Timestamp,
) -> Condition {
    let last_transition_time = match find_condition(old, type_) {
        Some(previous) if previous.status == status => previous.last_transition_time.clone(),
        _ => time(now),
    };
    Condition {
        type_: type_.to_owned(),
        status: status.to_owned(),
        reason: reason.to_owned(),
        message: message.chars().take(CONDITION_MESSAGE_CHARS).collect(),
        observed_generation: generation,
        last_transition_time,
    }
}

/// The condition of type `type_` in `conditions`, if any.
pub fn find_condition<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// The CRD as YAML, exactly as committed in `crds/monitoreddomain.yaml`.
pub fn crd_yaml() -> Result<String, serde_yaml::Error> {
    serde_yaml::to_string(&MonitoredDomain::crd())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_nameservers_are_host_names_never_addresses() {
        let spec = |name: &str| {
            HealthSpec {
                expected_nameservers: vec![name.to_owned()],
                ..Default::default()
            }
            .validated()
        };
        assert_eq!(
            spec("NS1.Example.NET.").unwrap().expected_nameservers,
            ["ns1.example.net"]
        );
        assert!(
            spec("ns1.1and1.com").is_ok(),
            "digits inside names are fine"
        );
        for bad in [
            "192.0.2.1",
            "192.0.2.1.",
            "ns1",
            "http://x",
            "ns1.example.net:53",
        ] {
            assert!(spec(bad).is_err(), "{bad} is not a name server's host name");
        }
    }

    #[test]
    fn committed_crd_matches_the_types() {
        let committed = include_str!("../../crds/monitoreddomain.yaml");
        assert_eq!(
            crd_yaml().unwrap(),
            committed,
            "crds/monitoreddomain.yaml is stale: run `just crd` and commit the result"
        );
    }

    #[test]
    fn crd_has_the_names_users_type() {
        let crd = MonitoredDomain::crd();
        assert_eq!(crd.spec.group, GROUP);
        assert_eq!(crd.spec.names.plural, "monitoreddomains");
        assert_eq!(crd.spec.names.short_names, Some(vec!["md".to_owned()]));
        assert_eq!(crd.spec.scope, "Namespaced");
        let version = &crd.spec.versions[0];
        assert_eq!(version.name, "v1alpha1");
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
                "Priority",
                "Availability",
                "Health",
                "Confidence",
                "Expires",
                "Verified",
                "Age"
            ]
        );
    }

    #[test]
    fn words_parse_back_and_are_the_serde_names() {
        use crate::words::assert_words;
        assert_words(&Availability::ALL, Availability::as_str);
        // The status spells one outcome differently (serde's camelCase):
        // `rateLimited` there, `rate_limited` in callbacks and metrics.
        for outcome in CheckOutcome::ALL {
            assert_eq!(outcome.as_str().parse::<CheckOutcome>().unwrap(), outcome);
            let serde_name = serde_json::to_value(outcome).unwrap();
            let expected = match outcome {
                CheckOutcome::RateLimited => "rateLimited",
                other => other.as_str(),
            };
            assert_eq!(serde_name, expected);
        }
        assert_words(&DnssecPolicy::ALL, DnssecPolicy::as_str);
        assert_words(&RegistryLockPolicy::ALL, RegistryLockPolicy::as_str);
        assert_words(&NotificationDelivery::ALL, NotificationDelivery::as_str);
        assert_eq!(
            "Gone".parse::<Availability>().unwrap_err().to_string(),
            "unknown availability \"Gone\": use Unknown, Registered, Available, Unconfirmed, \
             Expiring, PendingDelete, Reserved, Invalid, Error"
        );
    }

    #[test]
    fn conclusive_and_lifecycle_availabilities() {
        let conclusive: Vec<_> = Availability::ALL
            .into_iter()
            .filter(|a| a.is_conclusive())
            .collect();
        assert_eq!(
            conclusive,
            [
                Availability::Registered,
                Availability::Available,
                Availability::Unconfirmed,
                Availability::Expiring,
                Availability::PendingDelete,
                Availability::Reserved
            ]
        );
        let held: Vec<_> = Availability::ALL
            .into_iter()
            .filter(|a| a.is_held())
            .collect();
        assert_eq!(
            held,
            [
                Availability::Registered,
                Availability::Expiring,
                Availability::PendingDelete
            ]
        );
        assert!(Availability::PendingDelete.in_lifecycle());
        assert!(!Availability::Registered.in_lifecycle());
    }

    #[test]
    fn conditions_keep_their_transition_time_while_the_status_holds() {
        let start = jiff::Timestamp::from_second(1_700_000_000).unwrap();
        let later = start + jiff::SignedDuration::from_secs(90);
        let first = condition(&[], "Ready", "True", "Checked", "ok", Some(1), start);
        assert_eq!(first.last_transition_time, time(start));
        let old = [first];
        let held = condition(&old, "Ready", "True", "Again", "still ok", Some(2), later);
        assert_eq!(held.last_transition_time, time(start), "status unchanged");
        assert_eq!(
            (held.reason.as_str(), held.observed_generation),
            ("Again", Some(2))
        );
        let flipped = condition(&old, "Ready", "False", "Failed", "no", Some(2), later);
        assert_eq!(flipped.last_transition_time, time(later), "status changed");
        let other = condition(&old, "Available", "True", "Free", "", None, later);
        assert_eq!(other.last_transition_time, time(later), "another type");
        let long = condition(&[], "Ready", "True", "R", &"é".repeat(2000), None, start);
        assert_eq!(long.message.chars().count(), CONDITION_MESSAGE_CHARS);
        assert_eq!(find_condition(&old, "Ready"), old.first());
        assert_eq!(find_condition(&old, "Available"), None);
    }

    #[test]
    fn status_times_are_whole_seconds() {
        let t = jiff::Timestamp::from_millisecond(1_700_000_000_999).unwrap();
        assert_eq!(
            time(t).0,
            jiff::Timestamp::from_second(1_700_000_000).unwrap()
        );
    }

    #[test]
    fn status_round_trips_in_camel_case() {
        let status = MonitoredDomainStatus {
            availability: Availability::PendingDelete,
            confidence: Some(0.9),
            ..Default::default()
        };
        let json = serde_json::to_value(&status).unwrap();
        assert_eq!(json["availability"], "PendingDelete");
        let back: MonitoredDomainStatus = serde_json::from_value(json).unwrap();
        assert_eq!(back, status);
    }
}
