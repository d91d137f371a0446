//! What the status becomes after a check, and whether it is worth a write.
//! Pure code: the old status and an evaluation in, the new status out.
//!
//! Write discipline: the API server is the cluster's shared bottleneck, so a
//! status is written only when something a user would see changed
//! (availability, confidence, registration facts, each check's result, an
//! error appearing or going, the notification, conditions) or when the last
//! write is older than the heartbeat. What varies from one check to the next
//! while nothing changed rides along with those writes and is never a reason
//! for one: `lastCheckedAt`, `nextCheckAt`, each check's time, duration and
//! detail (the detail names the server that answered, and the dns checker
//! rotates over a TLD's servers), the wording of an error, condition
//! messages, and the order of name servers and registry statuses.

use std::{collections::BTreeMap, time::Duration};

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::{
    check::{Layer, RegistrationFacts},
    layered::Evaluation,
    resource::{
        Availability, CheckRecord, MonitoredDomainStatus, NotificationDelivery, NotificationState,
        Registration, condition, time,
    },
};

/// Condition type: the latest check settled the question.
pub const READY: &str = "Ready";
/// Condition type: the name can be registered.
pub const AVAILABLE: &str = "Available";

/// The status after `evaluation`. An inconclusive evaluation keeps the last
/// conclusive availability and confidence (a rate-limited hour must not flip
/// a registered name to `Unknown`) and says so in the `Ready` condition.
pub fn after_check(
    old: Option<&MonitoredDomainStatus>,
    evaluation: &Evaluation,
    generation: Option<i64>,
    next_check_at: Timestamp,
) -> MonitoredDomainStatus {
    let old = old.cloned().unwrap_or_default();
    let verdict = &evaluation.verdict;
    let now = evaluation.finished_at;
    let conclusive = verdict.is_conclusive();
    let keep_old = !conclusive && old.availability.is_conclusive();
    // A fast re-check that confirms the verdict keeps the confidence the last
    // deep check established (its evidence, e.g. an RDAP record, still holds).
    // Likewise a name in a lifecycle phase (Expiring, PendingDelete) that fast
    // checks still see registered stays in that phase: only the registry's
    // statuses (layer 2/3) can move it on, or DNS losing the delegation,
    // which escalates to them.
    let only_fast = evaluation.layers.iter().all(|l| *l == Layer::Fast);
    let in_lifecycle = old.availability.in_lifecycle();
    let confirmed = old.confidence.is_some()
        && (verdict.availability == old.availability
            || (in_lifecycle && verdict.availability == Availability::Registered));
    let (availability, confidence) = if keep_old || (confirmed && only_fast) {
        (old.availability, old.confidence)
    } else {
        (verdict.availability, Some(verdict.confidence))
    };
    let changed = availability != old.availability;

    let mut checks = old.checks.clone();
    for report in &evaluation.reports {
        checks.insert(
            report.kind.as_str().to_owned(),
            CheckRecord {
                result: report.outcome,
                checked_at: time(report.checked_at),
                duration_ms: u64::try_from(report.duration.as_millis()).unwrap_or(u64::MAX),
                detail: (!report.detail.is_empty()).then(|| report.detail.clone()),
                error: report.error.clone(),
            },
        );
    }

    // Fast checks reveal few registration facts (DNS: name servers only):
    // known facts stay until a source says otherwise, and the drop prediction
    // changes only with lifecycle facts (statuses, expiry). A free name has none.
    let facts = &verdict.registration;
    let lifecycle_facts = !facts.statuses.is_empty() || facts.expires.is_some();
    let (registration, predicted_drop_at) = if availability == Availability::Available {
        (None, None)
    } else {
        (
            merge_registration(old.registration.clone(), facts),
            if lifecycle_facts {
                verdict.predicted_drop_at.map(time)
            } else {
                old.predicted_drop_at.clone()
            },
        )
    };

    let (ready_status, ready_reason, ready_message) = if conclusive {
        ("True", "Checked", verdict.reason.clone())
    } else {
        let reason = if verdict.availability == Availability::Error {
            "ChecksFailed"
        } else {
            "Inconclusive"
        };
        (
            "False",
            reason,
            if keep_old {
                format!("{}; keeping the last conclusive verdict", verdict.reason)
            } else {
                verdict.reason.clone()
            },
        )
    };
    let available_status = if availability == Availability::Available {
        "True"
    } else {
        "False"
    };
    let available_message = match availability {
        Availability::Available => format!(
            "can be registered (confidence {:.3})",
            confidence.unwrap_or(0.0)
        ),
        Availability::Unconfirmed => format!(
            "looks free but is not confirmed (confidence {:.3}, below the notification threshold): do not register on it yet",
            confidence.unwrap_or(0.0)
        ),
        other => other.to_string(),
    };
    let conditions = vec![
        condition(
            &old.conditions,
            READY,
            ready_status,
            ready_reason,
            &ready_message,
            generation,
            now,
        ),
        condition(
            &old.conditions,
            AVAILABLE,
            available_status,
            availability.as_str(),
            &available_message,
            generation,
            now,
        ),
    ];

    MonitoredDomainStatus {
        domain: Some(evaluation.domain.to_string()),
        availability,
        confidence,
        last_checked_at: Some(time(now)),
        next_check_at: Some(time(next_check_at)),
        last_transition_at: if changed {
            Some(time(now))
        } else {
            old.last_transition_at.clone()
        },
        registration,
        predicted_drop_at,
        checks,
        notification: old.notification.clone(),
        conditions,
        observed_generation: generation,
        health: None,
    }
}

