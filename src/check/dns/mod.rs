//! The dns checker: is the domain delegated in its TLD's zone?
//!
//! It asks the TLD's *authoritative* servers for `<domain> NS`, without
//! recursion and without a cache: a recursive resolver's negative cache would
//! hide a dropped delegation for minutes, and a drop is exactly what the
//! operator watches for.
//!
//! | answer | outcome |
//! |---|---|
//! | NS records for the domain (a referral, or an answer) | `Registered`, name servers recorded |
//! | NXDOMAIN | `Available` (weak without the zone's SOA) |
//! | NOERROR, no NS (NODATA) | `Registered`, weak: the name exists in the registry zone |
//! | referral to another zone | `Inconclusive`: the domain sits below a deeper zone cut |
//! | SERVFAIL, REFUSED, any other error code, timeout, truncation, network error | `Inconclusive`, never `Available` |
//!
//! The servers asked are either the configured `DNS_RESOLVERS` (tests and
//! private setups) or the TLD's name servers, discovered through the system's
//! recursive resolver and cached per TLD for their TTL.
//!
//! The queries themselves go through [`engine`]: a few long-lived UDP sockets
//! per server, answers matched by ID and question, TCP on truncation.

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use futures::future::BoxFuture;
use hickory_resolver::{
    TokioResolver,
    config::{LookupIpStrategy, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts},
    net::{NetError, runtime::TokioRuntimeProvider},
    proto::{
        op::{Message, ResponseCode},
        rr::{Name, RData, Record, RecordType},
    },
};
use jiff::Timestamp;

use super::{CheckKind, CheckOutcome, CheckReport, Checker, RegistrationFacts, Strength};
use crate::{
    config::{CheckerArgs, RateLimit},
    domain_name::DomainName,
    ratelimit::{ServerBudgets, Urgency},
};

/// Where the system's recursive resolvers are listed.
const RESOLV_CONF: &str = "/etc/resolv.conf";
/// TLD server lists are kept at least this long, whatever their TTL says.
const MIN_TLD_TTL: Duration = Duration::from_secs(60);
/// …and at most this long, so a renumbered TLD server is noticed within a day.
const MAX_TLD_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// Servers tried per check: a second server gets a chance when the first fails.
const ATTEMPTS_PER_CHECK: usize = 2;
/// In-flight queries per connection of the recursive resolver (TLD
/// discovery and the http checker's lookups). Hickory's default of 32
/// answers "busy" under the load the operator generates.
const MAX_ACTIVE_REQUESTS: usize = 4096;

pub mod engine;
pub mod stub;

pub use engine::QueryError;

