//! The metrics registry: one set of typed instruments, three views.
//!
//! Every instrument is a field of [`Metrics`], typed by its label set
//! ([`labels`]): a counter or timer of checks takes a [`labels::CheckLabels`],
//! not a string, and every label value is its type's own word. The same
//! recordings feed:
//! - the OpenTelemetry SDK, when OTLP export is on ([`Metrics::export_to`],
//!   see `crate::otel`);
//! - `GET /metrics/prometheus`, encoded by the `prometheus-client` crate
//!   under the names Prometheus gives the OTLP metrics ([`prometheus`]);
//! - `GET /metrics`, the JSON view ([`Metrics::counters`], [`Metrics::timers`]).
//!
//! Timers keep exact count/sum/min/max, histogram buckets (each
//! instrument's own bounds, [`Instrument::buckets`]), and a bounded
//! window of the latest samples for the JSON view's percentiles, so memory
//! stays flat however long it runs. Label sets are closed (enums, the route
//! table, HTTP status codes), so the number of series is bounded.

pub mod dhc;
pub mod labels;
pub mod prometheus;

use std::{
    borrow::Cow,
    collections::{BTreeMap, HashMap, VecDeque},
    sync::{Arc, Mutex, OnceLock},
    time::{Duration, Instant},
};

use serde::Serialize;

use self::labels::{
    AvailabilityLabels, CallbackKindLabels, CallbackLabels, CheckLabels, CheckerLabels,
    HealthChangeLabels, HttpRequestLabels, LabelSet, NoLabels, ReconcileErrorLabels,
    StatusFieldLabels, SyncRunLabels, SyncTriggerLabels, TransitionLabels, WriteReasonLabels,
};
pub use crate::ratelimit::RateLimitWaits;
use crate::{
    check::CheckKind,
    resource::{Availability, CheckOutcome, WriteReason},
};

/// Samples kept per timer for percentiles.
const WINDOW: usize = 1024;

/// Attribute `(name, value)` pairs of one series.
pub type Attributes = Vec<(&'static str, Cow<'static, str>)>;

/// A timer's summary, in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimerSummary {
    /// Samples recorded.
    pub count: u64,
    /// Mean.
    pub avg_ms: f64,
    /// Smallest.
    pub min_ms: f64,
    /// Largest.
    pub max_ms: f64,
    /// Median of the latest samples.
    pub p50_ms: f64,
    /// 95th percentile of the latest samples.
    pub p95_ms: f64,
    /// 99th percentile of the latest samples.
    pub p99_ms: f64,
}

/// Upper bounds (seconds) of the histogram buckets of the operator's own
/// latencies (checks, callbacks, domain list syncs, HTTP requests): 1 ms to
/// 30 s, the longest a check or request may take. The default of
/// [`Instrument::buckets`]; the same bounds in OTLP and in the Prometheus
/// text format.
pub const BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Upper bounds (seconds) of `dns.lookup.duration`: 0.5 ms (a resolver on
/// the same host, a cached answer) to 10 s (past the 3 s default
/// `DNS_TIMEOUT`, which times out near 3 s).
pub const DNS_LOOKUP_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Upper bounds (seconds) of the DomainHealthChecks' propagation and canary
/// delays: 1 s to 2 days. A change reaches a resolver when its cached copy
/// expires, so these follow TTLs: 5 min, 1 h and 1 day are common record
/// TTLs, 2 days a common NS TTL (at the resolution of the check's
/// `interval`).
pub const DELAY_BUCKETS: [f64; 16] = [
    1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0,
    28800.0, 86400.0, 172800.0,
];

/// A timer's samples by its instrument's [`Instrument::buckets`].
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    /// Samples.
    pub count: u64,
    /// Their sum, in seconds.
    pub sum_seconds: f64,
    /// The buckets' upper bounds, seconds, ascending (`+Inf` not included).
    pub bounds: &'static [f64],
    /// Samples per bucket, not cumulative, one more than `bounds`: the last
    /// one is above every bound.
    pub buckets: Vec<u64>,
}

#[derive(Debug)]
struct TimerStats {
    count: u64,
    sum_ms: f64,
    min_ms: f64,
    max_ms: f64,
    /// Upper bounds of the buckets, seconds.
    bounds: &'static [f64],
    /// Samples per bucket (not cumulative); the last one is `+Inf`.
    buckets: Vec<u64>,
    window: VecDeque<f64>,
}

impl TimerStats {
    fn new(bounds: &'static [f64]) -> Self {
        Self {
            count: 0,
            sum_ms: 0.0,
            min_ms: 0.0,
            max_ms: 0.0,
            bounds,
            buckets: vec![0; bounds.len() + 1],
            window: VecDeque::new(),
        }
    }

    fn record(&mut self, ms: f64) {
        if self.count == 0 || ms < self.min_ms {
            self.min_ms = ms;
        }
        if ms > self.max_ms {
            self.max_ms = ms;
        }
        self.count += 1;
        self.sum_ms += ms;
        let bucket = self
            .bounds
            .iter()
            .position(|bound| ms <= bound * 1000.0)
            .unwrap_or(self.bounds.len());
        self.buckets[bucket] += 1;
        if self.window.len() == WINDOW {
            self.window.pop_front();
        }
        self.window.push_back(ms);
    }

    fn histogram(&self) -> Histogram {
        Histogram {
            count: self.count,
            sum_seconds: self.sum_ms / 1000.0,
            bounds: self.bounds,
            buckets: self.buckets.clone(),
        }
    }

    fn summary(&self) -> TimerSummary {
        let mut sorted: Vec<f64> = self.window.iter().copied().collect();
        sorted.sort_by(f64::total_cmp);
        let pick = |q: f64| {
            if sorted.is_empty() {
                return 0.0;
            }
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                clippy::cast_precision_loss
            )]
            let index = ((sorted.len() as f64 - 1.0) * q).round() as usize;
            sorted[index.min(sorted.len() - 1)]
        };
        #[allow(clippy::cast_precision_loss)]
        let avg = if self.count == 0 {
            0.0
        } else {
            self.sum_ms / self.count as f64
        };
        TimerSummary {
            count: self.count,
            avg_ms: round(avg),
            min_ms: round(self.min_ms),
            max_ms: round(self.max_ms),
            p50_ms: round(pick(0.5)),
            p95_ms: round(pick(0.95)),
            p99_ms: round(pick(0.99)),
        }
    }
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// What kind of OpenTelemetry instrument a metric is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A monotonic counter ([`Counter`]).
    Counter,
    /// A histogram in seconds ([`Timer`]).
    Histogram,
    /// A value read when metrics are collected ([`Snapshot`]).
    Gauge,
    /// A monotonic total read when metrics are collected ([`Snapshot`]).
    ObservedCounter,
}

/// One exported metric: its OpenTelemetry name, unit, description and
/// attribute names.
#[derive(Debug, Clone, Copy)]
pub struct Instrument {
    /// The OpenTelemetry name.
    pub name: &'static str,
    /// Kind.
    pub kind: Kind,
    /// UCUM unit; `{…}` annotations name what is counted.
    pub unit: &'static str,
    /// Description.
    pub description: &'static str,
    /// Attribute names, in order.
    pub attributes: &'static [&'static str],
    /// The name in the JSON view of `GET /metrics` (empty: not in it).
    pub json_key: &'static str,
    /// What joins the attribute values into a key of the JSON view
    /// (`dns/registered`, `Registered->Available`, `GET /status 200`).
    pub json_separator: &'static str,
    /// A histogram's bucket bounds, seconds, ascending: [`BUCKETS`] unless
    /// the instrument names its own ([`DNS_LOOKUP_BUCKETS`],
    /// [`DELAY_BUCKETS`]).
    pub buckets: &'static [f64],
}

