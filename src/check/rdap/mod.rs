//! The RDAP checker: asks the registry's RDAP server about the domain
//! (layer 2, reliable).
//!
//! The server comes from the overrides table, else from the IANA bootstrap
//! file ([`bootstrap`]), cached for as long as its headers allow. HTTP status
//! codes are the main signal: 200 with a domain object is registration,
//! 429/403/422 and throttle banners are rate limits, 400 is a bad query. The
//! body of a 200 is parsed by [`parse`] into registration facts.
//!
//! A 404 means "not in the registry database" only when it is the registry's
//! own RFC 9083 error object: a JSON body (`application/rdap+json` or
//! `application/json`) holding `"errorCode": 404`, from the server the
//! bootstrap or an override named (a redirect to another host may end
//! anywhere). Every other 404 — an HTML page from a proxy, a wrong or stale
//! base path, an empty body — is [`CheckOutcome::Inconclusive`]. Registries
//! known to answer 404 for registered names (`RDAP_WEAK_NOT_FOUND_TLDS`, by default
//! [`WEAK_404_TLDS`]) give a [`Strength::Weak`] "not found" even with an
//! error object.
//!
//! Throttling is read from the status (429, 403, 422) and from short answers
//! that *are* a refusal: the `title`/`description` of an error object or a
//! short plain body. Notices and remarks (terms of use that describe the
//! rate-limit policy) are never read as a throttle.
//!
//! Servers may redirect (RFC 7480 §5.2), and a redirect is followed, up to
//! [`MAX_REDIRECTS`] times, only where it cannot reach into the cluster
//! (SSRF): http(s) only, no downgrade from https, and a hop to another host
//! than the server's goes through the http checker's guarded resolver, which
//! refuses loopback, private, link-local and metadata addresses, as do IP
//! literals there. The server itself, from the bootstrap or an override, is
//! trusted wherever it lives.
//!
//! This is a small reqwest + serde client written here on purpose rather than
//! the `icann-rdap-client` crate: that crate sleeps inside requests when a
//! server throttles, which would hold a check slot and bypass our per-server
//! budgets and back-off ([`ServerBudgets`]), and its current releases need a
//! newer compiler than this project's.

pub mod bootstrap;
pub mod parse;

use std::sync::Arc;
use std::{
    collections::HashMap,
    fmt::Write as _,
    net::{IpAddr, SocketAddr},
    time::{Duration, Instant},
};

use futures::{FutureExt, future::BoxFuture};
use jiff::Timestamp;
use reqwest::{
    StatusCode,
    header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, HeaderValue, LOCATION},
    redirect,
};
use tokio::sync::Mutex;
use url::Url;

use self::{
    bootstrap::{Bootstrap, BootstrapCache, Lookup},
    parse::{DomainAnswer, parse_domain},
};
use crate::{
    check::{CheckKind, CheckOutcome, CheckReport, Checker, RegistrationFacts, Strength, http},
    config::{CheckerArgs, RateLimit, UrlOverrides},
    domain_name::DomainName,
    net::{USER_AGENT, ensure_crypto_provider},
    ratelimit::ServerBudgets,
};

/// Largest RDAP answer read. Real domain objects are a few kB; beyond this the
/// server is misbehaving and reading on would only cost memory.
pub const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// Redirects followed for one request.
pub const MAX_REDIRECTS: usize = 5;
/// Largest bootstrap file read (IANA's is about 40 kB).
pub const MAX_BOOTSTRAP_BYTES: usize = 4 * 1024 * 1024;

/// TLDs whose RDAP servers have answered 404 for registered names (public
/// reports about .io and .co): the default of `RDAP_WEAK_NOT_FOUND_TLDS`. A 404
/// from them is reported with [`Strength::Weak`] so the verdict waits for
/// other evidence.
pub const WEAK_404_TLDS: &[&str] = &["io", "co"];

/// Longest plain (non-JSON) body read for a throttle message: a refusal is a
/// line or two; a page of prose is not one.
const MAX_BANNER_BYTES: usize = 2048;

/// Phrases (lower case) with which servers say "slow down" in a body instead
/// of, or besides, a 429. Only checked on answers that are not a domain
/// object: registered domains' notices often describe the rate-limit policy.
pub const THROTTLE_PHRASES: &[&str] = &[
    "number of allowed queries exceeded",
    "quota exceeded",
    "too fast",
    "rate limit exceeded",
    "rate limited",
    "excessive querying",
    "too many requests",
];

