//! In-process metrics behind `GET /metrics`: counters and timers keyed by a
//! name and a label, kept since start-up or the last reset.
//!
//! Timers keep exact count/sum/min/max, histogram buckets, and a bounded
//! window of the latest samples for percentiles, so memory stays flat however
//! long it runs.
//!
//! Every counter and timer is also an OpenTelemetry instrument ([`INSTRUMENTS`]
//! gives its name, unit, description and attributes): when OTLP export is on,
//! [`Metrics::export_to`] forwards each recording to it, and
//! `GET /metrics/prometheus` renders the same names in the Prometheus text
//! format ([`prometheus`]).

pub mod prometheus;

use std::{
    collections::{BTreeMap, VecDeque},
    sync::{Arc, Mutex, OnceLock},
    time::{Duration, Instant},
};

use serde::Serialize;

/// Samples kept per timer for percentiles.
const WINDOW: usize = 1024;

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

/// Upper bounds (seconds) of the histogram buckets of every timer, in OTLP
/// and in the Prometheus text format alike.
pub const BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// A timer's samples by [`BUCKETS`].
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    /// Samples.
    pub count: u64,
    /// Their sum, in seconds.
    pub sum_seconds: f64,
    /// Samples per bucket, not cumulative; the last one is above every bound.
    pub buckets: [u64; BUCKETS.len() + 1],
}

#[derive(Debug, Default)]
struct Timer {
    count: u64,
    sum_ms: f64,
    min_ms: f64,
    max_ms: f64,
    /// Samples per bucket (not cumulative); the last one is `+Inf`.
    buckets: [u64; BUCKETS.len() + 1],
    window: VecDeque<f64>,
}

impl Timer {
    fn record(&mut self, ms: f64) {
        if self.count == 0 || ms < self.min_ms {
            self.min_ms = ms;
        }
        if ms > self.max_ms {
            self.max_ms = ms;
        }
        self.count += 1;
        self.sum_ms += ms;
        let bucket = BUCKETS
            .iter()
            .position(|bound| ms <= bound * 1000.0)
            .unwrap_or(BUCKETS.len());
        self.buckets[bucket] += 1;
        if self.window.len() == WINDOW {
            self.window.pop_front();
        }
        self.window.push_back(ms);
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

/// Names of the counters and timers, in one place.
pub mod names {
    /// Check results, label `checker/result`.
    pub const CHECK_RESULTS: &str = "check_results";
    /// Check durations, label = checker.
    pub const CHECK_DURATION: &str = "check_duration";
    /// Verdicts, label = availability.
    pub const VERDICTS: &str = "verdicts";
    /// Availability transitions, label `from->to`.
    pub const TRANSITIONS: &str = "transitions";
    /// Callback outcomes, label `kind/outcome`.
    pub const CALLBACKS: &str = "callbacks";
    /// Callback durations, label = kind.
    pub const CALLBACK_DURATION: &str = "callback_duration";
    /// Rate-limited check results, label = checker.
    pub const RATE_LIMITED: &str = "rate_limited";
    /// Status writes, label = reason (`first`, `facts`, `change`, `refresh`,
    /// `notification`, `invalid`).
    pub const STATUS_WRITES: &str = "status_writes";
    /// Status fields changed by writes for a change, label = the field's name.
    pub const STATUS_CHANGES: &str = "status_changes";
    /// Domains checked for the first time by this replica, no label.
    pub const FIRST_CHECKS: &str = "first_checks";
    /// Reconcile errors, label = error kind.
    pub const RECONCILE_ERRORS: &str = "reconcile_errors";
    /// Domain list syncs, label = outcome.
    pub const SYNC_RUNS: &str = "sync_runs";
    /// Domain list sync durations.
    pub const SYNC_DURATION: &str = "sync_duration";
    /// Entries the sync skipped as invalid.
    pub const SYNC_REJECTED: &str = "sync_rejected_entries";
    /// HTTP API calls, label `METHOD path status`.
    pub const API_CALLS: &str = "api_calls";
    /// HTTP API response times, label `METHOD path`.
    pub const API_DURATION: &str = "api_duration";
}

/// What kind of OpenTelemetry instrument a metric is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A monotonic counter, fed by [`Metrics::count`].
    Counter,
    /// A histogram in seconds, fed by [`Metrics::time`].
    Histogram,
    /// A value read when metrics are collected ([`Snapshot`]).
    Gauge,
    /// A monotonic total read when metrics are collected ([`Snapshot`]).
    ObservedCounter,
}

/// One exported metric: its OpenTelemetry name, unit and description, and
/// how its in-process label splits into attributes.
#[derive(Debug, Clone, Copy)]
pub struct Instrument {
    /// The in-process name ([`names`]); empty for collected values.
    pub key: &'static str,
    /// The OpenTelemetry name.
    pub name: &'static str,
    /// Kind.
    pub kind: Kind,
    /// UCUM unit; `{…}` annotations name what is counted.
    pub unit: &'static str,
    /// Description.
    pub description: &'static str,
    /// Attribute names, in the order the label lists their values.
    pub attributes: &'static [&'static str],
    /// What separates the values in the label.
    pub separator: &'static str,
}

