//! The verdict: every checker's evidence in, one `availability` and one
//! `confidence` out. Pure code: values in, values out.
//!
//! # Confidence model
//!
//! Each report is a piece of evidence with a weight: the probability that it
//! is right on its own (see [`registered_weight`] and [`free_weight`]).
//! Independent pieces pointing the same way combine as a noisy-OR,
//! `1 − Π(1 − wᵢ)`, so two moderate signals beat one, and no number of signals
//! reaches 1.0. Then, in order:
//!
//! 1. **Lifecycle statuses** from RDAP/WHOIS win: `pendingDelete` →
//!    `PendingDelete`, `redemptionPeriod`/`autoRenewPeriod` → `Expiring`, with
//!    `predictedDropAt`. Hold statuses (`clientHold`, `serverHold`) are
//!    registered names that are merely absent from DNS.
//! 2. **Any evidence of registration** (a delegation, an RDAP object, a WHOIS
//!    record, a registrar saying "taken", even a web server answering) gives
//!    `Registered`. Contradicting "not found" answers lower nothing: a false
//!    "available" costs users money, so registration evidence always wins
//!    (this is what defeats RDAP servers that answer 404 for registered names).
//! 3. **Reserved/premium** answers give `Reserved`.
//! 4. **Available** needs at least one authoritative source (RDAP, a registrar
//!    API or WHOIS, layers 2–3) saying "not found" and nothing saying
//!    otherwise. DNS alone never makes a name available: held, redeeming and
//!    undelegated names are absent from DNS too. The weights are set so that
//!    DNS + RDAP stay just below the default threshold of 0.9 and a third,
//!    independent source (WHOIS or a registrar) is needed before anyone is
//!    notified: reserved and premium names look free to both DNS and RDAP.
//! 5. Otherwise `Unknown` (some answers, none conclusive) or `Error` (every
//!    checker failed).
//!
//! Rate-limited, skipped and inconclusive reports carry no weight.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use crate::{
    check::{CheckKind, CheckOutcome, CheckReport, Layer, RegistrationFacts, Strength},
    resource::Availability,
};

const DAY: Duration = Duration::from_secs(24 * 3600);

/// The knobs of the verdict, from configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct VerdictPolicy {
    /// Confidence an `Available` verdict needs before a notification goes out.
    pub confidence_threshold: f64,
    /// Registry grace after expiry before redemption (gTLD auto-renew grace: 45 days).
    pub auto_renew_grace: Duration,
    /// Length of the redemption period (30 days at most gTLD registries).
    pub redemption_period: Duration,
    /// Length of pendingDelete before the name is released (5 days).
    pub pending_delete_period: Duration,
}

impl Default for VerdictPolicy {
    fn default() -> Self {
        Self {
            confidence_threshold: 0.9,
            auto_renew_grace: 45 * DAY,
            redemption_period: 30 * DAY,
            pending_delete_period: 5 * DAY,
        }
    }
}

/// The decision about one domain.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// The availability to report.
    pub availability: Availability,
    /// How sure, 0.0–1.0, rounded to three decimals.
    pub confidence: f64,
    /// What the checkers revealed, merged (RDAP over WHOIS over DNS per field).
    pub registration: RegistrationFacts,
    /// When the registry is expected to release the name.
    pub predicted_drop_at: Option<Timestamp>,
    /// One line saying why.
    pub reason: String,
    /// True when `availability` is `Available` and `confidence` reaches the threshold.
    pub notify: bool,
}

impl Verdict {
    /// Whether the verdict settles the question (anything but Unknown/Error).
    pub fn is_conclusive(&self) -> bool {
        !matches!(
            self.availability,
            Availability::Unknown | Availability::Error | Availability::Invalid
        )
    }
}