/// What the RDAP checker needs to know.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where the IANA bootstrap file (`dns.json`) is fetched.
    pub bootstrap_url: Url,
    /// RDAP base URLs per suffix (usually a TLD); they win over the bootstrap.
    pub overrides: UrlOverrides,
    /// Timeout of one request, connection included.
    pub timeout: Duration,
    /// Request budget per RDAP server.
    pub rate_limit: RateLimit,
    /// DNS servers that resolve redirect targets on other hosts (the
    /// system's when empty).
    pub dns_servers: Vec<SocketAddr>,
    /// Let redirects reach loopback and private addresses (tests only).
    pub allow_private: bool,
    /// TLDs whose RDAP 404 is weak evidence (lower case, no dot).
    pub weak_404_tlds: Vec<String>,
}

impl Settings {
    /// The RDAP settings from the command line.
    pub fn from_args(args: &CheckerArgs) -> Self {
        Self {
            bootstrap_url: args.rdap_bootstrap_url.clone(),
            overrides: args.rdap_overrides.clone(),
            timeout: args.rdap_timeout,
            rate_limit: args.rdap_rate_limit,
            dns_servers: args.dns_resolvers.clone(),
            allow_private: args.http_allow_private,
            weak_404_tlds: args.rdap_weak_not_found_tlds.clone(),
        }
    }
}

/// What can go wrong in this module.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The HTTP client could not be built (TLS set-up).
    #[error("cannot build the RDAP HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    /// A request failed: connection, timeout, or the body broke off.
    #[error("request to {url} failed: {source}")]
    Request {
        /// The URL asked.
        url: Url,
        /// The underlying failure.
        #[source]
        source: reqwest::Error,
    },
    /// The resolver that vets redirect targets could not be set up.
    #[error("cannot set up name resolution for RDAP redirects: {0}")]
    Resolver(#[source] http::Error),
    /// A redirect was not followed; nothing was asked there.
    #[error("redirect from {from} to {to} not followed: {reason}")]
    Redirect {
        /// The URL that redirected.
        from: String,
        /// Where it pointed.
        to: String,
        /// Why it was refused.
        reason: String,
    },
    /// The answer was longer than we read.
    #[error("answer from {url} exceeds {limit} bytes; not read further")]
    TooLarge {
        /// The URL asked.
        url: Url,
        /// The cap that was hit.
        limit: usize,
    },
    /// The bootstrap server answered, but not with a 200.
    #[error("bootstrap file {url} answered HTTP {status}")]
    BootstrapStatus {
        /// The bootstrap URL.
        url: Url,
        /// The status it gave.
        status: StatusCode,
    },
    /// The bootstrap file could not be used.
    #[error("bootstrap file {url}: {source}")]
    Bootstrap {
        /// The bootstrap URL.
        url: Url,
        /// Why it was rejected.
        #[source]
        source: bootstrap::BootstrapError,
    },
    /// The last bootstrap fetch failed and there is no copy; a new attempt
    /// waits for [`bootstrap::REFRESH_RETRY`]. The message is that fetch's
    /// error and when it was: true for the operator, which fetches again
    /// later, and for a one-off run, which does not.
    #[error("{0} (the last attempt, less than {secs}s ago)", secs = bootstrap::REFRESH_RETRY.as_secs())]
    BootstrapUnavailable(String),
    /// A base URL and a domain name did not join into a URL.
    #[error("cannot build a query URL from {base} and {domain}: {source}")]
    QueryUrl {
        /// The base URL.
        base: Url,
        /// The domain name.
        domain: String,
        /// The parse error.
        #[source]
        source: url::ParseError,
    },
}

/// Local result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Asks RDAP servers about domains. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct RdapChecker {
    /// For the RDAP server's own host.
    client: reqwest::Client,
    /// For redirects to other hosts: resolves through the address guard.
    redirect_client: reqwest::Client,
    allow_private: bool,
    weak_404_tlds: Vec<String>,
    bootstrap_url: Url,
    /// Overrides keyed by lower-case suffix, base URLs ending in `/`.
    overrides: HashMap<String, Url>,
    budgets: Arc<ServerBudgets>,
    bootstrap: Mutex<BootstrapCache>,
}