impl Instrument {
    const fn new(name: &'static str, kind: Kind, unit: &'static str) -> Self {
        Self {
            name,
            kind,
            unit,
            description: "",
            attributes: &[],
            json_key: "",
            json_separator: "/",
            buckets: &BUCKETS,
        }
    }

    const fn buckets(mut self, bounds: &'static [f64]) -> Self {
        self.buckets = bounds;
        self
    }

    const fn about(mut self, description: &'static str) -> Self {
        self.description = description;
        self
    }

    const fn labels(mut self, attributes: &'static [&'static str]) -> Self {
        self.attributes = attributes;
        self
    }

    const fn json(mut self, key: &'static str, separator: &'static str) -> Self {
        self.json_key = key;
        self.json_separator = separator;
        self
    }

    /// The name Prometheus gives this metric when it ingests it over OTLP
    /// (and the name `GET /metrics/prometheus` uses): dots become
    /// underscores, the unit becomes a suffix, counters end in `_total`.
    pub fn prometheus_name(&self) -> String {
        let mut name = self.prometheus_base();
        if self.unit == "s" {
            name.push_str("_seconds");
        }
        if matches!(self.kind, Kind::Counter | Kind::ObservedCounter) {
            name.push_str("_total");
        }
        name
    }

    /// [`Instrument::prometheus_name`] without its unit and `_total`
    /// suffixes.
    pub fn prometheus_base(&self) -> String {
        self.name.replace('.', "_")
    }

    /// The Prometheus label names of the attributes (dots become
    /// underscores, as Prometheus translates OTLP attribute names).
    pub fn prometheus_labels(&self) -> Vec<String> {
        self.attributes
            .iter()
            .map(|a| a.replace('.', "_"))
            .collect()
    }
}

/// The instruments, one constant each.
pub mod instruments {
    use super::{Instrument, Kind, labels::*};