/// The layer to run next, or `None` when the evidence so far settles it.
///
/// Fast checks that prove registration stop the escalation (the deep layers
/// are rate-limited and precious); anything else goes on to layer 2, and a
/// name layer 2 did not prove registered is confirmed by layer 3 before
/// anyone is told it is available.
/// `done` lists the layers already run (a layer with no configured checker
/// counts as run once it was its turn).
pub fn next_layer(done: &[Layer], reports: &[CheckReport]) -> Option<Layer> {
    let ran = |layer: Layer| done.contains(&layer);
    let proves_registration = |layer: Layer| {
        reports.iter().any(|r| {
            r.kind.layer() == layer
                && matches!(r.outcome, CheckOutcome::Registered | CheckOutcome::Reserved)
        })
    };
    let fast_says_free = reports.iter().any(|r| {
        r.kind.layer() == Layer::Fast
            && r.outcome == CheckOutcome::Available
            && r.strength == Strength::Strong
    });
    if !ran(Layer::Fast) {
        return Some(Layer::Fast);
    }
    if !ran(Layer::Reliable) {
        // A strong "not found" from DNS contradicts a web answer: confirm.
        let settled = proves_registration(Layer::Fast) && !fast_says_free;
        return (!settled).then_some(Layer::Reliable);
    }
    if !ran(Layer::Deep) {
        let settled = reports.iter().any(|r| {
            r.kind.layer() == Layer::Reliable
                && matches!(r.outcome, CheckOutcome::Registered | CheckOutcome::Reserved)
                && r.strength == Strength::Strong
        });
        return (!settled).then_some(Layer::Deep);
    }
    None
}

/// Weighs the reports into a verdict. `now` dates the lifecycle prediction.
pub fn decide(reports: &[CheckReport], policy: &VerdictPolicy, now: Timestamp) -> Verdict {
    let registration = merge_registration(reports);
    let p_registered = noisy_or(reports.iter().filter_map(registered_weight));
    let p_free = noisy_or(reports.iter().filter_map(free_weight));
    let authoritative_free = reports
        .iter()
        .any(|r| r.kind.layer() > Layer::Fast && r.outcome == CheckOutcome::Available);
    let reserved = reports.iter().find(|r| r.outcome == CheckOutcome::Reserved);

    let (availability, confidence, reason) =
        if let Some((availability, status)) = lifecycle_status(&registration) {
            let confidence = p_registered.max(0.9);
            (
                availability,
                confidence,
                format!("registry status {status}"),
            )
        } else if p_registered > 0.0 {
            let mut reason = format!(
                "registered: {}",
                evidence(reports, CheckOutcome::Registered)
            );
            if p_free > 0.0 {
                reason.push_str(&format!(
                    " (outweighs \"not found\" from {})",
                    sources(reports, CheckOutcome::Available)
                ));
            }
            (Availability::Registered, p_registered, reason)
        } else if let Some(report) = reserved {
            (
                Availability::Reserved,
                if report.strength == Strength::Strong {
                    0.9
                } else {
                    0.7
                },
                format!("reserved: {}", report.detail),
            )
        } else if authoritative_free {
            (
                Availability::Available,
                p_free,
                format!("not found: {}", evidence(reports, CheckOutcome::Available)),
            )
        } else if reports
            .iter()
            .all(|r| matches!(r.outcome, CheckOutcome::Error | CheckOutcome::Skipped))
        {
            (
                Availability::Error,
                0.0,
                format!(
                    "every check failed: {}",
                    evidence(reports, CheckOutcome::Error)
                ),
            )
        } else if p_free > 0.0 {
            (
                Availability::Unknown,
                p_free,
                format!(
                    "maybe free ({}), not confirmed by RDAP, a registrar or WHOIS",
                    evidence(reports, CheckOutcome::Available)
                ),
            )
        } else {
            (
                Availability::Unknown,
                0.0,
                "no conclusive answer (rate-limited or inconclusive checks)".to_owned(),
            )
        };
    let confidence = round3(confidence);
    let predicted_drop_at = predict_drop(&registration, policy, now);
    Verdict {
        notify: availability == Availability::Available
            && confidence >= policy.confidence_threshold,
        availability,
        confidence,
        registration,
        predicted_drop_at,
        reason,
    }
}

/// How much one report proves registration, if it does.
pub fn registered_weight(report: &CheckReport) -> Option<f64> {
    if report.outcome != CheckOutcome::Registered {
        return None;
    }
    let strong = report.strength == Strength::Strong;
    Some(match report.kind {
        CheckKind::Rdap => {
            if strong {
                0.97
            } else {
                0.8
            }
        }
        CheckKind::Whois => {
            if strong {
                0.95
            } else {
                0.7
            }
        }
        CheckKind::Dns => {
            if strong {
                0.9
            } else {
                0.6
            }
        }
        CheckKind::Registrar => {
            if strong {
                0.9
            } else {
                0.7
            }
        }
        CheckKind::Http => {
            if strong {
                0.7
            } else {
                0.5
            }
        }
    })
}