/// A local failure of the dns checker (its configuration or the system's).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `/etc/resolv.conf` could not be read.
    #[error("cannot read {path} to find the system's DNS resolvers: {source}")]
    ResolvConf {
        /// The file.
        path: &'static str,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The resolver could not be built.
    #[error("cannot build a DNS resolver: {0}")]
    Resolver(#[source] NetError),
    /// The domain is not a valid DNS name (should not happen for a [`DomainName`]).
    #[error("{name:?} is not a valid DNS name: {reason}")]
    BadName {
        /// The name.
        name: String,
        /// Why hickory rejected it.
        reason: String,
    },
    /// The TLD's name servers could not be found.
    #[error("cannot find the name servers of .{tld}: {reason}")]
    NoTldServers {
        /// The TLD.
        tld: String,
        /// Why.
        reason: String,
    },
}

/// Local result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why [`DnsChecker::ask`] got no answer.
#[derive(Debug, thiserror::Error)]
pub enum AskError {
    /// The server is backing us off: it was not asked.
    #[error(transparent)]
    BackingOff(#[from] crate::ratelimit::BackingOff),
    /// The query got no usable answer.
    #[error(transparent)]
    Query(#[from] QueryError),
}

/// Settings of the dns checker.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Servers to ask directly instead of discovering each TLD's servers.
    pub servers: Vec<SocketAddr>,
    /// Recursive resolvers that find each TLD's servers when `servers` is
    /// empty; the system's (`/etc/resolv.conf`) when this is empty too.
    pub recursive_resolvers: Vec<SocketAddr>,
    /// Port of the discovered TLD servers (53; tests run them elsewhere).
    pub authoritative_port: u16,
    /// Timeout of one check (all attempts together).
    pub timeout: Duration,
    /// Request budget per DNS server.
    pub rate_limit: RateLimit,
}

impl Settings {
    /// The dns settings of the command line.
    pub fn from_args(args: &CheckerArgs) -> Self {
        Self {
            servers: args.dns_resolvers.clone(),
            recursive_resolvers: Vec::new(),
            authoritative_port: 53,
            timeout: args.dns_timeout,
            rate_limit: args.dns_rate_limit,
        }
    }
}

// === the pure part: what one answer says ===

/// What one server's answer says about the delegation of a domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delegation {
    /// The zone delegates the domain to these name servers (lower case, no
    /// trailing dot).
    Delegated(Vec<String>),
    /// NXDOMAIN. `with_soa` is true when the answer carried the zone's SOA, as
    /// an authoritative NXDOMAIN does.
    NoSuchName {
        /// The SOA record came with the answer.
        with_soa: bool,
    },
    /// NOERROR without NS records: the name exists in the zone.
    NameExists,
    /// A referral to another zone than the domain (a deeper or upward cut).
    ReferredElsewhere {
        /// The zone the server referred to.
        zone: String,
    },
    /// The server failed, refused, or did not answer usefully.
    Failed(String),
}

/// Reads the answer to a non-recursive `<domain> NS` query (RFC 1034 §4.3.2
/// as a TLD's authoritative server applies it), or why there was none.
///
/// - NXDOMAIN: [`Delegation::NoSuchName`], `with_soa` when the authority
///   section holds the zone's SOA.
/// - NOERROR with NS records owned by the domain, in the answer (the
///   server is authoritative for the domain's zone too) or authority
///   section (a referral, AA clear): [`Delegation::Delegated`].
/// - NOERROR without answers, with NS records of another owner in the
///   authority section: [`Delegation::ReferredElsewhere`], the first
///   owner named.
/// - Any other NOERROR (NODATA, a CNAME): [`Delegation::NameExists`].
/// - Any other response code, and every [`QueryError`]:
///   [`Delegation::Failed`] with the code's or the error's text.
pub fn classify(domain: &Name, answer: &Result<Message, QueryError>) -> Delegation {
    let message = match answer {
        Ok(message) => message,
        Err(error) => return Delegation::Failed(error.to_string()),
    };
    match message.metadata.response_code {
        ResponseCode::NXDomain => Delegation::NoSuchName {
            with_soa: message
                .authorities
                .iter()
                .any(|r| r.record_type() == RecordType::SOA),
        },
        ResponseCode::NoError => {
            let nameservers =
                nameservers_of(domain, message.answers.iter().chain(&message.authorities));
            if !nameservers.is_empty() {
                return Delegation::Delegated(nameservers);
            }
            let referral = message
                .authorities
                .iter()
                .find(|r| r.record_type() == RecordType::NS);
            match referral {
                Some(ns) if message.answers.is_empty() => Delegation::ReferredElsewhere {
                    zone: presentation(&ns.name),
                },
                // Records other than NS at the name (a CNAME, say), or none
                // (NODATA): it exists.
                _ => Delegation::NameExists,
            }
        }
        other => Delegation::Failed(other.to_string()),
    }
}

/// The targets of the NS records owned by `domain`, sorted, without duplicates.
fn nameservers_of<'a>(domain: &Name, records: impl Iterator<Item = &'a Record>) -> Vec<String> {
    let mut names: Vec<String> = records
        .filter(|r| r.name == *domain)
        .filter_map(|r| match &r.data {
            RData::NS(ns) => Some(presentation(&ns.0)),
            _ => None,
        })
        .filter(|n| !n.is_empty())
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Lower case, no trailing dot.
fn presentation(name: &Name) -> String {
    let mut text = name.to_lowercase().to_ascii();
    if text.ends_with('.') {
        text.pop();
    }
    text
}

/// The `nameserver` addresses of a resolv.conf(5) file, in order; the
/// resolver library's default (127.0.0.1) when there are none.
pub fn parse_resolv_conf(text: &str) -> Vec<IpAddr> {
    let servers: Vec<IpAddr> = text
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            (words.next()? == "nameserver").then_some(())?;
            // A link-local IPv6 server carries a `%zone` suffix we cannot use.
            words.next()?.split('%').next()?.parse().ok()
        })
        .collect();
    if servers.is_empty() {
        vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]
    } else {
        servers
    }
}

