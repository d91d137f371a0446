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
//! refuses every non-public address (see [`refused_range`]), and hands reqwest
//! only the vetted addresses; reqwest has no other way to resolve (no proxy,
//! no IP-literal URLs).

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use futures::future::BoxFuture;
use ipnet::{Ipv4Net, Ipv6Net};
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
    net::{USER_AGENT, ensure_crypto_provider},
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

/// Why `ip` must not be contacted, naming its range, or `None` for a public
/// unicast address.
///
/// Covers loopback, RFC 1918 and ULA private space, link-local (with the
/// cloud metadata address 169.254.169.254), CGNAT, "this network",
/// unspecified, multicast, broadcast and reserved space, documentation and
/// benchmarking ranges, IETF protocol assignments, discard-only space, and
/// IPv6 forms that embed an IPv4 address (mapped, compatible, NAT64, 6to4).
pub fn refused_range(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => refused_v4(v4),
        IpAddr::V6(v6) => refused_v6(v6),
    }
}

/// An IPv4 network and the words that name it.
const fn v4(a: u8, b: u8, c: u8, d: u8, len: u8, what: &'static str) -> (Ipv4Net, &'static str) {
    (Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), len), what)
}

/// An IPv6 network (given as its 128 bits) and the words that name it.
const fn v6(bits: u128, len: u8, what: &'static str) -> (Ipv6Net, &'static str) {
    (Ipv6Net::new_assert(Ipv6Addr::from_bits(bits), len), what)
}

/// IPv4 space that is not public unicast (IANA IPv4 Special-Purpose
/// Address Registry, RFC 6890).
const V4_REFUSED: &[(Ipv4Net, &str)] = &[
    v4(0, 0, 0, 0, 8, "\"this network\" 0.0.0.0/8"),
    v4(10, 0, 0, 0, 8, "private 10.0.0.0/8"),
    v4(100, 64, 0, 0, 10, "carrier-grade NAT 100.64.0.0/10"),
    v4(127, 0, 0, 0, 8, "loopback 127.0.0.0/8"),
    v4(
        169,
        254,
        0,
        0,
        16,
        "link-local 169.254.0.0/16 (cloud metadata)",
    ),
    v4(172, 16, 0, 0, 12, "private 172.16.0.0/12"),
    v4(192, 0, 0, 0, 24, "IETF protocol assignments 192.0.0.0/24"),
    v4(192, 0, 2, 0, 24, "documentation 192.0.2.0/24"),
    v4(192, 88, 99, 0, 24, "6to4 relay anycast 192.88.99.0/24"),
    v4(192, 168, 0, 0, 16, "private 192.168.0.0/16"),
    v4(198, 18, 0, 0, 15, "benchmarking 198.18.0.0/15"),
    v4(198, 51, 100, 0, 24, "documentation 198.51.100.0/24"),
    v4(203, 0, 113, 0, 24, "documentation 203.0.113.0/24"),
    v4(224, 0, 0, 0, 4, "multicast 224.0.0.0/4"),
    v4(
        240,
        0,
        0,
        0,
        4,
        "reserved 240.0.0.0/4 (with broadcast 255.255.255.255)",
    ),
];

fn refused_v4(ip: Ipv4Addr) -> Option<&'static str> {
    V4_REFUSED
        .iter()
        .find_map(|(net, what)| net.contains(&ip).then_some(*what))
}

/// IPv6 space that is not public unicast (IANA IPv6 Special-Purpose
/// Address Registry, RFC 6890).
const V6_REFUSED: &[(Ipv6Net, &str)] = &[
    v6(0, 128, "unspecified ::"),
    v6(1, 128, "loopback ::1"),
    v6(0x0100 << 112, 64, "discard-only 100::/64"),
    v6(0x0064_ff9b_0001 << 80, 48, "local-use NAT64 64:ff9b:1::/48"),
    v6(0x2001_0000 << 96, 23, "IETF protocol assignments 2001::/23"),
    v6(0x2001_0db8 << 96, 32, "documentation 2001:db8::/32"),
    v6(0x2002 << 112, 16, "6to4 2002::/16"),
    v6(0x3fff << 112, 20, "documentation 3fff::/20"),
    v6(0xfc00 << 112, 7, "unique local fc00::/7"),
    v6(0xfe80 << 112, 10, "link-local fe80::/10"),
    v6(0xfec0 << 112, 10, "site-local fec0::/10"),
    v6(0xff00 << 112, 8, "multicast ff00::/8"),
];