    /// `domain_monitor.checks`.
    pub const CHECKS: Instrument = Instrument::new("domain_monitor.checks", Kind::Counter, "{check}")
        .about("Checks run, by checker (dns, http, rdap, registrar, whois) and result (registered, available, reserved, inconclusive, rate_limited, error, skipped).")
        .labels(CheckLabels::KEYS)
        .json("check_results", "/");
    /// `domain_monitor.check.duration`.
    pub const CHECK_DURATION: Instrument =
        Instrument::new("domain_monitor.check.duration", Kind::Histogram, "s")
            .about("Time one check took, by checker.")
            .labels(CheckerLabels::KEYS)
            .json("check_duration", "/");
    /// `domain_monitor.verdicts`.
    pub const VERDICTS: Instrument =
        Instrument::new("domain_monitor.verdicts", Kind::Counter, "{verdict}")
            .about("Verdicts reached, by availability.")
            .labels(AvailabilityLabels::KEYS)
            .json("verdicts", "/");
    /// `domain_monitor.transitions`.
    pub const TRANSITIONS: Instrument =
        Instrument::new("domain_monitor.transitions", Kind::Counter, "{transition}")
            .about("Availability changes written to a status, by old and new availability.")
            .labels(TransitionLabels::KEYS)
            .json("transitions", "->");
    /// `domain_monitor.callbacks`.
    pub const CALLBACKS: Instrument = Instrument::new("domain_monitor.callbacks", Kind::Counter, "{callback}")
        .about("Callbacks to the user's API, by kind (notification, check_result) and outcome (delivered, retry, rejected, failed, dropped).")
        .labels(CallbackLabels::KEYS)
        .json("callbacks", "/");
    /// `domain_monitor.callback.duration`.
    pub const CALLBACK_DURATION: Instrument =
        Instrument::new("domain_monitor.callback.duration", Kind::Histogram, "s")
            .about("Time one callback delivery took, by kind.")
            .labels(CallbackKindLabels::KEYS)
            .json("callback_duration", "/");
    /// `domain_monitor.rate_limited`.
    pub const RATE_LIMITED: Instrument =
        Instrument::new("domain_monitor.rate_limited", Kind::Counter, "{check}")
            .about("Checks a server answered with a rate-limit or quota refusal, by checker.")
            .labels(CheckerLabels::KEYS)
            .json("rate_limited", "/");
    /// `domain_monitor.ratelimit.waits`.
    pub const RATELIMIT_WAITS: Instrument = Instrument::new(
        "domain_monitor.ratelimit.waits",
        Kind::ObservedCounter,
        "{wait}",
    )
    .about("Requests that waited for this replica's rate-limit budget, by layer.")
    .labels(&["layer"]);
    /// `domain_monitor.ratelimit.wait`.
    pub const RATELIMIT_WAIT: Instrument =
        Instrument::new("domain_monitor.ratelimit.wait", Kind::ObservedCounter, "s")
            .about("Time requests spent waiting for this replica's rate-limit budget, by layer.")
            .labels(&["layer"]);
    /// `domain_monitor.status.writes`.
    pub const STATUS_WRITES: Instrument = Instrument::new("domain_monitor.status.writes", Kind::Counter, "{write}")
        .about("Status writes to the Kubernetes API server, by reason: first (a resource's first verdict), facts (its first registration facts), change, refresh (nothing changed for STATUS_HEARTBEAT), notification, invalid.")
        .labels(WriteReasonLabels::KEYS)
        .json("status_writes", "/");
    /// `domain_monitor.status.changes`.
    pub const STATUS_CHANGES: Instrument = Instrument::new("domain_monitor.status.changes", Kind::Counter, "{field}")
        .about("Status fields that changed, by field (availability, confidence, checks, registration, conditions, ...): what the writes for a change were for.")
        .labels(StatusFieldLabels::KEYS)
        .json("status_changes", "/");
    /// `domain_monitor.first_checks`.
    pub const FIRST_CHECKS: Instrument = Instrument::new("domain_monitor.first_checks", Kind::Counter, "{domain}")
        .about("Domains checked for the first time by this replica (since it started or took their shard): the first pass is complete when this reaches the domains gauge.")
        .json("first_checks", "/");
    /// `domain_monitor.checks.deferred`.
    pub const CHECKS_DEFERRED: Instrument = Instrument::new("domain_monitor.checks.deferred", Kind::Counter, "{check}")
        .about("Routine re-checks of registered names put off while their first status waits to be written (a first pass of many domains being published): each is put off by one interval, never more than 5 minutes after the name's last check.")
        .json("checks_deferred", "/");
    /// `domain_monitor.status.pending_writes`.
    pub const PENDING_WRITES: Instrument = Instrument::new(
        "domain_monitor.status.pending_writes",
        Kind::Gauge,
        "{write}",
    )
    .about("Status patches waiting for the API server (coalesced: at most one per domain).");
    /// `domain_monitor.domains.unchecked`.
    pub const UNCHECKED: Instrument =
        Instrument::new("domain_monitor.domains.unchecked", Kind::Gauge, "{domain}")
            .about("Domains this replica holds and has not checked yet.");
    /// `domain_monitor.notifications.pending`.
    pub const NOTIFICATIONS_PENDING: Instrument = Instrument::new(
        "domain_monitor.notifications.pending",
        Kind::Gauge,
        "{notification}",
    )
    .about("Availability notifications recorded and not yet accepted by the receiver.");
    /// `domain_monitor.notifications.pending.age`.
    pub const NOTIFICATIONS_PENDING_AGE: Instrument = Instrument::new("domain_monitor.notifications.pending.age", Kind::Gauge, "s")
        .about("Age of the oldest availability notification not yet accepted by the receiver; absent when none is pending.");
    /// `domain_monitor.reconcile.errors`.
    pub const RECONCILE_ERRORS: Instrument = Instrument::new("domain_monitor.reconcile.errors", Kind::Counter, "{error}")
        .about("Failed reconciles, by kind (relabel, panic, other, write_status, write_status_retry, event_dropped).")
        .labels(ReconcileErrorLabels::KEYS)
        .json("reconcile_errors", "/");
    /// `domain_monitor.sync.runs`.
    pub const SYNC_RUNS: Instrument = Instrument::new("domain_monitor.sync.runs", Kind::Counter, "{run}")
        .about("Domain list syncs, by outcome (ok, refused by the mass-deletion guard, malformed, failed).")
        .labels(SyncRunLabels::KEYS)
        .json("sync_runs", "/");
    /// `domain_monitor.sync.duration`.
    pub const SYNC_DURATION: Instrument =
        Instrument::new("domain_monitor.sync.duration", Kind::Histogram, "s")
            .about("Time one domain list sync took, by trigger (scheduled, refresh).")
            .labels(SyncTriggerLabels::KEYS)
            .json("sync_duration", "/");
    /// `domain_monitor.sync.rejected_entries`.
    pub const SYNC_REJECTED: Instrument = Instrument::new(
        "domain_monitor.sync.rejected_entries",
        Kind::Counter,
        "{entry}",
    )
    .about("Domain list entries skipped as invalid.")
    .json("sync_rejected_entries", "/");
    /// `http.server.request.duration` (OpenTelemetry semantic conventions).
    pub const HTTP_SERVER_DURATION: Instrument = Instrument::new(
        "http.server.request.duration",
        Kind::Histogram,
        "s",
    )
    .about("Duration of requests to the HTTP operations surface, by method, route and status code.")
    .labels(HttpRequestLabels::KEYS)
    .json("http_server_request_duration", " ");
    /// `domain_monitor.health.registration.changes`.
    pub const HEALTH_CHANGES: Instrument = Instrument::new(
        "domain_monitor.health.registration.changes",
        Kind::Counter,
        "{change}",
    )
    .about("Registration changes of health-mode domains, by kind (registrar, statuses, renewed, expiry_shortened, nameservers).")
    .labels(HealthChangeLabels::KEYS)
    .json("health_registration_changes", "/");
    /// `domain_monitor.health.expiry`.
    pub const HEALTH_EXPIRY: Instrument = Instrument::new("domain_monitor.health.expiry", Kind::Gauge, "s")
        .about("When the registration of a health-mode domain expires, as a Unix time; absent while unknown.")
        .labels(HEALTH_LABELS);
    /// `domain_monitor.health.locked`.
    pub const HEALTH_LOCKED: Instrument = Instrument::new("domain_monitor.health.locked", Kind::Gauge, "{domain}")
        .about("1 when a health-mode domain has the registry lock (serverDeleteProhibited, serverTransferProhibited, serverUpdateProhibited), else 0; absent while its statuses are unknown.")
        .labels(HEALTH_LABELS);
    /// `domain_monitor.health.delegation.drift`.
    pub const HEALTH_DRIFT: Instrument = Instrument::new("domain_monitor.health.delegation.drift", Kind::Gauge, "{domain}")
        .about("1 when the name servers of a health-mode domain differ between parent, registry, its own servers and expectedNameservers, or some are lame, else 0; absent until its delegation is checked.")
        .labels(HEALTH_LABELS);
    /// `domain_monitor.health.expiry.warning`.
    pub const HEALTH_EXPIRY_WARNING: Instrument = Instrument::new("domain_monitor.health.expiry.warning", Kind::Gauge, "s")
        .about("The expiryWarning of a health-mode domain (default 30 days): its ExpiringSoon condition turns true, and its expiry alert fires, when the expiry is this close.")
        .labels(HEALTH_LABELS);
    /// `domain_monitor.health.dnssec.valid`.
    pub const HEALTH_DNSSEC_VALID: Instrument = Instrument::new("domain_monitor.health.dnssec.valid", Kind::Gauge, "{domain}")
        .about("1 when the DNSSEC chain of trust of a health-mode domain validates, else 0; absent until DNSSEC is checked, with dnssec: Ignore, and for an unsigned domain with dnssec: Optional.")
        .labels(HEALTH_LABELS);
    /// `domain_monitor.health.dnssec.signature_expiry`.
    pub const HEALTH_DNSSEC_SIGNATURE_EXPIRY: Instrument = Instrument::new("domain_monitor.health.dnssec.signature_expiry", Kind::Gauge, "s")
        .about("When the earliest DNSSEC signature (RRSIG) checked for a health-mode domain expires, as a Unix time; absent while unknown, and with dnssec: Ignore.")
        .labels(HEALTH_LABELS);
    /// The attributes of the per-domain health gauges: only domains in
    /// health mode have them, so their number is bounded by what users
    /// chose to own.
    pub const HEALTH_LABELS: &[&str] = &["namespace", "name", "domain", "criticality"];
    /// `dns.lookup.duration` (OpenTelemetry semantic conventions): the
    /// resolver probes of DomainHealthChecks.
    pub const DNS_LOOKUP_DURATION: Instrument = Instrument::new("dns.lookup.duration", Kind::Histogram, "s")
        .about("Time a resolver took to answer one probe of a DomainHealthCheck, by check (namespace, name), question (name, type), resolver and outcome (noerror, nxdomain, servfail, refused, other_rcode, timeout, error); at most 256 series per check (further question names as _other).")
        .labels(super::dhc::DnsLookupLabels::KEYS)
        .json("dns_lookup_duration", " ")
        .buckets(&super::DNS_LOOKUP_BUCKETS);
    /// `domain_monitor.dhc.propagation.duration`.
    pub const PROPAGATION_DURATION: Instrument = Instrument::new("domain_monitor.dhc.propagation.duration", Kind::Histogram, "s")
        .about("Time from a DomainHealthCheck's first sight of a new SOA serial at an authoritative server until a resolver served it (at the resolution of the check's interval), by check (namespace, name) and resolver.")
        .labels(super::dhc::PropagationLabels::KEYS)
        .json("dhc_propagation_duration", "/")
        .buckets(&super::DELAY_BUCKETS);
    /// `domain_monitor.dhc.certificate.expiry`.
    pub const CERTIFICATE_EXPIRY: Instrument = Instrument::new("domain_monitor.dhc.certificate.expiry", Kind::Gauge, "s")
        .about("When the leaf certificate of a DomainHealthCheck's TLS endpoint expires (its notAfter), as a Unix time, by check (namespace, name) and endpoint (server.address, server.port, tls.client.server_name); absent while no certificate was seen.")
        .labels(super::dhc::CertificateLabels::KEYS);
    /// `domain_monitor.dhc.certificate.expiry.warning`.
    pub const CERTIFICATE_EXPIRY_WARNING: Instrument = Instrument::new("domain_monitor.dhc.certificate.expiry.warning", Kind::Gauge, "s")
        .about("The certificateWarning of a DomainHealthCheck (default 14 days), beside each expiry it applies to: its CertificateExpiring condition turns true, and its alert fires, when the expiry is this close.")
        .labels(super::dhc::CertificateLabels::KEYS);
    /// `domain_monitor.dhc.propagation.pending_since`.
    pub const PROPAGATION_PENDING_SINCE: Instrument = Instrument::new("domain_monitor.dhc.propagation.pending_since", Kind::Gauge, "s")
        .about("When a DomainHealthCheck first saw the SOA serial that a resolver does not serve yet at an authoritative server, as a Unix time, by check (namespace, name) and resolver; absent once the resolver serves it.")
        .labels(super::dhc::PropagationLabels::KEYS);
    /// `domain_monitor.dhc.canary.delay`.
    pub const CANARY_DELAY: Instrument = Instrument::new("domain_monitor.dhc.canary.delay", Kind::Histogram, "s")
        .about("Time from a DomainHealthCheck canary's publish time (since=publish, the t= value of its TXT record) or from the probe round that first saw it at an authoritative server (since=authoritative) until a resolver served it (at the resolution of the check's interval), by check (namespace, name) and resolver; within the check's series budget.")
        .labels(super::dhc::CanaryLabels::KEYS)
        .json("dhc_canary_delay", "/")
        .buckets(&super::DELAY_BUCKETS);
    /// `domain_monitor.domains`.
    pub const DOMAINS: Instrument =
        Instrument::new("domain_monitor.domains", Kind::Gauge, "{domain}")
            .about("Domains this replica watches, by availability.")
            .labels(AvailabilityLabels::KEYS);
    /// `domain_monitor.domains.priority`.
    pub const PRIORITY: Instrument =
        Instrument::new("domain_monitor.domains.priority", Kind::Gauge, "{domain}")
            .about("Priority domains this replica watches.");
    /// `domain_monitor.shards.held`.
    pub const SHARDS_HELD: Instrument =
        Instrument::new("domain_monitor.shards.held", Kind::Gauge, "{shard}")
            .about("Shards this replica holds.");
    /// `domain_monitor.shards.count` (a gauge: not `.total`, whose
    /// Prometheus name would end in `_total`, the counters' suffix).
    pub const SHARDS_COUNT: Instrument =
        Instrument::new("domain_monitor.shards.count", Kind::Gauge, "{shard}")
            .about("Shards the domain space is split into.");
    /// `domain_monitor.uptime`.
    pub const UPTIME: Instrument = Instrument::new("domain_monitor.uptime", Kind::Gauge, "s")
        .about("Time since this replica started.");
}

