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
//! | SERVFAIL, REFUSED, timeout, truncation, network error | `Inconclusive`, never `Available` |
//!
//! The servers asked are either the configured `DNS_RESOLVERS` (tests and
//! private setups) or the TLD's name servers, discovered through the system's
//! recursive resolver and cached per TLD for their TTL.

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
    NameServerPool, PoolContext, TlsConfig, TokioResolver,
    config::{LookupIpStrategy, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts},
    net::{
        DnsError, NetError, NoRecords,
        runtime::TokioRuntimeProvider,
        xfer::{DnsHandle, FirstAnswer},
    },
    proto::{
        op::{DnsRequestOptions, DnsResponse, Query, ResponseCode},
        rr::{Name, RData, Record, RecordType},
    },
};
use jiff::Timestamp;

use super::{CheckKind, CheckOutcome, CheckReport, Checker, RegistrationFacts, Strength};
use crate::{
    config::{CheckerArgs, RateLimit},
    domain_name::DomainName,
    ratelimit::ServerBudgets,
};

/// Where the system's recursive resolvers are listed.
const RESOLV_CONF: &str = "/etc/resolv.conf";
/// TLD server lists are kept at least this long, whatever their TTL says.
const MIN_TLD_TTL: Duration = Duration::from_secs(60);
/// …and at most this long, so a renumbered TLD server is noticed within a day.
const MAX_TLD_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// Servers tried per check: a second server gets a chance when the first fails.
const ATTEMPTS_PER_CHECK: usize = 2;
/// In-flight TCP queries per connection. Hickory's default of 32 answers
/// "busy" under the load the operator generates when truncation pushes many
/// queries to TCP at once.
const MAX_ACTIVE_REQUESTS: usize = 4096;

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

/// Reads hickory's result of a non-recursive `<domain> NS` query.
///
/// Hickory 0.26 hands back a referral of the domain itself (NOERROR, NS
/// records owned by the domain in the authority section, AA clear) as an
/// ordinary response, because it counts them as an answer to an NS query.
/// Every other empty answer becomes [`DnsError::NoRecordsFound`]: NXDOMAIN
/// keeps its response code, a referral to another zone carries its NS
/// records in [`NoRecords::ns`], NODATA has neither.
pub fn classify(domain: &Name, result: &Result<DnsResponse, NetError>) -> Delegation {
    match result {
        Ok(response) => {
            if response.metadata.response_code == ResponseCode::NXDomain {
                return Delegation::NoSuchName {
                    with_soa: response.soa().is_some(),
                };
            }
            // A referral (NS in the authority section, AA clear) arrives here,
            // not as `NoRecordsFound`: hickory counts NS records owned by the
            // query name in any section as an answer to an NS query.
            let nameservers =
                nameservers_of(domain, response.answers.iter().chain(&response.authorities));
            if nameservers.is_empty() {
                // Records other than NS at the name (a CNAME, say): it exists.
                Delegation::NameExists
            } else {
                Delegation::Delegated(nameservers)
            }
        }
        Err(NetError::Dns(DnsError::NoRecordsFound(no_records))) => {
            classify_empty(domain, no_records)
        }
        Err(NetError::Dns(DnsError::ResponseCode(code))) => Delegation::Failed(code.to_string()),
        Err(NetError::Timeout) => Delegation::Failed("no answer (timed out)".to_owned()),
        Err(NetError::Truncated) => {
            Delegation::Failed("answer truncated, and the TCP retry failed".to_owned())
        }
        Err(other) => Delegation::Failed(other.to_string()),
    }
}

