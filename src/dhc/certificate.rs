//! From certificate probes to status, purely: each endpoint's result is
//! settled against `failureThreshold`, then the two certificate conditions
//! are derived.
//!
//! - **Settling**: a certificate seen shows at once. A failed handshake
//!   (`HandshakeFailed`) shows only once it happened `failureThreshold`
//!   probes in a row; until then the last settled certificate stays.
//! - **`CertificateValid`**: `True` (`Valid`) when every settled endpoint's
//!   certificate is valid; `False` with the verdict of the first endpoint
//!   that is not (`Expired`, `NotYetValid`, `HostnameMismatch`,
//!   `UntrustedChain`, `InvalidCertificate`, `HandshakeFailed`);
//!   `Unknown` (`Probing`) while nothing settled.
//! - **`CertificateExpiring`**: `True` with `Expired` when a leaf is past
//!   its `notAfter`, or `ExpiresSoon` when one expires within
//!   `certificateWarning`; `False` (`NotExpiring`) otherwise; `Unknown`
//!   (`NoCertificate`) while no `notAfter` is known.
//! - Messages name endpoints and dates, never a countdown, so an unchanged
//!   certificate gives an identical status.

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

use super::evaluate::{ProbeResult, Settled, condition, listed};
use crate::resource::dhc::{CertificateStatus, CertificateVerdict};

/// Condition type: every endpoint's certificate verifies for its name.
pub const CERTIFICATE_VALID: &str = "CertificateValid";
/// Condition type: a certificate expires within `certificateWarning`.
pub const CERTIFICATE_EXPIRING: &str = "CertificateExpiring";
/// The `certificateWarning` of a check without one: 14 days, half of the
/// 30 days before expiry at which ACME clients (certbot, cert-manager)
/// renew, so it fires when renewal has been failing for two weeks.
pub const DEFAULT_WARNING: Duration = Duration::from_secs(14 * 24 * 3600);

/// The settled certificate of one endpoint.
pub type EndpointSlot = Settled<CertificateStatus>;

impl ProbeResult for CertificateStatus {
    /// No handshake (refused, reset, timed out): nothing known about the
    /// certificate. A certificate that fails verification is a result.
    fn failed(&self) -> bool {
        self.verdict == CertificateVerdict::HandshakeFailed
    }
}

/// `host:port`, with the server name when it differs from the host.
pub fn endpoint(status: &CertificateStatus) -> String {
    if status.server_name == status.host {
        format!("{}:{}", status.host, status.port)
    } else {
        format!("{}:{} ({})", status.host, status.port, status.server_name)
    }
}

