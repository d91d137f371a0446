//! Plumbing shared by every outbound HTTP client.

use std::sync::Once;

/// Installs rustls's `ring` crypto provider as the process default, once.
///
/// kube and reqwest both use rustls; with the provider chosen here rather than
/// by feature flags, one provider (ring, no C toolchain needed) serves both.
pub fn ensure_crypto_provider() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // An Err means another provider was installed first; that one serves.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// The User-Agent of every request the operator makes.
pub const USER_AGENT: &str = concat!("domain-monitor/", env!("CARGO_PKG_VERSION"));

/// The wait a `Retry-After` header asks for (RFC 9110 §10.2.3): delta-seconds
/// or an HTTP-date, resolved against `now`; a date in the past means "now"
/// (zero). `None` when the header is absent or unreadable. The one reader of
/// the header: RDAP, the registrar API and callbacks all use it.
pub fn retry_after(
    headers: &reqwest::header::HeaderMap,
    now: jiff::Timestamp,
) -> Option<std::time::Duration> {
    let raw = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(seconds) = raw.parse::<u64>() {
        return Some(std::time::Duration::from_secs(seconds));
    }
    static PARSER: jiff::fmt::rfc2822::DateTimeParser = jiff::fmt::rfc2822::DateTimeParser::new();
    let at = PARSER.parse_timestamp(raw).ok()?;
    Some(at.duration_since(now).try_into().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};

    use super::*;

    #[test]
    fn retry_after_accepts_seconds_and_http_dates_and_a_past_date_means_now() {
        let now: jiff::Timestamp = "2025-01-01T00:00:00Z".parse().unwrap();
        let with = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(RETRY_AFTER, HeaderValue::from_static(value));
            retry_after(&headers, now)
        };
        assert_eq!(with("120"), Some(Duration::from_secs(120)));
        assert_eq!(with(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(
            with("Wed, 01 Jan 2025 00:02:30 GMT"),
            Some(Duration::from_secs(150))
        );
        assert_eq!(with("Tue, 31 Dec 2024 23:00:00 GMT"), Some(Duration::ZERO));
        assert_eq!(with("soon"), None);
        assert_eq!(with("-5"), None);
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }
}
