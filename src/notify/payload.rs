//! The callback bodies (per-check results and availability notifications,
//! in the JSON shapes the user's API receives), built from evaluations.
//! Pure code.

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::{check::CheckReport, layered::Evaluation};

/// Seconds since the epoch with milliseconds, as existing receivers expect
/// (`1647854321.123`).
pub fn unix_seconds(t: jiff::Timestamp) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let millis = t.as_millisecond() as f64;
    millis / 1000.0
}

fn details(report: &CheckReport) -> Value {
    let facts = report.registration.as_ref();
    let date = |t: Option<jiff::Timestamp>| t.map_or(Value::Null, |t| Value::String(t.to_string()));
    json!({
        "registrar": facts.and_then(|f| f.registrar.clone()),
        "creation_date": date(facts.and_then(|f| f.created)),
        "expiration_date": date(facts.and_then(|f| f.expires)),
        "statuses": facts.map(|f| f.statuses.clone()).unwrap_or_default(),
        "evidence": report.detail,
        "server": report.server,
        "error": report.error,
    })
}

/// `{"domain", "check_type", "result", "timestamp", "details", "duration_ms"}`.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResultPayload {
    /// The A-label.
    pub domain: String,
    /// `dns`, `http`, `rdap`, `registrar` or `whois`.
    pub check_type: &'static str,
    /// [`crate::check::CheckOutcome::as_str`].
    pub result: &'static str,
    /// When the check ran (seconds since the epoch).
    pub timestamp: f64,
    /// Registration facts and evidence.
    pub details: Value,
    /// How long it took.
    pub duration_ms: u64,
}

impl CheckResultPayload {
    /// The per-check body for one report.
    pub fn new(domain: &str, report: &CheckReport) -> Self {
        Self {
            domain: domain.to_owned(),
            check_type: report.kind.as_str(),
            result: report.outcome.as_str(),
            timestamp: unix_seconds(report.checked_at),
            details: details(report),
            duration_ms: u64::try_from(report.duration.as_millis()).unwrap_or(u64::MAX),
        }
    }
}

/// The availability notification body:
/// `{"domain", "status": "available", "confidence", "timestamp",
/// "confirmed_by", "confirmation", "checks": {"timestamp", "checks": {...}}}`.
/// `confirmed_by` lists who confirmed it (`registry`, `registrar`) and
/// `confirmation` says how, in one line, so a user knows what to act on.
pub fn availability_notification(evaluation: &Evaluation) -> Value {
    let timestamp = unix_seconds(evaluation.finished_at);
    let mut checks = Map::new();
    for report in &evaluation.reports {
        checks.insert(
            report.kind.as_str().to_owned(),
            json!({
                "result": report.outcome.as_str(),
                "timestamp": unix_seconds(report.checked_at),
                "duration_ms": u64::try_from(report.duration.as_millis()).unwrap_or(u64::MAX),
                "details": details(report),
            }),
        );
    }
    json!({
        "domain": evaluation.domain.as_str(),
        "status": "available",
        "confidence": evaluation.verdict.confidence,
        "timestamp": timestamp,
        "confirmed_by": evaluation.verdict.confirmed_by,
        "confirmation": evaluation.verdict.reason,
        "checks": {"timestamp": timestamp, "checks": Value::Object(checks)},
    })
}

/// The idempotency key of one availability transition: stable across retries
/// and restarts because it is derived from what is stored in the resource.
pub fn idempotency_key(resource_uid: &str, domain: &str, transition_at: jiff::Timestamp) -> String {
    format!(
        "{}-{}-{}",
        if resource_uid.is_empty() {
            "local"
        } else {
            resource_uid
        },
        domain,
        // Seconds: the transition time is stored (and read back) in seconds.
        transition_at.as_second()
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use jiff::Timestamp;

    use super::*;
    use crate::{
        check::{CheckKind, CheckOutcome, RegistrationFacts},
        layered::Evaluation,
    };

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn per_check_payload_has_the_documented_shape() {
        let mut report = CheckReport::new(
            CheckKind::Whois,
            CheckOutcome::Registered,
            "Registrar: Example",
            at("2022-03-21T09:18:41.123Z"),
        );
        report.duration = Duration::from_millis(1250);
        report.registration = Some(RegistrationFacts {
            registrar: Some("Example Registrar".to_owned()),
            expires: Some(at("2027-01-01T00:00:00Z")),
            ..Default::default()
        });
        let json = serde_json::to_value(CheckResultPayload::new("example.com", &report)).unwrap();
        assert_eq!(json["domain"], "example.com");
        assert_eq!(json["check_type"], "whois");
        assert_eq!(json["result"], "registered");
        assert_eq!(json["timestamp"], 1647854321.123);
        assert_eq!(json["duration_ms"], 1250);
        assert_eq!(json["details"]["registrar"], "Example Registrar");
        assert_eq!(json["details"]["creation_date"], Value::Null);
        assert_eq!(json["details"]["expiration_date"], "2027-01-01T00:00:00Z");
    }

    #[test]
    fn availability_notification_has_the_documented_shape() {
        let reports = vec![
            CheckReport::new(
                CheckKind::Dns,
                CheckOutcome::Available,
                "NXDOMAIN",
                at("2026-11-21T00:00:00Z"),
            ),
            CheckReport::new(
                CheckKind::Rdap,
                CheckOutcome::Available,
                "404",
                at("2026-11-21T00:00:01Z"),
            ),
            CheckReport::new(
                CheckKind::Whois,
                CheckOutcome::Available,
                "No match",
                at("2026-11-21T00:00:02Z"),
            ),
        ];
        let finished_at = at("2026-11-21T00:00:03.5Z");
        let evaluation = Evaluation::of_reports(reports, finished_at);
        let json = availability_notification(&evaluation);
        assert_eq!(json["domain"], "drop.example");
        assert_eq!(json["status"], "available");
        assert_eq!(json["confidence"], evaluation.verdict.confidence);
        assert_eq!(json["timestamp"], unix_seconds(finished_at));
        assert_eq!(json["checks"]["timestamp"], json["timestamp"]);
        assert_eq!(json["checks"]["checks"]["dns"]["result"], "available");
        assert_eq!(
            json["checks"]["checks"]["whois"]["details"]["evidence"],
            "No match"
        );
    }

    #[test]
    fn idempotency_key_is_stable_for_one_transition() {
        let t = at("2026-11-21T00:00:00Z");
        assert_eq!(
            idempotency_key("uid-1", "a.example", t),
            idempotency_key("uid-1", "a.example", t)
        );
        assert_ne!(
            idempotency_key("uid-1", "a.example", t),
            idempotency_key("uid-1", "a.example", at("2026-11-22T00:00:00Z"))
        );
    }
}