/// Every metric the operator exports.
pub const INSTRUMENTS: &[Instrument] = &[
    instruments::CHECKS,
    instruments::CHECK_DURATION,
    instruments::VERDICTS,
    instruments::TRANSITIONS,
    instruments::CALLBACKS,
    instruments::CALLBACK_DURATION,
    instruments::RATE_LIMITED,
    instruments::RATELIMIT_WAITS,
    instruments::RATELIMIT_WAIT,
    instruments::STATUS_WRITES,
    instruments::STATUS_CHANGES,
    instruments::FIRST_CHECKS,
    instruments::CHECKS_DEFERRED,
    instruments::PENDING_WRITES,
    instruments::UNCHECKED,
    instruments::NOTIFICATIONS_PENDING,
    instruments::NOTIFICATIONS_PENDING_AGE,
    instruments::RECONCILE_ERRORS,
    instruments::SYNC_RUNS,
    instruments::SYNC_DURATION,
    instruments::SYNC_REJECTED,
    instruments::HTTP_SERVER_DURATION,
    instruments::HEALTH_CHANGES,
    instruments::HEALTH_EXPIRY,
    instruments::HEALTH_LOCKED,
    instruments::HEALTH_DRIFT,
    instruments::HEALTH_EXPIRY_WARNING,
    instruments::HEALTH_DNSSEC_VALID,
    instruments::HEALTH_DNSSEC_SIGNATURE_EXPIRY,
    instruments::DNS_LOOKUP_DURATION,
    instruments::PROPAGATION_DURATION,
    instruments::CERTIFICATE_EXPIRY,
    instruments::CERTIFICATE_EXPIRY_WARNING,
    instruments::PROPAGATION_PENDING_SINCE,
    instruments::CANARY_DELAY,
    instruments::DOMAINS,
    instruments::PRIORITY,
    instruments::SHARDS_HELD,
    instruments::SHARDS_COUNT,
    instruments::UPTIME,
];

/// Every series name Prometheus can hold for the exported metrics
/// (histograms as `_bucket`, `_sum` and `_count`).
pub fn prometheus_names() -> Vec<String> {
    INSTRUMENTS
        .iter()
        .flat_map(|i| {
            let name = i.prometheus_name();
            if i.kind == Kind::Histogram {
                vec![
                    format!("{name}_bucket"),
                    format!("{name}_sum"),
                    format!("{name}_count"),
                ]
            } else {
                vec![name]
            }
        })
        .collect()
}

/// Values read when metrics are collected rather than counted as they happen.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Watched domains by availability (every availability, zeros included).
    pub domains: Vec<(Availability, u64)>,
    /// Watched priority domains.
    pub priority: u64,
    /// Shards held.
    pub shards_held: u64,
    /// Status patches waiting to be written.
    pub pending_writes: u64,
    /// Domains held and not checked yet.
    pub unchecked: u64,
    /// Shards in all.
    pub shards_count: u64,
    /// Availability notifications not yet accepted by the receiver.
    pub notifications_pending: u64,
    /// Age of the oldest of them (none when nothing is pending).
    pub oldest_pending_notification: Option<Duration>,
    /// Rate-limit waits per layer.
    pub rate_limit_waits: Vec<RateLimitWaits>,
    /// The domains in health mode.
    pub health: Vec<HealthGauges>,
    /// The leaf expiry (Unix seconds) of DomainHealthChecks' TLS
    /// endpoints.
    pub certificate_expiries: Vec<(dhc::CertificateLabels, dhc::CertificateExpiry)>,
    /// Since when resolvers of DomainHealthChecks have not served a new
    /// serial (Unix seconds).
    pub propagation_pending: Vec<(dhc::PropagationLabels, i64)>,
}

/// The gauges of one domain in health mode.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HealthGauges {
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// The domain (A-label).
    pub domain: String,
    /// `spec.health.criticality`, `none` when unset.
    pub criticality: String,
    /// The registration's expiry, Unix seconds.
    pub expires_at: Option<i64>,
    /// Whether the registry lock is set, when the statuses are known.
    pub locked: Option<bool>,
    /// Whether the delegation drifts (or has lame servers), once checked.
    pub drift: Option<bool>,
    /// `spec.health.expiryWarning` (or its default).
    pub expiry_warning: Duration,
    /// Whether DNSSEC validates, once checked (`None` with `dnssec: Ignore`).
    pub dnssec_valid: Option<bool>,
    /// When the earliest checked DNSSEC signature expires, Unix seconds.
    pub signature_expires_at: Option<i64>,
}

