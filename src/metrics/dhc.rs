//! The labels of `dns.lookup.duration`, of
//! `domain_monitor.dhc.propagation.*`, of
//! `domain_monitor.dhc.canary.delay` and of
//! `domain_monitor.dhc.certificate.*`, the bounds on their series, and
//! the gauges checks set ([`CheckGauges`]).
//!
//! Its label values come from users' DomainHealthChecks (namespace, name,
//! record names, resolver names), not from a closed set. Two bounds keep
//! the number of series, and the memory behind them, finite:
//! - per check, at most [`SERIES_PER_CHECK`] label sets
//!   ([`SeriesBudget`]); probes beyond it are recorded with the question
//!   name [`OVERFLOW`], so their latency still counts per resolver, type
//!   and outcome; canary series beyond it are recorded with the resolver
//!   name [`OVERFLOW`];
//! - per process, at most [`MAX_INTERNED`] distinct label words
//!   ([`intern`]); later words become [`OVERFLOW`]. Words are interned
//!   (leaked once, shared after) because label sets are `Copy`, like every
//!   other label set of the registry.

use std::{
    borrow::Cow,
    collections::{HashMap, HashSet},
    sync::{Mutex, OnceLock},
};

use super::labels::{LabelSet, LabelValue, label_set};
use crate::resource::dhc::{LookupOutcome, ProbeRecordType};

/// Label sets one check may record at most.
pub const SERIES_PER_CHECK: usize = 256;
/// Distinct label words kept at most in the process.
pub const MAX_INTERNED: usize = 16_384;
/// The word that stands in for what is over a bound.
pub const OVERFLOW: &str = "_other";

label_set!(
    /// The labels of one `dns.lookup.duration` series.
    DnsLookupLabels {
        /// The check's namespace.
        namespace: &'static str,
        /// The check's name.
        name: &'static str,
        /// The name asked (fully qualified, without the final dot).
        question as "dns.question.name": &'static str,
        /// The type asked.
        record_type as "dns.question.type": ProbeRecordType,
        /// The resolver's name.
        resolver: &'static str,
        /// How it answered.
        outcome: LookupOutcome,
    }
);

impl LabelValue for ProbeRecordType {
    fn label_value(&self) -> Cow<'static, str> {
        Cow::Borrowed(self.as_str())
    }
}

impl LabelValue for LookupOutcome {
    fn label_value(&self) -> Cow<'static, str> {
        Cow::Borrowed(self.label())
    }
}

label_set!(
    /// The labels of one `domain_monitor.dhc.propagation.duration` or
    /// `domain_monitor.dhc.propagation.pending_since` series.
    #[derive(PartialOrd, Ord)]
    PropagationLabels {
        /// The check's namespace.
        namespace: &'static str,
        /// The check's name.
        name: &'static str,
        /// The resolver's name.
        resolver: &'static str,
    }
);

label_set!(
    /// The labels of one `domain_monitor.dhc.certificate.expiry` series: one
    /// per `spec.tls` endpoint, so at most 16 per check (the CRD's bound).
    #[derive(PartialOrd, Ord)]
    CertificateLabels {
        /// The check's namespace.
        namespace: &'static str,
        /// The check's name.
        name: &'static str,
        /// The endpoint's host (OpenTelemetry `server.address`).
        address as "server.address": &'static str,
        /// Its port (`server.port`).
        port as "server.port": u16,
        /// The server name sent (`tls.client.server_name`).
        server_name as "tls.client.server_name": &'static str,
    }
);

/// The check a label set belongs to.
pub trait OfCheck {
    /// Its namespace and name.
    fn check(&self) -> (&'static str, &'static str);
}

impl OfCheck for CertificateLabels {
    fn check(&self) -> (&'static str, &'static str) {
        (self.namespace, self.name)
    }
}

impl OfCheck for PropagationLabels {
    fn check(&self) -> (&'static str, &'static str) {
        (self.namespace, self.name)
    }
}

impl OfCheck for DnsLookupLabels {
    fn check(&self) -> (&'static str, &'static str) {
        (self.namespace, self.name)
    }
}

impl OfCheck for CanaryLabels {
    fn check(&self) -> (&'static str, &'static str) {
        (self.namespace, self.name)
    }
}

/// Removes every series of the deleted check `namespace`/`name`: its
/// `dns.lookup.duration`, `domain_monitor.dhc.propagation.*`,
/// `domain_monitor.dhc.canary.delay` and certificate series, so that
/// deleted checks do not pile up in the exposition. Only on deletion: a
/// check whose spec changes keeps its histograms (and its counts).
pub fn forget_check(metrics: &super::Metrics, namespace: &str, name: &str) {
    let other = |l: &dyn OfCheck| l.check() != (namespace, name);
    metrics.dns_lookup_duration.retain(|l| other(l));
    metrics.propagation_duration.retain(|l| other(l));
    metrics.canary_delay.retain(|l| other(l));
    metrics.certificate_expiries.forget(namespace, name);
    metrics.propagation_pending.forget(namespace, name);
}