/// Reads the system's recursive resolvers from `/etc/resolv.conf`.
///
/// Hickory's own reader sits behind its `system-config` feature, which drags
/// in Windows, Android and macOS configuration crates; the `nameserver`
/// lines are all this operator needs (it only asks fully qualified names).
pub fn system_nameservers() -> Result<Vec<IpAddr>> {
    let text = std::fs::read_to_string(RESOLV_CONF).map_err(|source| Error::ResolvConf {
        path: RESOLV_CONF,
        source,
    })?;
    Ok(parse_resolv_conf(&text))
}

/// A recursive resolver over `servers`, without a cache (answers about
/// monitored names must be fresh) and without the hosts file (which would let
/// a local entry decide about a public name).
pub fn recursive_resolver(servers: &[SocketAddr], timeout: Duration) -> Result<TokioResolver> {
    let configs = servers
        .iter()
        .map(|addr| name_server_config(*addr))
        .collect();
    let mut options = ResolverOpts::default();
    options.timeout = timeout;
    options.attempts = 1;
    options.cache_size = 0;
    options.use_hosts_file = ResolveHosts::Never;
    options.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
    options.max_active_requests = MAX_ACTIVE_REQUESTS;
    TokioResolver::builder_with_config(
        ResolverConfig::from_name_servers(configs),
        TokioRuntimeProvider::default(),
    )
    .with_options(options)
    .build()
    .map_err(Error::Resolver)
}

/// UDP first, TCP when an answer is truncated, both on the address's port.
fn name_server_config(addr: SocketAddr) -> NameServerConfig {
    let mut config = NameServerConfig::udp_and_tcp(addr.ip());
    for connection in &mut config.connections {
        connection.port = addr.port();
    }
    config.trust_negative_responses = true;
    config
}

// === the checker ===

/// One authoritative server and its sockets.
struct Upstream {
    label: String,
    wire: engine::Upstream,
}

/// The name servers of one TLD, until their TTL runs out.
struct TldServers {
    servers: Arc<[Arc<Upstream>]>,
    valid_until: Instant,
}

/// Where the servers to ask come from.
enum Servers {
    /// The configured servers, for every TLD.
    Fixed(Arc<[Arc<Upstream>]>),
    /// Each TLD's name servers, found through the system's recursive resolver.
    Discovered(Box<Discovery>),
}

/// The TLD server discovery of the production path.
struct Discovery {
    recursive: TokioResolver,
    tlds: Mutex<HashMap<String, TldServers>>,
    /// Serialises discoveries so a cold cache costs one lookup per TLD.
    discovering: tokio::sync::Mutex<()>,
}

/// Asks the TLD's authoritative servers whether a domain is delegated.
pub struct DnsChecker {
    settings: Settings,
    budgets: Arc<ServerBudgets>,
    servers: Servers,
    /// Servers by address, shared by every TLD the server serves.
    upstreams: Mutex<HashMap<SocketAddr, Arc<Upstream>>>,
    /// Spreads checks over a TLD's servers.
    next_server: AtomicUsize,
}