/// `CertificateValid` and `CertificateExpiring` for the settled
/// `endpoints` at `now`.
pub fn conditions(
    old: &[Condition],
    endpoints: &[&CertificateStatus],
    warning: Duration,
    generation: Option<i64>,
    now: Timestamp,
) -> Vec<Condition> {
    let invalid: Vec<&&CertificateStatus> = endpoints
        .iter()
        .filter(|e| e.verdict != CertificateVerdict::Valid)
        .collect();
    let valid = if let Some(first) = invalid.first() {
        let problems: Vec<String> = invalid
            .iter()
            .map(|e| {
                let why = e.message.as_deref().unwrap_or(e.verdict.as_str());
                format!("{}: {} ({why})", endpoint(e), e.verdict.as_str())
            })
            .collect();
        (
            "False",
            first.verdict.as_str(),
            listed("Certificates are not valid", &problems),
        )
    } else if endpoints.is_empty() {
        (
            "Unknown",
            "Probing",
            "No certificate probe has settled yet.".to_owned(),
        )
    } else {
        let notes: Vec<String> = endpoints
            .iter()
            .filter_map(|e| Some(format!("{}: {}", endpoint(e), e.note.as_deref()?)))
            .collect();
        let mut message = format!("{} certificates verify for their names.", endpoints.len());
        if !notes.is_empty() {
            message.push(' ');
            message.push_str(&listed("Warnings", &notes));
        }
        ("True", "Valid", message)
    };

    let warning_secs = i64::try_from(warning.as_secs()).unwrap_or(i64::MAX);
    let mut known: Vec<(i64, &CertificateStatus)> = endpoints
        .iter()
        .filter_map(|e| Some((e.not_after.as_ref()?.0.as_second(), *e)))
        .collect();
    known.sort_by_key(|(at, _)| *at);
    let now_secs = now.as_second();
    let dated = |(at, e): &(i64, &CertificateStatus)| {
        format!(
            "{} at {}",
            endpoint(e),
            Timestamp::from_second(*at).map_or_else(|_| at.to_string(), |t| t.to_string())
        )
    };
    let expired: Vec<String> = known
        .iter()
        .filter(|(at, _)| *at <= now_secs)
        .map(dated)
        .collect();
    let soon: Vec<String> = known
        .iter()
        .filter(|(at, _)| *at > now_secs && at.saturating_sub(now_secs) <= warning_secs)
        .map(dated)
        .collect();
    let warning_text = spaced(&humantime::format_duration(warning).to_string());
    let expiring = if !expired.is_empty() {
        ("True", "Expired", listed("Certificates expired", &expired))
    } else if !soon.is_empty() {
        (
            "True",
            "ExpiresSoon",
            listed(&format!("Certificates expire within {warning_text}"), &soon),
        )
    } else if let Some(first) = known.first() {
        (
            "False",
            "NotExpiring",
            format!(
                "No certificate expires within {warning_text}; the first expires: {}.",
                dated(first)
            ),
        )
    } else {
        (
            "Unknown",
            "NoCertificate",
            "No certificate has been seen yet.".to_owned(),
        )
    };
    vec![
        condition(old, CERTIFICATE_VALID, valid, generation, now),
        condition(old, CERTIFICATE_EXPIRING, expiring, generation, now),
    ]
}

