//! From probes to status, purely: each record's result at each resolver is
//! settled against `failureThreshold`, then the conditions are derived.
//!
//! - **Settling**: an answer (`NOERROR`, `NXDOMAIN`) shows at once. A
//!   failure (`SERVFAIL`, `REFUSED`, another RCODE, a timeout) shows only
//!   once it happened `failureThreshold` probes in a row; until then the
//!   status keeps the last settled result (none yet: the record is
//!   pending). So a single transient `SERVFAIL` changes nothing, and
//!   nothing is written.
//! - **`Resolving`**: `True` (`AllResolving`) when every settled result is
//!   `NOERROR`; `False` with `ResolverFailing` when a failure settled, else
//!   `NameNotFound` when a name is `NXDOMAIN`; `Unknown` (`Probing`) while
//!   nothing settled.
//! - **`AnswersMatch`**: `False` (`AnswerMismatch`) when a `NOERROR` answer
//!   misses an expectation, `True` when every `NOERROR` answer meets them,
//!   `Unknown` (`NoAnswers`) when no resolver answered `NOERROR`.
//!   `InvalidSpec` (`False` for both) when an expectation cannot be used
//!   (an invalid regular expression, a `domainRef` not found).
//! - Messages name the resolver, the record and what was found, at most
//!   [`MAX_LISTED`] problems; nothing volatile (no latency, no time) is in
//!   them, so an unchanged state gives an identical status.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use super::probe::{Matcher, unmet};
use crate::resource::dhc::{LookupOutcome, ProbeRecordType, RecordResult};

/// Condition type: every resolver answers every record.
pub const RESOLVING: &str = "Resolving";
/// Condition type: every answer meets its expectations.
pub const ANSWERS_MATCH: &str = "AnswersMatch";
/// Problems named in one condition message at most.
pub const MAX_LISTED: usize = 5;

/// One record of the spec, ready to probe.
#[derive(Debug, Clone)]
pub struct RecordPlan {
    /// Fully qualified, without the final dot.
    pub fqdn: String,
    /// The type asked.
    pub record_type: ProbeRecordType,
    /// The expectations.
    pub matchers: Vec<Matcher>,
}

/// A probe's result that may be a failure: what [`Settled`] holds back
/// until `failureThreshold` failures in a row.
pub trait ProbeResult: PartialEq {
    /// Whether the probe failed (no answer, no handshake) rather than
    /// reporting something about the target.
    fn failed(&self) -> bool;
}

impl ProbeResult for RecordResult {
    /// SERVFAIL, REFUSED, another failing rcode, a timeout or an error.
    fn failed(&self) -> bool {
        self.rcode.is_failure()
    }
}

/// What the status shows for one probe target (one record at one resolver,
/// one TLS endpoint), and the failures in a row not yet shown: a failure
/// is shown only from the `failureThreshold`-th in a row on, so a single
/// transient SERVFAIL or refused handshake does not flip a condition;
/// anything else is shown at once and clears the count.
#[derive(Debug, Clone, PartialEq)]
pub struct Settled<T> {
    /// What the status shows (`None`: pending).
    pub settled: Option<T>,
    /// Failed probes in a row since the last result that was not a failure.
    pub failures_in_row: u32,
}

impl<T> Default for Settled<T> {
    fn default() -> Self {
        Self {
            settled: None,
            failures_in_row: 0,
        }
    }
}

impl<T: ProbeResult> Settled<T> {
    /// Folds one probe's result in; `true` when what the status shows
    /// changed.
    pub fn observe(&mut self, observed: T, threshold: u32) -> bool {
        if observed.failed() {
            self.failures_in_row = self.failures_in_row.saturating_add(1);
            if self.failures_in_row < threshold.max(1) {
                return false;
            }
        } else {
            self.failures_in_row = 0;
        }
        let changed = self.settled.as_ref() != Some(&observed);
        self.settled = Some(observed);
        changed
    }
}

/// The settled result of one record at one resolver.
pub type Slot = Settled<RecordResult>;

/// One resolver's slots, in the order of the records.
#[derive(Debug, Clone)]
pub struct ResolverSlots<'a> {
    /// Its name.
    pub name: &'a str,
    /// Its slots.
    pub slots: &'a [Slot],
}