impl std::fmt::Debug for DnsChecker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsChecker")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl DnsChecker {
    /// A checker with its own per-server budgets.
    pub fn new(settings: Settings) -> Result<Self> {
        let budgets = Arc::new(ServerBudgets::new("dns server", settings.rate_limit));
        Self::with_budgets(settings, budgets)
    }

    /// A checker spending `budgets` (shared, or sized to this replica's share).
    pub fn with_budgets(settings: Settings, budgets: Arc<ServerBudgets>) -> Result<Self> {
        let mut checker = Self {
            budgets,
            servers: Servers::Fixed(Arc::from(Vec::new())),
            upstreams: Mutex::new(HashMap::new()),
            next_server: AtomicUsize::new(0),
            settings,
        };
        checker.servers = if checker.settings.servers.is_empty() {
            let recursive = if checker.settings.recursive_resolvers.is_empty() {
                system_nameservers()?
                    .into_iter()
                    .map(|ip| SocketAddr::new(ip, 53))
                    .collect()
            } else {
                checker.settings.recursive_resolvers.clone()
            };
            Servers::Discovered(Box::new(Discovery {
                recursive: recursive_resolver(&recursive, checker.settings.timeout)?,
                tlds: Mutex::new(HashMap::new()),
                discovering: tokio::sync::Mutex::new(()),
            }))
        } else {
            let fixed: Vec<_> = checker
                .settings
                .servers
                .iter()
                .map(|addr| checker.upstream(*addr))
                .collect();
            Servers::Fixed(fixed.into())
        };
        Ok(checker)
    }

    /// The server at `addr`, created on first use and kept.
    fn upstream(&self, addr: SocketAddr) -> Arc<Upstream> {
        let mut upstreams = self.upstreams.lock().unwrap_or_else(|e| e.into_inner());
        upstreams
            .entry(addr)
            .or_insert_with(|| {
                Arc::new(Upstream {
                    label: addr.to_string(),
                    wire: engine::Upstream::new(addr),
                })
            })
            .clone()
    }

    /// What the sockets of every server asked so far dropped and retried
    /// (answers that matched no query, timeouts, TCP fallbacks).
    pub fn wire_stats(&self) -> engine::Stats {
        let upstreams = self.upstreams.lock().unwrap_or_else(|e| e.into_inner());
        let mut total = engine::Stats::default();
        for upstream in upstreams.values() {
            total += upstream.wire.stats();
        }
        total
    }

    /// Whether the checker asks configured servers (`DNS_RESOLVERS`) in
    /// place of the TLDs' authoritative ones.
    pub fn uses_configured_servers(&self) -> bool {
        matches!(self.servers, Servers::Fixed(_))
    }

    /// The addresses of the authoritative servers the checker asks about
    /// `domain`: the configured ones, or its TLD's (discovered and cached).
    ///
    /// # Errors
    /// [`Error::NoTldServers`] when they cannot be found.
    pub async fn authoritative_servers(&self, domain: &DomainName) -> Result<Vec<SocketAddr>> {
        let servers = self.servers_for(domain.tld()).await?;
        Ok(servers.iter().map(|s| s.wire.server()).collect())
    }

    /// Asks `server` (any authoritative server, a TLD's or a domain's own)
    /// for `name record_type` without recursion, over the checker's
    /// long-lived sockets and within the server's request budget. The
    /// answer is whatever the server said, any response code included.
    ///
    /// # Errors
    /// [`AskError`]: backing off from the server, or no usable answer by
    /// `deadline`.
    pub async fn ask(
        &self,
        server: SocketAddr,
        name: &Name,
        record_type: RecordType,
        deadline: tokio::time::Instant,
    ) -> Result<Message, AskError> {
        self.ask_with(server, name, record_type, false, deadline)
            .await
    }

    /// Like [`DnsChecker::ask`], with the DO bit (RFC 3225) so that a
    /// signed zone's answer carries its RRSIG records
    /// ([`engine::Upstream::query_dnssec`]); same sockets, same budgets.
    ///
    /// # Errors
    /// As [`DnsChecker::ask`].
    pub async fn ask_dnssec(
        &self,
        server: SocketAddr,
        name: &Name,
        record_type: RecordType,
        deadline: tokio::time::Instant,
    ) -> Result<Message, AskError> {
        self.ask_with(server, name, record_type, true, deadline)
            .await
    }

    /// [`DnsChecker::ask`] (`dnssec` false) or [`DnsChecker::ask_dnssec`]:
    /// within the server's budget, over its long-lived sockets.
    async fn ask_with(
        &self,
        server: SocketAddr,
        name: &Name,
        record_type: RecordType,
        dnssec: bool,
        deadline: tokio::time::Instant,
    ) -> Result<Message, AskError> {
        let upstream = self.upstream(server);
        self.budgets.acquire(&upstream.label).await?;
        let answer = if dnssec {
            upstream
                .wire
                .query_dnssec(name, record_type, deadline)
                .await?
        } else {
            upstream.wire.query(name, record_type, deadline).await?
        };
        self.budgets.record_success(&upstream.label);
        Ok(answer)
    }

    /// The servers to ask about names under `tld`.
    async fn servers_for(&self, tld: &str) -> Result<Arc<[Arc<Upstream>]>> {
        let Discovery {
            recursive,
            tlds,
            discovering,
        } = match &self.servers {
            Servers::Fixed(servers) => return Ok(servers.clone()),
            Servers::Discovered(discovery) => &**discovery,
        };
        let cached = |tlds: &Mutex<HashMap<String, TldServers>>| {
            let tlds = tlds.lock().unwrap_or_else(|e| e.into_inner());
            tlds.get(tld)
                .filter(|entry| entry.valid_until > Instant::now())
                .map(|entry| entry.servers.clone())
        };
        if let Some(servers) = cached(tlds) {
            return Ok(servers);
        }
        let _one_at_a_time = discovering.lock().await;
        if let Some(servers) = cached(tlds) {
            return Ok(servers);
        }
        let (addrs, ttl) =
            discover_tld_servers(recursive, tld, self.settings.authoritative_port).await?;
        let servers: Arc<[Arc<Upstream>]> =
            addrs.into_iter().map(|addr| self.upstream(addr)).collect();
        tlds.lock().unwrap_or_else(|e| e.into_inner()).insert(
            tld.to_owned(),
            TldServers {
                servers: servers.clone(),
                valid_until: Instant::now() + ttl.clamp(MIN_TLD_TTL, MAX_TLD_TTL),
            },
        );
        Ok(servers)
    }

    async fn run(&self, domain: &DomainName) -> CheckReport {
        let started = Timestamp::now();
        let deadline = tokio::time::Instant::now() + self.settings.timeout;
        let name = match Name::from_ascii(domain.as_str()) {
            // Fully qualified: the same name as with a trailing dot, without
            // formatting one.
            Ok(mut name) => {
                name.set_fqdn(true);
                name
            }
            Err(e) => {
                let error = Error::BadName {
                    name: domain.as_str().to_owned(),
                    reason: e.to_string(),
                };
                return CheckReport::error(CheckKind::Dns, error, started);
            }
        };
        let servers = match &self.servers {
            Servers::Fixed(servers) => Ok(Ok(servers.clone())),
            Servers::Discovered(_) => {
                tokio::time::timeout_at(deadline, self.servers_for(domain.tld())).await
            }
        };
        let servers = match servers {
            Ok(Ok(servers)) if !servers.is_empty() => servers,
            Ok(Ok(_)) => {
                let error = Error::NoTldServers {
                    tld: domain.tld().to_owned(),
                    reason: "the TLD has no name server addresses".to_owned(),
                };
                return CheckReport::error(CheckKind::Dns, error, started);
            }
            Ok(Err(error)) => return CheckReport::error(CheckKind::Dns, error, started),
            Err(_) => {
                return CheckReport::new(
                    CheckKind::Dns,
                    CheckOutcome::Inconclusive,
                    format!("finding the name servers of .{} timed out", domain.tld()),
                    started,
                );
            }
        };

        let first = self.next_server.fetch_add(1, Ordering::Relaxed);
        let mut last: Option<(Delegation, &Upstream)> = None;
        let mut backing_off = None;
        for attempt in 0..ATTEMPTS_PER_CHECK.min(servers.len()) {
            let upstream = &servers[(first + attempt) % servers.len()];
            match self.budgets.acquire(&upstream.label).await {
                Ok(_waited) => {}
                Err(refused) => {
                    backing_off = Some(refused);
                    continue;
                }
            }
            let delegation = ask_ns(upstream, &name, deadline).await;
            let failed = matches!(delegation, Delegation::Failed(_));
            if !failed {
                self.budgets.record_success(&upstream.label);
            }
            last = Some((delegation, upstream));
            if !failed || tokio::time::Instant::now() >= deadline {
                break;
            }
        }
        // A second server is asked after an NXDOMAIN, and, for a watched
        // name (priority, or in its drop window), after a delegation too:
        // while a zone change travels between the TLD's servers, a check
        // that asked only a stale one would hold a drop up a whole interval.
        let second = |said: &Delegation| match said {
            Delegation::NoSuchName { with_soa: true } => true,
            Delegation::Delegated(_) => crate::ratelimit::current_urgency() >= Urgency::Watched,
            _ => false,
        };
        match last {
            Some((delegation, upstream)) if servers.len() > 1 && second(&delegation) => self
                .second_opinion(&name, &servers, upstream, &delegation, deadline, started)
                .await
                .unwrap_or_else(|| report(delegation, &upstream.label, started)),
            Some((delegation, upstream)) => report(delegation, &upstream.label, started),
            None => {
                let detail = backing_off.map_or_else(
                    || "no dns server could be asked".to_owned(),
                    |refused| refused.to_string(),
                );
                CheckReport::new(CheckKind::Dns, CheckOutcome::RateLimited, detail, started)
                    .with_retry_after(backing_off.map(|b| b.remaining))
            }
        }
    }
}