/// The status of a resource whose `spec.domain` is not a domain name. It is
/// not checked again until its spec changes.
pub fn invalid(
    old: Option<&MonitoredDomainStatus>,
    reason: &str,
    generation: Option<i64>,
    now: Timestamp,
) -> MonitoredDomainStatus {
    let old = old.cloned().unwrap_or_default();
    let changed = old.availability != Availability::Invalid;
    MonitoredDomainStatus {
        domain: None,
        availability: Availability::Invalid,
        confidence: Some(1.0),
        last_checked_at: Some(time(now)),
        next_check_at: None,
        last_transition_at: if changed {
            Some(time(now))
        } else {
            old.last_transition_at.clone()
        },
        registration: None,
        predicted_drop_at: None,
        checks: BTreeMap::new(),
        notification: old.notification.clone(),
        conditions: vec![
            condition(
                &old.conditions,
                READY,
                "False",
                "InvalidDomain",
                reason,
                generation,
                now,
            ),
            condition(
                &old.conditions,
                AVAILABLE,
                "False",
                "Invalid",
                reason,
                generation,
                now,
            ),
        ],
        observed_generation: generation,
        health: None,
    }
}

/// Whether `new` differs from `old` in anything a user would notice, or the
/// last write is older than `heartbeat`.
pub fn needs_write(
    old: Option<&MonitoredDomainStatus>,
    new: &MonitoredDomainStatus,
    heartbeat: Duration,
    now: Timestamp,
) -> bool {
    let Some(old) = old else { return true };
    if visible(old) != visible(new) {
        return true;
    }
    let last_write = old.last_checked_at.as_ref().map(|t| t.0);
    last_write.is_none_or(|t| {
        Duration::try_from(now.duration_since(t)).unwrap_or(Duration::ZERO) >= heartbeat
    })
}

/// The visible fields that differ between `old` and `new`, for logs.
pub fn changed_fields(
    old: Option<&MonitoredDomainStatus>,
    new: &MonitoredDomainStatus,
) -> Vec<&'static str> {
    let Some(old) = old else {
        return vec!["status"];
    };
    let (old, new) = (visible(old), visible(new));
    let mut fields = Vec::new();
    let mut differs = |name: &'static str, same: bool| {
        if !same {
            fields.push(name);
        }
    };
    differs("availability", old.availability == new.availability);
    differs("confidence", old.confidence == new.confidence);
    differs(
        "lastTransitionAt",
        old.last_transition_at == new.last_transition_at,
    );
    differs("registration", old.registration == new.registration);
    differs(
        "predictedDropAt",
        old.predicted_drop_at == new.predicted_drop_at,
    );
    differs("checks", old.checks == new.checks);
    differs("notification", old.notification == new.notification);
    differs("conditions", old.conditions == new.conditions);
    differs(
        "observedGeneration",
        old.observed_generation == new.observed_generation,
    );
    differs("domain", old.domain == new.domain);
    fields
}

