//! DomainHealthCheck resolver probes end to end: the operator (the real
//! binary, `DOMAIN_HEALTH_CHECKS=true`) against the real API server, asking
//! real unbound resolvers that resolve test zones served by real nsd.
//!
//! The lab: each zone (`shop.test`, `match.test`, `prop.test`,
//! `canary.test`) has two authoritative nsd, `ns1` and `ns2` of the zone,
//! each on its own loopback address and all on one port (the operator's
//! `NAMESERVER_PORT`), as real zones have two or more. Unbound `a` and `b`
//! stub every zone to both of its servers; `slow` stubs `prop.test` to a
//! lagging copy nobody lists in NS; `broken` stubs `shop.test` to a port
//! nothing listens on, so it answers `SERVFAIL` (or nothing) for it.
//!
//! One operator probes the cases that do not interfere (each its own check
//! and zone, side by side in one namespace): a check's interval is at least
//! 10 s, so rounds, not work, set the time a case takes. The case that
//! restarts the operator has a lab and operators of its own.

mod support;

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    time::Duration,
};

use domain_monitor::resource::dhc::{
    CanarySpec, DomainHealthCheck, DomainHealthCheckStatus, LookupOutcome, ProbeRecordType,
};
use hickory_resolver::proto::{op::ResponseCode, rr::RecordType};
use kube::{Api, api::PostParams};
use support::{
    cluster::TestNamespace,
    dhc::{PATIENCE, check, condition, install_dhc_crd, record, resolver, wait_for},
    nsd::{Nsd, Zone, free_port_on, now_unix},
    operator::Operator,
    unbound::Unbound,
};

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

/// A zone's two authoritative servers, `ns1.<zone>` and `ns2.<zone>`, on
/// their own addresses and a shared port.
struct Authoritative {
    zone: &'static str,
    ns1: Nsd,
    ns2: Nsd,
}

impl Authoritative {
    /// The zone `zone`: its servers at `ips` (listed in its NS set, with
    /// their addresses), `www A 192.0.2.1`, and `extra` on top.
    fn zone(zone: &str, ips: [IpAddr; 2], extra: impl FnOnce(&mut Zone)) -> Zone {
        let (ns1, ns2) = (format!("ns1.{zone}"), format!("ns2.{zone}"));
        let mut zone = Zone::child(zone, &[&ns1, &ns2])
            .address(&ns1, ips[0])
            .address(&ns2, ips[1])
            .address(&format!("www.{zone}"), "192.0.2.1".parse().unwrap());
        extra(&mut zone);
        zone
    }

    /// Starts both servers of `zone` on `ips` and `port`, side by side.
    fn start(zone: &'static str, ips: [IpAddr; 2], port: u16, extra: fn(&mut Zone)) -> Self {
        let zone_of = || Self::zone(zone, ips, extra);
        let (ns1, ns2) = std::thread::scope(|scope| {
            let ns1 = scope.spawn(|| Nsd::start_on(zone_of(), &[], ips[0], Some(port)));
            let ns2 = Nsd::start_on(zone_of(), &[], ips[1], Some(port));
            (ns1.join().expect("start ns1"), ns2)
        });
        Self { zone, ns1, ns2 }
    }

    fn addrs(&self) -> [SocketAddr; 2] {
        [self.ns1.addr(), self.ns2.addr()]
    }

    /// Applies `edit` at both servers (each bumps its serial).
    fn change(&self, edit: impl Fn(&mut Zone)) {
        self.ns1.change(&edit);
        self.ns2.change(&edit);
    }

    fn set_www(&self, address: &str) {
        let www = format!("www.{}", self.zone);
        self.change(|zone| zone.set_addresses(&www, &[address.parse().unwrap()]));
    }
}

fn no_extra(_: &mut Zone) {}

const CANARY: &str = "_canary.canary.test";

fn with_old_canary(zone: &mut Zone) {
    zone.set_txt(CANARY, &["t=1764000000 by=test"]);
}

/// The lab of the shared operator (see the module docs).
struct Lab {
    port: u16,
    /// Kept running: the threshold case asks it.
    _shop: Authoritative,
    matching: Authoritative,
    prop: Authoritative,
    lagging: Nsd,
    canary: Authoritative,
    a: Unbound,
    b: Unbound,
    slow: Unbound,
    broken: Unbound,
}

