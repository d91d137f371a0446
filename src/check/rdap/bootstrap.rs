//! The IANA RDAP bootstrap file for domains (RFC 9224): which RDAP server
//! answers for which TLD, and how long our copy of it stays fresh.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use jiff::Timestamp;
use reqwest::header::{CACHE_CONTROL, DATE, EXPIRES, HeaderMap};
use serde::Deserialize;
use url::Url;

/// How long a bootstrap copy stays fresh when the server gives no lifetime.
pub const DEFAULT_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// After a failed refresh, the next attempt waits this long, so a broken
/// bootstrap server is not asked again by every check.
pub const REFRESH_RETRY: Duration = Duration::from_secs(60);

/// Why a bootstrap file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    /// The file is not the RFC 9224 JSON shape.
    #[error("the bootstrap file is not RFC 9224 JSON: {0}")]
    Format(#[source] serde_json::Error),
    /// The file parsed but lists no usable service.
    #[error("the bootstrap file lists no service with a usable URL")]
    Empty,
}

/// RFC 9224 §4: `{"services": [[["tld", …], ["https://…/", …]], …]}`.
#[derive(Deserialize)]
struct File {
    services: Vec<(Vec<String>, Vec<String>)>,
}

/// Which RDAP base URL serves which domain suffix.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Bootstrap {
    services: HashMap<String, Url>,
}

impl Bootstrap {
    /// Parses a bootstrap file. Entries without a usable URL are dropped.
    pub fn parse(body: &[u8]) -> Result<Self, BootstrapError> {
        let file: File = serde_json::from_slice(body).map_err(BootstrapError::Format)?;
        let mut services = HashMap::new();
        for (suffixes, urls) in file.services {
            let Some(base) = preferred_base_url(&urls) else {
                continue;
            };
            for suffix in suffixes {
                let suffix = suffix.trim().trim_matches('.').to_ascii_lowercase();
                if !suffix.is_empty() {
                    services.entry(suffix).or_insert_with(|| base.clone());
                }
            }
        }
        if services.is_empty() {
            return Err(BootstrapError::Empty);
        }
        Ok(Self { services })
    }

    /// The base URL for `domain`: the entry of its longest matching suffix.
    pub fn base_url_for(&self, domain: &str) -> Option<&Url> {
        crate::domain_name::longest_suffix_match(domain, |suffix| self.services.get(suffix))
    }
}

/// The URL to use among a service's equivalents: the first `https` one, else
/// the first `http` one (RFC 9224 §3 asks clients to prefer https), always
/// ending in `/` so that `domain/<name>` joins below it.
pub fn preferred_base_url(urls: &[String]) -> Option<Url> {
    let parsed: Vec<Url> = urls
        .iter()
        .filter_map(|raw| Url::parse(raw.trim()).ok())
        .filter(|url| matches!(url.scheme(), "https" | "http") && url.has_host())
        .collect();
    let chosen = parsed
        .iter()
        .find(|url| url.scheme() == "https")
        .or_else(|| parsed.first())?;
    Some(with_trailing_slash(chosen.clone()))
}

/// `https://rdap.example/v1` → `https://rdap.example/v1/`.
pub fn with_trailing_slash(mut url: Url) -> Url {
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    url
}

/// How long an answer stays fresh: `Cache-Control: max-age`, else `Expires`
/// (against the server's `Date`, else `now`), else [`DEFAULT_TTL`].
/// `no-cache`/`no-store` count as already stale.
pub fn freshness_lifetime(headers: &HeaderMap, now: Timestamp) -> Duration {
    let cache_control = headers
        .get_all(CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim);
    for directive in cache_control {
        let lower = directive.to_ascii_lowercase();
        if lower == "no-cache" || lower == "no-store" {
            return Duration::ZERO;
        }
        if let Some(seconds) = lower.strip_prefix("max-age=")
            && let Ok(seconds) = seconds.trim_matches('"').parse::<u64>()
        {
            return Duration::from_secs(seconds);
        }
    }
    let header_date = |name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_http_date)
    };
    if let Some(expires) = header_date(EXPIRES) {
        let base = header_date(DATE).unwrap_or(now);
        return expires
            .duration_since(base)
            .try_into()
            .unwrap_or(Duration::ZERO);
    }
    // An unparsable Expires means "already expired" (RFC 9111 §5.3), but only
    // when the header is there at all.
    if headers.contains_key(EXPIRES) {
        return Duration::ZERO;
    }
    DEFAULT_TTL
}