impl Instrument {
    const fn new(key: &'static str, name: &'static str, kind: Kind, unit: &'static str) -> Self {
        Self {
            key,
            name,
            kind,
            unit,
            description: "",
            attributes: &[],
            separator: "/",
        }
    }

    const fn about(mut self, description: &'static str) -> Self {
        self.description = description;
        self
    }

    const fn split(mut self, attributes: &'static [&'static str], separator: &'static str) -> Self {
        self.attributes = attributes;
        self.separator = separator;
        self
    }

    /// The attributes of a recording labelled `label`.
    pub fn attributes_of<'a>(&self, label: &'a str) -> Vec<(&'static str, &'a str)> {
        if label.is_empty() || self.attributes.is_empty() {
            return Vec::new();
        }
        self.attributes
            .iter()
            .copied()
            .zip(label.splitn(self.attributes.len(), self.separator))
            .collect()
    }

    /// The name Prometheus gives this metric when it ingests it over OTLP
    /// (and the name `GET /metrics/prometheus` uses): dots become
    /// underscores, the unit becomes a suffix, counters end in `_total`.
    pub fn prometheus_name(&self) -> String {
        let mut name = self.name.replace('.', "_");
        if self.unit == "s" {
            name.push_str("_seconds");
        }
        if matches!(self.kind, Kind::Counter | Kind::ObservedCounter) {
            name.push_str("_total");
        }
        name
    }
}