impl HealthGauges {
    fn attributes(&self) -> Attributes {
        vec![
            ("namespace", Cow::Owned(self.namespace.clone())),
            ("name", Cow::Owned(self.name.clone())),
            ("domain", Cow::Owned(self.domain.clone())),
            ("criticality", Cow::Owned(self.criticality.clone())),
        ]
    }
}

/// The series of a collected instrument ([`Kind::Gauge`] or
/// [`Kind::ObservedCounter`]): attributes and value of each.
pub fn collected(
    instrument: &Instrument,
    snapshot: &Snapshot,
    uptime: Duration,
) -> Vec<(Attributes, f64)> {
    #[allow(clippy::cast_precision_loss)]
    let plain = |value: u64| vec![(Vec::new(), value as f64)];
    let layer = |w: &RateLimitWaits| vec![("layer", Cow::Borrowed(w.layer))];
    #[allow(clippy::cast_precision_loss)]
    match instrument.name {
        "domain_monitor.domains" => snapshot
            .domains
            .iter()
            .map(|(availability, count)| {
                (
                    vec![("availability", Cow::Borrowed(availability.as_str()))],
                    *count as f64,
                )
            })
            .collect(),
        "domain_monitor.domains.priority" => plain(snapshot.priority),
        "domain_monitor.shards.held" => plain(snapshot.shards_held),
        "domain_monitor.status.pending_writes" => plain(snapshot.pending_writes),
        "domain_monitor.domains.unchecked" => plain(snapshot.unchecked),
        "domain_monitor.notifications.pending" => plain(snapshot.notifications_pending),
        "domain_monitor.notifications.pending.age" => snapshot
            .oldest_pending_notification
            .map(|age| (Vec::new(), age.as_secs_f64()))
            .into_iter()
            .collect(),
        "domain_monitor.shards.count" => plain(snapshot.shards_count),
        "domain_monitor.health.expiry" => snapshot
            .health
            .iter()
            .filter_map(|h| Some((h.attributes(), h.expires_at? as f64)))
            .collect(),
        "domain_monitor.health.locked" => snapshot
            .health
            .iter()
            .filter_map(|h| Some((h.attributes(), f64::from(u8::from(h.locked?)))))
            .collect(),
        "domain_monitor.health.delegation.drift" => snapshot
            .health
            .iter()
            .filter_map(|h| Some((h.attributes(), f64::from(u8::from(h.drift?)))))
            .collect(),
        "domain_monitor.health.expiry.warning" => snapshot
            .health
            .iter()
            .map(|h| (h.attributes(), h.expiry_warning.as_secs_f64()))
            .collect(),
        "domain_monitor.health.dnssec.valid" => snapshot
            .health
            .iter()
            .filter_map(|h| Some((h.attributes(), f64::from(u8::from(h.dnssec_valid?)))))
            .collect(),
        "domain_monitor.health.dnssec.signature_expiry" => snapshot
            .health
            .iter()
            .filter_map(|h| Some((h.attributes(), h.signature_expires_at? as f64)))
            .collect(),
        "domain_monitor.dhc.certificate.expiry" => snapshot
            .certificate_expiries
            .iter()
            .map(|(labels, expiry)| (labels.pairs(), expiry.not_after as f64))
            .collect(),
        "domain_monitor.dhc.certificate.expiry.warning" => snapshot
            .certificate_expiries
            .iter()
            .map(|(labels, expiry)| (labels.pairs(), expiry.warning.as_secs_f64()))
            .collect(),
        "domain_monitor.dhc.propagation.pending_since" => snapshot
            .propagation_pending
            .iter()
            .map(|(labels, since)| (labels.pairs(), *since as f64))
            .collect(),
        "domain_monitor.uptime" => vec![(Vec::new(), uptime.as_secs_f64())],
        "domain_monitor.ratelimit.waits" => snapshot
            .rate_limit_waits
            .iter()
            .map(|w| (layer(w), w.waits as f64))
            .collect(),
        "domain_monitor.ratelimit.wait" => snapshot
            .rate_limit_waits
            .iter()
            .map(|w| (layer(w), w.waited.as_secs_f64()))
            .collect(),
        _ => Vec::new(),
    }
}

/// Takes a [`Snapshot`]; called at every collection.
pub type SnapshotSource = Arc<dyn Fn() -> Snapshot + Send + Sync>;

/// Where recordings go besides the in-process registry (OTLP).
pub trait Export: Send + Sync {
    /// `by` was added to counter `instrument` with these attributes.
    fn count(&self, instrument: &'static Instrument, attributes: &Attributes, by: u64);
    /// `seconds` was recorded in histogram `instrument`.
    fn time(&self, instrument: &'static Instrument, attributes: &Attributes, seconds: f64);
}

type ExportSlot = Arc<OnceLock<Box<dyn Export>>>;

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// A monotonic counter with labels `L`.
pub struct Counter<L: LabelSet> {
    instrument: &'static Instrument,
    series: Mutex<HashMap<L, u64>>,
    export: ExportSlot,
}

impl<L: LabelSet> Counter<L> {
    fn new(instrument: &'static Instrument, export: &ExportSlot) -> Self {
        debug_assert_eq!(instrument.attributes, L::KEYS, "{}", instrument.name);
        Self {
            instrument,
            series: Mutex::new(HashMap::new()),
            export: Arc::clone(export),
        }
    }

    /// Adds `by` to the series `labels`.
    pub fn add(&self, labels: L, by: u64) {
        if let Some(export) = self.export.get() {
            export.count(self.instrument, &labels.pairs(), by);
        }
        *lock(&self.series).entry(labels).or_default() += by;
    }

    /// Adds one to the series `labels`.
    pub fn inc(&self, labels: L) {
        self.add(labels, 1);
    }

    /// The value of the series `labels` (0 when never recorded).
    pub fn get(&self, labels: &L) -> u64 {
        lock(&self.series).get(labels).copied().unwrap_or(0)
    }

    /// The sum over every series.
    pub fn total(&self) -> u64 {
        lock(&self.series).values().sum()
    }

    /// Every series recorded, with its value.
    pub fn series(&self) -> Vec<(L, u64)> {
        lock(&self.series).iter().map(|(l, v)| (*l, *v)).collect()
    }
}

/// A histogram of durations (seconds) with labels `L`.
pub struct Timer<L: LabelSet> {
    instrument: &'static Instrument,
    series: Mutex<HashMap<L, TimerStats>>,
    export: ExportSlot,
}

impl<L: LabelSet> Timer<L> {
    fn new(instrument: &'static Instrument, export: &ExportSlot) -> Self {
        debug_assert_eq!(instrument.attributes, L::KEYS, "{}", instrument.name);
        Self {
            instrument,
            series: Mutex::new(HashMap::new()),
            export: Arc::clone(export),
        }
    }

    /// Records `duration` in the series `labels`.
    pub fn record(&self, labels: L, duration: Duration) {
        if let Some(export) = self.export.get() {
            export.time(self.instrument, &labels.pairs(), duration.as_secs_f64());
        }
        lock(&self.series)
            .entry(labels)
            .or_insert_with(|| TimerStats::new(self.instrument.buckets))
            .record(duration.as_secs_f64() * 1000.0);
    }

    /// The summary of the series `labels`, if recorded.
    pub fn summary(&self, labels: &L) -> Option<TimerSummary> {
        lock(&self.series).get(labels).map(TimerStats::summary)
    }

    /// Forgets every series `keep` refuses (the series of a deleted
    /// object; the OTLP exporter keeps what it already exported).
    pub fn retain(&self, keep: impl Fn(&L) -> bool) {
        lock(&self.series).retain(|l, _| keep(l));
    }

    /// Every series recorded, as a histogram.
    pub fn histograms(&self) -> Vec<(L, Histogram)> {
        lock(&self.series)
            .iter()
            .map(|(l, t)| (*l, t.histogram()))
            .collect()
    }
}

/// A family seen without its label type: what the views need.
pub trait Family: Send + Sync {
    /// The instrument.
    fn instrument(&self) -> &'static Instrument;
    /// Forgets every series.
    fn reset(&self);
}

/// A counter family seen without its label type.
pub trait CounterFamily: Family {
    /// Attributes and value of each series.
    fn collect(&self) -> Vec<(Attributes, u64)>;
}

/// A timer family seen without its label type.
pub trait TimerFamily: Family {
    /// Attributes and histogram of each series.
    fn collect(&self) -> Vec<(Attributes, Histogram)>;
    /// Attributes and summary of each series.
    fn summaries(&self) -> Vec<(Attributes, TimerSummary)>;
}

impl<L: LabelSet> Family for Counter<L> {
    fn instrument(&self) -> &'static Instrument {
        self.instrument
    }

    fn reset(&self) {
        // Kept at zero, not forgotten: the preset series stay visible.
        lock(&self.series).values_mut().for_each(|v| *v = 0);
    }
}

impl<L: LabelSet> CounterFamily for Counter<L> {
    fn collect(&self) -> Vec<(Attributes, u64)> {
        lock(&self.series)
            .iter()
            .map(|(l, v)| (l.pairs(), *v))
            .collect()
    }
}

impl<L: LabelSet> Family for Timer<L> {
    fn instrument(&self) -> &'static Instrument {
        self.instrument
    }

