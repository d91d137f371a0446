//! The dns checker against a real nsd (delegations, NXDOMAIN, drops) and
//! against scripted in-process servers for the failure cases nsd will not
//! produce on demand (SERVFAIL, REFUSED, silence, truncation).

mod support;

use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use domain_monitor::{
    check::{
        CheckKind, CheckOutcome, Checker, Strength,
        dns::{DnsChecker, Settings},
    },
    domain_name::DomainName,
    ratelimit::{ServerBudgets, Urgency, with_urgency},
};
use hickory_resolver::proto::{
    op::{Message, MessageType, OpCode, ResponseCode},
    rr::{Name, RData, Record, rdata::NS},
};
use support::{
    dns_script::{Scripted, TcpScript, now},
    nsd::{Nsd, Zone},
};

/// A checker's settings asking `server` alone.
fn settings(server: SocketAddr, timeout: Duration) -> Settings {
    support::dns_settings(vec![server], timeout)
}

fn domain(name: &str) -> DomainName {
    DomainName::parse(name).unwrap()
}

// === against nsd ===

#[tokio::test]
async fn delegated_name_is_registered_with_its_nameservers() {
    let nsd = Nsd::standard();
    let checker = DnsChecker::new(settings(nsd.addr(), Duration::from_secs(2))).unwrap();
    let report = checker.check(&domain("Registered.TEST")).await;
    assert_eq!(report.kind, CheckKind::Dns);
    assert_eq!(report.outcome, CheckOutcome::Registered, "{report:?}");
    assert_eq!(report.strength, Strength::Strong);
    assert_eq!(
        report.registration.unwrap().nameservers,
        vec!["ns1.registered.test", "ns2.elsewhere.example"]
    );
    assert_eq!(report.server.as_deref(), Some(&*nsd.addr().to_string()));
}

#[tokio::test]
async fn nxdomain_is_available() {
    let nsd = Nsd::standard();
    let checker = DnsChecker::new(settings(nsd.addr(), Duration::from_secs(2))).unwrap();
    let report = checker.check(&domain("unregistered.test")).await;
    assert_eq!(report.outcome, CheckOutcome::Available, "{report:?}");
    assert_eq!(report.strength, Strength::Strong);
    assert_eq!(report.detail, format!("NXDOMAIN from {}", nsd.addr()));
}

#[tokio::test]
async fn name_without_delegation_but_in_the_zone_is_weakly_registered() {
    let nsd = Nsd::standard();
    let checker = DnsChecker::new(settings(nsd.addr(), Duration::from_secs(2))).unwrap();
    let report = checker.check(&domain("web.test")).await;
    assert_eq!(report.outcome, CheckOutcome::Registered, "{report:?}");
    assert_eq!(report.strength, Strength::Weak);
    assert!(report.detail.contains("NODATA"), "{}", report.detail);
}

#[tokio::test]
async fn a_dropped_delegation_is_seen_on_the_next_check() {
    let nsd = Nsd::standard();
    let checker = DnsChecker::new(settings(nsd.addr(), Duration::from_secs(2))).unwrap();
    let name = domain("second.test");
    assert_eq!(checker.check(&name).await.outcome, CheckOutcome::Registered);
    nsd.remove_delegation("second.test");
    // No cache anywhere: the very next check sees the drop.
    assert_eq!(checker.check(&name).await.outcome, CheckOutcome::Available);
    nsd.add_delegation("second.test", &["ns.new-owner.example"]);
    let report = checker.check(&name).await;
    assert_eq!(report.outcome, CheckOutcome::Registered);
    assert_eq!(
        report.registration.unwrap().nameservers,
        vec!["ns.new-owner.example"]
    );
}

#[tokio::test]
async fn tld_servers_are_discovered_through_the_recursive_resolver() {
    // nsd plays both parts: the recursive resolver that knows `test. NS
    // ns1.nic.test.` (A 127.0.0.1), and that TLD server.
    let nsd = Nsd::standard();
    let mut settings = settings(nsd.addr(), Duration::from_secs(2));
    settings.servers.clear();
    settings.recursive_resolvers = vec![nsd.addr()];
    settings.authoritative_port = nsd.addr().port();
    let checker = DnsChecker::new(settings).unwrap();
    let report = checker.check(&domain("registered.test")).await;
    assert_eq!(report.outcome, CheckOutcome::Registered, "{report:?}");
    assert_eq!(report.server.as_deref(), Some(&*nsd.addr().to_string()));
    let report = checker.check(&domain("unregistered.test")).await;
    assert_eq!(report.outcome, CheckOutcome::Available, "{report:?}");
}

