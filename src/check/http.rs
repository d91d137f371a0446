//! The http checker: does anything answer a web request to the domain?
//!
//! It sends `HEAD https://<domain>/`, then `http://<domain>/`, falling back to
//! `GET` when a server rejects `HEAD` (405, 501) or breaks the protocol on it.
//! Any HTTP answer, whatever its status, proves that the name resolves and a
//! server answers for it: `Registered`, but weak, because parked pages and
//! wildcard records answer for names nobody registered in particular.
//! Redirects are never followed: a 3xx is already an answer, and following it
//! could be steered anywhere.
//!
//! Certificates are not verified: the probe sends nothing secret and trusts
//! nothing it receives, and a TLS server with a bad certificate still proves
//! that someone serves the name.
//!
//! The domain list is user input, so this checker must not become a way into
//! the cluster (SSRF). It resolves names itself, through a resolver that
//! refuses every non-public address (see [`refused_range`], the table the whois checker uses too), and hands reqwest
//! only the vetted addresses; reqwest has no other way to resolve (no proxy,
//! no IP-literal URLs).

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use futures::future::BoxFuture;
use jiff::Timestamp;
use reqwest::{
    Method, StatusCode,
    dns::{Addrs, Name, Resolve, Resolving},
    redirect,
};

use super::{CheckKind, CheckOutcome, CheckReport, Checker, Strength, dns};
use crate::{
    config::{CheckerArgs, RateLimit},
    domain_name::DomainName,
    net::{USER_AGENT, ensure_crypto_provider, refused_range},
    ratelimit::ServerBudgets,
};

/// A failure of the http checker: setting it up, or finding an address to probe.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The name resolver could not be set up.
    #[error("cannot set up name resolution for the http checker: {0}")]
    Resolver(#[from] dns::Error),
    /// reqwest refused the client configuration.
    #[error("cannot build the http client: {0}")]
    Client(#[source] reqwest::Error),
    /// The probed name does not exist (NXDOMAIN).
    #[error("{host} does not exist (NXDOMAIN)")]
    NoSuchName {
        /// The probed name.
        host: String,
    },
    /// The probed name exists without address records.
    #[error("{host} has no address records")]
    NoAddress {
        /// The probed name.
        host: String,
    },
    /// The probed name resolves to a non-public address; nothing was contacted.
    #[error("refused to connect to {host}: it resolves to {ip}, {range}")]
    Refused {
        /// The probed name.
        host: String,
        /// The refused address.
        ip: IpAddr,
        /// Its range, from [`refused_range`].
        range: &'static str,
    },
    /// The lookup of the probed name failed (timeout, SERVFAIL, network).
    #[error("cannot resolve {host}: {reason}")]
    Lookup {
        /// The probed name.
        host: String,
        /// What the resolver said.
        reason: String,
    },
}

/// Local result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Settings of the http checker.
#[derive(Debug, Clone)]
pub struct Settings {
    /// DNS servers that resolve the probed names; the system's resolvers when empty.
    pub dns_servers: Vec<SocketAddr>,
    /// Timeout of one request.
    pub timeout: Duration,
    /// Allow loopback and private addresses (tests only).
    pub allow_private: bool,
    /// Request budget per probed host.
    pub rate_limit: RateLimit,
    /// Port of `http://` probes (80; tests point it at a local server).
    pub http_port: u16,
    /// Port of `https://` probes (443; tests point it at a local server).
    pub https_port: u16,
}

impl Settings {
    /// The http settings of the command line.
    pub fn from_args(args: &CheckerArgs) -> Self {
        Self {
            dns_servers: args.dns_resolvers.clone(),
            timeout: args.http_timeout,
            allow_private: args.http_allow_private,
            rate_limit: args.http_rate_limit,
            http_port: 80,
            https_port: 443,
        }
    }
}

// === the address guard ===

// === the resolver reqwest must use ===

/// Resolves probed names and vets every address before reqwest may connect.
struct GuardedResolver {
    resolver: Arc<dns::stub::StubResolver>,
    allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let resolver = Arc::clone(&self.resolver);
        let allow_private = self.allow_private;
        let host = name.as_str().trim_end_matches('.').to_owned();
        Box::pin(async move {
            // Asked fully qualified: search domains must not turn `foo.com`
            // into `foo.com.svc.cluster.local`.
            let ips: Arc<[IpAddr]> = match resolver.lookup_ip(&host).await {
                Ok(ips) => ips,
                Err(dns::stub::LookupError::NoSuchName) => {
                    return Err(Error::NoSuchName { host }.into());
                }
                Err(dns::stub::LookupError::NoAddress) => {
                    return Err(Error::NoAddress { host }.into());
                }
                Err(
                    dns::stub::LookupError::Failed(reason)
                    | dns::stub::LookupError::Unanswered(reason),
                ) => {
                    return Err(Error::Lookup { host, reason }.into());
                }
            };
            if ips.is_empty() {
                return Err(Error::NoAddress { host }.into());
            }
            // One bad address refuses the name: a connection that fails over
            // from a public address to a private one is as bad as any.
            if !allow_private
                && let Some((ip, range)) = ips
                    .iter()
                    .find_map(|ip| refused_range(*ip).map(|range| (*ip, range)))
            {
                return Err(Error::Refused { host, ip, range }.into());
            }
            let addrs: Addrs = Box::new(
                ips.iter()
                    .map(|ip| SocketAddr::new(*ip, 0))
                    .collect::<Vec<_>>()
                    .into_iter(),
            );
            Ok(addrs)
        })
    }
}