impl RdapChecker {
    /// A checker with its own per-server budgets.
    pub fn new(settings: Settings) -> Result<Self> {
        let budgets = Arc::new(ServerBudgets::new("rdap", settings.rate_limit));
        Self::with_budgets(settings, budgets)
    }

    /// A checker spending `budgets` (shared, e.g. resized to a replica's share).
    pub fn with_budgets(settings: Settings, budgets: Arc<ServerBudgets>) -> Result<Self> {
        ensure_crypto_provider();
        let builder = || {
            reqwest::Client::builder()
                .user_agent(USER_AGENT)
                .timeout(settings.timeout)
                .connect_timeout(settings.timeout)
                // Followed by hand, see `get`.
                .redirect(redirect::Policy::none())
        };
        let client = builder().build().map_err(Error::Client)?;
        let guard = http::guarded_resolver(
            &settings.dns_servers,
            settings.timeout,
            settings.allow_private,
        )
        .map_err(Error::Resolver)?;
        let redirect_client = builder()
            .dns_resolver(guard)
            // A proxy would resolve and connect on our behalf, past the guard.
            .no_proxy()
            .build()
            .map_err(Error::Client)?;
        let overrides = settings
            .overrides
            .into_iter()
            .map(|(suffix, url)| {
                (
                    suffix.trim_matches('.').to_ascii_lowercase(),
                    bootstrap::with_trailing_slash(url),
                )
            })
            .collect();
        Ok(Self {
            client,
            redirect_client,
            allow_private: settings.allow_private,
            weak_404_tlds: settings
                .weak_404_tlds
                .iter()
                .map(|t| t.trim_matches('.').to_ascii_lowercase())
                .collect(),
            bootstrap_url: settings.bootstrap_url,
            overrides,
            budgets,
            bootstrap: Mutex::new(BootstrapCache::default()),
        })
    }

    async fn run(&self, domain: &DomainName) -> CheckReport {
        let started = Timestamp::now();
        let (base, stale_bootstrap) = match self.base_url_for(domain).await {
            Ok(Some(found)) => found,
            Ok(None) => {
                return CheckReport::skipped(
                    CheckKind::Rdap,
                    format!("no RDAP service for .{}", domain.tld()),
                );
            }
            Err(err) => {
                return CheckReport::error(
                    CheckKind::Rdap,
                    format!("no RDAP bootstrap: {err}"),
                    started,
                );
            }
        };
        let mut report = self.query(domain, &base, started).await;
        if let Some(error) = stale_bootstrap {
            let _ = write!(
                report.detail,
                " (using a stale RDAP bootstrap copy: refresh failed: {error})"
            );
        }
        report
    }

    /// The base URL for `domain` (overrides first, then the bootstrap file),
    /// plus the refresh error when the bootstrap copy used is stale.
    async fn base_url_for(&self, domain: &DomainName) -> Result<Option<(Url, Option<String>)>> {
        if let Some(url) =
            crate::domain_name::longest_suffix_match(domain.as_str(), |s| self.overrides.get(s))
        {
            return Ok(Some((url.clone(), None)));
        }
        let (table, stale) = self.bootstrap_table().await?;
        Ok(table
            .base_url_for(domain.as_str())
            .map(|url| (url.clone(), stale)))
    }

    /// The bootstrap table, fetched when our copy is not fresh. The lock is
    /// held during the fetch so concurrent checks share one request.
    async fn bootstrap_table(&self) -> Result<(std::sync::Arc<Bootstrap>, Option<String>)> {
        let mut cache = self.bootstrap.lock().await;
        match cache.lookup(Instant::now()) {
            Lookup::Use(table, stale) => return Ok((table, stale)),
            Lookup::Unavailable(error) => return Err(Error::BootstrapUnavailable(error)),
            Lookup::Refresh => {}
        }
        match self.fetch_bootstrap().await {
            Ok((table, lifetime)) => {
                tracing::debug!(url = %self.bootstrap_url, ?lifetime, "RDAP bootstrap file fetched");
                Ok((cache.store(table, lifetime, Instant::now()), None))
            }
            Err(err) => {
                let message = err.to_string();
                match cache.refresh_failed(message.clone(), Instant::now()) {
                    Some(stale) => {
                        tracing::warn!(error = %message, "RDAP bootstrap refresh failed; using the stale copy");
                        Ok((stale, Some(message)))
                    }
                    None => Err(err),
                }
            }
        }
    }