fn classify_empty(domain: &Name, no_records: &NoRecords) -> Delegation {
    match no_records.response_code {
        ResponseCode::NXDomain => Delegation::NoSuchName {
            with_soa: no_records.soa.is_some(),
        },
        ResponseCode::NoError => {
            let Some(referral) = no_records.ns.as_deref() else {
                return Delegation::NameExists;
            };
            let nameservers = nameservers_of(domain, referral.iter().map(|r| &r.ns));
            if !nameservers.is_empty() {
                return Delegation::Delegated(nameservers);
            }
            let zone = referral
                .first()
                .map(|r| presentation(&r.ns.name))
                .unwrap_or_default();
            Delegation::ReferredElsewhere { zone }
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

/// One authoritative server and its reusable connections.
struct Upstream {
    label: String,
    pool: NameServerPool<TokioRuntimeProvider>,
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
    context: Arc<PoolContext>,
    servers: Servers,
    /// Pools by server address, shared by every TLD the server serves.
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
        let mut options = ResolverOpts::default();
        options.timeout = settings.timeout;
        options.cache_size = 0;
        options.recursion_desired = false;
        options.max_active_requests = MAX_ACTIVE_REQUESTS;
        options.num_concurrent_reqs = 1;
        let context = Arc::new(PoolContext::new(
            options,
            TlsConfig::new().map_err(Error::Resolver)?,
        ));
        let mut checker = Self {
            budgets,
            context,
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

    /// The pool for `addr`, created on first use and kept.
    fn upstream(&self, addr: SocketAddr) -> Arc<Upstream> {
        let mut upstreams = self.upstreams.lock().unwrap_or_else(|e| e.into_inner());
        upstreams
            .entry(addr)
            .or_insert_with(|| {
                Arc::new(Upstream {
                    label: addr.to_string(),
                    pool: NameServerPool::from_config(
                        [name_server_config(addr)],
                        self.context.clone(),
                        TokioRuntimeProvider::default(),
                    ),
                })
            })
            .clone()
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
        let name = match Name::from_ascii(format!("{}.", domain.as_str())) {
            Ok(name) => name,
            Err(e) => {
                let error = Error::BadName {
                    name: domain.as_str().to_owned(),
                    reason: e.to_string(),
                };
                return CheckReport::error(CheckKind::Dns, error, started);
            }
        };
        let servers = match tokio::time::timeout_at(deadline, self.servers_for(domain.tld())).await
        {
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
        match last {
            Some((delegation @ Delegation::NoSuchName { with_soa: true }, upstream))
                if servers.len() > 1 =>
            {
                self.second_opinion(&name, &servers, upstream, deadline, started)
                    .await
                    .unwrap_or_else(|| report(delegation, &upstream.label, started))
            }
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
    /// Asks another of the TLD's servers after an NXDOMAIN from `first`, so
    /// that absence from the zone is told by two authoritative servers (a
    /// lame or stale server cannot make a name look free on its own). `None`
    /// when no second answer could be had: the first stands alone.
    async fn second_opinion(
        &self,
        name: &Name,
        servers: &[Arc<Upstream>],
        first: &Upstream,
        deadline: tokio::time::Instant,
        started: Timestamp,
    ) -> Option<CheckReport> {
        let other = servers.iter().find(|s| s.label != first.label)?;
        self.budgets.acquire(&other.label).await.ok()?;
        let (a, b) = (first.label.as_str(), other.label.as_str());
        match ask_ns(other, name, deadline).await {
            Delegation::NoSuchName { with_soa: true } => {
                self.budgets.record_success(&other.label);
                let mut agreed = report(Delegation::NoSuchName { with_soa: true }, a, started);
                agreed.detail = format!("NXDOMAIN from {a} and {b}");
                agreed.servers_agreeing = 2;
                Some(agreed)
            }
            Delegation::Failed(_) => None,
            other_answer => {
                self.budgets.record_success(&other.label);
                let said = match other_answer {
                    Delegation::Delegated(ns) => format!("a delegation to {}", ns.join(", ")),
                    Delegation::NameExists => "that the name exists".to_owned(),
                    Delegation::ReferredElsewhere { zone } => format!("a referral to {zone:?}"),
                    Delegation::NoSuchName { .. } => "NXDOMAIN without the zone's SOA".to_owned(),
                    Delegation::Failed(reason) => reason,
                };
                Some(
                    CheckReport::new(
                        CheckKind::Dns,
                        CheckOutcome::Inconclusive,
                        format!(
                            "authoritative servers disagree: NXDOMAIN from {a}, {said} from {b} (a zone change on its way?)"
                        ),
                        started,
                    )
                    .with_server(a),
                )
            }
        }
    }
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
    let mut options = DnsRequestOptions::default();
    options.recursion_desired = false;
    let answer = tokio::time::timeout_at(
        deadline,
        upstream
            .pool
            .lookup(Query::query(name.clone(), RecordType::NS), options)
            .first_answer(),
    )
    .await
    .unwrap_or(Err(NetError::Timeout));
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
    use std::sync::Arc;

    use hickory_resolver::{
        net::ForwardNSData,
        proto::{
            op::Message,
            rr::rdata::{NS, SOA},
        },
    };
    use proptest::prelude::*;

    use super::*;

    fn name(text: &str) -> Name {
        Name::from_ascii(text).unwrap()
    }

    fn ns(owner: &str, target: &str) -> Record {
        Record::from_rdata(name(owner), 3600, RData::NS(NS(name(target))))
    }

    fn soa(zone: &str) -> Record<SOA> {
        let soa = SOA::new(
            name("ns1.nic.test."),
            name("hostmaster.nic.test."),
            1,
            3600,
            600,
            86400,
            300,
        );
        Record::from_rdata(name(zone), 300, soa)
    }

    fn no_records(code: ResponseCode) -> NoRecords {
        NoRecords::new(Query::query(name("foo.test."), RecordType::NS), code)
    }

    fn referral(records: &[Record]) -> Result<DnsResponse, NetError> {
        let mut nr = no_records(ResponseCode::NoError);
        nr.ns = Some(Arc::from(
            records
                .iter()
                .map(|r| ForwardNSData {
                    ns: r.clone(),
                    glue: Arc::from(Vec::new()),
                })
                .collect::<Vec<_>>(),
        ));
        Err(DnsError::NoRecordsFound(nr).into())
    }

    #[test]
    fn referral_with_ns_for_the_domain_is_a_delegation() {
        let result = referral(&[
            ns("Foo.TEST.", "NS2.Host.Example."),
            ns("foo.test.", "ns1.host.example."),
        ]);
        assert_eq!(
            classify(&name("foo.test."), &result),
            Delegation::Delegated(vec![
                "ns1.host.example".to_owned(),
                "ns2.host.example".to_owned()
            ])
        );
    }

    #[test]
    fn referral_in_the_authority_section_is_a_delegation() {
        let mut message = Message::response(1, hickory_resolver::proto::op::OpCode::Query);
        message.metadata.authoritative = false;
        message.add_query(Query::query(name("foo.test."), RecordType::NS));
        message.add_authority(ns("foo.test.", "ns.host.example."));
        let response = DnsResponse::from_message(message).unwrap();
        assert_eq!(
            classify(&name("foo.test."), &Ok(response)),
            Delegation::Delegated(vec!["ns.host.example".to_owned()])
        );
    }

    #[test]
    fn ns_answer_is_a_delegation() {
        let mut message = Message::response(1, hickory_resolver::proto::op::OpCode::Query);
        message.add_answer(ns("foo.test.", "a.ns.example."));
        let response = DnsResponse::from_message(message).unwrap();
        assert_eq!(
            classify(&name("foo.test."), &Ok(response)),
            Delegation::Delegated(vec!["a.ns.example".to_owned()])
        );
    }

    #[test]
    fn referral_to_another_zone_is_not_a_delegation() {
        let result = referral(&[ns("co.test.", "ns.co.test.")]);
        assert_eq!(
            classify(&name("foo.co.test."), &result),
            Delegation::ReferredElsewhere {
                zone: "co.test".to_owned()
            }
        );
    }

    #[test]
    fn nxdomain_with_and_without_soa() {
        let mut with_soa = no_records(ResponseCode::NXDomain);
        with_soa.soa = Some(Box::new(soa("test.")));
        assert_eq!(
            classify(
                &name("foo.test."),
                &Err(DnsError::NoRecordsFound(with_soa).into())
            ),
            Delegation::NoSuchName { with_soa: true }
        );
        let bare = no_records(ResponseCode::NXDomain);
        assert_eq!(
            classify(
                &name("foo.test."),
                &Err(DnsError::NoRecordsFound(bare).into())
            ),
            Delegation::NoSuchName { with_soa: false }
        );
    }

    #[test]
    fn nodata_means_the_name_exists() {
        let nodata = no_records(ResponseCode::NoError);
        assert_eq!(
            classify(
                &name("foo.test."),
                &Err(DnsError::NoRecordsFound(nodata).into())
            ),
            Delegation::NameExists
        );
    }

    #[test]
    fn failures_never_look_like_nxdomain() {
        let foo = name("foo.test.");
        for result in [
            Err(DnsError::ResponseCode(ResponseCode::ServFail).into()),
            Err(DnsError::ResponseCode(ResponseCode::Refused).into()),
            Err(NetError::Timeout),
            Err(NetError::Truncated),
            Err(NetError::NoConnections),
        ] {
            assert!(
                matches!(classify(&foo, &result), Delegation::Failed(_)),
                "{result:?}"
            );
        }
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