/// How much one report proves the name is free, if it does.
pub fn free_weight(report: &CheckReport) -> Option<f64> {
    if report.outcome != CheckOutcome::Available {
        return None;
    }
    let strong = report.strength == Strength::Strong;
    Some(match report.kind {
        CheckKind::Registrar => {
            if strong {
                0.9
            } else {
                0.6
            }
        }
        CheckKind::Whois => {
            if strong {
                0.85
            } else {
                0.3
            }
        }
        CheckKind::Rdap => {
            if strong {
                0.75
            } else {
                0.35
            }
        }
        CheckKind::Dns => {
            if strong {
                0.5
            } else {
                0.3
            }
        }
        CheckKind::Http => 0.1,
    })
}

fn noisy_or(weights: impl Iterator<Item = f64>) -> f64 {
    let mut miss = 1.0;
    let mut any = false;
    for w in weights {
        any = true;
        miss *= 1.0 - w.clamp(0.0, 1.0);
    }
    if any { 1.0 - miss } else { 0.0 }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn evidence(reports: &[CheckReport], outcome: CheckOutcome) -> String {
    let parts: Vec<String> = reports
        .iter()
        .filter(|r| r.outcome == outcome)
        .map(|r| format!("{} {}", r.kind, r.detail))
        .collect();
    parts.join("; ")
}

fn sources(reports: &[CheckReport], outcome: CheckOutcome) -> String {
    let parts: Vec<&str> = reports
        .iter()
        .filter(|r| r.outcome == outcome)
        .map(|r| r.kind.as_str())
        .collect();
    parts.join(", ")
}

/// Merges the facts of every report, preferring RDAP, then WHOIS, then the
/// registrar, then DNS for each field.
pub fn merge_registration(reports: &[CheckReport]) -> RegistrationFacts {
    let rank = |kind: CheckKind| match kind {
        CheckKind::Rdap => 0,
        CheckKind::Whois => 1,
        CheckKind::Registrar => 2,
        CheckKind::Dns => 3,
        CheckKind::Http => 4,
    };
    let mut ranked: Vec<&CheckReport> = reports
        .iter()
        .filter(|r| r.registration.is_some())
        .collect();
    ranked.sort_by_key(|r| rank(r.kind));
    let mut merged = RegistrationFacts::default();
    for facts in ranked.iter().filter_map(|r| r.registration.as_ref()) {
        merged.registrar = merged.registrar.or_else(|| facts.registrar.clone());
        merged.created = merged.created.or(facts.created);
        merged.expires = merged.expires.or(facts.expires);
        merged.last_changed = merged.last_changed.or(facts.last_changed);
        merged.deletion = merged.deletion.or(facts.deletion);
        if merged.statuses.is_empty() {
            merged.statuses.clone_from(&facts.statuses);
        }
        if merged.nameservers.is_empty() {
            merged.nameservers.clone_from(&facts.nameservers);
        }
    }
    merged
}

fn lifecycle_status(facts: &RegistrationFacts) -> Option<(Availability, &'static str)> {
    if facts.has_status("pendingDelete") {
        Some((Availability::PendingDelete, "pendingDelete"))
    } else if facts.has_status("redemptionPeriod") {
        Some((Availability::Expiring, "redemptionPeriod"))
    } else if facts.has_status("autoRenewPeriod") {
        Some((Availability::Expiring, "autoRenewPeriod"))
    } else {
        None
    }
}

/// When the registry should release the name, from its statuses and dates:
/// the published deletion date when there is one; otherwise the time left in
/// the current phase counted from the last status change, or the whole
/// expiry → grace → redemption → pendingDelete chain counted from expiry.
/// Names that have not expired and are in no lifecycle phase get none.
pub fn predict_drop(
    facts: &RegistrationFacts,
    policy: &VerdictPolicy,
    now: Timestamp,
) -> Option<Timestamp> {
    let add = |t: Timestamp, d: Duration| {
        SignedDuration::try_from(d)
            .ok()
            .and_then(|d| t.checked_add(d).ok())
    };
    let from_expiry = |extra: Duration| {
        facts.expires.and_then(|e| {
            add(
                e,
                policy.auto_renew_grace + policy.redemption_period + extra,
            )
        })
    };
    if let Some(deletion) = facts.deletion {
        return Some(deletion);
    }
    match lifecycle_status(facts) {
        Some((Availability::PendingDelete, _)) => facts
            .last_changed
            .and_then(|t| add(t, policy.pending_delete_period))
            .or_else(|| from_expiry(policy.pending_delete_period)),
        Some((_, "redemptionPeriod")) => facts
            .last_changed
            .and_then(|t| add(t, policy.redemption_period + policy.pending_delete_period))
            .or_else(|| from_expiry(policy.pending_delete_period)),
        Some(_) => from_expiry(policy.pending_delete_period),
        None => facts
            .expires
            .filter(|expires| *expires <= now)
            .and_then(|_| from_expiry(policy.pending_delete_period)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(kind: CheckKind, outcome: CheckOutcome) -> CheckReport {
        CheckReport::new(kind, outcome, format!("{outcome:?}"), Timestamp::UNIX_EPOCH)
    }

    fn weak(mut r: CheckReport) -> CheckReport {
        r.strength = Strength::Weak;
        r
    }

    fn with_statuses(mut r: CheckReport, statuses: &[&str]) -> CheckReport {
        r.registration = Some(RegistrationFacts {
            statuses: statuses.iter().map(|s| (*s).to_owned()).collect(),
            ..Default::default()
        });
        r
    }

    fn now() -> Timestamp {
        "2026-11-21T00:00:00Z".parse().unwrap()
    }

    fn verdict(reports: &[CheckReport]) -> Verdict {
        decide(reports, &VerdictPolicy::default(), now())
    }

    use CheckKind::{Dns, Http, Rdap, Registrar, Whois};
    use CheckOutcome::{Available, Error, Inconclusive, RateLimited, Registered, Reserved};

    #[test]
    fn dns_rdap_and_whois_agreeing_make_an_available_notification() {
        let v = verdict(&[
            report(Dns, Available),
            report(Rdap, Available),
            report(Whois, Available),
        ]);
        assert_eq!(v.availability, Availability::Available);
        assert!(v.confidence >= 0.95, "{}", v.confidence);
        assert!(v.notify);
    }

    #[test]
    fn dns_and_rdap_alone_stay_below_the_threshold() {
        let v = verdict(&[report(Dns, Available), report(Rdap, Available)]);
        assert_eq!(v.availability, Availability::Available);
        assert!(v.confidence < 0.9, "{}", v.confidence);
        assert!(!v.notify, "reserved names look free to DNS and RDAP");
    }

    #[test]
    fn dns_alone_never_says_available() {
        // Held, redeeming and undelegated names are absent from DNS too.
        let v = verdict(&[report(Dns, Available), weak(report(Http, Available))]);
        assert_eq!(v.availability, Availability::Unknown);
        assert!(!v.notify);
    }

    #[test]
    fn trap_hold_status_absent_from_dns_is_registered() {
        let v = verdict(&[
            report(Dns, Available),
            with_statuses(report(Rdap, Registered), &["clientHold"]),
        ]);
        assert_eq!(v.availability, Availability::Registered);
        let v = verdict(&[
            report(Dns, Available),
            with_statuses(report(Whois, Registered), &["serverHold"]),
        ]);
        assert_eq!(v.availability, Availability::Registered);
    }

    #[test]
    fn trap_no_nameservers_but_whois_record_is_registered() {
        let v = verdict(&[
            report(Dns, Available),
            report(Rdap, Inconclusive),
            report(Whois, Registered),
        ]);
        assert_eq!(v.availability, Availability::Registered);
        assert!(!v.notify);
    }

    #[test]
    fn trap_reserved_and_premium_names_are_reserved() {
        let v = verdict(&[
            report(Dns, Available),
            report(Rdap, Available),
            report(Whois, Reserved),
        ]);
        assert_eq!(v.availability, Availability::Reserved);
        let v = verdict(&[
            report(Dns, Available),
            report(Rdap, Available),
            report(Registrar, Reserved),
        ]);
        assert_eq!(v.availability, Availability::Reserved);
        assert!(!v.notify);
    }

    #[test]
    fn trap_rdap_false_404_is_outweighed_by_a_delegation() {
        let v = verdict(&[report(Dns, Registered), weak(report(Rdap, Available))]);
        assert_eq!(v.availability, Availability::Registered);
        assert!(v.reason.contains("outweighs"), "{}", v.reason);
    }

    #[test]
    fn trap_throttled_whois_adds_no_weight() {
        let v = verdict(&[
            report(Dns, Available),
            weak(report(Rdap, Available)),
            report(Whois, RateLimited),
        ]);
        assert!(!v.notify, "{v:?}");
        let v = verdict(&[report(Dns, Inconclusive), report(Whois, RateLimited)]);
        assert_eq!(v.availability, Availability::Unknown);
    }

    #[test]
    fn weak_whois_not_found_needs_company() {
        let v = verdict(&[report(Dns, Inconclusive), weak(report(Whois, Available))]);
        assert_eq!(v.availability, Availability::Available);
        assert!(!v.notify, "{}", v.confidence);
    }

    #[test]
    fn every_check_failing_is_an_error() {
        let v = verdict(&[
            report(Dns, Error),
            report(Rdap, Error),
            report(Whois, Error),
        ]);
        assert_eq!(v.availability, Availability::Error);
        assert!(!v.is_conclusive());
    }

    #[test]
    fn lifecycle_statuses_map_and_predict_the_drop() {
        let mut rdap = with_statuses(report(Rdap, Registered), &["redemptionPeriod"]);
        let changed: Timestamp = "2026-11-01T00:00:00Z".parse().unwrap();
        rdap.registration.as_mut().unwrap().last_changed = Some(changed);
        let v = verdict(&[report(Dns, Available), rdap]);
        assert_eq!(v.availability, Availability::Expiring);
        // 30 days of redemption + 5 of pendingDelete after the status change.
        assert_eq!(
            v.predicted_drop_at,
            Some("2026-12-06T00:00:00Z".parse().unwrap())
        );

        let mut rdap = with_statuses(report(Rdap, Registered), &["pendingDelete"]);
        let deletion: Timestamp = "2026-11-25T18:00:00Z".parse().unwrap();
        rdap.registration.as_mut().unwrap().deletion = Some(deletion);
        let v = verdict(&[rdap]);
        assert_eq!(v.availability, Availability::PendingDelete);
        assert_eq!(v.predicted_drop_at, Some(deletion));
    }

    #[test]
    fn expired_names_without_status_get_the_full_chain() {
        let facts = RegistrationFacts {
            expires: Some("2026-10-01T00:00:00Z".parse().unwrap()),
            ..Default::default()
        };
        // 45 + 30 + 5 days after expiry.
        assert_eq!(
            predict_drop(&facts, &VerdictPolicy::default(), now()),
            Some("2026-12-20T00:00:00Z".parse().unwrap())
        );
        let future = RegistrationFacts {
            expires: Some("2027-10-01T00:00:00Z".parse().unwrap()),
            ..Default::default()
        };
        assert_eq!(
            predict_drop(&future, &VerdictPolicy::default(), now()),
            None
        );
    }

    fn next(reports: &[CheckReport]) -> Option<Layer> {
        let done: Vec<Layer> = reports.iter().map(|r| r.kind.layer()).collect();
        next_layer(&done, reports)
    }

    #[test]
    fn a_layer_without_checkers_is_passed_over() {
        let reports = [report(Dns, Available)];
        assert_eq!(
            next_layer(&[Layer::Fast, Layer::Reliable], &reports),
            Some(Layer::Deep)
        );
    }

    #[test]
    fn escalation_stops_at_proof_and_confirms_maybe_free() {
        assert_eq!(next(&[]), Some(Layer::Fast));
        assert_eq!(next(&[report(Dns, Registered)]), None);
        assert_eq!(
            next(&[report(Dns, Available), report(Http, Inconclusive)]),
            Some(Layer::Reliable)
        );
        // A web answer contradicted by NXDOMAIN is confirmed, not trusted.
        assert_eq!(
            next(&[report(Dns, Available), weak(report(Http, Registered))]),
            Some(Layer::Reliable)
        );
        let maybe_free = [report(Dns, Available), report(Rdap, Available)];
        assert_eq!(next(&maybe_free), Some(Layer::Deep));
        // A failing layer falls back to the next.
        assert_eq!(
            next(&[report(Dns, Error), report(Rdap, Error)]),
            Some(Layer::Deep)
        );
        assert_eq!(
            next(&[report(Dns, Available), report(Rdap, Registered)]),
            None
        );
        assert_eq!(
            next(&[
                report(Dns, Available),
                report(Rdap, Available),
                report(Whois, Available)
            ]),
            None
        );
    }
}
