//! The dns checker's wire engine (`check::dns::engine`): answers reach the
//! query they answer and no other. Scripted in-process servers send what a
//! spoofer, a slow server or a truncating server would (wrong IDs, wrong
//! questions, wrong source ports, answers after the timeout, TC=1); a real
//! nsd pair takes 10,000 checks at once.

mod support;

use std::{sync::Arc, time::Duration};

use domain_monitor::{
    check::{
        CheckOutcome, CheckReport, Checker, Strength,
        dns::{
            DnsChecker,
            engine::{self, QueryError, Upstream},
        },
    },
    domain_name::DomainName,
};
use hickory_resolver::proto::{
    op::{Message, MessageType, OpCode, ResponseCode},
    rr::{
        Name, RData, Record, RecordType,
        rdata::{NS, SOA},
    },
};
use support::{
    dns_script::{Scripted, Send, later, now},
    dns_settings,
    nsd::{TldServers, Zone},
};
use tokio::time::Instant;

fn domain(name: &str) -> DomainName {
    DomainName::parse(name).unwrap()
}

fn name(text: &str) -> Name {
    Name::from_ascii(text).unwrap()
}

// === scripted answers ===

/// The empty response to `query`, same ID and question.
fn response(query: &Message, code: ResponseCode) -> Message {
    let mut reply = Message::new(query.metadata.id, MessageType::Response, OpCode::Query);
    reply.metadata.response_code = code;
    reply.add_queries(query.queries.clone());
    reply
}

fn asked(query: &Message) -> Name {
    query.queries[0].name().clone()
}

/// A referral of the asked name to `ns.<name without the TLD>.example`.
fn delegation(query: &Message) -> Message {
    let owner = asked(query);
    let mut reply = response(query, ResponseCode::NoError);
    reply.add_authority(Record::from_rdata(
        owner.clone(),
        300,
        RData::NS(NS(ns_target(&owner))),
    ));
    reply
}

fn ns_target(owner: &Name) -> Name {
    let label = String::from_utf8_lossy(owner.iter().next().unwrap()).to_string();
    name(&format!("ns.{label}.example."))
}

fn nxdomain(query: &Message) -> Message {
    let mut reply = response(query, ResponseCode::NXDomain);
    let soa = SOA::new(
        name("ns1.nic.test."),
        name("hostmaster.nic.test."),
        1,
        3600,
        600,
        86400,
        300,
    );
    reply.add_authority(Record::from_rdata(name("test."), 300, RData::SOA(soa)));
    reply
}

fn with_id(mut message: Message, id: u16) -> Message {
    message.metadata.id = id;
    message
}

// === ID, source and question mismatches ===

/// Checks `name` against a server that answers each query at once with
/// `bogus(query)`, then 50 ms later with the right delegation; returns the
/// report and the checker's wire statistics.
async fn bogus_first(
    name: &str,
    bogus: impl Fn(&Message) -> Message + std::marker::Send + Sync + 'static,
) -> (CheckReport, engine::Stats) {
    let server = Scripted::start(
        move |query| {
            vec![
                now(bogus(query)),
                later(Duration::from_millis(50), delegation(query)),
            ]
        },
        None,
    )
    .await;
    let checker = DnsChecker::new(dns_settings(vec![server.addr], Duration::from_secs(2))).unwrap();
    let report = checker.check(&domain(name)).await;
    (report, checker.wire_stats())
}

#[tokio::test]
async fn an_answer_with_a_wrong_id_is_dropped_and_the_right_one_used() {
    // First an NXDOMAIN under another ID, then the delegation under the
    // query's own: taking the first would call a registered name free.
    let (report, stats) = bogus_first("taken.test", |query| {
        with_id(nxdomain(query), query.metadata.id.wrapping_add(1))
    })
    .await;
    assert_eq!(report.outcome, CheckOutcome::Registered, "{report:?}");
    assert_eq!(
        report.registration.unwrap().nameservers,
        vec!["ns.taken.example"]
    );
    assert_eq!(
        stats.unmatched, 1,
        "the wrong-ID answer is counted: {stats:?}"
    );
    assert_eq!(stats.timeouts, 0, "{stats:?}");
}

#[tokio::test]
async fn answers_with_wrong_ids_only_time_out_inconclusive() {
    let server = Scripted::start(
        |query| {
            let id = query.metadata.id;
            vec![
                now(with_id(nxdomain(query), id ^ 0x8000)),
                now(with_id(delegation(query), id.wrapping_sub(1))),
            ]
        },
        None,
    )
    .await;
    let timeout = Duration::from_millis(400);
    let checker = DnsChecker::new(dns_settings(vec![server.addr], timeout)).unwrap();
    let started = Instant::now();
    let report = checker.check(&domain("spoofed.test")).await;
    let took = started.elapsed();
    assert_eq!(report.outcome, CheckOutcome::Inconclusive, "{report:?}");
    assert_eq!(report.error.as_deref(), Some("no answer (timed out)"));
    assert!(
        took >= timeout && took < timeout + Duration::from_millis(300),
        "the check ends at its timeout, took {took:?}"
    );
    let stats = checker.wire_stats();
    assert_eq!(stats.unmatched, 2, "{stats:?}");
    assert_eq!(stats.timeouts, 1, "{stats:?}");
    assert_eq!(server.udp_queries(), 1);
}