impl Lab {
    fn start() -> Self {
        let servers = [71, 72, 73, 74, 75, 76, 77, 78, 79].map(ip);
        let port = free_port_on(&servers);
        // Every server starts at once: nsd takes a moment each.
        let (shop, matching, prop, lagging, canary) = std::thread::scope(|scope| {
            let shop =
                scope.spawn(|| Authoritative::start("shop.test", [ip(71), ip(72)], port, no_extra));
            let matching = scope
                .spawn(|| Authoritative::start("match.test", [ip(73), ip(74)], port, no_extra));
            let prop =
                scope.spawn(|| Authoritative::start("prop.test", [ip(75), ip(76)], port, no_extra));
            let lagging = scope.spawn(|| {
                Nsd::start_on(
                    Authoritative::zone("prop.test", [ip(75), ip(76)], no_extra),
                    &[],
                    ip(77),
                    Some(port),
                )
            });
            let canary =
                Authoritative::start("canary.test", [ip(78), ip(79)], port, with_old_canary);
            (
                shop.join().expect("start shop.test"),
                matching.join().expect("start match.test"),
                prop.join().expect("start prop.test"),
                lagging.join().expect("start the lagging copy"),
                canary,
            )
        });
        let every_zone = [&shop, &matching, &prop, &canary].map(|z| (z.zone, z.addrs()));
        let stubs: Vec<(&str, &[SocketAddr])> = every_zone
            .iter()
            .map(|(zone, addrs)| (*zone, &addrs[..]))
            .collect();
        let dead_ip = ip(64);
        let dead = SocketAddr::new(dead_ip, free_port_on(&[dead_ip]));
        let (a, b, slow, broken) = std::thread::scope(|scope| {
            let a = scope.spawn(|| Unbound::start_stubs(ip(61), &stubs));
            let b = scope.spawn(|| Unbound::start_stubs(ip(62), &stubs));
            let slow = scope.spawn(|| Unbound::start(ip(63), "prop.test", lagging.addr()));
            let broken = Unbound::start(ip(65), "shop.test", dead);
            (
                a.join().expect("start a"),
                b.join().expect("start b"),
                slow.join().expect("start slow"),
                broken,
            )
        });
        // The lab works before the operator is asked to look at it.
        for name in ["www.shop.test.", "www.canary.test."] {
            let answer = a.ask(name, RecordType::A).expect("a answers");
            assert_eq!(answer.metadata.response_code, ResponseCode::NoError);
            assert_eq!(answer.answers.len(), 1, "{answer:?}");
        }
        Self {
            port,
            _shop: shop,
            matching,
            prop,
            lagging,
            canary,
            a,
            b,
            slow,
            broken,
        }
    }
}