/// Every metric the operator exports.
pub const INSTRUMENTS: &[Instrument] = &[
    Instrument::new(names::CHECK_RESULTS, "domain_monitor.checks", Kind::Counter, "{check}")
        .about("Checks run, by checker and result (registered, not_found, reserved, rate_limited, inconclusive, error).")
        .split(&["checker", "result"], "/"),
    Instrument::new(names::CHECK_DURATION, "domain_monitor.check.duration", Kind::Histogram, "s")
        .about("Time one check took, by checker.")
        .split(&["checker"], "/"),
    Instrument::new(names::VERDICTS, "domain_monitor.verdicts", Kind::Counter, "{verdict}")
        .about("Verdicts reached, by availability.")
        .split(&["availability"], "/"),
    Instrument::new(names::TRANSITIONS, "domain_monitor.transitions", Kind::Counter, "{transition}")
        .about("Availability changes written to a status, by old and new availability.")
        .split(&["from", "to"], "->"),
    Instrument::new(names::CALLBACKS, "domain_monitor.callbacks", Kind::Counter, "{callback}")
        .about("Callbacks to the user's API, by kind (notification, check_result) and outcome.")
        .split(&["kind", "outcome"], "/"),
    Instrument::new(names::CALLBACK_DURATION, "domain_monitor.callback.duration", Kind::Histogram, "s")
        .about("Time one callback delivery took, by kind.")
        .split(&["kind"], "/"),
    Instrument::new(names::RATE_LIMITED, "domain_monitor.rate_limited", Kind::Counter, "{check}")
        .about("Checks a server answered with a rate-limit or quota refusal, by checker.")
        .split(&["checker"], "/"),
    Instrument::new("", "domain_monitor.ratelimit.waits", Kind::ObservedCounter, "{wait}")
        .about("Requests that waited for this replica's rate-limit budget, by layer.")
        .split(&["layer"], "/"),
    Instrument::new("", "domain_monitor.ratelimit.wait", Kind::ObservedCounter, "s")
        .about("Time requests spent waiting for this replica's rate-limit budget, by layer.")
        .split(&["layer"], "/"),
    Instrument::new(names::STATUS_WRITES, "domain_monitor.status.writes", Kind::Counter, "{write}")
        .about("Status writes to the Kubernetes API server, by reason: first (a resource's first verdict), facts (its first registration facts), change, refresh (nothing changed for STATUS_HEARTBEAT), notification, invalid.")
        .split(&["reason"], "/"),
    Instrument::new(names::STATUS_CHANGES, "domain_monitor.status.changes", Kind::Counter, "{field}")
        .about("Status fields that changed, by field (availability, confidence, checks, registration, conditions, ...): what the writes for a change were for.")
        .split(&["field"], "/"),
    Instrument::new(names::FIRST_CHECKS, "domain_monitor.first_checks", Kind::Counter, "{domain}")
        .about("Domains checked for the first time by this replica (since it started or took their shard): the first pass is complete when this reaches the domains gauge."),
    Instrument::new("", "domain_monitor.status.pending_writes", Kind::Gauge, "{write}")
        .about("Status patches waiting for the API server (coalesced: at most one per domain)."),
    Instrument::new("", "domain_monitor.domains.unchecked", Kind::Gauge, "{domain}")
        .about("Domains this replica holds and has not checked yet."),
    Instrument::new(names::RECONCILE_ERRORS, "domain_monitor.reconcile.errors", Kind::Counter, "{error}")
        .about("Failed reconciles, by error kind.")
        .split(&["kind"], "/"),
    Instrument::new(names::SYNC_RUNS, "domain_monitor.sync.runs", Kind::Counter, "{run}")
        .about("Domain list syncs, by outcome.")
        .split(&["outcome"], "/"),
    Instrument::new(names::SYNC_DURATION, "domain_monitor.sync.duration", Kind::Histogram, "s")
        .about("Time one domain list sync took, by trigger (scheduled, refresh).")
        .split(&["trigger"], "/"),
    Instrument::new(names::SYNC_REJECTED, "domain_monitor.sync.rejected_entries", Kind::Counter, "{entry}")
        .about("Domain list entries skipped as invalid."),
    Instrument::new(names::API_CALLS, "domain_monitor.http.server.requests", Kind::Counter, "{request}")
        .about("Requests to the HTTP operations surface, by method, route and status.")
        .split(&["method", "route", "status"], " "),
    Instrument::new(names::API_DURATION, "domain_monitor.http.server.duration", Kind::Histogram, "s")
        .about("Response time of the HTTP operations surface, by method and route.")
        .split(&["method", "route"], " "),
    Instrument::new("", "domain_monitor.domains", Kind::Gauge, "{domain}")
        .about("Domains this replica watches, by availability.")
        .split(&["availability"], "/"),
    Instrument::new("", "domain_monitor.domains.priority", Kind::Gauge, "{domain}")
        .about("Priority domains this replica watches."),
    Instrument::new("", "domain_monitor.shards.held", Kind::Gauge, "{shard}")
        .about("Shards this replica holds."),
    Instrument::new("", "domain_monitor.shards.total", Kind::Gauge, "{shard}")
        .about("Shards the domain space is split into."),
    Instrument::new("", "domain_monitor.uptime", Kind::Gauge, "s")
        .about("Time since this replica started."),
];

/// The instrument fed by the in-process metric `key`.
pub fn instrument(key: &str) -> Option<&'static Instrument> {
    INSTRUMENTS
        .iter()
        .find(|i| !i.key.is_empty() && i.key == key)
}

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

/// Rate-limit waits of one layer since start-up.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RateLimitWaits {
    /// The layer (`dns`, `rdap`…).
    pub layer: &'static str,
    /// Requests that waited.
    pub waits: u64,
    /// Time spent waiting.
    pub waited: Duration,
}

/// Values read when metrics are collected rather than counted as they happen.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Watched domains by availability (every availability, zeros included).
    pub domains: BTreeMap<String, u64>,
    /// Watched priority domains.
    pub priority: u64,
    /// Shards held.
    pub shards_held: u64,
    /// Status patches waiting to be written.
    pub pending_writes: u64,
    /// Domains held and not checked yet.
    pub unchecked: u64,
    /// Shards in all.
    pub shards_total: u64,
    /// Rate-limit waits per layer.
    pub rate_limit_waits: Vec<RateLimitWaits>,
}