/// The value of the certificate gauges of one endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CertificateExpiry {
    /// The leaf's `notAfter`, Unix seconds
    /// (`domain_monitor.dhc.certificate.expiry`).
    pub not_after: i64,
    /// The check's `certificateWarning`
    /// (`domain_monitor.dhc.certificate.expiry.warning`).
    pub warning: std::time::Duration,
}

/// The values of a gauge family that checks' tasks set: what each check
/// last set, kept until its task stops ([`CheckGauges::forget`]).
#[derive(Debug)]
pub struct CheckGauges<L, V> {
    series: Mutex<HashMap<L, V>>,
}

impl<L, V> Default for CheckGauges<L, V> {
    fn default() -> Self {
        Self {
            series: Mutex::new(HashMap::new()),
        }
    }
}

impl<L: OfCheck + Copy + Eq + std::hash::Hash + Ord, V: Copy> CheckGauges<L, V> {
    /// Sets (`Some`) or removes (`None`) the value of `labels`.
    pub fn set(&self, labels: L, value: Option<V>) {
        let mut series = self.series.lock().unwrap_or_else(|e| e.into_inner());
        match value {
            Some(value) => {
                series.insert(labels, value);
            }
            None => {
                series.remove(&labels);
            }
        }
    }

    /// Removes every series of the check `namespace`/`name` that `keep`
    /// refuses.
    pub fn retain_of(&self, namespace: &str, name: &str, keep: impl Fn(&L) -> bool) {
        self.series
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|l, _| l.check() != (namespace, name) || keep(l));
    }

    /// Removes every series of the check `namespace`/`name`.
    pub fn forget(&self, namespace: &str, name: &str) {
        self.retain_of(namespace, name, |_| false);
    }

    /// Every series, sorted by labels.
    pub fn series(&self) -> Vec<(L, V)> {
        let mut all: Vec<_> = self
            .series
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(l, v)| (*l, *v))
            .collect();
        all.sort_by_key(|a| a.0);
        all
    }
}

/// What a `domain_monitor.dhc.canary.delay` sample is measured from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CanarySince {
    /// The publish time written in the canary (`t=`): publish → resolvable.
    Publish,
    /// The probe round that first saw the value at an authoritative
    /// server: authoritative → resolvable.
    Authoritative,
}

impl CanarySince {
    /// The `since` label (`publish`, `authoritative`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Publish => "publish",
            Self::Authoritative => "authoritative",
        }
    }
}

impl LabelValue for CanarySince {
    fn label_value(&self) -> Cow<'static, str> {
        Cow::Borrowed(self.as_str())
    }
}

label_set!(
    /// The labels of one `domain_monitor.dhc.canary.delay` series.
    CanaryLabels {
        /// The check's namespace.
        namespace: &'static str,
        /// The check's name.
        name: &'static str,
        /// The resolver's name.
        resolver: &'static str,
        /// What the delay is measured from.
        since: CanarySince,
    }
);

/// The process-wide copy of `word`, or [`OVERFLOW`] once
/// [`MAX_INTERNED`] words are kept.
pub fn intern(word: &str) -> &'static str {
    static WORDS: OnceLock<Mutex<HashMap<Box<str>, &'static str>>> = OnceLock::new();
    let mut words = WORDS
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(kept) = words.get(word) {
        return kept;
    }
    if words.len() >= MAX_INTERNED {
        return OVERFLOW;
    }
    let kept: &'static str = Box::leak(word.into());
    words.insert(word.into(), kept);
    kept
}

/// The label sets one check has recorded, up to [`SERIES_PER_CHECK`]
/// (lookups and canary delays together).
#[derive(Debug, Default)]
pub struct SeriesBudget {
    seen: HashSet<DnsLookupLabels>,
    canary: HashSet<CanaryLabels>,
}

impl SeriesBudget {
    fn has_room(&self) -> bool {
        self.seen.len() + self.canary.len() < SERIES_PER_CHECK
    }

    /// `labels` if it is a known series or the budget has room, else the
    /// same labels with the question name [`OVERFLOW`].
    pub fn admit(&mut self, labels: DnsLookupLabels) -> DnsLookupLabels {
        let room = self.has_room();
        admit_to(&mut self.seen, room, labels, |labels| DnsLookupLabels {
            question: OVERFLOW,
            ..labels
        })
    }

    /// `labels` if it is a known series or the budget has room, else the
    /// same labels with the resolver name [`OVERFLOW`].
    pub fn admit_canary(&mut self, labels: CanaryLabels) -> CanaryLabels {
        let room = self.has_room();
        admit_to(&mut self.canary, room, labels, |labels| CanaryLabels {
            resolver: OVERFLOW,
            ..labels
        })
    }
}