#[tokio::test]
async fn a_tld_without_servers_is_an_error_not_available() {
    let nsd = Nsd::standard();
    let mut settings = settings(nsd.addr(), Duration::from_secs(2));
    settings.servers.clear();
    settings.recursive_resolvers = vec![nsd.addr()];
    let checker = DnsChecker::new(settings).unwrap();
    // nsd is not authoritative for `.nope`: it refuses, and discovery fails.
    let report = checker.check(&domain("foo.nope")).await;
    assert_eq!(report.outcome, CheckOutcome::Error, "{report:?}");
    assert!(report.detail.contains(".nope"), "{}", report.detail);
}

#[tokio::test]
async fn a_server_backing_off_is_not_contacted() {
    let server = scripted(Script::Rcode(ResponseCode::NXDomain), true).await;
    let settings = settings(server.addr, Duration::from_secs(2));
    let budgets = Arc::new(ServerBudgets::new("dns server", settings.rate_limit));
    budgets.back_off(&server.addr.to_string(), Some(Duration::from_secs(60)));
    let checker = DnsChecker::with_budgets(settings, budgets).unwrap();
    let report = checker.check(&domain("anything.test")).await;
    assert_eq!(report.outcome, CheckOutcome::RateLimited, "{report:?}");
    assert_eq!(report.retry_after, Some(Duration::from_secs(60)));
    assert_eq!(queries(&server), 0);
}

// === against scripted servers ===

#[tokio::test]
async fn servfail_is_inconclusive() {
    let server = scripted(Script::Rcode(ResponseCode::ServFail), true).await;
    let checker = DnsChecker::new(settings(server.addr, Duration::from_secs(2))).unwrap();
    let report = checker.check(&domain("foo.test")).await;
    assert_eq!(report.outcome, CheckOutcome::Inconclusive, "{report:?}");
    assert!(
        report.detail.contains("Server Failure"),
        "{}",
        report.detail
    );
}

#[tokio::test]
async fn refused_is_inconclusive() {
    let server = scripted(Script::Rcode(ResponseCode::Refused), true).await;
    let checker = DnsChecker::new(settings(server.addr, Duration::from_secs(2))).unwrap();
    let report = checker.check(&domain("foo.test")).await;
    assert_eq!(report.outcome, CheckOutcome::Inconclusive, "{report:?}");
    assert!(report.detail.contains("Refused"), "{}", report.detail);
}

#[tokio::test]
async fn silence_is_inconclusive_within_the_timeout() {
    let server = scripted(Script::Silent, true).await;
    let timeout = Duration::from_millis(600);
    let checker = DnsChecker::new(settings(server.addr, timeout)).unwrap();
    let started = Instant::now();
    let report = checker.check(&domain("foo.test")).await;
    let took = started.elapsed();
    assert_eq!(report.outcome, CheckOutcome::Inconclusive, "{report:?}");
    assert!(took < timeout + Duration::from_millis(300), "took {took:?}");
    assert!(queries(&server) >= 1, "the server was asked");
}

#[tokio::test]
async fn truncated_answer_is_retried_over_tcp() {
    let server = scripted(Script::TruncatedOverUdp, true).await;
    let checker = DnsChecker::new(settings(server.addr, Duration::from_secs(2))).unwrap();
    let report = checker.check(&domain("foo.test")).await;
    assert_eq!(report.outcome, CheckOutcome::Registered, "{report:?}");
    assert_eq!(
        report.registration.unwrap().nameservers,
        vec!["ns.foo.example"]
    );
    assert!(server.tcp_queries() >= 1, "TCP was used");
}

#[tokio::test]
async fn truncated_answer_without_tcp_is_inconclusive() {
    let server = scripted(Script::TruncatedOverUdp, false).await;
    let checker = DnsChecker::new(settings(server.addr, Duration::from_secs(2))).unwrap();
    let report = checker.check(&domain("foo.test")).await;
    assert_eq!(report.outcome, CheckOutcome::Inconclusive, "{report:?}");
}

/// How many checks per second the checker completes against nsd with many in
/// flight. Run with `cargo test --release --test dns_checker -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "throughput measurement, not a correctness test"]
async fn throughput_against_nsd() {
    use futures::StreamExt;
    let nsd = Nsd::standard();
    let checker = Arc::new(DnsChecker::new(settings(nsd.addr(), Duration::from_secs(2))).unwrap());
    let names: Vec<DomainName> = (0..1000)
        .map(|i| {
            if i % 2 == 0 {
                domain("registered.test")
            } else {
                domain(&format!("free{i}.test"))
            }
        })
        .collect();
    let total = 50_000;
    for in_flight in [100, 500] {
        let started = Instant::now();
        let outcomes = futures::stream::iter(0..total)
            .map(|i| {
                let checker = checker.clone();
                let name = names[i % names.len()].clone();
                async move { checker.check(&name).await.outcome }
            })
            .buffer_unordered(in_flight)
            .collect::<Vec<_>>()
            .await;
        let secs = started.elapsed().as_secs_f64();
        let failed = outcomes
            .iter()
            .filter(|o| !matches!(o, CheckOutcome::Registered | CheckOutcome::Available))
            .count();
        println!(
            "{in_flight} in flight: {total} checks in {secs:.2}s = {:.0} checks/s ({failed} not answered)",
            total as f64 / secs
        );
    }
}

