//! Delegation health against real servers: a `.test` parent zone on two nsd,
//! child zones on nsd of their own (each on its own loopback address and
//! one shared port, as name servers all listen on port 53), and an nsd
//! playing the recursive resolver for out-of-bailiwick server names.
//!
//! The child zones of `healthy.test` publish the address of their in-domain
//! server as the parent's glue does; `renumbered.test`'s says another one
//! (a glue mismatch).
//!
//! One world serves every case (starting nsd is most of the wall time).

mod support;

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use domain_monitor::{
    check::dns::{DnsChecker, stub::StubResolver},
    domain_name::DomainName,
    health::delegation::{self, ChildServer, DelegationReport, ProbeSettings, Prober},
};
use support::nsd::{Nsd, TldServers, Zone, free_port_on};

const A: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
const B: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 3);
const C: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 4);
/// Nothing listens here.
const SILENT: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 9);
const TIMEOUT: Duration = Duration::from_millis(800);

const HEALTHY_NS: [&str; 2] = ["ns1.healthy.test", "ns.provider.example"];
const LAME_NS: [&str; 5] = [
    "ns1.lame.test",
    "ns2.lame.test",
    "ns3.lame.test",
    "ns4.lame.test",
    "ns.missing.example",
];

/// The parent zone: `healthy.test` and `split.test` delegated to
/// `ns1.healthy.test` (glue: A) and `ns.provider.example` (B, through the
/// resolver); `lame.test` to a good server (A), one that does not serve it
/// (B: REFUSED), one that only has the parent zone (C: a referral, AA=0),
/// an address where nothing listens, and a name without addresses;
/// `renumbered.test` to `ns1.renumbered.test` with glue A, whose own zone
/// (on A) says the server moved to [`RENUMBERED_TO`].
fn parent_zone() -> Zone {
    Zone::new("test")
        .delegate("healthy.test", &HEALTHY_NS)
        .delegate("split.test", &HEALTHY_NS)
        .address("ns1.healthy.test", IpAddr::V4(A))
        .delegate("lame.test", &LAME_NS)
        .address("ns1.lame.test", IpAddr::V4(A))
        .address("ns2.lame.test", IpAddr::V4(B))
        .address("ns3.lame.test", IpAddr::V4(C))
        .address("ns4.lame.test", IpAddr::V4(SILENT))
        .delegate("renumbered.test", &["ns1.renumbered.test"])
        .address("ns1.renumbered.test", IpAddr::V4(A))
}

/// Where `renumbered.test`'s own zone says its server is (nothing listens).
const RENUMBERED_TO: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 5);

/// `healthy.test`'s own zone: its apex NS set and, as at the parent, the
/// address of `ns1.healthy.test`.
fn healthy_zone() -> Zone {
    Zone::child("healthy.test", &HEALTHY_NS).address("ns1.healthy.test", IpAddr::V4(A))
}

struct World {
    parent: TldServers,
    dns: Arc<DnsChecker>,
    prober: Prober,
    /// The port of the domains' own servers.
    port: u16,
    _servers: Vec<Nsd>,
}