/// An HTTP-date (`Sun, 06 Nov 1994 08:49:37 GMT`, RFC 9110 §5.6.7).
pub fn parse_http_date(raw: &str) -> Option<Timestamp> {
    static PARSER: jiff::fmt::rfc2822::DateTimeParser = jiff::fmt::rfc2822::DateTimeParser::new();
    PARSER.parse_timestamp(raw.trim()).ok()
}

/// Our copy of the bootstrap file and what we know about its freshness.
#[derive(Debug, Default)]
pub struct BootstrapCache {
    copy: Option<Cached>,
    /// The last refresh failed with this error; no new attempt before the instant.
    failure: Option<(String, Instant)>,
}

#[derive(Debug)]
struct Cached {
    table: Arc<Bootstrap>,
    fresh_until: Instant,
}

/// What the cache says before a check.
#[derive(Debug)]
pub enum Lookup {
    /// Use this table. Carries the refresh error when the copy is stale.
    Use(Arc<Bootstrap>, Option<String>),
    /// There is no copy and the last fetch failed recently: do not retry yet.
    Unavailable(String),
    /// Fetch the file now.
    Refresh,
}

impl BootstrapCache {
    /// Whether the copy can be used at `now`, or must be refreshed.
    pub fn lookup(&self, now: Instant) -> Lookup {
        if let Some(copy) = self.copy.as_ref().filter(|c| now < c.fresh_until) {
            return Lookup::Use(Arc::clone(&copy.table), None);
        }
        match (&self.copy, &self.failure) {
            (Some(copy), Some((error, retry_at))) if now < *retry_at => {
                Lookup::Use(Arc::clone(&copy.table), Some(error.clone()))
            }
            (None, Some((error, retry_at))) if now < *retry_at => {
                Lookup::Unavailable(error.clone())
            }
            _ => Lookup::Refresh,
        }
    }

    /// Stores a freshly fetched copy.
    pub fn store(&mut self, table: Bootstrap, lifetime: Duration, now: Instant) -> Arc<Bootstrap> {
        let table = Arc::new(table);
        self.copy = Some(Cached {
            table: Arc::clone(&table),
            fresh_until: now + lifetime,
        });
        self.failure = None;
        table
    }