/// The status without what may change on every check while nothing changed
/// (see the module's write discipline).
fn visible(status: &MonitoredDomainStatus) -> MonitoredDomainStatus {
    let mut visible = status.clone();
    visible.last_checked_at = None;
    visible.next_check_at = None;
    for record in visible.checks.values_mut() {
        record.checked_at = Time(Timestamp::UNIX_EPOCH);
        record.duration_ms = 0;
        // Which server answered, and in which words: the result says what it means.
        record.detail = None;
        // An error appearing or going is a change; its wording (a server,
        // a timeout's length) is not.
        if record.error.is_some() {
            record.error = Some(String::new());
        }
    }
    if let Some(registration) = &mut visible.registration {
        // Sets: servers and sources list them in any order and case.
        for nameserver in &mut registration.nameservers {
            *nameserver = nameserver.trim_end_matches('.').to_ascii_lowercase();
        }
        registration.nameservers.sort();
        registration.nameservers.dedup();
        registration.statuses.sort();
        registration.statuses.dedup();
    }
    for condition in &mut visible.conditions {
        // Messages carry check details that may vary in wording only.
        condition.message.clear();
    }
    visible
}

/// The known registration, updated with whatever `facts` reveal.
fn merge_registration(
    old: Option<Registration>,
    facts: &RegistrationFacts,
) -> Option<Registration> {
    if facts.is_empty() {
        return old;
    }
    let mut merged = old.unwrap_or_default();
    if let Some(registrar) = &facts.registrar {
        merged.registrar = Some(registrar.clone());
    }
    if let Some(created) = facts.created {
        merged.created_at = Some(time(created));
    }
    if let Some(expires) = facts.expires {
        merged.expires_at = Some(time(expires));
    }
    if !facts.statuses.is_empty() {
        merged.statuses.clone_from(&facts.statuses);
    }
    if !facts.nameservers.is_empty() {
        merged.nameservers.clone_from(&facts.nameservers);
    }
    Some(merged)
}