impl DnsChecker {
    /// Asks another of the TLD's servers after `first` answered `said`:
    /// - after an NXDOMAIN, so that absence from the zone is told by two
    ///   authoritative servers (a lame or stale server cannot make a name
    ///   look free on its own): NXDOMAIN again is a report with
    ///   `servers_agreeing` 2, anything else a disagreement;
    /// - after a delegation (watched names only): an NXDOMAIN is a
    ///   disagreement, anything else leaves the first answer standing.
    ///
    /// A disagreement is an `inconclusive` report marked
    /// [`CheckReport::disagreed`] (the caller looks again soon, and the deep
    /// layers are asked at once). `None` when no second answer could be had,
    /// or it changes nothing: the first stands alone.
    async fn second_opinion(
        &self,
        name: &Name,
        servers: &[Arc<Upstream>],
        first: &Upstream,
        said: &Delegation,
        deadline: tokio::time::Instant,
        started: Timestamp,
    ) -> Option<CheckReport> {
        let other = servers.iter().find(|s| s.label != first.label)?;
        self.budgets.acquire(&other.label).await.ok()?;
        let (a, b) = (first.label.as_str(), other.label.as_str());
        let answer = ask_ns(other, name, deadline).await;
        if matches!(answer, Delegation::Failed(_)) {
            return None;
        }
        self.budgets.record_success(&other.label);
        let nxdomain = Delegation::NoSuchName { with_soa: true };
        match (said, &answer) {
            (Delegation::NoSuchName { .. }, Delegation::NoSuchName { with_soa: true }) => {
                let mut agreed = report(nxdomain, a, started);
                agreed.detail = format!("NXDOMAIN from {a} and {b}");
                agreed.servers_agreeing = 2;
                Some(agreed)
            }
            (Delegation::NoSuchName { .. }, _) => {
                Some(disagreement((a, &nxdomain), (b, &answer), started))
            }
            (_, Delegation::NoSuchName { with_soa: true }) => {
                Some(disagreement((a, said), (b, &answer), started))
            }
            _ => None,
        }
    }
}