/// The values of a collected instrument ([`Kind::Gauge`] or
/// [`Kind::ObservedCounter`]): attributes and value of each series.
pub fn collected(
    instrument: &Instrument,
    snapshot: &Snapshot,
    uptime: Duration,
) -> Vec<(Vec<(&'static str, String)>, f64)> {
    #[allow(clippy::cast_precision_loss)]
    let plain = |value: u64| vec![(Vec::new(), value as f64)];
    #[allow(clippy::cast_precision_loss)]
    match instrument.name {
        "domain_monitor.domains" => snapshot
            .domains
            .iter()
            .map(|(availability, count)| {
                (vec![("availability", availability.clone())], *count as f64)
            })
            .collect(),
        "domain_monitor.domains.priority" => plain(snapshot.priority),
        "domain_monitor.shards.held" => plain(snapshot.shards_held),
        "domain_monitor.status.pending_writes" => plain(snapshot.pending_writes),
        "domain_monitor.domains.unchecked" => plain(snapshot.unchecked),
        "domain_monitor.shards.total" => plain(snapshot.shards_total),
        "domain_monitor.uptime" => vec![(Vec::new(), uptime.as_secs_f64())],
        "domain_monitor.ratelimit.waits" => snapshot
            .rate_limit_waits
            .iter()
            .map(|w| (vec![("layer", w.layer.to_owned())], w.waits as f64))
            .collect(),
        "domain_monitor.ratelimit.wait" => snapshot
            .rate_limit_waits
            .iter()
            .map(|w| (vec![("layer", w.layer.to_owned())], w.waited.as_secs_f64()))
            .collect(),
        _ => Vec::new(),
    }
}

/// Takes a [`Snapshot`]; called at every collection.
pub type SnapshotSource = Arc<dyn Fn() -> Snapshot + Send + Sync>;

/// Where recordings go besides the in-process registry (OTLP).
pub trait Export: Send + Sync {
    /// `by` was added to counter `instrument` with these attributes.
    fn count(&self, instrument: &'static Instrument, label: &str, by: u64);
    /// `duration` was recorded in timer `instrument`.
    fn time(&self, instrument: &'static Instrument, label: &str, duration: Duration);
}

/// The registry. Cheap to share behind an `Arc`.
pub struct Metrics {
    started: Instant,
    counters: Mutex<BTreeMap<&'static str, BTreeMap<String, u64>>>,
    timers: Mutex<BTreeMap<&'static str, BTreeMap<String, Timer>>>,
    export: OnceLock<Box<dyn Export>>,
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
        Self {
            started: Instant::now(),
            counters: Mutex::new(BTreeMap::new()),
            timers: Mutex::new(BTreeMap::new()),
            export: OnceLock::new(),
        }
    }

    /// Forwards every later recording to `export` as well (once; a second
    /// call is ignored).
    pub fn export_to(&self, export: Box<dyn Export>) {
        let _ = self.export.set(export);
    }

    /// When the registry was created (start-up).
    pub fn started(&self) -> Instant {
        self.started
    }

    /// Time since start-up (not reset).
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// Adds `by` to counter `name{label}`.
    pub fn count(&self, name: &'static str, label: impl Into<String>, by: u64) {
        let label = label.into();
        if let Some((export, instrument)) = self.export.get().zip(instrument(name)) {
            export.count(instrument, &label, by);
        }
        let mut counters = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        *counters.entry(name).or_default().entry(label).or_default() += by;
    }

    /// Records `duration` in timer `name{label}`.
    pub fn time(&self, name: &'static str, label: impl Into<String>, duration: Duration) {
        let label = label.into();
        if let Some((export, instrument)) = self.export.get().zip(instrument(name)) {
            export.time(instrument, &label, duration);
        }
        let mut timers = self.timers.lock().unwrap_or_else(|e| e.into_inner());
        timers
            .entry(name)
            .or_default()
            .entry(label)
            .or_default()
            .record(duration.as_secs_f64() * 1000.0);
    }

    /// A counter's value.
    pub fn counter(&self, name: &'static str, label: &str) -> u64 {
        let counters = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        counters
            .get(name)
            .and_then(|m| m.get(label))
            .copied()
            .unwrap_or(0)
    }

    /// Every counter: name → label → value.
    pub fn counters(&self) -> BTreeMap<&'static str, BTreeMap<String, u64>> {
        self.counters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Every timer: name → label → summary.
    pub fn timers(&self) -> BTreeMap<&'static str, BTreeMap<String, TimerSummary>> {
        let timers = self.timers.lock().unwrap_or_else(|e| e.into_inner());
        timers
            .iter()
            .map(|(name, by_label)| {
                (
                    *name,
                    by_label
                        .iter()
                        .map(|(l, t)| (l.clone(), t.summary()))
                        .collect(),
                )
            })
            .collect()
    }

    /// Every timer as a histogram: name → label → buckets.
    pub fn histograms(&self) -> BTreeMap<&'static str, BTreeMap<String, Histogram>> {
        let timers = self.timers.lock().unwrap_or_else(|e| e.into_inner());
        timers
            .iter()
            .map(|(name, by_label)| {
                let histograms = by_label
                    .iter()
                    .map(|(label, t)| {
                        let histogram = Histogram {
                            count: t.count,
                            sum_seconds: t.sum_ms / 1000.0,
                            buckets: t.buckets,
                        };
                        (label.clone(), histogram)
                    })
                    .collect();
                (*name, histograms)
            })
            .collect()
    }

    /// Clears counters and timers (uptime goes on).
    pub fn reset(&self) {
        self.counters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.timers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timers_summarise_and_reset_clears() {
        let metrics = Metrics::new();
        for ms in 1..=100 {
            metrics.time(names::CHECK_DURATION, "dns", Duration::from_millis(ms));
        }
        metrics.count(names::CHECK_RESULTS, "dns/registered", 3);
        let summary = &metrics.timers()[names::CHECK_DURATION]["dns"];
        assert_eq!(summary.count, 100);
        assert_eq!(summary.min_ms, 1.0);
        assert_eq!(summary.max_ms, 100.0);
        assert_eq!(summary.avg_ms, 50.5);
        assert_eq!(summary.p50_ms, 51.0);
        assert_eq!(summary.p99_ms, 99.0);
        assert_eq!(metrics.counter(names::CHECK_RESULTS, "dns/registered"), 3);
        metrics.reset();
        assert!(metrics.timers().is_empty() && metrics.counters().is_empty());
    }

    #[test]
    fn labels_split_into_attributes_and_names_follow_prometheus_translation() {
        let api = instrument(names::API_CALLS).unwrap();
        assert_eq!(
            api.attributes_of("GET /domain/{domain} 404"),
            [
                ("method", "GET"),
                ("route", "/domain/{domain}"),
                ("status", "404")
            ]
        );
        let transitions = instrument(names::TRANSITIONS).unwrap();
        assert_eq!(
            transitions.attributes_of("Registered->Available"),
            [("from", "Registered"), ("to", "Available")]
        );
        assert!(
            instrument(names::SYNC_REJECTED)
                .unwrap()
                .attributes_of("")
                .is_empty()
        );
        let names = prometheus_names();
        for expected in [
            "domain_monitor_checks_total",
            "domain_monitor_check_duration_seconds_bucket",
            "domain_monitor_check_duration_seconds_count",
            "domain_monitor_ratelimit_wait_seconds_total",
            "domain_monitor_ratelimit_waits_total",
            "domain_monitor_domains",
            "domain_monitor_uptime_seconds",
        ] {
            assert!(names.iter().any(|n| n == expected), "{expected}: {names:?}");
        }
    }

    #[test]
    fn every_recorded_metric_is_exported() {
        for name in [
            names::CHECK_RESULTS,
            names::CHECK_DURATION,
            names::VERDICTS,
            names::TRANSITIONS,
            names::CALLBACKS,
            names::CALLBACK_DURATION,
            names::RATE_LIMITED,
            names::STATUS_WRITES,
            names::RECONCILE_ERRORS,
            names::SYNC_RUNS,
            names::SYNC_DURATION,
            names::SYNC_REJECTED,
            names::API_CALLS,
            names::API_DURATION,
        ] {
            assert!(instrument(name).is_some(), "{name} has no instrument");
        }
    }

    #[test]
    fn the_percentile_window_is_bounded() {
        let metrics = Metrics::new();
        for _ in 0..(WINDOW * 3) {
            metrics.time(names::API_DURATION, "GET /status", Duration::from_millis(5));
        }
        let timers = metrics.timers.lock().unwrap();
        assert_eq!(
            timers[names::API_DURATION]["GET /status"].window.len(),
            WINDOW
        );
    }
}