/// A resolver for reqwest that asks `dns_servers` (the system's when empty)
/// and refuses any name with a non-public address unless `allow_private`.
pub(crate) fn guarded_resolver(
    dns_servers: &[SocketAddr],
    timeout: Duration,
    allow_private: bool,
) -> Result<Arc<dyn Resolve>> {
    Ok(guard(stub_resolver(dns_servers, timeout)?, allow_private))
}

/// A stub resolver asking `dns_servers` (the system's when empty).
fn stub_resolver(
    dns_servers: &[SocketAddr],
    timeout: Duration,
) -> Result<Arc<dns::stub::StubResolver>> {
    let servers = if dns_servers.is_empty() {
        dns::system_nameservers()?
            .into_iter()
            .map(|ip| SocketAddr::new(ip, 53))
            .collect()
    } else {
        dns_servers.to_vec()
    };
    Ok(Arc::new(dns::stub::StubResolver::new(&servers, timeout)))
}

/// `resolver` for reqwest, refusing non-public addresses unless `allow_private`.
fn guard(resolver: Arc<dns::stub::StubResolver>, allow_private: bool) -> Arc<dyn Resolve> {
    Arc::new(GuardedResolver {
        resolver,
        allow_private,
    })
}

/// The resolver failure behind a reqwest error, if that is what it is.
pub(crate) fn resolve_failure(error: &reqwest::Error) -> Option<&Error> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if let Some(failure) = e.downcast_ref::<Error>() {
            return Some(failure);
        }
        source = e.source();
    }
    None
}