    async fn fetch_bootstrap(&self) -> Result<(Bootstrap, Duration)> {
        let url = &self.bootstrap_url;
        let answer = self
            .get(url, "application/json", MAX_BOOTSTRAP_BYTES)
            .await?;
        if answer.status != StatusCode::OK {
            return Err(Error::BootstrapStatus {
                url: url.clone(),
                status: answer.status,
            });
        }
        let table = Bootstrap::parse(&answer.body).map_err(|source| Error::Bootstrap {
            url: url.clone(),
            source,
        })?;
        Ok((
            table,
            bootstrap::freshness_lifetime(&answer.headers, Timestamp::now()),
        ))
    }

    async fn query(&self, domain: &DomainName, base: &Url, started: Timestamp) -> CheckReport {
        let server = base.as_str();
        if let Err(backing_off) = self.budgets.acquire(server).await {
            return CheckReport::new(
                CheckKind::Rdap,
                CheckOutcome::RateLimited,
                backing_off.to_string(),
                started,
            )
            .with_server(server)
            .with_retry_after(Some(backing_off.remaining));
        }
        let url = match base.join(&format!("domain/{}", domain.as_str())) {
            Ok(url) => url,
            Err(source) => {
                let err = Error::QueryUrl {
                    base: base.clone(),
                    domain: domain.to_string(),
                    source,
                };
                return CheckReport::error(CheckKind::Rdap, err, started).with_server(server);
            }
        };
        let answer = match self
            .get(
                &url,
                "application/rdap+json, application/json;q=0.5",
                MAX_ANSWER_BYTES,
            )
            .await
        {
            Ok(answer) => answer,
            Err(err) => {
                return CheckReport::error(CheckKind::Rdap, err, started).with_server(server);
            }
        };

        let retry_after = crate::net::retry_after(&answer.headers, Timestamp::now());
        let media_type = answer
            .headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        let origin = Origin {
            media_type,
            elsewhere: (answer.url.host_str() != base.host_str())
                .then(|| answer.url.host_str().unwrap_or_default()),
            weak_404: self.weak_404_tlds.iter().any(|t| t == domain.tld()),
        };
        let reading = read_answer(domain, answer.status, &origin, &answer.body);
        let mut report = CheckReport::new(
            CheckKind::Rdap,
            reading.outcome,
            format!(
                "HTTP {} from {server}: {}",
                answer.status.as_u16(),
                reading.detail
            ),
            started,
        )
        .with_server(server)
        .with_strength(reading.strength)
        .with_registration(reading.facts);
        report.error = reading.error;
        if reading.outcome == CheckOutcome::RateLimited
            || (answer.status.is_server_error() && retry_after.is_some())
        {
            let wait = self.budgets.back_off(server, retry_after);
            let _ = write!(
                report.detail,
                "; backing off for {}",
                humantime::format_duration(wait)
            );
            report = report.with_retry_after(Some(wait));
        } else if !answer.status.is_server_error() {
            // A normal answer ends the back-off streak; a failing server does not.
            self.budgets.record_success(server);
        }
        report
    }

    /// GET with a body cap: reading stops (and fails) past `limit` bytes.
    /// Redirects are followed as the module documentation says.
    async fn get(&self, url: &Url, accept: &str, limit: usize) -> Result<Answer> {
        let mut current = url.clone();
        let mut came_from = url.clone();
        let mut hops = 0;
        loop {
            let elsewhere = current.host_str() != url.host_str();
            let client = if elsewhere {
                &self.redirect_client
            } else {
                &self.client
            };
            let response = client
                .get(current.clone())
                .header(ACCEPT, accept)
                .send()
                .await
                .map_err(|source| match http::resolve_failure(&source) {
                    Some(refused @ http::Error::Refused { .. }) => Error::Redirect {
                        from: came_from.to_string(),
                        to: current.to_string(),
                        reason: refused.to_string(),
                    },
                    _ => Error::Request {
                        url: current.clone(),
                        source,
                    },
                })?;
            let location = response.headers().get(LOCATION);
            match location {
                Some(location) if response.status().is_redirection() => {
                    let next = self.redirect_target(url, &current, location)?;
                    hops += 1;
                    if hops > MAX_REDIRECTS {
                        return Err(Error::Redirect {
                            from: current.to_string(),
                            to: next.to_string(),
                            reason: format!("more than {MAX_REDIRECTS} redirects"),
                        });
                    }
                    came_from = std::mem::replace(&mut current, next);
                }
                _ => return read_capped(response, &current, limit).await,
            }
        }
    }