/// humantime's long units with a space before them: `14days` reads
/// `14 days`, `1month 2days 3h` reads `1 month 2 days 3h`.
fn spaced(text: &str) -> String {
    text.split(' ')
        .map(|part| {
            let digits = part.len() - part.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            let (number, unit) = part.split_at(digits);
            if digits > 0 && ["day", "month", "year"].iter().any(|u| unit.starts_with(u)) {
                format!("{number} {unit}")
            } else {
                part.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    use super::*;

    #[test]
    fn warning_periods_read_with_spaces_before_long_units() {
        let text =
            |secs| spaced(&humantime::format_duration(Duration::from_secs(secs)).to_string());
        assert_eq!(text(14 * 86_400), "14 days");
        assert_eq!(text(86_400 + 7_200), "1 day 2h");
        assert_eq!(text(7_200), "2h");
    }

    const DAY: i64 = 24 * 3600;

    fn seen(verdict: CertificateVerdict, not_after: Option<Timestamp>) -> CertificateStatus {
        CertificateStatus {
            host: "127.0.0.1".to_owned(),
            port: 8443,
            server_name: "www.example.com".to_owned(),
            verdict,
            not_after: not_after.map(Time),
            issuer: Some("CN=Test CA".to_owned()),
            dns_names: vec!["www.example.com".to_owned()],
            message: (verdict != CertificateVerdict::Valid).then(|| "why".to_owned()),
            note: None,
        }
    }

    fn reason<'a>(conditions: &'a [Condition], type_: &str) -> (&'a str, &'a str) {
        let c = conditions.iter().find(|c| c.type_ == type_).unwrap();
        (c.status.as_str(), c.reason.as_str())
    }

    fn at(now: Timestamp, days: i64) -> Timestamp {
        now + jiff::SignedDuration::from_secs(days * DAY)
    }

    #[test]
    fn expiry_within_the_warning_is_expiring_and_past_it_expired() {
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        let fine = seen(CertificateVerdict::Valid, Some(at(now, 60)));
        let soon = seen(CertificateVerdict::Valid, Some(at(now, 5)));
        let gone = seen(CertificateVerdict::Expired, Some(at(now, -1)));
        let c = conditions(&[], &[&fine], DEFAULT_WARNING, Some(1), now);
        assert_eq!(reason(&c, CERTIFICATE_VALID), ("True", "Valid"));
        assert_eq!(reason(&c, CERTIFICATE_EXPIRING), ("False", "NotExpiring"));
        let c = conditions(&[], &[&fine, &soon], DEFAULT_WARNING, Some(1), now);
        assert_eq!(reason(&c, CERTIFICATE_EXPIRING), ("True", "ExpiresSoon"));
        let expiring = c.iter().find(|c| c.type_ == CERTIFICATE_EXPIRING).unwrap();
        assert!(
            expiring.message.contains("within 14 days")
                && expiring
                    .message
                    .contains("127.0.0.1:8443 (www.example.com) at 2027-01-20T08:00:00Z"),
            "{}",
            expiring.message
        );
        // A 3-day warning: 5 days left is fine.
        let c = conditions(
            &[],
            &[&soon],
            Duration::from_secs(3 * 24 * 3600),
            Some(1),
            now,
        );
        assert_eq!(reason(&c, CERTIFICATE_EXPIRING), ("False", "NotExpiring"));
        let c = conditions(&[], &[&soon, &gone], DEFAULT_WARNING, Some(1), now);
        assert_eq!(reason(&c, CERTIFICATE_VALID), ("False", "Expired"));
        assert_eq!(reason(&c, CERTIFICATE_EXPIRING), ("True", "Expired"));
    }

    #[test]
    fn the_first_invalid_endpoint_gives_the_reason_and_nothing_is_unknown() {
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        let fine = seen(CertificateVerdict::Valid, Some(at(now, 60)));
        let wrong = seen(CertificateVerdict::HostnameMismatch, Some(at(now, 60)));
        let down = seen(CertificateVerdict::HandshakeFailed, None);
        let c = conditions(&[], &[&fine, &wrong, &down], DEFAULT_WARNING, None, now);
        assert_eq!(reason(&c, CERTIFICATE_VALID), ("False", "HostnameMismatch"));
        let valid = c.iter().find(|c| c.type_ == CERTIFICATE_VALID).unwrap();
        assert!(
            valid.message.contains("HostnameMismatch (why)")
                && valid.message.contains("HandshakeFailed"),
            "{}",
            valid.message
        );
        let c = conditions(&[], &[], DEFAULT_WARNING, None, now);
        assert_eq!(reason(&c, CERTIFICATE_VALID), ("Unknown", "Probing"));
        assert_eq!(
            reason(&c, CERTIFICATE_EXPIRING),
            ("Unknown", "NoCertificate")
        );
    }

    #[test]
    fn an_unchanged_certificate_gives_an_identical_condition_a_day_later() {
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        let fine = seen(CertificateVerdict::Valid, Some(at(now, 60)));
        let first = conditions(&[], &[&fine], DEFAULT_WARNING, Some(1), now);
        let later = conditions(&first, &[&fine], DEFAULT_WARNING, Some(1), at(now, 1));
        assert_eq!(first, later);
    }

    #[test]
    fn a_failed_handshake_shows_only_at_the_threshold() {
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        let mut slot = EndpointSlot::default();
        assert!(slot.observe(seen(CertificateVerdict::Valid, Some(at(now, 60))), 3));
        assert!(!slot.observe(seen(CertificateVerdict::HandshakeFailed, None), 3));
        assert!(!slot.observe(seen(CertificateVerdict::HandshakeFailed, None), 3));
        assert_eq!(
            slot.settled.as_ref().unwrap().verdict,
            CertificateVerdict::Valid
        );
        assert!(slot.observe(seen(CertificateVerdict::HandshakeFailed, None), 3));
        // A certificate seen shows at once, invalid or not.
        assert!(slot.observe(seen(CertificateVerdict::Expired, Some(at(now, -1))), 3));
        assert_eq!(slot.failures_in_row, 0);
    }
}
