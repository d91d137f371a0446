//! The labels of `dns.lookup.duration`,
//! `domain_monitor.dhc.propagation.duration` and
//! `domain_monitor.dhc.canary.delay`, and the bounds on their series.
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

use super::resource::{LookupOutcome, ProbeRecordType};
use crate::metrics::labels::{LabelSet, LabelValue};

/// Label sets one check may record at most.
pub const SERIES_PER_CHECK: usize = 256;
/// Distinct label words kept at most in the process.
pub const MAX_INTERNED: usize = 16_384;
/// The word that stands in for what is over a bound.
pub const OVERFLOW: &str = "_other";

/// The labels of one `dns.lookup.duration` series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DnsLookupLabels {
    /// The check's namespace.
    pub namespace: &'static str,
    /// The check's name.
    pub name: &'static str,
    /// The name asked (fully qualified, without the final dot).
    pub question: &'static str,
    /// The type asked.
    pub record_type: ProbeRecordType,
    /// The resolver's name.
    pub resolver: &'static str,
    /// How it answered.
    pub outcome: LookupOutcome,
}

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

impl LabelSet for DnsLookupLabels {
    const KEYS: &'static [&'static str] = &[
        "namespace",
        "name",
        "dns.question.name",
        "dns.question.type",
        "resolver",
        "outcome",
    ];

    fn values(&self) -> Vec<Cow<'static, str>> {
        vec![
            self.namespace.label_value(),
            self.name.label_value(),
            self.question.label_value(),
            self.record_type.label_value(),
            self.resolver.label_value(),
            self.outcome.label_value(),
        ]
    }
}

/// The labels of one `domain_monitor.dhc.propagation.duration` series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PropagationLabels {
    /// The check's namespace.
    pub namespace: &'static str,
    /// The check's name.
    pub name: &'static str,
    /// The resolver's name.
    pub resolver: &'static str,
}

impl LabelSet for PropagationLabels {
    const KEYS: &'static [&'static str] = &["namespace", "name", "resolver"];

    fn values(&self) -> Vec<Cow<'static, str>> {
        vec![
            self.namespace.label_value(),
            self.name.label_value(),
            self.resolver.label_value(),
        ]
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

/// The labels of one `domain_monitor.dhc.canary.delay` series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CanaryLabels {
    /// The check's namespace.
    pub namespace: &'static str,
    /// The check's name.
    pub name: &'static str,
    /// The resolver's name.
    pub resolver: &'static str,
    /// What the delay is measured from.
    pub since: CanarySince,
}

impl LabelSet for CanaryLabels {
    const KEYS: &'static [&'static str] = &["namespace", "name", "resolver", "since"];

    fn values(&self) -> Vec<Cow<'static, str>> {
        vec![
            self.namespace.label_value(),
            self.name.label_value(),
            self.resolver.label_value(),
            self.since.label_value(),
        ]
    }
}

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
        if self.seen.contains(&labels) {
            return labels;
        }
        if self.has_room() {
            self.seen.insert(labels);
            return labels;
        }
        DnsLookupLabels {
            question: OVERFLOW,
            ..labels
        }
    }

    /// `labels` if it is a known series or the budget has room, else the
    /// same labels with the resolver name [`OVERFLOW`].
    pub fn admit_canary(&mut self, labels: CanaryLabels) -> CanaryLabels {
        if self.canary.contains(&labels) {
            return labels;
        }
        if self.has_room() {
            self.canary.insert(labels);
            return labels;
        }
        CanaryLabels {
            resolver: OVERFLOW,
            ..labels
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_check_records_at_most_its_budget_of_series() {
        let mut budget = SeriesBudget::default();
        let labels = |n: usize| DnsLookupLabels {
            namespace: "team",
            name: "web",
            question: intern(&format!("host{n}.example.com")),
            record_type: ProbeRecordType::A,
            resolver: "a",
            outcome: LookupOutcome::NOERROR,
        };
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
    fn canary_series_share_the_budget_of_their_check() {
        let mut budget = SeriesBudget::default();
        for n in 0..SERIES_PER_CHECK - 1 {
            budget.admit(DnsLookupLabels {
                namespace: "team",
                name: "web",
                question: intern(&format!("host{n}.example.com")),
                record_type: ProbeRecordType::A,
                resolver: "a",
                outcome: LookupOutcome::NOERROR,
            });
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