/// An `inconclusive` report of two of the TLD's servers that answered
/// differently, each `(server, answer)`, marked [`CheckReport::disagreed`].
fn disagreement(
    (a, first): (&str, &Delegation),
    (b, second): (&str, &Delegation),
    started: Timestamp,
) -> CheckReport {
    let describe = |answer: &Delegation| match answer {
        Delegation::Delegated(ns) => format!("a delegation to {}", ns.join(", ")),
        Delegation::NameExists => "that the name exists".to_owned(),
        Delegation::ReferredElsewhere { zone } => format!("a referral to {zone:?}"),
        Delegation::NoSuchName { with_soa: true } => "NXDOMAIN".to_owned(),
        Delegation::NoSuchName { with_soa: false } => "NXDOMAIN without the zone's SOA".to_owned(),
        Delegation::Failed(reason) => reason.clone(),
    };
    CheckReport::new(
        CheckKind::Dns,
        CheckOutcome::Inconclusive,
        format!(
            "authoritative servers disagree: {} from {a}, {} from {b} (a zone change on its way?)",
            describe(first),
            describe(second)
        ),
        started,
    )
    .with_server(a)
    .disagreed()
}

impl Checker for DnsChecker {
    fn kind(&self) -> CheckKind {
        CheckKind::Dns
    }

    fn check<'a>(&'a self, domain: &'a DomainName) -> BoxFuture<'a, CheckReport> {
        Box::pin(self.run(domain))
    }
}

/// Asks `upstream` for `name NS` without recursion, by `deadline`, and
/// classifies the answer (a timeout is a failure).
async fn ask_ns(upstream: &Upstream, name: &Name, deadline: tokio::time::Instant) -> Delegation {
    let answer = upstream.wire.query(name, RecordType::NS, deadline).await;
    classify(name, &answer)
}

/// The report for one classified answer from `server`.
fn report(delegation: Delegation, server: &str, started: Timestamp) -> CheckReport {
    let (outcome, strength, detail, facts) = match delegation {
        Delegation::Delegated(nameservers) => (
            CheckOutcome::Registered,
            Strength::Strong,
            format!("delegated to {} by {server}", nameservers.join(", ")),
            RegistrationFacts {
                nameservers,
                ..RegistrationFacts::default()
            },
        ),
        Delegation::NoSuchName { with_soa: true } => (
            CheckOutcome::Available,
            Strength::Strong,
            format!("NXDOMAIN from {server}"),
            RegistrationFacts::default(),
        ),
        // An NXDOMAIN without the zone's SOA is not how an authoritative server
        // answers: a middlebox or a lame server may have produced it.
        Delegation::NoSuchName { with_soa: false } => (
            CheckOutcome::Available,
            Strength::Weak,
            format!("NXDOMAIN without the zone's SOA from {server}"),
            RegistrationFacts::default(),
        ),
        // The registry zone holds only registered names, so a name that exists
        // there is registered. It is weak evidence because an empty
        // non-terminal (a name that only has names below it) looks the same.
        Delegation::NameExists => (
            CheckOutcome::Registered,
            Strength::Weak,
            format!("name exists without NS records (NODATA) at {server}"),
            RegistrationFacts::default(),
        ),
        Delegation::ReferredElsewhere { zone } => (
            CheckOutcome::Inconclusive,
            Strength::Strong,
            format!("{server} referred to zone {zone:?}, not to a delegation of the domain"),
            RegistrationFacts::default(),
        ),
        Delegation::Failed(reason) => {
            let mut report = CheckReport::new(
                CheckKind::Dns,
                CheckOutcome::Inconclusive,
                format!("{reason} from {server}"),
                started,
            )
            .with_server(server);
            report.error = Some(reason);
            return report;
        }
    };
    CheckReport::new(CheckKind::Dns, outcome, detail, started)
        .with_server(server)
        .with_strength(strength)
        .with_registration(facts)
}