    /// Where a redirect from `from` points, if it may be followed; `origin`
    /// is the URL first asked.
    fn redirect_target(&self, origin: &Url, from: &Url, location: &HeaderValue) -> Result<Url> {
        let refuse = |to: &str, reason: String| Error::Redirect {
            from: from.to_string(),
            to: to.to_owned(),
            reason,
        };
        let text = location
            .to_str()
            .map_err(|_| refuse("?", "the Location header is not text".to_owned()))?;
        let next = from.join(text).map_err(|e| refuse(text, e.to_string()))?;
        match (from.scheme(), next.scheme()) {
            (_, "https") | ("http", "http") => {}
            ("https", "http") => return Err(refuse(text, "a downgrade to http".to_owned())),
            (_, other) => return Err(refuse(text, format!("{other}: is not http(s)"))),
        }
        if !self.allow_private && next.host_str() != origin.host_str() {
            let ip = match next.host() {
                Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
                Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
                _ => None,
            };
            if let Some((ip, range)) =
                ip.and_then(|ip| crate::net::refused_range(ip).map(|r| (ip, r)))
            {
                return Err(refuse(text, format!("{ip} is {range}")));
            }
        }
        Ok(next)
    }
}

/// Reads an answer's body, failing past `limit` bytes.
async fn read_capped(mut response: reqwest::Response, url: &Url, limit: usize) -> Result<Answer> {
    let request_error = |source| Error::Request {
        url: url.clone(),
        source,
    };
    let too_large = || Error::TooLarge {
        url: url.clone(),
        limit,
    };
    let declared = response
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(too_large());
    }
    let mut body = Vec::with_capacity(declared.unwrap_or(0));
    while let Some(chunk) = response.chunk().await.map_err(request_error)? {
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Answer {
        url: url.clone(),
        status: response.status(),
        headers: response.headers().clone(),
        body,
    })
}

impl Checker for RdapChecker {
    fn kind(&self) -> CheckKind {
        CheckKind::Rdap
    }

    fn check<'a>(&'a self, domain: &'a DomainName) -> BoxFuture<'a, CheckReport> {
        self.run(domain).boxed()
    }
}

/// An HTTP answer read in full (within the cap).
struct Answer {
    /// The URL that gave it (after redirects).
    url: Url,
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

/// What an RDAP answer means, before any side effect.
#[derive(Debug, PartialEq)]
struct Reading {
    outcome: CheckOutcome,
    strength: Strength,
    detail: String,
    error: Option<String>,
    facts: RegistrationFacts,
}

impl Reading {
    fn new(outcome: CheckOutcome, detail: impl Into<String>) -> Self {
        Self {
            outcome,
            strength: Strength::Strong,
            detail: detail.into(),
            error: None,
            facts: RegistrationFacts::default(),
        }
    }

    fn failed(outcome: CheckOutcome, error: impl Into<String>) -> Self {
        let error = error.into();
        Self {
            error: Some(error.clone()),
            ..Self::new(outcome, error)
        }
    }
}

/// Where an answer came from, as far as its meaning depends on it.
#[derive(Debug, Default)]
struct Origin<'a> {
    /// The `Content-Type` header.
    media_type: Option<&'a str>,
    /// The host a redirect ended at, when it is not the RDAP server's.
    elsewhere: Option<&'a str>,
    /// The registry is known to answer 404 for registered names.
    weak_404: bool,
}