/// The operator probing DomainHealthChecks, asking authoritative servers on
/// `nameserver_port` (nsd's), with `extra` settings.
fn operator(
    namespace: &str,
    instance: &str,
    nameserver_port: u16,
    extra: &[(&str, String)],
) -> Operator {
    let port = nameserver_port.to_string();
    let mut env: Vec<(String, String)> = [
        ("DOMAIN_HEALTH_CHECKS", "true"),
        ("DNS_TIMEOUT", "4s"),
        ("NAMESERVER_PORT", port.as_str()),
        ("RUST_LOG", "info,domain_monitor::dhc=debug"),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .into();
    env.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    Operator::start(namespace, instance, &env)
}

/// The value of the Prometheus `series` (name and labels) the operator
/// serves.
async fn scraped(operator: &Operator, series: &str) -> u64 {
    let text = operator.metrics().await;
    text.lines()
        .find_map(|l| l.strip_prefix(series))
        .unwrap_or_else(|| panic!("no {series} in:\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

/// The value of the Prometheus `series` the operator serves, if it serves
/// it.
async fn gauge(operator: &Operator, series: &str) -> Option<f64> {
    let text = operator.metrics().await;
    text.lines()
        .find_map(|l| l.strip_prefix(series))
        .map(|v| v.trim().parse().expect("a number"))
}

fn is(check: &DomainHealthCheck, type_: &str, status: &str) -> bool {
    condition(check, type_).is_some_and(|(s, _, _)| s == status)
}

fn has_reason(check: &DomainHealthCheck, type_: &str, reason: &str) -> bool {
    condition(check, type_).is_some_and(|(_, r, _)| r == reason)
}

/// The probes the operator logged of `resolver`.
fn probes_of(operator: &Operator, resolver: &str) -> usize {
    operator
        .events("probed")
        .iter()
        .filter(|e| e["fields"]["resolver"] == resolver || e["resolver"] == resolver)
        .count()
}

fn results(status: &DomainHealthCheckStatus, resolver: &str) -> Vec<(LookupOutcome, Vec<String>)> {
    status
        .resolvers
        .iter()
        .find(|r| r.name == resolver)
        .map(|r| {
            r.records
                .iter()
                .map(|x| (x.rcode, x.answers.clone()))
                .collect()
        })
        .unwrap_or_default()
}

async fn namespace(test: &str) -> TestNamespace {
    let ns = TestNamespace::new(test).await;
    install_dhc_crd(&ns.client).await;
    ns
}

/// Creates `check` probed every 10 s.
async fn create(api: &Api<DomainHealthCheck>, mut check: DomainHealthCheck) {
    check.spec.interval = Some("10s".to_owned());
    api.create(&PostParams::default(), &check)
        .await
        .expect("create the DomainHealthCheck");
}

/// The cases one operator probes side by side, each its own check and
/// zone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_operator_probes_every_case_side_by_side() {
    let lab = tokio::task::block_in_place(Lab::start);
    let failing = lab
        .broken
        .ask("www.shop.test.", RecordType::A)
        .map(|m| m.metadata.response_code);
    assert!(
        failing.is_none() || failing == Some(ResponseCode::ServFail),
        "the broken resolver must fail: {failing:?}"
    );
    let ns = namespace("dhc-shared").await;
    let api: Api<DomainHealthCheck> = Api::namespaced(ns.client.clone(), &ns.name);
    // The default resolver set: the canary case names none.
    let defaults = format!("a={},b={}", lab.a.addr(), lab.b.addr());
    let operator = operator(
        &ns.name,
        "dhc-shared",
        lab.port,
        &[("DHC_RESOLVERS", defaults)],
    );
    let cases = (
        expected_answers_match_and_a_changed_answer_is_a_mismatch(&lab, &ns, &api, &operator),
        a_failing_resolver_shows_only_past_the_threshold(&lab, &api, &operator),
        a_serial_change_is_timed_at_each_server_and_resolver(&lab, &ns, &api, &operator),
        a_new_canary_value_is_timed_per_resolver(&lab, &ns, &api, &operator),
    );
    tokio::join!(cases.0, cases.1, cases.2, cases.3);
}

async fn expected_answers_match_and_a_changed_answer_is_a_mismatch(
    lab: &Lab,
    ns: &TestNamespace,
    api: &Api<DomainHealthCheck>,
    operator: &Operator,
) {
    let web = check(
        "web",
        "match.test",
        vec![record("www", ProbeRecordType::A, &["192.0.2.1"])],
        vec![resolver("a", lab.a.addr()), resolver("b", lab.b.addr())],
    );
    create(api, web).await;

    let matched = wait_for(api, "web", "matching answers", operator, |c| {
        is(c, "Resolving", "True") && is(c, "AnswersMatch", "True")
    })
    .await;
    let status = matched.status.unwrap();
    assert_eq!(status.domain.as_deref(), Some("match.test"));
    for name in ["a", "b"] {
        assert_eq!(
            results(&status, name),
            [(LookupOutcome::NOERROR, vec!["192.0.2.1".to_owned()])],
            "resolver {name}"
        );
    }

    // The record changes at the authoritative servers; the resolvers'
    // caches last a second, so the next probe sees it.
    tokio::task::block_in_place(|| lab.matching.set_www("192.0.2.99"));
    let changed = wait_for(api, "web", "a mismatch", operator, |c| {
        is(c, "AnswersMatch", "False")
    })
    .await;
    let (_, reason, message) = condition(&changed, "AnswersMatch").unwrap();
    assert_eq!(reason, "AnswerMismatch");
    assert!(
        message.contains("a: www.match.test A answered 192.0.2.99; expected exact \"192.0.2.1\""),
        "{message}"
    );
    assert!(
        message.contains("b: www.match.test A answered 192.0.2.99"),
        "{message}"
    );
    assert!(is(&changed, "Resolving", "True"), "{:?}", changed.status);

    // The latency of every probe is in dns.lookup.duration, per resolver.
    for name in ["a", "b"] {
        let series = format!(
            "dns_lookup_duration_seconds_count{{namespace=\"{}\",name=\"web\",dns_question_name=\"www.match.test\",dns_question_type=\"A\",resolver=\"{name}\",outcome=\"noerror\"}}",
            ns.name
        );
        let count = scraped(operator, &series).await;
        assert!(count >= 2, "{series} {count}");
    }
}

/// The probes of `resolver` the operator logged for the check `name`.
fn probes_of_check(operator: &Operator, name: &str, resolver: &str) -> usize {
    operator
        .events("probed")
        .iter()
        .filter(|e| e["check"] == name || e["fields"]["check"] == name)
        .filter(|e| e["fields"]["resolver"] == resolver || e["resolver"] == resolver)
        .count()
}

async fn a_failing_resolver_shows_only_past_the_threshold(
    lab: &Lab,
    api: &Api<DomainHealthCheck>,
    operator: &Operator,
) {
    let mut threshold = check(
        "threshold",
        "shop.test",
        vec![record("www", ProbeRecordType::A, &["192.0.2.1"])],
        vec![
            resolver("a", lab.a.addr()),
            resolver("broken", lab.broken.addr()),
        ],
    );
    threshold.spec.failure_threshold = Some(3);
    create(api, threshold).await;

    // Two failed probes of `broken`: not shown yet.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while probes_of_check(operator, "threshold", "broken") < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no second probe of broken; log:\n{}",
            operator.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let before = api.get("threshold").await.expect("get");
    assert!(
        !is(&before, "Resolving", "False"),
        "failures below the threshold must not flip Resolving: {:#?}",
        before.status
    );
    assert!(
        before
            .status
            .as_ref()
            .is_none_or(|s| results(s, "broken").is_empty()),
        "an unsettled failure is not in the status: {:#?}",
        before.status
    );

    let failed = wait_for(api, "threshold", "Resolving False", operator, |c| {
        is(c, "Resolving", "False")
    })
    .await;
    assert!(
        probes_of_check(operator, "threshold", "broken") >= 3,
        "Resolving flipped before the third failure; log:\n{}",
        operator.log()
    );
    let (_, reason, message) = condition(&failed, "Resolving").unwrap();
    assert_eq!(reason, "ResolverFailing");
    assert!(
        message.contains("broken: www.shop.test A SERVFAIL")
            || message.contains("broken: www.shop.test A Timeout"),
        "{message}"
    );
    assert!(
        !message.contains("a: "),
        "the good resolver is not blamed: {message}"
    );
    // The good resolver's answers still match.
    assert!(is(&failed, "AnswersMatch", "True"), "{:#?}", failed.status);
}

/// `prop.test` has two authoritative servers. A serial bump at `ns1` alone
/// is a `SerialMismatch` naming `ns2`; once `ns2` has it too, resolver `a`
/// (which asks them) serves it at once, and resolver `slow` only when its
/// own source (a lagging copy nobody lists in NS) catches up: `Converged`
/// says `Propagating` and names `slow` meanwhile, and `lastChange` times
/// each resolver.
async fn a_serial_change_is_timed_at_each_server_and_resolver(
    lab: &Lab,
    ns: &TestNamespace,
    api: &Api<DomainHealthCheck>,
    operator: &Operator,
) {
    let propagation = check(
        "propagation",
        "prop.test",
        vec![record("www", ProbeRecordType::A, &["192.0.2.1"])],
        vec![
            resolver("a", lab.a.addr()),
            resolver("slow", lab.slow.addr()),
        ],
    );
    create(api, propagation).await;

    let base = wait_for(api, "propagation", "Converged", operator, |c| {
        is(c, "Converged", "True")
    })
    .await;
    let propagation = base.status.unwrap().propagation.unwrap();
    assert_eq!(propagation.serial, Some(1));
    let servers: Vec<(&str, Option<u32>)> = propagation
        .authoritative
        .iter()
        .map(|s| (s.server.as_str(), s.serial))
        .collect();
    assert_eq!(
        servers,
        [("ns1.prop.test", Some(1)), ("ns2.prop.test", Some(1))],
        "both authoritative servers are asked: {propagation:?}"
    );
    assert_eq!(
        propagation.last_change, None,
        "the first round is the baseline"
    );

    // ns1 has the new serial, ns2 lags.
    tokio::task::block_in_place(|| lab.prop.ns1.change(|_| {}));
    let mismatch = wait_for(api, "propagation", "SerialMismatch", operator, |c| {
        has_reason(c, "Converged", "SerialMismatch")
    })
    .await;
    let (status, _, message) = condition(&mismatch, "Converged").unwrap();
    assert_eq!(status, "False");
    assert_eq!(
        message,
        "The authoritative servers disagree: the highest serial is 2; ns2.prop.test serves 1."
    );

    // Both serve it; slow's source lags.
    tokio::task::block_in_place(|| lab.prop.ns2.change(|_| {}));
    let propagating = wait_for(api, "propagation", "Propagating", operator, |c| {
        has_reason(c, "Converged", "Propagating")
    })
    .await;
    let (_, _, message) = condition(&propagating, "Converged").unwrap();
    assert_eq!(
        message,
        "The authoritative servers serve serial 2; slow serves 1."
    );
    let change = propagating
        .status
        .unwrap()
        .propagation
        .unwrap()
        .last_change
        .unwrap();
    assert_eq!(change.serial, 2);
    let slow_before = change.resolvers.iter().find(|r| r.name == "slow").unwrap();
    assert_eq!(slow_before.converged_at, None);
    // Since when slow has lagged, for DomainMonitorPropagationSlow; a serves
    // the new serial, so it has no such series.
    let pending = |resolver: &str| {
        format!(
            "domain_monitor_dhc_propagation_pending_since_seconds{{namespace=\"{}\",name=\"propagation\",resolver=\"{resolver}\"}}",
            ns.name
        )
    };
    #[allow(clippy::cast_precision_loss)]
    let detected = change.detected_at.0.as_second() as f64;
    assert_eq!(gauge(operator, &pending("slow")).await, Some(detected));
    assert_eq!(gauge(operator, &pending("a")).await, None);

    tokio::task::block_in_place(|| lab.lagging.change(|_| {}));
    let converged = wait_for(api, "propagation", "Converged again", operator, |c| {
        is(c, "Converged", "True")
    })
    .await;
    let change = converged
        .status
        .unwrap()
        .propagation
        .unwrap()
        .last_change
        .unwrap();
    assert_eq!(change.serial, 2);
    let slow_after = change.resolvers.iter().find(|r| r.name == "slow").unwrap();
    let converged_at = slow_after.converged_at.clone().expect("slow converged");
    assert!(
        converged_at.0 > change.detected_at.0,
        "slow served the serial only in a later round: {change:?}"
    );
    assert!(slow_after.seconds.is_some(), "{change:?}");
    let series = format!(
        "domain_monitor_dhc_propagation_duration_seconds_count{{namespace=\"{}\",name=\"propagation\",resolver=\"slow\"}}",
        ns.name
    );
    assert_eq!(scraped(operator, &series).await, 1);
    assert_eq!(
        gauge(operator, &pending("slow")).await,
        None,
        "slow serves the serial: no longer pending"
    );
}

/// The canary TXT record of `canary.test` is rewritten with a new publish
/// time at both servers (a serial bump and an nsd reload each): every
/// resolver's delay from the publish time, and from the round that saw it
/// at the servers, is in the status and in `domain_monitor.dhc.canary.delay`.
/// The check names no resolvers: the operator's `DHC_RESOLVERS` (`a`, `b`)
/// are asked.
async fn a_new_canary_value_is_timed_per_resolver(
    lab: &Lab,
    ns: &TestNamespace,
    api: &Api<DomainHealthCheck>,
    operator: &Operator,
) {
    let mut canary = check(
        "canary",
        "canary.test",
        vec![record("www", ProbeRecordType::A, &["192.0.2.1"])],
        Vec::new(),
    );
    canary.spec.canary = Some(CanarySpec {
        name: "_canary".to_owned(),
    });
    create(api, canary).await;
    let old = jiff::Timestamp::from_second(1_764_000_000).unwrap();
    let base = wait_for(api, "canary", "the canary's baseline", operator, |c| {
        c.status
            .as_ref()
            .and_then(|s| s.canary.as_ref())
            .is_some_and(|c| c.resolvers.len() == 2)
    })
    .await;
    let base_status = base.status.unwrap();
    let defaults: Vec<(&str, String)> = base_status
        .resolvers
        .iter()
        .map(|r| (r.name.as_str(), r.address.clone()))
        .collect();
    assert_eq!(
        defaults,
        [
            ("a", lab.a.addr().to_string()),
            ("b", lab.b.addr().to_string())
        ],
        "the default resolver set"
    );
    let baseline = base_status.canary.unwrap();
    assert_eq!(baseline.name, CANARY);
    assert_eq!(baseline.published_at.map(|t| t.0), Some(old));
    assert_eq!(baseline.authoritative_at, None, "a baseline, not a change");
    for resolver in &baseline.resolvers {
        assert_eq!(resolver.published_at.as_ref().map(|t| t.0), Some(old));
        assert_eq!(resolver.delay_seconds, None, "{resolver:?}");
    }

    let published = now_unix();
    let value = format!("t={published}");
    tokio::task::block_in_place(|| lab.canary.change(|zone| zone.set_txt(CANARY, &[&value])));
    let resolved = wait_for(api, "canary", "the new canary at a and b", operator, |c| {
        c.status
            .as_ref()
            .and_then(|s| s.canary.as_ref())
            .is_some_and(|c| c.resolvers.iter().all(|r| r.resolvable_at.is_some()))
    })
    .await;
    let waited = now_unix() - published;
    let canary = resolved.status.unwrap().canary.unwrap();
    let published_at = jiff::Timestamp::from_second(i64::try_from(published).unwrap()).unwrap();
    assert_eq!(canary.published_at.map(|t| t.0), Some(published_at));
    let at_servers = canary.authoritative_at.expect("the round that saw it");
    for resolver in &canary.resolvers {
        assert_eq!(
            resolver.published_at.as_ref().map(|t| t.0),
            Some(published_at),
            "{resolver:?}"
        );
        let delay = resolver.delay_seconds.expect("publish → resolvable");
        assert!(delay <= waited, "{delay} s, yet only {waited} s passed");
        let since_servers = resolver
            .since_authoritative_seconds
            .expect("authoritative → resolvable");
        assert!(since_servers <= delay, "{resolver:?}");
        assert!(
            resolver.resolvable_at.as_ref().unwrap().0 >= at_servers.0,
            "{resolver:?} before {at_servers:?}"
        );
        for since in ["publish", "authoritative"] {
            let series = format!(
                "domain_monitor_dhc_canary_delay_seconds_count{{namespace=\"{}\",name=\"canary\",resolver=\"{}\",since=\"{since}\"}}",
                ns.name, resolver.name
            );
            assert_eq!(scraped(operator, &series).await, 1, "{series}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_changed_means_no_status_write_even_across_a_restart() {
    let (quiet, a, b) = tokio::task::block_in_place(|| {
        let servers = [ip(81), ip(82)];
        let port = free_port_on(&servers);
        let quiet = Authoritative::start("quiet.test", servers, port, no_extra);
        let addrs = quiet.addrs();
        let a = Unbound::start_stubs(ip(83), &[("quiet.test", &addrs)]);
        let b = Unbound::start_stubs(ip(84), &[("quiet.test", &addrs)]);
        (quiet, a, b)
    });
    let ns = namespace("dhc-quiet").await;
    let api: Api<DomainHealthCheck> = Api::namespaced(ns.client.clone(), &ns.name);
    let port = quiet.ns1.addr().port();
    let first = operator(&ns.name, "dhc-quiet-1", port, &[]);
    let web = check(
        "web",
        "quiet.test",
        vec![
            record("www", ProbeRecordType::A, &["192.0.2.1"]),
            record("@", ProbeRecordType::NS, &["ns1.quiet.test"]),
        ],
        vec![resolver("a", a.addr()), resolver("b", b.addr())],
    );
    create(&api, web).await;
    let settled = wait_for(&api, "web", "a settled status", &first, |c| {
        is(c, "Resolving", "True") && is(c, "AnswersMatch", "True") && is(c, "Converged", "True")
    })
    .await;
    let version = settled.metadata.resource_version.clone();
    let status = settled.status.clone().unwrap();
    assert_eq!(
        results(&status, "b")[1],
        (
            LookupOutcome::NOERROR,
            vec!["ns1.quiet.test".to_owned(), "ns2.quiet.test".to_owned()]
        )
    );

    // Two more rounds of probes (4 per round) change nothing, so nothing is
    // written.
    let seen = probes_of(&first, "a") + probes_of(&first, "b");
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while probes_of(&first, "a") + probes_of(&first, "b") < seen + 8 {
        assert!(tokio::time::Instant::now() < deadline, "{}", first.log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let later = api.get("web").await.expect("get");
    assert_eq!(
        later.metadata.resource_version, version,
        "a status write without a change: {:#?}",
        later.status
    );

    // A new operator starts from the status it finds: no write either.
    drop(first);
    let second = operator(&ns.name, "dhc-quiet-2", port, &[]);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while probes_of(&second, "a") + probes_of(&second, "b") < 8 {
        assert!(tokio::time::Instant::now() < deadline, "{}", second.log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let after_restart = api.get("web").await.expect("get");
    assert_eq!(
        after_restart.metadata.resource_version,
        version,
        "the restarted operator rewrote an unchanged status: {:#?}\nlog:\n{}",
        after_restart.status,
        second.log()
    );
}