/// The addresses of `tld`'s name servers (IPv4 when there are any: hosts
/// without IPv6 routes are common in clusters) and how long they are valid.
async fn discover_tld_servers(
    recursive: &TokioResolver,
    tld: &str,
    port: u16,
) -> Result<(Vec<SocketAddr>, Duration)> {
    let failed = |reason: String| Error::NoTldServers {
        tld: tld.to_owned(),
        reason,
    };
    let zone = Name::from_ascii(format!("{tld}.")).map_err(|e| failed(e.to_string()))?;
    let ns = recursive
        .lookup(zone, RecordType::NS)
        .await
        .map_err(|e| failed(format!("NS lookup: {e}")))?;
    let mut valid_until = ns.valid_until();
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    let targets: Vec<Name> = ns
        .answers()
        .iter()
        .filter_map(|r| match &r.data {
            RData::NS(target) => Some(target.0.clone()),
            _ => None,
        })
        .collect();
    let lookups = targets
        .into_iter()
        .map(|target| recursive.lookup_ip(target));
    for lookup in futures::future::join_all(lookups)
        .await
        .into_iter()
        .flatten()
    {
        valid_until = valid_until.min(lookup.valid_until());
        for ip in lookup.iter() {
            let addr = SocketAddr::new(ip, port);
            match ip {
                IpAddr::V4(_) => v4.push(addr),
                IpAddr::V6(_) => v6.push(addr),
            }
        }
    }
    let mut addrs = if v4.is_empty() { v6 } else { v4 };
    addrs.sort();
    addrs.dedup();
    if addrs.is_empty() {
        return Err(failed("none of its name servers has an address".to_owned()));
    }
    Ok((addrs, valid_until.saturating_duration_since(Instant::now())))
}

#[cfg(test)]
mod tests {
    use hickory_resolver::proto::{
        op::{MessageType, OpCode},
        rr::rdata::{CNAME, NS, SOA},
    };
    use proptest::prelude::*;

    use super::*;

    fn name(text: &str) -> Name {
        Name::from_ascii(text).unwrap()
    }

    fn ns(owner: &str, target: &str) -> Record {
        Record::from_rdata(name(owner), 3600, RData::NS(NS(name(target))))
    }

    fn soa(zone: &str) -> Record {
        let soa = SOA::new(
            name("ns1.nic.test."),
            name("hostmaster.nic.test."),
            1,
            3600,
            600,
            86400,
            300,
        );
        Record::from_rdata(name(zone), 300, RData::SOA(soa))
    }

    /// An answer from a TLD server: `code`, AA clear, these sections.
    fn answer(code: ResponseCode, answers: &[Record], authorities: &[Record]) -> Message {
        let mut message = Message::new(1, MessageType::Response, OpCode::Query);
        message.metadata.response_code = code;
        message.add_answers(answers.iter().cloned());
        message.add_authorities(authorities.iter().cloned());
        message
    }

    fn classified(domain: &str, message: Message) -> Delegation {
        classify(&name(domain), &Ok(message))
    }

    #[test]
    fn referral_with_ns_for_the_domain_is_a_delegation() {
        let referral = answer(
            ResponseCode::NoError,
            &[],
            &[
                ns("Foo.TEST.", "NS2.Host.Example."),
                ns("foo.test.", "ns1.host.example."),
                ns("foo.test.", "ns1.host.example."),
            ],
        );
        assert_eq!(
            classified("foo.test.", referral),
            Delegation::Delegated(vec![
                "ns1.host.example".to_owned(),
                "ns2.host.example".to_owned()
            ])
        );
    }