/// True for an RFC 9083 §6 error object saying 404: JSON served as
/// `application/rdap+json` or `application/json`, an object whose
/// `errorCode` is 404.
fn is_rdap_not_found(media_type: Option<&str>, json: Option<&serde_json::Value>) -> bool {
    let json_type = media_type.is_some_and(|t| {
        let essence = t.split(';').next().unwrap_or_default().trim();
        essence.eq_ignore_ascii_case("application/rdap+json")
            || essence.eq_ignore_ascii_case("application/json")
    });
    if !json_type {
        return false;
    }
    let Some(serde_json::Value::Object(object)) = json else {
        return false;
    };
    match object.get("errorCode") {
        Some(serde_json::Value::Number(code)) => code.as_u64() == Some(404),
        Some(serde_json::Value::String(code)) => code.trim() == "404",
        _ => false,
    }
}

/// Interprets status and body of an answer about `domain`. Pure, so every
/// signal is unit tested without a server.
fn read_answer(domain: &DomainName, status: StatusCode, origin: &Origin, body: &[u8]) -> Reading {
    if status == StatusCode::OK {
        return match parse_domain(body) {
            Ok(answer) => read_domain_object(domain, answer),
            Err(_) if is_throttle_banner(body, serde_json::from_slice(body).ok().as_ref()) => {
                Reading::new(
                    CheckOutcome::RateLimited,
                    "throttle message instead of a domain object",
                )
            }
            // Garbage is never evidence that the name is free.
            Err(err) => Reading::failed(CheckOutcome::Error, err.to_string()),
        };
    }
    if matches!(
        status,
        StatusCode::TOO_MANY_REQUESTS | StatusCode::FORBIDDEN | StatusCode::UNPROCESSABLE_ENTITY
    ) {
        return Reading::new(CheckOutcome::RateLimited, "rate limited");
    }
    // Read once: both the throttle wording and the error object are in it.
    let json: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    if is_throttle_banner(body, json.as_ref()) {
        return Reading::new(CheckOutcome::RateLimited, "throttle message in the answer");
    }
    match status {
        StatusCode::NOT_FOUND if origin.elsewhere.is_some() => Reading::new(
            CheckOutcome::Inconclusive,
            format!(
                "404 after a redirect to {}: not the registry's own answer",
                origin.elsewhere.unwrap_or_default()
            ),
        ),
        StatusCode::NOT_FOUND if !is_rdap_not_found(origin.media_type, json.as_ref()) => {
            Reading::new(
                CheckOutcome::Inconclusive,
                format!(
                    "404 without an RDAP error object ({}): a proxy, a wrong base path or a web page, not the registry",
                    origin.media_type.unwrap_or("no content type")
                ),
            )
        }
        StatusCode::NOT_FOUND => {
            if origin.weak_404 {
                Reading {
                    strength: Strength::Weak,
                    ..Reading::new(
                        CheckOutcome::Available,
                        format!(
                            "not found (weak: the .{} registry has answered 404 for registered names)",
                            domain.tld()
                        ),
                    )
                }
            } else {
                Reading::new(
                    CheckOutcome::Available,
                    "not in the registry database (RFC 9083 error object)",
                )
            }
        }
        StatusCode::BAD_REQUEST => Reading::new(
            CheckOutcome::Inconclusive,
            "bad query: the server rejected the request",
        ),
        s if s.is_server_error() => {
            Reading::failed(CheckOutcome::Inconclusive, format!("server error {s}"))
        }
        s => Reading::new(CheckOutcome::Inconclusive, format!("unexpected status {s}")),
    }
}

fn read_domain_object(domain: &DomainName, answer: DomainAnswer) -> Reading {
    if let Some(name) = answer.ldh_name.as_deref()
        && name != domain.as_str()
    {
        return Reading::failed(
            CheckOutcome::Error,
            format!("the answer is about {name:?}, not {domain}"),
        );
    }
    let detail = if answer.facts.statuses.is_empty() {
        "registered".to_owned()
    } else {
        format!("registered, status {}", answer.facts.statuses.join(", "))
    };
    Reading {
        facts: answer.facts,
        ..Reading::new(CheckOutcome::Registered, detail)
    }
}