/// A new pending notification for the current availability transition, or
/// `None` when one was already recorded for it (the key is derived from the
/// transition, so it survives restarts and retries).
pub fn pending_notification(
    status: &MonitoredDomainStatus,
    key: String,
    payload: String,
    now: Timestamp,
) -> Option<NotificationState> {
    if status
        .notification
        .as_ref()
        .is_some_and(|n| n.idempotency_key == key)
    {
        return None;
    }
    Some(NotificationState {
        state: NotificationDelivery::Pending,
        idempotency_key: key,
        payload,
        attempts: 0,
        created_at: Time(now),
        next_attempt_at: Some(time(now)),
        last_error: None,
        delivered_at: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{CheckKind, CheckOutcome, CheckReport};

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn evaluation(outcomes: &[(CheckKind, CheckOutcome)], finished: &str) -> Evaluation {
        let finished_at = at(finished);
        let reports: Vec<CheckReport> = outcomes
            .iter()
            .map(|(kind, outcome)| {
                CheckReport::new(*kind, *outcome, format!("{outcome:?}"), finished_at)
            })
            .collect();
        evaluation_of(reports, finished)
    }

    fn evaluation_of(reports: Vec<CheckReport>, finished: &str) -> Evaluation {
        Evaluation::of_reports(reports, at(finished))
    }

    const REGISTERED: &[(CheckKind, CheckOutcome)] = &[(CheckKind::Dns, CheckOutcome::Registered)];

    #[test]
    fn unchanged_checks_write_nothing_until_the_heartbeat() {
        let heartbeat = Duration::from_secs(600);
        let first = after_check(
            None,
            &evaluation(REGISTERED, "2026-11-21T00:00:00Z"),
            Some(1),
            at("2026-11-21T01:00:00Z"),
        );
        assert!(needs_write(
            None,
            &first,
            heartbeat,
            at("2026-11-21T00:00:00Z")
        ));
        let second = after_check(
            Some(&first),
            &evaluation(REGISTERED, "2026-11-21T00:05:00Z"),
            Some(1),
            at("2026-11-21T01:05:00Z"),
        );
        assert!(!needs_write(
            Some(&first),
            &second,
            heartbeat,
            at("2026-11-21T00:05:00Z")
        ));
        assert_eq!(second.last_transition_at, first.last_transition_at);
        assert_eq!(
            second.conditions[0].last_transition_time,
            first.conditions[0].last_transition_time
        );
        let later = after_check(
            Some(&first),
            &evaluation(REGISTERED, "2026-11-21T00:10:00Z"),
            Some(1),
            at("2026-11-21T01:10:00Z"),
        );
        assert!(needs_write(
            Some(&first),
            &later,
            heartbeat,
            at("2026-11-21T00:10:00Z")
        ));
    }

    /// The dns report of a delegation to `nameservers` as `server` answered
    /// it, after `millis` milliseconds.
    fn delegated(server: &str, nameservers: &[&str], millis: u64, started: &str) -> CheckReport {
        let mut report = CheckReport::new(
            CheckKind::Dns,
            CheckOutcome::Registered,
            format!("delegated to {} by {server}", nameservers.join(", ")),
            at(started),
        )
        .with_server(server)
        .with_registration(RegistrationFacts {
            nameservers: nameservers.iter().map(|&n| n.to_owned()).collect(),
            ..Default::default()
        });
        report.duration = Duration::from_millis(millis);
        report
    }

    /// The status after each of `evaluations` in turn, with whether each one
    /// was worth a write (a 10-minute heartbeat, checks a minute apart).
    fn writes(evaluations: Vec<Evaluation>) -> Vec<(bool, Vec<&'static str>)> {
        let mut stored: Option<MonitoredDomainStatus> = None;
        let mut decisions = Vec::new();
        for evaluation in evaluations {
            let now = evaluation.finished_at;
            let new = after_check(stored.as_ref(), &evaluation, Some(1), now);
            let write = needs_write(stored.as_ref(), &new, Duration::from_secs(600), now);
            decisions.push((write, changed_fields(stored.as_ref(), &new)));
            if write {
                stored = Some(new);
            }
        }
        decisions
    }

    #[test]
    fn which_server_answered_and_how_fast_is_not_a_change() {
        let first = evaluation_of(
            vec![delegated(
                "127.0.0.1:5301",
                &["ns1.drop.example", "ns2.drop.example"],
                3,
                "2026-11-21T00:00:00Z",
            )],
            "2026-11-21T00:00:00Z",
        );
        // The other server of the TLD, slower, listing the same set in
        // another order and case.
        let second = evaluation_of(
            vec![delegated(
                "127.0.0.1:5302",
                &["NS2.drop.example.", "ns1.drop.example"],
                250,
                "2026-11-21T00:01:00Z",
            )],
            "2026-11-21T00:01:00Z",
        );
        let third = evaluation_of(
            vec![delegated(
                "127.0.0.1:5301",
                &["ns1.drop.example", "ns2.drop.example"],
                4,
                "2026-11-21T00:02:00Z",
            )],
            "2026-11-21T00:02:00Z",
        );
        let decisions = writes(vec![first, second, third]);
        assert_eq!(
            decisions,
            [(true, vec!["status"]), (false, vec![]), (false, vec![])],
            "only the first status is written"
        );
    }

    #[test]
    fn a_new_nameserver_set_is_a_change() {
        let decisions = writes(vec![
            evaluation_of(
                vec![delegated(
                    "127.0.0.1:5301",
                    &["ns1.drop.example", "ns2.drop.example"],
                    3,
                    "2026-11-21T00:00:00Z",
                )],
                "2026-11-21T00:00:00Z",
            ),
            evaluation_of(
                vec![delegated(
                    "127.0.0.1:5302",
                    &["ns1.drop.example", "ns3.drop.example"],
                    3,
                    "2026-11-21T00:01:00Z",
                )],
                "2026-11-21T00:01:00Z",
            ),
        ]);
        assert_eq!(decisions[1], (true, vec!["registration"]));
    }

    #[test]
    fn registry_statuses_are_a_set() {
        let deep = |statuses: &[&str], finished: &str| {
            let mut evaluation = evaluation(REGISTERED, finished);
            evaluation.verdict.registration = RegistrationFacts {
                statuses: statuses.iter().map(|&s| s.to_owned()).collect(),
                ..Default::default()
            };
            evaluation.layers = vec![Layer::Fast, Layer::Reliable];
            evaluation
        };
        let decisions = writes(vec![
            deep(
                &["clientTransferProhibited", "clientDeleteProhibited"],
                "2026-11-21T00:00:00Z",
            ),
            deep(
                &["clientDeleteProhibited", "clientTransferProhibited"],
                "2026-11-21T00:01:00Z",
            ),
            deep(&["clientDeleteProhibited"], "2026-11-21T00:02:00Z"),
        ]);
        assert_eq!(decisions[1], (false, vec![]), "the same statuses reordered");
        assert_eq!(decisions[2], (true, vec!["registration"]), "a status went");
    }

    #[test]
    fn an_error_appearing_or_going_is_a_change_but_not_its_wording() {
        let with_http = |error: Option<&str>, finished: &str| {
            let dns = delegated("127.0.0.1:5301", &["ns1.drop.example"], 3, finished);
            let mut http = CheckReport::new(
                CheckKind::Http,
                CheckOutcome::Inconclusive,
                error.unwrap_or("no web server"),
                at(finished),
            );
            http.error = error.map(str::to_owned);
            evaluation_of(vec![dns, http], finished)
        };
        let decisions = writes(vec![
            with_http(None, "2026-11-21T00:00:00Z"),
            with_http(
                Some("connection to 192.0.2.1:443 timed out after 1s"),
                "2026-11-21T00:01:00Z",
            ),
            with_http(
                Some("connection to 192.0.2.2:443 timed out after 1.2s"),
                "2026-11-21T00:02:00Z",
            ),
            with_http(None, "2026-11-21T00:03:00Z"),
        ]);
        assert_eq!(
            decisions[1..],
            [
                (true, vec!["checks"]),
                (false, vec![]),
                (true, vec!["checks"])
            ]
        );
    }

    #[test]
    fn a_transition_is_written_and_dated() {
        let registered = after_check(
            None,
            &evaluation(REGISTERED, "2026-11-21T00:00:00Z"),
            Some(1),
            at("2026-11-21T01:00:00Z"),
        );
        let free = evaluation(
            &[
                (CheckKind::Dns, CheckOutcome::Available),
                (CheckKind::Rdap, CheckOutcome::Available),
                (CheckKind::Whois, CheckOutcome::Available),
            ],
            "2026-11-21T00:01:00Z",
        );
        let available = after_check(
            Some(&registered),
            &free,
            Some(1),
            at("2026-11-21T00:01:10Z"),
        );
        assert!(needs_write(
            Some(&registered),
            &available,
            Duration::from_secs(600),
            at("2026-11-21T00:01:00Z")
        ));
        assert_eq!(available.availability, Availability::Available);
        assert_eq!(
            available.last_transition_at,
            Some(Time(at("2026-11-21T00:01:00Z")))
        );
        let cond = available
            .conditions
            .iter()
            .find(|c| c.type_ == AVAILABLE)
            .unwrap();
        assert_eq!(cond.status, "True");
        assert_eq!(available.checks.len(), 3);
        assert!(available.registration.is_none());
    }

    #[test]
    fn fast_checks_keep_the_registration_facts_of_deeper_ones() {
        let mut deep = evaluation(REGISTERED, "2026-11-21T00:00:00.250Z");
        deep.verdict.registration = RegistrationFacts {
            registrar: Some("Demo Registrar".to_owned()),
            expires: Some(at("2027-01-15T10:00:00Z")),
            statuses: vec!["active".to_owned()],
            nameservers: vec!["ns1.drop.example".to_owned()],
            ..Default::default()
        };
        let first = after_check(None, &deep, Some(1), at("2026-11-21T01:00:00Z"));
        assert_eq!(
            first.last_checked_at,
            Some(Time(at("2026-11-21T00:00:00Z"))),
            "whole seconds"
        );
        let mut fast = evaluation(REGISTERED, "2026-11-21T00:05:00Z");
        fast.verdict.registration = RegistrationFacts {
            nameservers: vec!["ns1.drop.example".to_owned()],
            ..Default::default()
        };
        fast.verdict.confidence = 0.9;
        let second = after_check(Some(&first), &fast, Some(1), at("2026-11-21T01:05:00Z"));
        assert_eq!(second.registration, first.registration);
        assert_eq!(
            second.confidence, first.confidence,
            "a fast confirmation keeps the deep confidence"
        );
        assert!(!needs_write(
            Some(&first),
            &second,
            Duration::from_secs(600),
            at("2026-11-21T00:05:00Z")
        ));
    }

    #[test]
    fn fast_checks_do_not_end_a_lifecycle_phase() {
        let mut deep = evaluation(REGISTERED, "2026-11-21T00:00:00Z");
        deep.verdict.availability = Availability::PendingDelete;
        let first = after_check(None, &deep, Some(1), at("2026-11-21T00:00:10Z"));
        let fast = evaluation(REGISTERED, "2026-11-21T00:00:10Z");
        let second = after_check(Some(&first), &fast, Some(1), at("2026-11-21T00:00:20Z"));
        assert_eq!(second.availability, Availability::PendingDelete);
        assert!(!needs_write(
            Some(&first),
            &second,
            Duration::from_secs(600),
            at("2026-11-21T00:00:10Z")
        ));
    }

    #[test]
    fn inconclusive_checks_keep_the_last_verdict() {
        let registered = after_check(
            None,
            &evaluation(REGISTERED, "2026-11-21T00:00:00Z"),
            Some(1),
            at("2026-11-21T01:00:00Z"),
        );
        let throttled = evaluation(
            &[
                (CheckKind::Dns, CheckOutcome::Inconclusive),
                (CheckKind::Rdap, CheckOutcome::RateLimited),
            ],
            "2026-11-21T00:01:00Z",
        );
        let status = after_check(
            Some(&registered),
            &throttled,
            Some(1),
            at("2026-11-21T01:01:00Z"),
        );
        assert_eq!(status.availability, Availability::Registered);
        let ready = status.conditions.iter().find(|c| c.type_ == READY).unwrap();
        assert_eq!(ready.status, "False");
        assert_eq!(ready.reason, "Inconclusive");
    }

    #[test]
    fn one_notification_per_transition() {
        let mut status = MonitoredDomainStatus::default();
        let now = at("2026-11-21T00:00:00Z");
        let first = pending_notification(&status, "k1".to_owned(), "{}".to_owned(), now).unwrap();
        assert_eq!(first.state, NotificationDelivery::Pending);
        status.notification = Some(first);
        assert!(pending_notification(&status, "k1".to_owned(), "{}".to_owned(), now).is_none());
        assert!(pending_notification(&status, "k2".to_owned(), "{}".to_owned(), now).is_some());
    }

    #[test]
    fn invalid_domains_say_why() {
        let status = invalid(
            None,
            "\"exa mple.com\" is not a domain name",
            Some(2),
            at("2026-11-21T00:00:00Z"),
        );
        assert_eq!(status.availability, Availability::Invalid);
        assert_eq!(status.conditions[0].reason, "InvalidDomain");
        assert!(status.conditions[0].message.contains("exa mple.com"));
        assert_eq!(status.observed_generation, Some(2));
    }
}