    fn reset(&self) {
        lock(&self.series)
            .values_mut()
            .for_each(|t| *t = TimerStats::new(self.instrument.buckets));
    }
}

impl<L: LabelSet> TimerFamily for Timer<L> {
    fn collect(&self) -> Vec<(Attributes, Histogram)> {
        lock(&self.series)
            .iter()
            .map(|(l, t)| (l.pairs(), t.histogram()))
            .collect()
    }

    fn summaries(&self) -> Vec<(Attributes, TimerSummary)> {
        lock(&self.series)
            .iter()
            .map(|(l, t)| (l.pairs(), t.summary()))
            .collect()
    }
}

/// The key of a series in the JSON view: its values joined by the
/// instrument's separator (`dns/registered`; empty without labels).
pub fn json_key(instrument: &Instrument, attributes: &Attributes) -> String {
    let values: Vec<&str> = attributes.iter().map(|(_, v)| v.as_ref()).collect();
    values.join(instrument.json_separator)
}

/// The registry: every counted instrument, typed. Cheap to share behind an
/// `Arc`.
pub struct Metrics {
    started: Instant,
    export: ExportSlot,
    /// `domain_monitor.checks`.
    pub checks: Counter<CheckLabels>,
    /// `domain_monitor.check.duration`.
    pub check_duration: Timer<CheckerLabels>,
    /// `domain_monitor.verdicts`.
    pub verdicts: Counter<AvailabilityLabels>,
    /// `domain_monitor.transitions`.
    pub transitions: Counter<TransitionLabels>,
    /// `domain_monitor.callbacks`.
    pub callbacks: Counter<CallbackLabels>,
    /// `domain_monitor.callback.duration`.
    pub callback_duration: Timer<CallbackKindLabels>,
    /// `domain_monitor.rate_limited`.
    pub rate_limited: Counter<CheckerLabels>,
    /// `domain_monitor.status.writes`.
    pub status_writes: Counter<WriteReasonLabels>,
    /// `domain_monitor.status.changes`.
    pub status_changes: Counter<StatusFieldLabels>,
    /// `domain_monitor.first_checks`.
    pub first_checks: Counter<NoLabels>,
    /// `domain_monitor.checks.deferred`.
    pub checks_deferred: Counter<NoLabels>,
    /// `domain_monitor.reconcile.errors`.
    pub reconcile_errors: Counter<ReconcileErrorLabels>,
    /// `domain_monitor.sync.runs`.
    pub sync_runs: Counter<SyncRunLabels>,
    /// `domain_monitor.sync.duration`.
    pub sync_duration: Timer<SyncTriggerLabels>,
    /// `domain_monitor.sync.rejected_entries`.
    pub sync_rejected: Counter<NoLabels>,
    /// `http.server.request.duration`.
    pub http_server_duration: Timer<HttpRequestLabels>,
    /// `domain_monitor.health.registration.changes`.
    pub health_changes: Counter<HealthChangeLabels>,
    /// `dns.lookup.duration`.
    pub dns_lookup_duration: Timer<dhc::DnsLookupLabels>,
    /// `domain_monitor.dhc.propagation.duration`.
    pub propagation_duration: Timer<dhc::PropagationLabels>,
    /// The values of `domain_monitor.dhc.certificate.expiry` and
    /// `.expiry.warning`.
    pub certificate_expiries: dhc::CheckGauges<dhc::CertificateLabels, dhc::CertificateExpiry>,
    /// The values of `domain_monitor.dhc.propagation.pending_since`.
    pub propagation_pending: dhc::CheckGauges<dhc::PropagationLabels, i64>,
    /// `domain_monitor.dhc.canary.delay`.
    pub canary_delay: Timer<dhc::CanaryLabels>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("started", &self.started)
            .field("exporting", &self.export.get().is_some())
            .finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// An empty registry; uptime counts from now.
    pub fn new() -> Self {
        use instruments as i;
        let export: ExportSlot = Arc::new(OnceLock::new());
        Self {
            started: Instant::now(),
            checks: Counter::new(&i::CHECKS, &export),
            check_duration: Timer::new(&i::CHECK_DURATION, &export),
            verdicts: Counter::new(&i::VERDICTS, &export),
            transitions: Counter::new(&i::TRANSITIONS, &export),
            callbacks: Counter::new(&i::CALLBACKS, &export),
            callback_duration: Timer::new(&i::CALLBACK_DURATION, &export),
            rate_limited: Counter::new(&i::RATE_LIMITED, &export),
            status_writes: Counter::new(&i::STATUS_WRITES, &export),
            status_changes: Counter::new(&i::STATUS_CHANGES, &export),
            first_checks: Counter::new(&i::FIRST_CHECKS, &export),
            checks_deferred: Counter::new(&i::CHECKS_DEFERRED, &export),
            reconcile_errors: Counter::new(&i::RECONCILE_ERRORS, &export),
            sync_runs: Counter::new(&i::SYNC_RUNS, &export),
            sync_duration: Timer::new(&i::SYNC_DURATION, &export),
            sync_rejected: Counter::new(&i::SYNC_REJECTED, &export),
            http_server_duration: Timer::new(&i::HTTP_SERVER_DURATION, &export),
            health_changes: Counter::new(&i::HEALTH_CHANGES, &export),
            dns_lookup_duration: Timer::new(&i::DNS_LOOKUP_DURATION, &export),
            propagation_duration: Timer::new(&i::PROPAGATION_DURATION, &export),
            certificate_expiries: dhc::CheckGauges::default(),
            propagation_pending: dhc::CheckGauges::default(),
            canary_delay: Timer::new(&i::CANARY_DELAY, &export),
            export,
        }
        .preset()
    }