// === a scripted DNS server ===

#[derive(Debug, Clone, Copy)]
enum Script {
    /// Answer every query with this response code.
    Rcode(ResponseCode),
    /// Never answer.
    Silent,
    /// Over UDP an empty answer with TC set; over TCP a referral to
    /// `ns.foo.example`.
    TruncatedOverUdp,
}

/// A scripted server playing `script`, over TCP too when `with_tcp`.
async fn scripted(script: Script, with_tcp: bool) -> Scripted {
    let tcp: Option<Arc<TcpScript>> = with_tcp
        .then(|| Arc::new(move |query: &Message| answer(script, query, true)) as Arc<TcpScript>);
    Scripted::start(
        move |query| answer(script, query, false).map(now).into_iter().collect(),
        tcp,
    )
    .await
}

/// All queries `server` received.
fn queries(server: &Scripted) -> usize {
    server.udp_queries() + server.tcp_queries()
}

fn answer(script: Script, query: &Message, over_tcp: bool) -> Option<Message> {
    let mut reply = Message::new(query.metadata.id, MessageType::Response, OpCode::Query);
    reply.add_queries(query.queries.clone());
    match script {
        Script::Silent => return None,
        Script::Rcode(code) => reply.metadata.response_code = code,
        Script::TruncatedOverUdp if !over_tcp => reply.metadata.truncation = true,
        Script::TruncatedOverUdp => {
            let owner = query.queries.first()?.name().clone();
            let target = Name::from_ascii("ns.foo.example.").ok()?;
            reply.add_authority(Record::from_rdata(owner, 300, RData::NS(NS(target))));
        }
    }
    Some(reply)
}

#[tokio::test]
async fn servers_that_disagree_are_inconclusive_and_say_so() {
    // A zone change on its way: one server has dropped the delegation, the
    // other still serves it.
    let stale = Nsd::start(Zone::standard());
    let current = Nsd::start(Zone::new("test").address("web.test", "127.0.0.1".parse().unwrap()));
    let mut both = settings(stale.addr(), Duration::from_secs(2));
    both.servers = vec![current.addr(), stale.addr()];
    let checker = DnsChecker::new(both).unwrap();
    let mut disagreements = 0;
    for _ in 0..4 {
        let report = checker.check(&domain("registered.test")).await;
        assert_ne!(report.outcome, CheckOutcome::Available, "{report:?}");
        if report.outcome == CheckOutcome::Inconclusive {
            assert_eq!(report.servers_agreeing, 0, "{report:?}");
            assert!(report.detail.contains("disagree"), "{report:?}");
            disagreements += 1;
        } else {
            assert_eq!(report.outcome, CheckOutcome::Registered, "{report:?}");
            assert_eq!(report.servers_agreeing, 1);
        }
    }
    assert!(
        disagreements >= 1,
        "the checker rotates over the servers, so the one without the delegation is asked first at least once"
    );
}

/// A checker asking `servers` in turn.
fn checker_asking(servers: &[SocketAddr]) -> DnsChecker {
    let mut settings = settings(servers[0], Duration::from_secs(2));
    settings.servers = servers.to_vec();
    DnsChecker::new(settings).unwrap()
}

#[tokio::test]
async fn a_watched_name_hears_both_servers_while_a_zone_change_travels() {
    // As above, but the name is watched (a priority name, or one in its
    // drop window): a delegation from the stale server is checked with the
    // other, so every check sees the change on its way, whichever server
    // it asked first; once both agree again it is Registered.
    let stale = Nsd::start(Zone::standard());
    let current = Nsd::start(Zone::new("test").address("web.test", "127.0.0.1".parse().unwrap()));
    let checker = checker_asking(&[current.addr(), stale.addr()]);
    for _ in 0..4 {
        let report =
            with_urgency(Urgency::Watched, checker.check(&domain("registered.test"))).await;
        assert_eq!(report.outcome, CheckOutcome::Inconclusive, "{report:?}");
        assert_eq!(report.servers_agreeing, 0, "{report:?}");
        assert!(report.detail.contains("disagree"), "{report:?}");
    }

    let agreeing = Nsd::start(Zone::standard());
    let checker = checker_asking(&[agreeing.addr(), stale.addr()]);
    for _ in 0..2 {
        let report = with_urgency(
            Urgency::ConfirmingWatched,
            checker.check(&domain("registered.test")),
        )
        .await;
        assert_eq!(report.outcome, CheckOutcome::Registered, "{report:?}");
        assert_eq!(report.strength, Strength::Strong, "{report:?}");
    }
}