/// `labels` if `known` holds it, or added to `known` when there is `room`;
/// else `overflow(labels)`.
fn admit_to<L: Copy + Eq + std::hash::Hash>(
    known: &mut HashSet<L>,
    room: bool,
    labels: L,
    overflow: impl FnOnce(L) -> L,
) -> L {
    if known.contains(&labels) || (room && known.insert(labels)) {
        labels
    } else {
        overflow(labels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deleted_checks_histograms_leave_the_exposition() {
        use std::time::Duration;

        use crate::metrics::{Metrics, Snapshot, prometheus::render};
        let metrics = Metrics::new();
        for name in ["gone", "kept"] {
            metrics.dns_lookup_duration.record(
                DnsLookupLabels {
                    namespace: "web",
                    name,
                    question: "www.shop.example",
                    record_type: ProbeRecordType::A,
                    resolver: "a",
                    outcome: LookupOutcome::NOERROR,
                },
                Duration::from_millis(3),
            );
            let propagation = PropagationLabels {
                namespace: "web",
                name,
                resolver: "a",
            };
            metrics
                .propagation_duration
                .record(propagation, Duration::from_secs(30));
            metrics.canary_delay.record(
                CanaryLabels {
                    namespace: "web",
                    name,
                    resolver: "a",
                    since: CanarySince::Publish,
                },
                Duration::from_secs(60),
            );
        }
        let before = render(&metrics, &Snapshot::default());
        assert!(before.contains(r#"name="gone""#), "{before}");
        forget_check(&metrics, "web", "gone");
        let after = render(&metrics, &Snapshot::default());
        assert!(!after.contains(r#"name="gone""#), "{after}");
        for family in [
            "dns_lookup_duration_seconds_count",
            "domain_monitor_dhc_propagation_duration_seconds_count",
            "domain_monitor_dhc_canary_delay_seconds_count",
        ] {
            assert!(
                after.contains(&format!(r#"{family}{{namespace="web",name="kept""#)),
                "{family}: {after}"
            );
        }
    }

    /// The `n`th record of check team/web asked at resolver `a`.
    fn lookup(n: usize) -> DnsLookupLabels {
        DnsLookupLabels {
            namespace: "team",
            name: "web",
            question: intern(&format!("host{n}.example.com")),
            record_type: ProbeRecordType::A,
            resolver: "a",
            outcome: LookupOutcome::NOERROR,
        }
    }

    #[test]
    fn a_check_records_at_most_its_budget_of_series() {
        let mut budget = SeriesBudget::default();
        let labels = lookup;
        for n in 0..SERIES_PER_CHECK {
            assert_eq!(budget.admit(labels(n)), labels(n));
        }
        let over = budget.admit(labels(SERIES_PER_CHECK));
        assert_eq!(over.question, OVERFLOW);
        assert_eq!(over.resolver, "a");
        assert_eq!(budget.admit(labels(0)), labels(0), "known series stay");
        assert_eq!(
            labels(1).values(),
            ["team", "web", "host1.example.com", "A", "a", "noerror"]
        );
    }

    #[test]
    fn check_gauges_are_set_replaced_and_forgotten_per_check() {
        let gauges: CheckGauges<CertificateLabels, i64> = CheckGauges::default();
        let labels = |name: &'static str, port: u16| CertificateLabels {
            namespace: "team",
            name,
            address: "127.0.0.1",
            port,
            server_name: "www.example.com",
        };
        gauges.set(labels("web", 443), Some(1_800_000_000));
        gauges.set(labels("web", 8443), Some(1_700_000_000));
        gauges.set(labels("api", 443), Some(1_900_000_000));
        gauges.set(labels("web", 443), Some(1_800_086_400));
        assert_eq!(gauges.series().len(), 3);
        gauges.retain_of("team", "web", |l| l.port == 443);
        assert_eq!(gauges.series().len(), 2);
        gauges.forget("team", "web");
        assert_eq!(gauges.series(), [(labels("api", 443), 1_900_000_000)]);
        gauges.set(labels("api", 443), None);
        assert!(gauges.series().is_empty());
        assert_eq!(
            labels("api", 443).values(),
            ["team", "api", "127.0.0.1", "443", "www.example.com"]
        );
    }

    #[test]
    fn canary_series_share_the_budget_of_their_check() {
        let mut budget = SeriesBudget::default();
        for n in 0..SERIES_PER_CHECK - 1 {
            budget.admit(lookup(n));
        }
        let canary = |resolver: &'static str| CanaryLabels {
            namespace: "team",
            name: "web",
            resolver,
            since: CanarySince::Publish,
        };
        assert_eq!(budget.admit_canary(canary("a")), canary("a"));
        assert_eq!(budget.admit_canary(canary("b")).resolver, OVERFLOW);
        assert_eq!(budget.admit_canary(canary("a")), canary("a"), "known");
        assert_eq!(
            canary("a").values(),
            ["team", "web", "a", "publish"],
            "the label words"
        );
    }

    #[test]
    fn interned_words_are_shared() {
        let a = intern("resolver-x");
        let b = intern(&String::from("resolver-x"));
        assert!(std::ptr::eq(a, b));
    }
}