    /// Starts at zero every series an alert or a dashboard compares over
    /// time, so that the first increment of each is a visible change
    /// (`rate()` cannot see the first sample of a new series).
    fn preset(self) -> Self {
        use labels::{CallbackKind as K, CallbackOutcome as O};
        for checker in CheckKind::ALL {
            for result in CheckOutcome::ALL {
                self.checks.add(CheckLabels { checker, result }, 0);
            }
            self.rate_limited.add(CheckerLabels { checker }, 0);
        }
        for availability in Availability::ALL {
            self.verdicts.add(AvailabilityLabels { availability }, 0);
            for to in Availability::ALL
                .into_iter()
                .filter(|to| *to != availability)
            {
                let from = availability;
                self.transitions.add(TransitionLabels { from, to }, 0);
            }
        }
        // Histograms are not preset: OTLP has no empty histogram point, and
        // the pushed and the scraped series must be the same.
        for (kind, outcome) in [
            (K::Notification, O::Delivered),
            (K::Notification, O::Retry),
            (K::Notification, O::Rejected),
            (K::CheckResult, O::Delivered),
            (K::CheckResult, O::Failed),
            (K::CheckResult, O::Dropped),
        ] {
            self.callbacks.add(CallbackLabels { kind, outcome }, 0);
        }
        for reason in WriteReason::ALL {
            self.status_writes.add(WriteReasonLabels { reason }, 0);
        }
        for kind in labels::ReconcileErrorKind::ALL {
            self.reconcile_errors.add(ReconcileErrorLabels { kind }, 0);
        }
        for outcome in labels::SyncOutcome::ALL {
            self.sync_runs.add(SyncRunLabels { outcome }, 0);
        }
        for kind in crate::health::RegistrationChange::ALL {
            self.health_changes.add(HealthChangeLabels { kind }, 0);
        }
        self.first_checks.add(NoLabels, 0);
        self.checks_deferred.add(NoLabels, 0);
        self.sync_rejected.add(NoLabels, 0);
        self
    }

    /// Forwards every later recording to `export` as well (once; a second
    /// call is ignored). The counters' values so far, zeros included, are
    /// handed over first, so the exported totals match the registry's.
    pub fn export_to(&self, export: Box<dyn Export>) {
        if self.export.set(export).is_err() {
            return;
        }
        if let Some(export) = self.export.get() {
            for family in self.counter_families() {
                for (attributes, value) in family.collect() {
                    export.count(family.instrument(), &attributes, value);
                }
            }
        }
    }

    /// When the registry was created (start-up).
    pub fn started(&self) -> Instant {
        self.started
    }

    /// Time since start-up (not reset).
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// Every counter family.
    pub fn counter_families(&self) -> [&dyn CounterFamily; 13] {
        [
            &self.checks,
            &self.verdicts,
            &self.transitions,
            &self.callbacks,
            &self.rate_limited,
            &self.status_writes,
            &self.status_changes,
            &self.first_checks,
            &self.checks_deferred,
            &self.reconcile_errors,
            &self.sync_runs,
            &self.sync_rejected,
            &self.health_changes,
        ]
    }

    /// Every timer family.
    pub fn timer_families(&self) -> [&dyn TimerFamily; 7] {
        [
            &self.check_duration,
            &self.callback_duration,
            &self.sync_duration,
            &self.http_server_duration,
            &self.dns_lookup_duration,
            &self.propagation_duration,
            &self.canary_delay,
        ]
    }