/// The NAT64 well-known prefix 64:ff9b::/96 (RFC 6052): its addresses
/// stand for the IPv4 address in their last 32 bits.
const NAT64: Ipv6Net = v6(0x0064_ff9b << 96, 96, "NAT64 64:ff9b::/96").0;

/// IPv4-compatible addresses ::/96 (deprecated by RFC 4291), but for the
/// unspecified and loopback addresses that share the prefix.
const IPV4_COMPATIBLE: Ipv6Net = v6(0, 96, "IPv4-compatible ::/96").0;

fn refused_v6(ip: Ipv6Addr) -> Option<&'static str> {
    // Forms that reach an IPv4 address are judged by that address.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return refused_v4(v4).map(|_| "IPv4-mapped form of a refused IPv4 address");
    }
    let [.., a, b, c, d] = ip.octets();
    if NAT64.contains(&ip) {
        return refused_v4(Ipv4Addr::new(a, b, c, d))
            .map(|_| "NAT64 form of a refused IPv4 address");
    }
    if IPV4_COMPATIBLE.contains(&ip) && ip.to_bits() > 1 {
        return Some("IPv4-compatible ::/96 (deprecated)");
    }
    V6_REFUSED
        .iter()
        .find_map(|(net, what)| net.contains(&ip).then_some(*what))
}

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
                Err(dns::stub::LookupError::Failed(reason)) => {
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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn refused(ip: &str) -> Option<&'static str> {
        refused_range(ip.parse().unwrap())
    }

    #[test]
    fn non_public_ipv4_ranges_are_refused() {
        for (ip, range) in [
            ("0.0.0.0", "this network"),
            ("10.1.2.3", "private"),
            ("100.64.0.1", "carrier-grade NAT"),
            ("100.127.255.254", "carrier-grade NAT"),
            ("127.0.0.1", "loopback"),
            ("127.255.255.255", "loopback"),
            ("169.254.169.254", "cloud metadata"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.0.0.8", "IETF"),
            ("192.0.2.1", "documentation"),
            ("192.88.99.1", "6to4"),
            ("192.168.1.1", "private"),
            ("198.18.0.1", "benchmarking"),
            ("198.19.255.255", "benchmarking"),
            ("198.51.100.7", "documentation"),
            ("203.0.113.9", "documentation"),
            ("224.0.0.1", "multicast"),
            ("239.255.255.250", "multicast"),
            ("240.0.0.1", "reserved"),
            ("255.255.255.255", "broadcast"),
        ] {
            let reason = refused(ip).unwrap_or_else(|| panic!("{ip} must be refused"));
            assert!(reason.contains(range), "{ip}: {reason}");
        }
    }

    #[test]
    fn non_public_ipv6_ranges_are_refused() {
        for (ip, range) in [
            ("::", "unspecified"),
            ("::1", "loopback"),
            ("::ffff:127.0.0.1", "IPv4-mapped"),
            ("::ffff:169.254.169.254", "IPv4-mapped"),
            ("::ffff:10.0.0.1", "IPv4-mapped"),
            ("::127.0.0.1", "IPv4-compatible"),
            ("64:ff9b::7f00:1", "NAT64"),
            ("64:ff9b:1::1", "local-use NAT64"),
            ("100::1", "discard-only"),
            ("2001::1", "IETF"),
            ("2001:2::1", "IETF"),
            ("2001:db8::1", "documentation"),
            ("2002:7f00:1::1", "6to4"),
            ("3fff::1", "documentation"),
            ("fc00::1", "unique local"),
            ("fd00::1", "unique local"),
            ("fe80::1", "link-local"),
            ("febf::1", "link-local"),
            ("fec0::1", "site-local"),
            ("ff02::1", "multicast"),
        ] {
            let reason = refused(ip).unwrap_or_else(|| panic!("{ip} must be refused"));
            assert!(reason.contains(range), "{ip}: {reason}");
        }
    }

    #[test]
    fn public_addresses_are_allowed() {
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "93.184.216.34",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.3.1",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
            "2606:4700:4700::1111",
            "2a00:1450:4001::200e",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2001:4860:4860::8888",
        ] {
            assert_eq!(refused(ip), None, "{ip} is public");
        }
    }

    proptest! {
        #[test]
        fn mapped_forms_agree_with_ipv4(bits in any::<u32>()) {
            let v4 = Ipv4Addr::from(bits);
            prop_assert_eq!(
                refused_range(IpAddr::V4(v4)).is_some(),
                refused_range(IpAddr::V6(v4.to_ipv6_mapped())).is_some()
            );
        }

        #[test]
        fn classifier_never_panics(bits in any::<u128>()) {
            let _ = refused_range(IpAddr::V6(Ipv6Addr::from(bits)));
        }
    }
}