/// The two conditions for the settled slots of every resolver.
pub fn conditions(
    old: &[Condition],
    records: &[RecordPlan],
    resolvers: &[ResolverSlots<'_>],
    generation: Option<i64>,
    now: Timestamp,
) -> Vec<Condition> {
    let mut failing = Vec::new();
    let mut not_found = Vec::new();
    let mut mismatched = Vec::new();
    let (mut settled, mut answered, mut total) = (0usize, 0usize, 0usize);
    for resolver in resolvers {
        for (record, slot) in records.iter().zip(resolver.slots) {
            total += 1;
            let Some(result) = &slot.settled else {
                continue;
            };
            settled += 1;
            let what = format!(
                "{}: {} {}",
                resolver.name,
                record.fqdn,
                record.record_type.as_str()
            );
            match result.rcode {
                LookupOutcome::NOERROR => {
                    answered += 1;
                    if let Some(missing) =
                        unmet(&result.answers, &record.matchers, record.record_type)
                    {
                        let got = if result.answers.is_empty() {
                            "nothing".to_owned()
                        } else {
                            result.answers.join(", ")
                        };
                        mismatched.push(format!("{what} answered {got}; expected {missing}"));
                    }
                }
                LookupOutcome::NXDOMAIN => not_found.push(format!("{what} is NXDOMAIN")),
                failure => failing.push(format!("{what} {}", failure.as_str())),
            }
        }
    }
    let resolving = if !failing.is_empty() {
        (
            "False",
            "ResolverFailing",
            listed("Resolvers fail", &failing),
        )
    } else if !not_found.is_empty() {
        (
            "False",
            "NameNotFound",
            listed("Names do not exist", &not_found),
        )
    } else if settled == 0 {
        ("Unknown", "Probing", "No probe has settled yet.".to_owned())
    } else {
        (
            "True",
            "AllResolving",
            match resolvers.len() {
                1 => format!(
                    "The resolver answers every record ({settled} of {total} results settled)."
                ),
                n => format!(
                    "{n} resolvers answer every record ({settled} of {total} results settled)."
                ),
            },
        )
    };
    let matching = if !mismatched.is_empty() {
        (
            "False",
            "AnswerMismatch",
            listed("Answers differ from the expectations", &mismatched),
        )
    } else if answered == 0 {
        (
            "Unknown",
            "NoAnswers",
            "No resolver answered NOERROR yet.".to_owned(),
        )
    } else {
        (
            "True",
            "AnswersMatch",
            if answered == 1 {
                "Every answer meets its expectations (1 answer).".to_owned()
            } else {
                format!("Every answer meets its expectations ({answered} answers).")
            },
        )
    };
    vec![
        condition(old, RESOLVING, resolving, generation, now),
        condition(old, ANSWERS_MATCH, matching, generation, now),
    ]
}

/// Both conditions `False` with reason `InvalidSpec` and `message`.
pub fn invalid_spec(
    old: &[Condition],
    message: &str,
    generation: Option<i64>,
    now: Timestamp,
) -> Vec<Condition> {
    [RESOLVING, ANSWERS_MATCH]
        .into_iter()
        .map(|type_| {
            condition(
                old,
                type_,
                ("False", "InvalidSpec", message.to_owned()),
                generation,
                now,
            )
        })
        .collect()
}

/// `head: a; b; …` with at most [`MAX_LISTED`] problems, and a count of
/// the rest.
pub(super) fn listed(head: &str, problems: &[String]) -> String {
    let mut text = format!(
        "{head}: {}",
        problems[..problems.len().min(MAX_LISTED)].join("; ")
    );
    if problems.len() > MAX_LISTED {
        text.push_str(&format!("; and {} more", problems.len() - MAX_LISTED));
    }
    text.push('.');
    text
}

/// The condition `type_`, keeping the last transition time of `old`'s
/// when the status is unchanged.
pub(super) fn condition(
    old: &[Condition],
    type_: &str,
    (status, reason, message): (&str, &str, String),
    generation: Option<i64>,
    now: Timestamp,
) -> Condition {
    let last_transition_time = match old.iter().find(|c| c.type_ == type_) {
        Some(previous) if previous.status == status => previous.last_transition_time.clone(),
        _ => Time(now),
    };
    Condition {
        type_: type_.to_owned(),
        status: status.to_owned(),
        reason: reason.to_owned(),
        message: message.chars().take(1024).collect(),
        observed_generation: generation,
        last_transition_time,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(rcode: LookupOutcome, answers: &[&str]) -> RecordResult {
        RecordResult {
            name: "www.example.com".to_owned(),
            record_type: ProbeRecordType::A,
            rcode,
            answers: answers.iter().map(|a| (*a).to_owned()).collect(),
            matches: rcode == LookupOutcome::NOERROR,
        }
    }

    fn plan() -> Vec<RecordPlan> {
        vec![RecordPlan {
            fqdn: "www.example.com".to_owned(),
            record_type: ProbeRecordType::A,
            matchers: vec![Matcher::Exact("192.0.2.1".to_owned())],
        }]
    }

    fn status_of<'a>(conditions: &'a [Condition], type_: &str) -> (&'a str, &'a str) {
        let c = conditions.iter().find(|c| c.type_ == type_).unwrap();
        (c.status.as_str(), c.reason.as_str())
    }

    #[test]
    fn a_failure_shows_only_at_the_threshold_and_an_answer_at_once() {
        let mut slot = Slot::default();
        assert!(slot.observe(result(LookupOutcome::NOERROR, &["192.0.2.1"]), 3));
        assert!(!slot.observe(result(LookupOutcome::SERVFAIL, &[]), 3));
        assert!(!slot.observe(result(LookupOutcome::Timeout, &[]), 3));
        assert_eq!(slot.settled.as_ref().unwrap().rcode, LookupOutcome::NOERROR);
        // An answer in between starts the count again.
        assert!(!slot.observe(result(LookupOutcome::NOERROR, &["192.0.2.1"]), 3));
        assert!(!slot.observe(result(LookupOutcome::SERVFAIL, &[]), 3));
        assert!(!slot.observe(result(LookupOutcome::SERVFAIL, &[]), 3));
        assert!(slot.observe(result(LookupOutcome::SERVFAIL, &[]), 3));
        assert_eq!(
            slot.settled.as_ref().unwrap().rcode,
            LookupOutcome::SERVFAIL
        );
        // NXDOMAIN is an answer: no waiting.
        assert!(slot.observe(result(LookupOutcome::NXDOMAIN, &[]), 3));
    }

    #[test]
    fn conditions_name_the_resolver_and_what_it_answered() {
        let records = plan();
        let now = Timestamp::now();
        let good = [Slot {
            settled: Some(result(LookupOutcome::NOERROR, &["192.0.2.1"])),
            failures_in_row: 0,
        }];
        let changed = [Slot {
            settled: Some(result(LookupOutcome::NOERROR, &["192.0.2.9"])),
            failures_in_row: 0,
        }];
        let all_good = conditions(
            &[],
            &records,
            &[ResolverSlots {
                name: "a",
                slots: &good,
            }],
            Some(1),
            now,
        );
        assert_eq!(status_of(&all_good, RESOLVING), ("True", "AllResolving"));
        assert_eq!(
            status_of(&all_good, ANSWERS_MATCH),
            ("True", "AnswersMatch")
        );
        let later = now + jiff::SignedDuration::from_secs(60);
        let one_changed = conditions(
            &all_good,
            &records,
            &[
                ResolverSlots {
                    name: "a",
                    slots: &good,
                },
                ResolverSlots {
                    name: "b",
                    slots: &changed,
                },
            ],
            Some(1),
            later,
        );
        assert_eq!(status_of(&one_changed, RESOLVING), ("True", "AllResolving"));
        assert_eq!(
            status_of(&one_changed, ANSWERS_MATCH),
            ("False", "AnswerMismatch")
        );
        let mismatch = one_changed
            .iter()
            .find(|c| c.type_ == ANSWERS_MATCH)
            .unwrap();
        assert_eq!(
            mismatch.message,
            "Answers differ from the expectations: b: www.example.com A answered 192.0.2.9; expected exact \"192.0.2.1\"."
        );
        assert_eq!(mismatch.last_transition_time, Time(later));
        let resolving = one_changed.iter().find(|c| c.type_ == RESOLVING).unwrap();
        assert_eq!(
            resolving.last_transition_time,
            Time(now),
            "unchanged status keeps its time"
        );
    }

    #[test]
    fn failures_outrank_missing_names_and_nothing_settled_is_unknown() {
        let records = plan();
        let now = Timestamp::now();
        let failing = [Slot {
            settled: Some(result(LookupOutcome::SERVFAIL, &[])),
            failures_in_row: 3,
        }];
        let missing = [Slot {
            settled: Some(result(LookupOutcome::NXDOMAIN, &[])),
            failures_in_row: 0,
        }];
        let both = conditions(
            &[],
            &records,
            &[
                ResolverSlots {
                    name: "a",
                    slots: &failing,
                },
                ResolverSlots {
                    name: "b",
                    slots: &missing,
                },
            ],
            None,
            now,
        );
        assert_eq!(status_of(&both, RESOLVING), ("False", "ResolverFailing"));
        assert_eq!(status_of(&both, ANSWERS_MATCH), ("Unknown", "NoAnswers"));
        let pending = [Slot::default()];
        let none = conditions(
            &[],
            &records,
            &[ResolverSlots {
                name: "a",
                slots: &pending,
            }],
            None,
            now,
        );
        assert_eq!(status_of(&none, RESOLVING), ("Unknown", "Probing"));
    }
}