/// `json` is `body` parsed, when it is JSON.
fn is_throttle_banner(body: &[u8], json: Option<&serde_json::Value>) -> bool {
    let said = |text: &str| {
        let text = text.to_lowercase();
        THROTTLE_PHRASES.iter().any(|phrase| text.contains(phrase))
    };
    match json {
        // An error object: its own words, not its notices (terms of use).
        Some(serde_json::Value::Object(object)) => ["title", "description"]
            .iter()
            .filter_map(|key| object.get(*key))
            .any(|value| match value {
                serde_json::Value::String(text) => said(text),
                serde_json::Value::Array(lines) => {
                    lines.iter().filter_map(|l| l.as_str()).any(said)
                }
                _ => false,
            }),
        Some(_) => false,
        None => body.len() <= MAX_BANNER_BYTES && said(&String::from_utf8_lossy(body)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> DomainName {
        DomainName::parse(s).unwrap()
    }

    const NOT_FOUND_OBJECT: &str = r#"{"errorCode":404,"title":"Not Found"}"#;

    fn read(domain: &str, status: u16, body: &str) -> Reading {
        read_typed(domain, status, Some("application/rdap+json"), body)
    }

    fn read_typed(domain: &str, status: u16, media_type: Option<&str>, body: &str) -> Reading {
        let origin = Origin {
            media_type,
            elsewhere: None,
            weak_404: WEAK_404_TLDS.contains(&domain.rsplit('.').next().unwrap_or_default()),
        };
        read_answer(
            &name(domain),
            StatusCode::from_u16(status).unwrap(),
            &origin,
            body.as_bytes(),
        )
    }

    #[test]
    fn domain_object_is_registration_with_facts() {
        let body =
            r#"{"objectClassName":"domain","ldhName":"EXAMPLE.com","status":["client hold"]}"#;
        let reading = read("example.com", 200, body);
        assert_eq!(reading.outcome, CheckOutcome::Registered);
        assert_eq!(reading.facts.statuses, ["clientHold"]);
        assert_eq!(reading.detail, "registered, status clientHold");
    }

    #[test]
    fn answer_about_another_name_is_an_error() {
        let body = r#"{"objectClassName":"domain","ldhName":"other.com"}"#;
        let reading = read("example.com", 200, body);
        assert_eq!(reading.outcome, CheckOutcome::Error);
        assert!(reading.detail.contains("other.com"));
    }

    #[test]
    fn garbage_with_200_is_an_error_never_available() {
        for body in ["<html>ok</html>", "", r#"{"errorCode":404}"#, "[]"] {
            let reading = read("example.com", 200, body);
            assert_eq!(reading.outcome, CheckOutcome::Error, "{body:?}");
            assert!(reading.error.is_some());
        }
    }

    #[test]
    fn status_codes_are_signals() {
        assert_eq!(
            read("example.com", 404, NOT_FOUND_OBJECT).outcome,
            CheckOutcome::Available
        );
        assert_eq!(
            read("example.com", 404, NOT_FOUND_OBJECT).strength,
            Strength::Strong
        );
        for status in [429, 403, 422] {
            assert_eq!(
                read("example.com", status, "").outcome,
                CheckOutcome::RateLimited
            );
        }
        assert_eq!(
            read("example.com", 400, "").outcome,
            CheckOutcome::Inconclusive
        );
        let unavailable = read("example.com", 503, "");
        assert_eq!(unavailable.outcome, CheckOutcome::Inconclusive);
        assert!(unavailable.error.is_some());
        assert_eq!(
            read("example.com", 301, "").outcome,
            CheckOutcome::Inconclusive
        );
    }

    #[test]
    fn weak_404_registries_give_weak_availability() {
        for domain in ["example.io", "example.co"] {
            let reading = read(domain, 404, NOT_FOUND_OBJECT);
            assert_eq!(reading.outcome, CheckOutcome::Available);
            assert_eq!(reading.strength, Strength::Weak, "{domain}");
        }
    }

    #[test]
    fn throttle_banners_are_rate_limits_whatever_the_status() {
        let banners = [
            (
                404,
                r#"{"errorCode":404,"description":["Rate limit exceeded. Try again after: 60s"]}"#,
            ),
            (200, "Your access is too fast, please try again later"),
            (500, "Lookup quota exceeded"),
            (400, "Number of allowed queries exceeded"),
        ];
        for (status, body) in banners {
            assert_eq!(
                read("example.org", status, body).outcome,
                CheckOutcome::RateLimited,
                "{status} {body}"
            );
        }
        // A registered domain's notice about the rate-limit policy is not a throttle.
        let notice = r#"{"objectClassName":"domain","notices":[{"description":["Too many requests are answered with 429; quota exceeded means wait"]}]}"#;
        assert_eq!(
            read("example.org", 200, notice).outcome,
            CheckOutcome::Registered
        );
    }

    #[test]
    fn terms_of_use_about_throttling_are_not_a_throttle() {
        let not_found = r#"{"errorCode":404,"title":"Not Found","notices":[{"title":"Terms of Use",
            "description":["Queries are rate limited; excessive querying from one address is refused.",
            "If the quota exceeded message appears, too many requests were sent."]}]}"#;
        let reading = read("example.org", 404, not_found);
        assert_eq!(reading.outcome, CheckOutcome::Available, "{reading:?}");
        let refusal =
            r#"{"errorCode":429,"title":"Too Many Requests","description":["Quota exceeded"]}"#;
        assert_eq!(
            read("example.org", 404, refusal).outcome,
            CheckOutcome::RateLimited
        );
        let page = format!(
            "<html><body>{}<p>too many requests are refused</p></body></html>",
            "<p>Welcome to the registry portal.</p>".repeat(100)
        );
        assert_ne!(
            read_typed("example.org", 404, Some("text/html"), &page).outcome,
            CheckOutcome::RateLimited
        );
    }

    #[test]
    fn only_an_rdap_error_object_means_not_in_the_registry() {
        let inconclusive = [
            (
                Some("text/html"),
                "<html><body><h1>NOT FOUND</h1></body></html>",
            ),
            (Some("text/html"), NOT_FOUND_OBJECT),
            (Some("application/rdap+json"), ""),
            (Some("application/rdap+json"), "NOT FOUND"),
            (Some("application/json"), r#"{"title":"Not Found"}"#),
            (Some("application/json"), r#"{"errorCode":500}"#),
            (Some("application/json"), "[404]"),
            (None, NOT_FOUND_OBJECT),
        ];
        for (media_type, body) in inconclusive {
            let reading = read_typed("example.com", 404, media_type, body);
            assert_eq!(
                reading.outcome,
                CheckOutcome::Inconclusive,
                "{media_type:?} {body:?}"
            );
        }
        for media_type in [
            "application/rdap+json",
            "application/json; charset=utf-8",
            "Application/RDAP+JSON",
        ] {
            let reading = read_typed("example.com", 404, Some(media_type), NOT_FOUND_OBJECT);
            assert_eq!(reading.outcome, CheckOutcome::Available, "{media_type}");
            assert_eq!(reading.strength, Strength::Strong);
        }
        let redirected = read_answer(
            &name("example.com"),
            StatusCode::NOT_FOUND,
            &Origin {
                media_type: Some("application/rdap+json"),
                elsewhere: Some("portal.example.net"),
                weak_404: false,
            },
            NOT_FOUND_OBJECT.as_bytes(),
        );
        assert_eq!(redirected.outcome, CheckOutcome::Inconclusive);
        assert!(redirected.detail.contains("portal.example.net"));
    }

    #[test]
    fn overrides_win_over_the_bootstrap_by_longest_suffix() {
        let settings = Settings {
            bootstrap_url: Url::parse("http://127.0.0.1:9/dns.json").unwrap(),
            overrides: [
                (
                    "uk".to_owned(),
                    Url::parse("http://uk.example/rdap").unwrap(),
                ),
                (
                    "co.uk".to_owned(),
                    Url::parse("http://co-uk.example/").unwrap(),
                ),
            ]
            .into(),
            timeout: Duration::from_secs(1),
            rate_limit: RateLimit {
                count: std::num::NonZeroU32::MIN,
                per: Duration::from_secs(1),
            },
            dns_servers: vec![std::net::SocketAddr::from(([127, 0, 0, 1], 53))],
            allow_private: false,
            weak_404_tlds: Vec::new(),
        };
        let checker = RdapChecker::new(settings).unwrap();
        let lookup = |d: &str| {
            crate::domain_name::longest_suffix_match(d, |s| checker.overrides.get(s))
                .map(Url::to_string)
        };
        assert_eq!(lookup("a.co.uk").as_deref(), Some("http://co-uk.example/"));
        assert_eq!(
            lookup("a.org.uk").as_deref(),
            Some("http://uk.example/rdap/")
        );
        assert_eq!(lookup("a.com"), None);
    }
}