fn world() -> World {
    let port = free_port_on(&[A, B, C, SILENT].map(IpAddr::V4));
    let parent = TldServers::start(&parent_zone(), 2);
    let servers = std::thread::scope(|scope| {
        let resolver = scope.spawn(|| {
            Nsd::start(Zone::new("example").address("ns.provider.example", IpAddr::V4(B)))
        });
        let a = scope.spawn(move || {
            Nsd::start_on(
                healthy_zone(),
                &[
                    Zone::child("split.test", &HEALTHY_NS),
                    Zone::child("lame.test", &LAME_NS),
                    Zone::child("renumbered.test", &["ns1.renumbered.test"])
                        .address("ns1.renumbered.test", IpAddr::V4(RENUMBERED_TO)),
                ],
                IpAddr::V4(A),
                Some(port),
            )
        });
        let b = scope.spawn(move || {
            Nsd::start_on(
                healthy_zone(),
                &[Zone::child("split.test", &HEALTHY_NS)],
                IpAddr::V4(B),
                Some(port),
            )
        });
        let c = scope.spawn(move || Nsd::start_on(parent_zone(), &[], IpAddr::V4(C), Some(port)));
        [resolver, a, b, c].map(|s| s.join().expect("start nsd"))
    });
    // One copy of the parent zone lags behind: `split.test` lost a server.
    parent.servers()[1].add_delegation("split.test", &["ns1.healthy.test"]);

    let dns = Arc::new(
        DnsChecker::new(support::dns_settings(parent.addrs(), TIMEOUT)).expect("dns checker"),
    );
    let resolver = StubResolver::new(&[servers[0].addr()], TIMEOUT);
    let prober = Prober::new(
        Arc::clone(&dns),
        Arc::new(resolver),
        ProbeSettings {
            timeout: TIMEOUT,
            nameserver_port: port,
        },
    );
    World {
        parent,
        dns,
        prober,
        port,
        _servers: servers.into(),
    }
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

impl World {
    async fn probe(&self, domain: &str, registry: &[&str], expected: &[&str]) -> DelegationReport {
        let domain = DomainName::parse(domain).unwrap();
        self.prober
            .probe(&domain, &names(registry), &names(expected))
            .await
            .unwrap_or_else(|e| panic!("probe {domain:?}: {e}"))
    }

    fn parent_addr(&self, i: usize) -> SocketAddr {
        self.parent.addrs()[i]
    }
}

#[tokio::test]
async fn delegation_views_from_parent_registry_and_child() {
    let world = world();
    let sorted_healthy = names(&["ns.provider.example", "ns1.healthy.test"]);

    // (a) Healthy: every view agrees with the expectation; names compare in
    // lower case without the trailing dot.
    let report = world
        .probe(
            "healthy.test",
            &["NS1.Healthy.TEST.", "ns.provider.example"],
            &["ns.provider.example.", "ns1.healthy.test"],
        )
        .await;
    assert_eq!(report.parent, sorted_healthy, "healthy: parent {report:#?}");
    assert_eq!(report.registry, sorted_healthy, "healthy: registry");
    assert_eq!(
        report.parent_servers.len(),
        2,
        "healthy: both parent servers asked"
    );
    assert!(
        report.parent_servers.iter().all(|a| a.error.is_none()),
        "healthy: {:#?}",
        report.parent_servers
    );
    let good = |name: &str, address: Ipv4Addr| ChildServer {
        name: name.to_owned(),
        addresses: vec![address.to_string()],
        answered: true,
        authoritative: true,
        nameservers: sorted_healthy.clone(),
        error: None,
    };
    assert_eq!(
        report.child,
        [good("ns.provider.example", B), good("ns1.healthy.test", A)],
        "healthy: child servers (ns1 by glue, ns.provider.example resolved)"
    );
    assert!(report.is_healthy(), "healthy: {report:#?}");
    assert!(
        report.glue_mismatch.is_empty(),
        "healthy: the glue of ns1.healthy.test is what its zone serves: {report:#?}"
    );

    // (b) The registry changed the NS set; the zones did not follow yet.
    let report = world
        .probe(
            "healthy.test",
            &["ns1.healthy.test", "ns9.healthy.test"],
            &[],
        )
        .await;
    assert_eq!(
        report.drift,
        [
            "The registry lists ns1.healthy.test, ns9.healthy.test; the parent and the child \
          servers that answer list ns.provider.example, ns1.healthy.test."
        ],
        "registry only: {report:#?}"
    );
    // The registry's new server is asked too; it has no address yet.
    assert_eq!(report.lame.len(), 1, "registry only: {:?}", report.lame);
    assert!(
        report.lame[0].starts_with("ns9.healthy.test: no address"),
        "registry only: {:?}",
        report.lame
    );

    // (c) Lame servers, each named with why.
    let report = world.probe("lame.test", &[], &[]).await;
    let port = world.port;
    assert_eq!(
        report.lame,
        [
            "ns.missing.example: no address: no such name (NXDOMAIN)".to_owned(),
            format!("ns2.lame.test: REFUSED from {B}"),
            format!("ns3.lame.test: answers without authority (AA=0) from {C}"),
            format!("ns4.lame.test: no answer (timed out) from {SILENT}"),
        ],
        "lame (servers on port {port}): {report:#?}"
    );
    let good = report
        .child
        .iter()
        .find(|c| c.name == "ns1.lame.test")
        .expect("ns1.lame.test asked");
    assert!(good.answered && good.authoritative, "lame: {good:?}");
    assert!(report.drift.is_empty(), "lame: {:?}", report.drift);

    // (d) The parent's two servers disagree.
    let report = world.probe("split.test", &[], &[]).await;
    assert_eq!(report.parent, sorted_healthy, "split: parent {report:#?}");
    assert_eq!(
        report.parent_disagreement,
        [format!(
            "Parent server {} delegates to ns1.healthy.test while server {} delegates to \
             ns.provider.example, ns1.healthy.test.",
            world.parent_addr(1),
            world.parent_addr(0)
        )],
        "split: {report:#?}"
    );
    assert!(
        report.drift.is_empty() && report.lame.is_empty(),
        "split: the child servers agree with the majority: {report:#?}"
    );
    assert!(!report.is_healthy(), "split: disagreement is not healthy");

    // (e) Every view agrees, but not with what the owner expects.
    let report = world
        .probe(
            "healthy.test",
            &["ns1.healthy.test", "ns.provider.example"],
            &["ns1.healthy.test", "ns2.healthy.test"],
        )
        .await;
    assert_eq!(
        report.drift,
        [
            "The parent, the registry and the child servers list ns.provider.example, \
          ns1.healthy.test; expectedNameservers lists ns1.healthy.test, ns2.healthy.test."
        ],
        "expected: {report:#?}"
    );
    assert!(report.lame.is_empty(), "expected: {:?}", report.lame);

    // (f) The parent's glue says one address, the domain's own zone
    // another (renumbered, the glue at the registry never updated): the
    // server and both address sets are named, and it counts as drift.
    let report = world.probe("renumbered.test", &[], &[]).await;
    assert_eq!(
        report.glue_mismatch,
        [format!(
            "the parent's glue for ns1.renumbered.test ({A}) differs from the addresses \
             ns1.renumbered.test serves for it ({RENUMBERED_TO}): update the glue at your \
             registrar or the address records in your zone so that they agree"
        )],
        "renumbered: {report:#?}"
    );
    assert!(
        report.drift.is_empty() && report.lame.is_empty(),
        "renumbered: the NS sets agree: {report:#?}"
    );
    assert!(
        !report.is_healthy(),
        "renumbered: a glue mismatch is not healthy"
    );
    let view = delegation::view(report);
    assert!(
        view.drift
            .iter()
            .any(|line| line.contains("glue for ns1.renumbered.test")),
        "renumbered: status.health.delegation.drift: {view:#?}"
    );
    // The lame servers of lame.test publish no addresses of their own: no
    // glue finding for them.
    let report = world.probe("lame.test", &[], &[]).await;
    assert!(report.glue_mismatch.is_empty(), "lame: {report:#?}");

    // (g) The parent answers, but the recursive resolver that would give
    // the address of `ns.provider.example` is silent (it went down
    // mid-probe): that says nothing about the server, so the probe is
    // inconclusive rather than calling it lame (the caller keeps its last
    // view), and the error names the server and the resolver.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind a silent resolver");
    let silent_addr = silent.local_addr().expect("its address");
    let blind = Prober::new(
        Arc::clone(&world.dns),
        Arc::new(StubResolver::new(&[silent_addr], TIMEOUT)),
        ProbeSettings {
            timeout: TIMEOUT,
            nameserver_port: world.port,
        },
    );
    let domain = DomainName::parse("healthy.test").unwrap();
    match blind.probe(&domain, &[], &[]).await {
        Err(delegation::Error::ResolversSilent { host, errors, .. }) => {
            assert_eq!(host, "ns.provider.example");
            assert!(errors.contains(&silent_addr.to_string()), "{errors}");
        }
        other => panic!("silent resolvers make no lame server: {other:#?}"),
    }
}