#[tokio::test]
async fn an_answer_to_another_question_under_the_right_id_is_dropped() {
    let (report, stats) = bogus_first("asked.test", |query| {
        // Right ID, wrong name: as a spoofer guessing only the ID would.
        let mut other = nxdomain(query);
        other.queries[0].set_name(name("other.test."));
        other
    })
    .await;
    assert_eq!(report.outcome, CheckOutcome::Registered, "{report:?}");
    assert_eq!(stats.wrong_question, 1, "{stats:?}");
}

#[tokio::test]
async fn an_answer_from_another_port_is_dropped() {
    let server = Scripted::start(
        |query| {
            vec![
                Send {
                    after: Duration::ZERO,
                    from_elsewhere: true,
                    message: nxdomain(query),
                },
                later(Duration::from_millis(50), delegation(query)),
            ]
        },
        None,
    )
    .await;
    let checker = DnsChecker::new(dns_settings(vec![server.addr], Duration::from_secs(2))).unwrap();
    let report = checker.check(&domain("asked.test")).await;
    assert_eq!(report.outcome, CheckOutcome::Registered, "{report:?}");
    assert_eq!(checker.wire_stats().wrong_source, 1);
}

// === late answers ===

#[tokio::test]
async fn late_answers_are_dropped_and_the_next_queries_get_their_own() {
    // `late*` names are answered (NXDOMAIN) after their query timed out, and
    // while the `next*` queries wait on the same sockets for their own
    // (delegation) answers, which come after the late ones.
    let server = Scripted::start(
        |query| {
            let asked = asked(query).to_ascii();
            if asked.starts_with("late") {
                vec![later(Duration::from_millis(400), nxdomain(query))]
            } else {
                vec![later(Duration::from_millis(300), delegation(query))]
            }
        },
        None,
    )
    .await;
    let upstream = Upstream::new(server.addr);
    let sockets = *engine::SOCKETS_PER_SERVER;
    // One query per socket (the engine takes its sockets in turn).
    let late = futures::future::join_all((0..sockets).map(|i| {
        let upstream = &upstream;
        async move {
            let deadline = Instant::now() + Duration::from_millis(200);
            upstream
                .query(&name(&format!("late{i}.test.")), RecordType::NS, deadline)
                .await
        }
    }))
    .await;
    for answer in &late {
        assert!(matches!(answer, Err(QueryError::Timeout)), "{answer:?}");
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let next = futures::future::join_all((0..sockets).map(|i| {
        let upstream = &upstream;
        async move {
            let asked = name(&format!("next{i}.test."));
            let deadline = Instant::now() + Duration::from_secs(2);
            let answer = upstream.query(&asked, RecordType::NS, deadline).await;
            (asked, answer)
        }
    }))
    .await;
    for (asked, answer) in next {
        let message = answer.unwrap_or_else(|e| panic!("{asked}: {e}"));
        assert_eq!(message.metadata.response_code, ResponseCode::NoError);
        assert_eq!(message.queries[0].name(), &asked);
        let targets: Vec<_> = message
            .authorities
            .iter()
            .filter_map(|r| match &r.data {
                RData::NS(ns) => Some(ns.0.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(targets, vec![ns_target(&asked)], "{asked}");
    }
    let stats = upstream.stats();
    assert_eq!(stats.unmatched, sockets as u64, "late answers: {stats:?}");
    assert_eq!(stats.timeouts, sockets as u64, "{stats:?}");
}

// === truncation ===

#[tokio::test]
async fn a_truncated_answer_is_asked_again_over_tcp() {
    let server = Scripted::start(
        |query| {
            let mut truncated = response(query, ResponseCode::NoError);
            truncated.metadata.truncation = true;
            vec![now(truncated)]
        },
        Some(Arc::new(|query: &Message| Some(delegation(query)))),
    )
    .await;
    let checker = DnsChecker::new(dns_settings(vec![server.addr], Duration::from_secs(2))).unwrap();
    let report = checker.check(&domain("big.test")).await;
    assert_eq!(report.outcome, CheckOutcome::Registered, "{report:?}");
    assert_eq!(
        report.registration.unwrap().nameservers,
        vec!["ns.big.example"]
    );
    assert_eq!(server.tcp_queries(), 1);
    assert_eq!(checker.wire_stats().tcp_fallbacks, 1);
}

#[tokio::test]
async fn a_tcp_answer_to_another_query_is_not_used() {
    let server = Scripted::start(
        |query| {
            let mut truncated = response(query, ResponseCode::NoError);
            truncated.metadata.truncation = true;
            vec![now(truncated)]
        },
        Some(Arc::new(|query: &Message| {
            Some(with_id(nxdomain(query), query.metadata.id.wrapping_add(1)))
        })),
    )
    .await;
    let checker = DnsChecker::new(dns_settings(vec![server.addr], Duration::from_secs(2))).unwrap();
    let report = checker.check(&domain("big.test")).await;
    assert_eq!(report.outcome, CheckOutcome::Inconclusive, "{report:?}");
    assert!(
        report.detail.contains("TCP retry failed"),
        "{}",
        report.detail
    );
}

// === many at once against nsd ===

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_concurrent_checks_against_nsd_each_get_their_own_answer() {
    const NAMES: usize = 10_000;
    // Each delegated name has name servers of its own, so an answer handed
    // to the wrong check shows in its report.
    let mut zone = Zone::new("test");
    for i in (0..NAMES).step_by(2) {
        zone = zone.delegate(&format!("d{i}.test"), &[&format!("ns.d{i}.example")]);
    }
    let servers = tokio::task::spawn_blocking(move || TldServers::start(&zone, 2))
        .await
        .unwrap();
    let checker =
        Arc::new(DnsChecker::new(dns_settings(servers.addrs(), Duration::from_secs(10))).unwrap());
    let checks = (0..NAMES).map(|i| {
        let checker = checker.clone();
        tokio::spawn(async move {
            let name = if i % 2 == 0 {
                format!("d{i}.test")
            } else {
                format!("free{i}.test")
            };
            let report = checker.check(&domain(&name)).await;
            (i, report)
        })
    });
    let reports = futures::future::join_all(checks).await;
    let mut wrong = Vec::new();
    for joined in reports {
        let (i, report) = joined.unwrap();
        let expected = if i % 2 == 0 {
            report.outcome == CheckOutcome::Registered
                && report.registration.as_ref().map(|r| r.nameservers.clone())
                    == Some(vec![format!("ns.d{i}.example")])
        } else {
            report.outcome == CheckOutcome::Available
                && report.strength == Strength::Strong
                && report.servers_agreeing == 2
        };
        if !expected {
            wrong.push(format!("{i}: {report:?}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {NAMES} checks got another answer than their zone says, e.g. {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(3)]
    );
    let stats = checker.wire_stats();
    assert_eq!(
        stats,
        engine::Stats::default(),
        "nothing lost, dropped or retried"
    );
    let asked: u64 = servers.ns_queries().iter().sum();
    assert_eq!(
        asked,
        (NAMES / 2 + NAMES) as u64,
        "one query per delegated name, two per free name (a second opinion)"
    );
}

// === the stub resolver of the http probe ===

#[tokio::test]
async fn the_stub_resolver_asks_for_recursion_passes_over_a_failing_resolver_and_asks_once_per_probe()
 {
    use domain_monitor::check::dns::stub::{LookupError, StubResolver};
    use hickory_resolver::proto::rr::rdata::{A, AAAA};
    use std::sync::atomic::{AtomicBool, Ordering};

    let failing = Scripted::start(
        |query| vec![now(response(query, ResponseCode::ServFail))],
        None,
    )
    .await;
    let without_recursion = Arc::new(AtomicBool::new(false));
    let seen = without_recursion.clone();
    let working = Scripted::start(
        move |query| {
            if !query.metadata.recursion_desired {
                seen.store(true, Ordering::SeqCst);
            }
            let owner = asked(query);
            if owner == name("gone.test.") {
                return vec![now(nxdomain(query))];
            }
            let mut reply = response(query, ResponseCode::NoError);
            match query.queries[0].query_type() {
                RecordType::A => reply.add_answer(Record::from_rdata(
                    owner,
                    60,
                    RData::A(A::new(192, 0, 2, 10)),
                )),
                _ => reply.add_answer(Record::from_rdata(
                    owner,
                    60,
                    RData::AAAA(AAAA::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 10)),
                )),
            };
            vec![now(reply)]
        },
        None,
    )
    .await;
    let resolver = StubResolver::new(&[failing.addr, working.addr], Duration::from_secs(2));

    let addrs = resolver.lookup_ip("www.taken.test").await.unwrap();
    assert_eq!(
        addrs.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["192.0.2.10", "2001:db8::a"]
    );
    assert_eq!(
        failing.udp_queries(),
        2,
        "A and AAAA asked of the first resolver"
    );
    assert_eq!(working.udp_queries(), 2, "then of the second");
    assert!(
        !without_recursion.load(Ordering::SeqCst),
        "every query has RD=1"
    );

    // The probe's second connection (HTTP after HTTPS) asks nothing again.
    resolver.lookup_ip("www.taken.test").await.unwrap();
    assert_eq!(working.udp_queries(), 2);

    // NXDOMAIN is the resolver's last word; nothing is kept of it.
    assert_eq!(
        resolver.lookup_ip("gone.test").await,
        Err(LookupError::NoSuchName)
    );
    assert_eq!(resolver.recent_len(), 1);

    // Every resolver failing: each one's failure, named.
    let alone = StubResolver::new(&[failing.addr], Duration::from_secs(2));
    match alone.lookup_ip("www.taken.test").await {
        Err(LookupError::Failed(reason)) => {
            assert!(reason.contains(&failing.addr.to_string()), "{reason}");
            assert!(reason.contains("Server Failure"), "{reason}");
        }
        other => panic!("expected a failure naming the resolver, got {other:?}"),
    }
}