/// The innermost cause of a reqwest error, for reports.
fn root_cause(error: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

// === the checker ===

/// Probes a domain over HTTPS and HTTP.
pub struct HttpChecker {
    settings: Settings,
    client: reqwest::Client,
    budgets: Arc<ServerBudgets>,
    resolver: Arc<dns::stub::StubResolver>,
}

impl std::fmt::Debug for HttpChecker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpChecker")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// What one request found.
enum Probe {
    /// The server answered with this status.
    Answered(StatusCode),
    /// The request failed.
    Failed(reqwest::Error),
}

impl HttpChecker {
    /// A checker with its own per-host budgets.
    pub fn new(settings: Settings) -> Result<Self> {
        let budgets = Arc::new(ServerBudgets::new("web host", settings.rate_limit));
        Self::with_budgets(settings, budgets)
    }

    /// A checker spending `budgets`.
    pub fn with_budgets(settings: Settings, budgets: Arc<ServerBudgets>) -> Result<Self> {
        ensure_crypto_provider();
        let stub = stub_resolver(&settings.dns_servers, settings.timeout)?;
        let client = reqwest::Client::builder()
            .dns_resolver(guard(Arc::clone(&stub), settings.allow_private))
            // A proxy would resolve and connect on our behalf, past the guard.
            .no_proxy()
            .redirect(redirect::Policy::none())
            .tls_danger_accept_invalid_certs(true)
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .user_agent(USER_AGENT)
            // Each probed host is asked a few times a day at most: keeping
            // idle connections would only hold sockets.
            .pool_max_idle_per_host(0)
            .build()
            .map_err(Error::Client)?;
        Ok(Self {
            settings,
            client,
            budgets,
            resolver: stub,
        })
    }

    /// The stub resolver behind the checker's requests (shared, for the
    /// delegation probe's out-of-bailiwick name servers).
    pub fn resolver(&self) -> Arc<dns::stub::StubResolver> {
        Arc::clone(&self.resolver)
    }

    async fn send(&self, method: Method, url: &str) -> Probe {
        match self.client.request(method, url).send().await {
            Ok(response) => Probe::Answered(response.status()),
            Err(e) => Probe::Failed(e),
        }
    }

    async fn run(&self, domain: &DomainName) -> CheckReport {
        let started = Timestamp::now();
        let host = domain.as_str();
        // reqwest connects to IP literals without asking the resolver.
        if host.parse::<IpAddr>().is_ok() {
            return CheckReport::new(
                CheckKind::Http,
                CheckOutcome::Inconclusive,
                format!("refused to probe the IP address {host}"),
                started,
            );
        }
        let mut failures = Vec::new();
        for (scheme, port, default_port) in [
            ("https", self.settings.https_port, 443),
            ("http", self.settings.http_port, 80),
        ] {
            let url = if port == default_port {
                format!("{scheme}://{host}/")
            } else {
                format!("{scheme}://{host}:{port}/")
            };
            if let Err(refused) = self.budgets.acquire(host).await {
                return CheckReport::new(
                    CheckKind::Http,
                    CheckOutcome::RateLimited,
                    refused.to_string(),
                    started,
                )
                .with_retry_after(Some(refused.remaining));
            }
            let head = self.send(Method::HEAD, &url).await;
            let retry_with_get = match &head {
                Probe::Answered(status) => {
                    matches!(
                        *status,
                        StatusCode::METHOD_NOT_ALLOWED | StatusCode::NOT_IMPLEMENTED
                    )
                }
                // Connection and name failures repeat with GET; a server that
                // broke the protocol on HEAD may still answer GET.
                Probe::Failed(e) => {
                    resolve_failure(e).is_none() && !e.is_connect() && !e.is_timeout()
                }
            };
            let probe = if retry_with_get && self.budgets.acquire(host).await.is_ok() {
                match self.send(Method::GET, &url).await {
                    Probe::Failed(_) if matches!(head, Probe::Answered(_)) => head,
                    get => get,
                }
            } else {
                head
            };
            match probe {
                Probe::Answered(status) => {
                    self.budgets.record_success(host);
                    return CheckReport::new(
                        CheckKind::Http,
                        CheckOutcome::Registered,
                        format!("HTTP {} from {url}", status.as_u16()),
                        started,
                    )
                    .with_server(url)
                    .with_strength(Strength::Weak);
                }
                Probe::Failed(e) => {
                    if let Some(failure) = resolve_failure(&e) {
                        // The name resolves the same way for both schemes.
                        return name_report(failure, started);
                    }
                    failures.push(format!("{url}: {}", root_cause(&e)));
                }
            }
        }
        let detail = failures.join("; ");
        let mut report = CheckReport::new(
            CheckKind::Http,
            CheckOutcome::Inconclusive,
            detail.clone(),
            started,
        );
        report.error = Some(detail);
        report
    }
}

/// The report for a name that gave nothing to connect to.
fn name_report(failure: &Error, started: Timestamp) -> CheckReport {
    let (outcome, strength) = match failure {
        // Weak: the web layer only sees the recursive resolver's view, which
        // may be cached or filtered; the dns checker asks the registry.
        Error::NoSuchName { .. } => (CheckOutcome::Available, Strength::Weak),
        // A name that exists without addresses, a refused address or a failed
        // lookup proves nothing either way.
        _ => (CheckOutcome::Inconclusive, Strength::Strong),
    };
    let detail = match failure {
        Error::NoSuchName { host } => {
            format!("no address: {host} does not exist (NXDOMAIN)")
        }
        other => other.to_string(),
    };
    CheckReport::new(CheckKind::Http, outcome, detail, started).with_strength(strength)
}

impl Checker for HttpChecker {
    fn kind(&self) -> CheckKind {
        CheckKind::Http
    }

    fn check<'a>(&'a self, domain: &'a DomainName) -> BoxFuture<'a, CheckReport> {
        Box::pin(self.run(domain))
    }
}