    /// The JSON view of the counters: JSON name → series key → value
    /// (series that are still zero are left out).
    pub fn counters(&self) -> BTreeMap<&'static str, BTreeMap<String, u64>> {
        self.counter_families()
            .into_iter()
            .filter_map(|family| {
                let instrument = family.instrument();
                let series: BTreeMap<String, u64> = family
                    .collect()
                    .into_iter()
                    .filter(|(_, v)| *v > 0)
                    .map(|(attributes, v)| (json_key(instrument, &attributes), v))
                    .collect();
                (!series.is_empty()).then_some((instrument.json_key, series))
            })
            .collect()
    }

    /// The JSON view of the timers: JSON name → series key → summary.
    pub fn timers(&self) -> BTreeMap<&'static str, BTreeMap<String, TimerSummary>> {
        self.timer_families()
            .into_iter()
            .filter_map(|family| {
                let instrument = family.instrument();
                let series: BTreeMap<String, TimerSummary> = family
                    .summaries()
                    .into_iter()
                    .filter(|(_, s)| s.count > 0)
                    .map(|(attributes, s)| (json_key(instrument, &attributes), s))
                    .collect();
                (!series.is_empty()).then_some((instrument.json_key, series))
            })
            .collect()
    }

    /// Sets counters back to zero and clears timers (uptime goes on). The
    /// exported OTLP totals are not reset: they stay monotonic.
    pub fn reset(&self) {
        for family in self.counter_families() {
            family.reset();
        }
        for family in self.timer_families() {
            family.reset();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{labels::*, *};

    fn dns(result: CheckOutcome) -> CheckLabels {
        CheckLabels {
            checker: CheckKind::Dns,
            result,
        }
    }

    #[test]
    fn timers_summarise_and_reset_clears() {
        let metrics = Metrics::new();
        let checker = CheckerLabels {
            checker: CheckKind::Dns,
        };
        for ms in 1..=100 {
            metrics
                .check_duration
                .record(checker, Duration::from_millis(ms));
        }
        metrics.checks.add(dns(CheckOutcome::Registered), 3);
        let summary = &metrics.timers()["check_duration"]["dns"];
        assert_eq!(summary.count, 100);
        assert_eq!(summary.min_ms, 1.0);
        assert_eq!(summary.max_ms, 100.0);
        assert_eq!(summary.avg_ms, 50.5);
        assert_eq!(summary.p50_ms, 51.0);
        assert_eq!(summary.p99_ms, 99.0);
        assert_eq!(metrics.checks.get(&dns(CheckOutcome::Registered)), 3);
        assert_eq!(metrics.counters()["check_results"]["dns/registered"], 3);
        metrics.reset();
        assert!(metrics.timers().is_empty() && metrics.counters().is_empty());
        assert_eq!(metrics.checks.get(&dns(CheckOutcome::Registered)), 0);
    }

    #[test]
    fn json_keys_join_the_typed_values() {
        let metrics = Metrics::new();
        metrics.transitions.inc(TransitionLabels {
            from: Availability::Registered,
            to: Availability::Available,
        });
        metrics.http_server_duration.record(
            HttpRequestLabels {
                method: HttpMethod::Get,
                route: "/domain/{domain}",
                status: 404,
            },
            Duration::from_millis(2),
        );
        metrics.first_checks.inc(NoLabels);
        let counters = metrics.counters();
        assert_eq!(counters["transitions"]["Registered->Available"], 1);
        assert_eq!(counters["first_checks"][""], 1);
        assert_eq!(
            metrics.timers()["http_server_request_duration"]["GET /domain/{domain} 404"].count,
            1
        );
    }

    #[test]
    fn names_follow_prometheus_translation_and_families_match_their_instruments() {
        let names = prometheus_names();
        for expected in [
            "domain_monitor_checks_total",
            "domain_monitor_check_duration_seconds_bucket",
            "domain_monitor_check_duration_seconds_count",
            "domain_monitor_ratelimit_wait_seconds_total",
            "domain_monitor_ratelimit_waits_total",
            "domain_monitor_domains",
            "domain_monitor_uptime_seconds",
            "domain_monitor_notifications_pending",
            "domain_monitor_notifications_pending_age_seconds",
            "http_server_request_duration_seconds_bucket",
        ] {
            assert!(names.iter().any(|n| n == expected), "{expected}: {names:?}");
        }
        let metrics = Metrics::new();
        let families: Vec<&'static Instrument> = metrics
            .counter_families()
            .iter()
            .map(|f| f.instrument())
            .chain(metrics.timer_families().iter().map(|f| f.instrument()))
            .collect();
        // Every counted instrument has a family, and only those.
        for instrument in INSTRUMENTS {
            let counted = matches!(instrument.kind, Kind::Counter | Kind::Histogram);
            assert_eq!(
                families.iter().any(|f| f.name == instrument.name),
                counted,
                "{}",
                instrument.name
            );
            assert!(!instrument.description.is_empty(), "{}", instrument.name);
        }
        assert_eq!(
            instruments::HTTP_SERVER_DURATION.prometheus_labels(),
            [
                "http_request_method",
                "http_route",
                "http_response_status_code"
            ]
        );
    }

    /// Records what reaches the exporter.
    #[derive(Default)]
    struct Recorded(Mutex<Vec<(&'static str, String, u64)>>);

    impl Export for Arc<Recorded> {
        fn count(&self, instrument: &'static Instrument, attributes: &Attributes, by: u64) {
            lock(&self.0).push((instrument.name, json_key(instrument, attributes), by));
        }
        fn time(&self, _: &'static Instrument, _: &Attributes, _: f64) {}
    }

    #[test]
    fn alerted_series_start_at_zero_and_reach_the_exporter_with_what_came_before() {
        let metrics = Metrics::new();
        let rejected = CallbackLabels {
            kind: CallbackKind::Notification,
            outcome: CallbackOutcome::Rejected,
        };
        assert_eq!(metrics.callbacks.series().len(), 6);
        assert!(
            metrics
                .sync_runs
                .series()
                .iter()
                .any(|(l, v)| l.outcome == SyncOutcome::Refused && *v == 0)
        );
        // Zeros stay out of the JSON view.
        assert!(!metrics.counters().contains_key("callbacks"));
        metrics.checks.add(dns(CheckOutcome::Error), 2);
        let recorded = Arc::new(Recorded::default());
        metrics.export_to(Box::new(Arc::clone(&recorded)));
        metrics.callbacks.inc(rejected);
        let seen = lock(&recorded.0).clone();
        assert!(seen.contains(&("domain_monitor.checks", "dns/error".to_owned(), 2)));
        assert!(seen.contains(&("domain_monitor.sync.runs", "refused".to_owned(), 0)));
        assert_eq!(
            seen.iter()
                .filter(|(n, k, _)| *n == "domain_monitor.callbacks" && k == "notification/rejected")
                .map(|(_, _, by)| by)
                .sum::<u64>(),
            1
        );
    }

    #[test]
    fn the_readme_lists_every_instrument_under_both_names() {
        let readme = include_str!("../../README.md");
        for instrument in INSTRUMENTS {
            for name in [instrument.name.to_owned(), instrument.prometheus_name()] {
                assert!(
                    readme.contains(&format!("`{name}`")),
                    "README.md does not list `{name}`"
                );
            }
        }
    }

    #[test]
    fn the_percentile_window_is_bounded() {
        let metrics = Metrics::new();
        let labels = CallbackKindLabels {
            kind: CallbackKind::Notification,
        };
        for _ in 0..(WINDOW * 3) {
            metrics
                .callback_duration
                .record(labels, Duration::from_millis(5));
        }
        let series = lock(&metrics.callback_duration.series);
        assert_eq!(series[&labels].window.len(), WINDOW);
    }

    #[test]
    fn dnssec_gauges_are_absent_until_known_and_never_negative() {
        let unchecked = HealthGauges {
            namespace: "shop".into(),
            name: "example-com".into(),
            domain: "example.com".into(),
            criticality: "critical".into(),
            expiry_warning: Duration::from_secs(45 * 86_400),
            ..HealthGauges::default()
        };
        let signed = HealthGauges {
            name: "signed-com".into(),
            domain: "signed.com".into(),
            dnssec_valid: Some(false),
            signature_expires_at: Some(1_800_000_000),
            ..unchecked.clone()
        };
        let snapshot = Snapshot {
            health: vec![unchecked, signed],
            ..Snapshot::default()
        };
        let values = |instrument: &Instrument| -> Vec<(String, f64)> {
            collected(instrument, &snapshot, Duration::ZERO)
                .into_iter()
                .map(|(attributes, v)| (json_key(instrument, &attributes), v))
                .collect()
        };
        assert_eq!(
            values(&instruments::HEALTH_DNSSEC_VALID),
            [("shop/signed-com/signed.com/critical".to_owned(), 0.0)]
        );
        assert_eq!(
            values(&instruments::HEALTH_DNSSEC_SIGNATURE_EXPIRY),
            [("shop/signed-com/signed.com/critical".to_owned(), 1.8e9)]
        );
        // The warning is known from the spec alone: every domain has it.
        assert_eq!(
            values(&instruments::HEALTH_EXPIRY_WARNING),
            [
                (
                    "shop/example-com/example.com/critical".to_owned(),
                    3_888_000.0
                ),
                (
                    "shop/signed-com/signed.com/critical".to_owned(),
                    3_888_000.0
                )
            ]
        );
        assert_eq!(
            instruments::HEALTH_DNSSEC_SIGNATURE_EXPIRY.prometheus_name(),
            "domain_monitor_health_dnssec_signature_expiry_seconds"
        );
    }

    #[test]
    fn every_counter_and_timer_is_exported() {
        // A family missing from INSTRUMENTS is counted but never scraped
        // nor pushed (as `checks.deferred` was at first).
        let metrics = Metrics::new();
        let names = metrics
            .counter_families()
            .iter()
            .map(|f| f.instrument().name)
            .chain(metrics.timer_families().iter().map(|f| f.instrument().name))
            .collect::<Vec<_>>();
        let text = super::prometheus::render(&metrics, &Snapshot::default());
        for name in names {
            let instrument = INSTRUMENTS.iter().find(|i| i.name == name);
            assert!(instrument.is_some(), "{name} is not in INSTRUMENTS");
            let base = instrument
                .map(Instrument::prometheus_base)
                .unwrap_or_default();
            assert!(
                text.contains(&format!("# TYPE {base}")),
                "{name} is not in the Prometheus text"
            );
        }
    }

    #[test]
    fn the_notification_age_is_absent_when_nothing_is_pending() {
        let age = &instruments::NOTIFICATIONS_PENDING_AGE;
        assert!(collected(age, &Snapshot::default(), Duration::ZERO).is_empty());
        let snapshot = Snapshot {
            notifications_pending: 2,
            oldest_pending_notification: Some(Duration::from_secs(90)),
            ..Snapshot::default()
        };
        assert_eq!(
            collected(age, &snapshot, Duration::ZERO),
            [(Vec::new(), 90.0)]
        );
    }
}