    #[test]
    fn ns_answer_is_a_delegation() {
        let message = answer(
            ResponseCode::NoError,
            &[ns("foo.test.", "a.ns.example.")],
            &[],
        );
        assert_eq!(
            classified("foo.test.", message),
            Delegation::Delegated(vec!["a.ns.example".to_owned()])
        );
    }

    #[test]
    fn referral_to_another_zone_is_not_a_delegation() {
        let referral = answer(ResponseCode::NoError, &[], &[ns("co.test.", "ns.co.test.")]);
        assert_eq!(
            classified("foo.co.test.", referral),
            Delegation::ReferredElsewhere {
                zone: "co.test".to_owned()
            }
        );
    }

    #[test]
    fn nxdomain_with_and_without_soa() {
        assert_eq!(
            classified(
                "foo.test.",
                answer(ResponseCode::NXDomain, &[], &[soa("test.")])
            ),
            Delegation::NoSuchName { with_soa: true }
        );
        assert_eq!(
            classified("foo.test.", answer(ResponseCode::NXDomain, &[], &[])),
            Delegation::NoSuchName { with_soa: false }
        );
    }

    #[test]
    fn nodata_means_the_name_exists() {
        assert_eq!(
            classified(
                "foo.test.",
                answer(ResponseCode::NoError, &[], &[soa("test.")])
            ),
            Delegation::NameExists
        );
        assert_eq!(
            classified("foo.test.", answer(ResponseCode::NoError, &[], &[])),
            Delegation::NameExists
        );
    }

    #[test]
    fn other_records_at_the_name_mean_it_exists() {
        let cname = Record::from_rdata(
            name("foo.test."),
            300,
            RData::CNAME(CNAME(name("bar.example."))),
        );
        assert_eq!(
            classified(
                "foo.test.",
                answer(
                    ResponseCode::NoError,
                    &[cname],
                    &[ns("test.", "ns1.nic.test.")]
                )
            ),
            Delegation::NameExists
        );
    }

    #[test]
    fn failures_never_look_like_nxdomain() {
        let foo = name("foo.test.");
        let codes = [
            ResponseCode::ServFail,
            ResponseCode::Refused,
            ResponseCode::FormErr,
            ResponseCode::NotAuth,
            ResponseCode::Unknown(3841),
        ];
        for code in codes {
            let result = Ok(answer(code, &[], &[soa("test.")]));
            assert_eq!(
                classify(&foo, &result),
                Delegation::Failed(code.to_string()),
                "{code:?}"
            );
        }
        for error in [
            QueryError::Timeout,
            QueryError::TcpFallback {
                reason: "connection refused".to_owned(),
            },
            QueryError::Socket {
                server: "127.0.0.1:53".parse().unwrap(),
                reason: "no buffer space".to_owned(),
            },
        ] {
            let text = error.to_string();
            assert_eq!(
                classify(&foo, &Err(error)),
                Delegation::Failed(text.clone()),
                "{text}"
            );
        }
        assert_eq!(
            classify(&foo, &Err(QueryError::Timeout)),
            Delegation::Failed("no answer (timed out)".to_owned())
        );
    }

    #[test]
    fn failed_answers_report_inconclusive_never_available() {
        let report = report(
            Delegation::Failed("SERVFAIL".to_owned()),
            "127.0.0.1:53",
            Timestamp::now(),
        );
        assert_eq!(report.outcome, CheckOutcome::Inconclusive);
        assert_eq!(report.detail, "SERVFAIL from 127.0.0.1:53");
    }

    #[test]
    fn resolv_conf_nameserver_lines() {
        let text = "# generated\nsearch cluster.local\nnameserver 10.96.0.10\n\
                    nameserver fe80::1%eth0\n  nameserver   1.1.1.1 \noptions ndots:5\nnameserver bogus\n";
        assert_eq!(
            parse_resolv_conf(text),
            vec![
                "10.96.0.10".parse::<IpAddr>().unwrap(),
                "fe80::1".parse().unwrap(),
                "1.1.1.1".parse().unwrap()
            ]
        );
        assert_eq!(
            parse_resolv_conf("search x\n"),
            vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]
        );
    }

    proptest! {
        #[test]
        fn resolv_conf_parser_never_panics(text in ".{0,400}") {
            prop_assert!(!parse_resolv_conf(&text).is_empty());
        }
    }
}