    /// Records a failed refresh: no new attempt for [`REFRESH_RETRY`]. Returns
    /// the stale copy to keep using, if there is one.
    pub fn refresh_failed(&mut self, error: String, now: Instant) -> Option<Arc<Bootstrap>> {
        self.failure = Some((error, now + REFRESH_RETRY));
        self.copy.as_ref().map(|c| Arc::clone(&c.table))
    }
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    const IANA_LIKE: &str = r#"{
      "version": "1.0",
      "publication": "2025-01-01T00:00:00Z",
      "services": [
        [["com", "net"], ["https://rdap.verisign.com/com/v1/"]],
        [["uk"], ["http://rdap.nominet.uk/uk", "https://rdap.nominet.uk/uk"]],
        [["co.uk"], ["http://co-uk.example/rdap"]],
        [["broken"], ["ftp://nope.example/", "not a url"]],
        [["XN--P1AI."], ["https://rdap.tcinet.ru/"]]
      ]
    }"#;

    fn table() -> Bootstrap {
        Bootstrap::parse(IANA_LIKE.as_bytes()).unwrap()
    }

    fn base(domain: &str) -> Option<String> {
        table().base_url_for(domain).map(Url::to_string)
    }

    #[test]
    fn longest_suffix_wins() {
        assert_eq!(
            base("example.com").as_deref(),
            Some("https://rdap.verisign.com/com/v1/")
        );
        assert_eq!(
            base("shop.example.co.uk").as_deref(),
            Some("http://co-uk.example/rdap/")
        );
        assert_eq!(
            base("example.org.uk").as_deref(),
            Some("https://rdap.nominet.uk/uk/")
        );
        assert_eq!(
            base("xn--d1acufc.xn--p1ai").as_deref(),
            Some("https://rdap.tcinet.ru/")
        );
        assert_eq!(base("example.xyz"), None);
        assert_eq!(base("example.broken"), None, "no usable URL");
        // A suffix must match whole labels.
        assert_eq!(base("example.acom"), None);
    }

    #[test]
    fn https_is_preferred_and_base_ends_with_slash() {
        let pick = |urls: &[&str]| {
            preferred_base_url(&urls.iter().map(|u| (*u).to_owned()).collect::<Vec<_>>())
                .map(|u| u.to_string())
        };
        assert_eq!(
            pick(&["http://a.example/rdap", "https://b.example/rdap"]).as_deref(),
            Some("https://b.example/rdap/")
        );
        assert_eq!(
            pick(&["http://a.example/rdap"]).as_deref(),
            Some("http://a.example/rdap/")
        );
        assert_eq!(
            pick(&["http://a.example"]).as_deref(),
            Some("http://a.example/")
        );
        assert_eq!(pick(&["mailto:x@y.example", "file:///etc"]), None);
        assert_eq!(pick(&[]), None);
    }

    #[test]
    fn malformed_files_are_errors() {
        assert!(matches!(
            Bootstrap::parse(b"<html>"),
            Err(BootstrapError::Format(_))
        ));
        assert!(matches!(
            Bootstrap::parse(br#"{"services": []}"#),
            Err(BootstrapError::Empty)
        ));
        assert!(matches!(
            Bootstrap::parse(br#"{"services": [["com", "x"]]}"#),
            Err(BootstrapError::Format(_))
        ));
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn lifetime_comes_from_max_age_then_expires_then_default() {
        let now: Timestamp = "2025-01-01T00:00:00Z".parse().unwrap();
        assert_eq!(
            freshness_lifetime(&headers(&[("cache-control", "public, max-age=3600")]), now),
            Duration::from_secs(3600)
        );
        assert_eq!(
            freshness_lifetime(
                &headers(&[
                    ("expires", "Wed, 01 Jan 2025 02:00:00 GMT"),
                    ("date", "Wed, 01 Jan 2025 01:00:00 GMT")
                ]),
                now
            ),
            Duration::from_secs(3600)
        );
        assert_eq!(
            freshness_lifetime(
                &headers(&[("expires", "Wed, 01 Jan 2025 00:10:00 GMT")]),
                now
            ),
            Duration::from_secs(600)
        );
        assert_eq!(
            freshness_lifetime(&headers(&[("expires", "0")]), now),
            Duration::ZERO
        );
        assert_eq!(
            freshness_lifetime(&headers(&[("cache-control", "no-cache")]), now),
            Duration::ZERO
        );
        assert_eq!(freshness_lifetime(&headers(&[]), now), DEFAULT_TTL);
    }

    #[test]
    fn cache_serves_fresh_then_refreshes_then_keeps_stale_copy_on_failure() {
        let mut cache = BootstrapCache::default();
        let t0 = Instant::now();
        assert!(matches!(cache.lookup(t0), Lookup::Refresh));
        assert!(
            cache.refresh_failed("down".into(), t0).is_none(),
            "nothing to fall back on"
        );
        assert!(matches!(cache.lookup(t0), Lookup::Unavailable(e) if e == "down"));
        assert!(matches!(cache.lookup(t0 + REFRESH_RETRY), Lookup::Refresh));

        cache.store(table(), Duration::from_secs(10), t0);
        assert!(matches!(
            cache.lookup(t0 + Duration::from_secs(9)),
            Lookup::Use(_, None)
        ));
        let expired = t0 + Duration::from_secs(10);
        assert!(matches!(cache.lookup(expired), Lookup::Refresh));

        assert!(cache.refresh_failed("503".into(), expired).is_some());
        match cache.lookup(expired + Duration::from_secs(1)) {
            Lookup::Use(table, Some(error)) => {
                assert!(table.base_url_for("a.com").is_some());
                assert_eq!(error, "503");
            }
            other => panic!("expected the stale copy, got {other:?}"),
        }
        assert!(matches!(
            cache.lookup(expired + REFRESH_RETRY),
            Lookup::Refresh
        ));
    }
}
