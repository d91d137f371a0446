//! DomainHealthCheck resolver probes end to end: the operator (the real
//! binary, `DOMAIN_HEALTH_CHECKS=true`) against the real API server, asking
//! real unbound resolvers that resolve a test zone served by a real nsd.
//!
//! The lab: nsd authoritative for `shop.test` (`www A 192.0.2.1`); unbound
//! `a` and `b` stubbing to it; unbound `broken` stubbing to a port nothing
//! listens on, so it answers `SERVFAIL` (or nothing) for the zone.

mod support;

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    time::Duration,
};

use domain_monitor::dhc::resource::{
    DomainHealthCheck, DomainHealthCheckStatus, LookupOutcome, ProbeRecordType,
};
use hickory_resolver::proto::{op::ResponseCode, rr::RecordType};
use kube::{Api, api::PostParams};
use support::{
    cluster::TestNamespace,
    dhc::{check, install_dhc_crd, record, resolver},
    nsd::{Nsd, Zone, free_port_on},
    operator::Operator,
    unbound::Unbound,
};

const ZONE: &str = "shop.test";
const WWW: &str = "www.shop.test";
/// Long enough for the slowest first probe plus a few intervals (10 s each).
const PATIENCE: Duration = Duration::from_secs(90);

struct Lab {
    nsd: Nsd,
    a: Unbound,
    b: Unbound,
    broken: Unbound,
}

impl Lab {
    fn start() -> Self {
        let nsd = Nsd::start(shop_zone());
        let a = Unbound::start(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 61)), ZONE, nsd.addr());
        let b = Unbound::start(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 62)), ZONE, nsd.addr());
        let dead_ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 64));
        let dead = SocketAddr::new(dead_ip, free_port_on(&[dead_ip]));
        let broken = Unbound::start(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 63)), ZONE, dead);
        // The lab works before the operator is asked to look at it.
        let answer = a.ask(&format!("{WWW}."), RecordType::A).expect("a answers");
        assert_eq!(answer.metadata.response_code, ResponseCode::NoError);
        assert_eq!(answer.answers.len(), 1, "{answer:?}");
        Self { nsd, a, b, broken }
    }

    fn set_www(&self, ip: &str) {
        self.nsd
            .change(|zone| zone.set_addresses(WWW, &[ip.parse().unwrap()]));
    }
}

/// The operator probing DomainHealthChecks, asking authoritative servers on
/// `nameserver_port` (nsd's).
fn operator(namespace: &str, instance: &str, nameserver_port: u16) -> Operator {
    let port = nameserver_port.to_string();
    let env = [
        ("DOMAIN_HEALTH_CHECKS", "true"),
        ("DNS_TIMEOUT", "4s"),
        ("NAMESERVER_PORT", port.as_str()),
        ("RUST_LOG", "info,domain_monitor::dhc=debug"),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()));
    Operator::start(namespace, instance, &env)
}

/// The test zone: `shop.test`, its server `ns1.shop.test` at 127.0.0.1,
/// `www A 192.0.2.1`.
fn shop_zone() -> Zone {
    Zone::child(ZONE, &["ns1.shop.test"])
        .address("ns1.shop.test", IpAddr::V4(Ipv4Addr::LOCALHOST))
        .address(WWW, "192.0.2.1".parse().unwrap())
}

/// The value of the Prometheus `series` (name and labels) the operator
/// serves.
async fn scraped(operator: &Operator, series: &str) -> u64 {
    domain_monitor::net::ensure_crypto_provider();
    let text = reqwest::get(format!("{}/metrics/prometheus", operator.base_url().await))
        .await
        .expect("GET /metrics/prometheus")
        .text()
        .await
        .unwrap();
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
    domain_monitor::net::ensure_crypto_provider();
    let text = reqwest::get(format!("{}/metrics/prometheus", operator.base_url().await))
        .await
        .expect("GET /metrics/prometheus")
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(series))
        .map(|v| v.trim().parse().expect("a number"))
}

fn condition(check: &DomainHealthCheck, type_: &str) -> Option<(String, String, String)> {
    check
        .status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

fn is(check: &DomainHealthCheck, type_: &str, status: &str) -> bool {
    condition(check, type_).is_some_and(|(s, _, _)| s == status)
}

async fn wait_for(
    api: &Api<DomainHealthCheck>,
    name: &str,
    what: &str,
    operator: &Operator,
    done: impl Fn(&DomainHealthCheck) -> bool,
) -> DomainHealthCheck {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let check = api.get(name).await.expect("get the DomainHealthCheck");
        if done(&check) {
            return check;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {what} within {PATIENCE:?}; status {:#?}\noperator log:\n{}",
            check.status,
            operator.log()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expected_answers_match_and_a_changed_answer_is_a_mismatch() {
    let lab = tokio::task::block_in_place(Lab::start);
    let ns = namespace("dhc-match").await;
    let api: Api<DomainHealthCheck> = Api::namespaced(ns.client.clone(), &ns.name);
    let operator = operator(&ns.name, "dhc-match", lab.nsd.addr().port());
    let mut web = check(
        "web",
        ZONE,
        vec![record("www", ProbeRecordType::A, &["192.0.2.1"])],
        vec![resolver("a", lab.a.addr()), resolver("b", lab.b.addr())],
    );
    web.spec.interval = Some("10s".to_owned());
    api.create(&PostParams::default(), &web)
        .await
        .expect("create");

    let matched = wait_for(&api, "web", "matching answers", &operator, |c| {
        is(c, "Resolving", "True") && is(c, "AnswersMatch", "True")
    })
    .await;
    let status = matched.status.unwrap();
    assert_eq!(status.domain.as_deref(), Some(ZONE));
    for name in ["a", "b"] {
        assert_eq!(
            results(&status, name),
            [(LookupOutcome::NOERROR, vec!["192.0.2.1".to_owned()])],
            "resolver {name}"
        );
    }

    // The record changes at the authoritative server; the resolvers' caches
    // last a second, so the next probe sees it.
    tokio::task::block_in_place(|| lab.set_www("192.0.2.99"));
    let changed = wait_for(&api, "web", "a mismatch", &operator, |c| {
        is(c, "AnswersMatch", "False")
    })
    .await;
    let (_, reason, message) = condition(&changed, "AnswersMatch").unwrap();
    assert_eq!(reason, "AnswerMismatch");
    assert!(
        message.contains("a: www.shop.test A answered 192.0.2.99; expected exact \"192.0.2.1\""),
        "{message}"
    );
    assert!(
        message.contains("b: www.shop.test A answered 192.0.2.99"),
        "{message}"
    );
    assert!(is(&changed, "Resolving", "True"), "{:?}", changed.status);

    // The latency of every probe is in dns.lookup.duration, per resolver.
    for name in ["a", "b"] {
        let series = format!(
            "dns_lookup_duration_seconds_count{{namespace=\"{}\",name=\"web\",dns_question_name=\"www.shop.test\",dns_question_type=\"A\",resolver=\"{name}\",outcome=\"noerror\"}}",
            ns.name
        );
        let count = scraped(&operator, &series).await;
        assert!(count >= 2, "{series} {count}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_resolver_shows_only_past_the_threshold() {
    let lab = tokio::task::block_in_place(Lab::start);
    let failing = lab
        .broken
        .ask(&format!("{WWW}."), RecordType::A)
        .map(|m| m.metadata.response_code);
    assert!(
        failing.is_none() || failing == Some(ResponseCode::ServFail),
        "the broken resolver must fail: {failing:?}"
    );
    let ns = namespace("dhc-threshold").await;
    let api: Api<DomainHealthCheck> = Api::namespaced(ns.client.clone(), &ns.name);
    let operator = operator(&ns.name, "dhc-threshold", lab.nsd.addr().port());
    let mut web = check(
        "web",
        ZONE,
        vec![record("www", ProbeRecordType::A, &["192.0.2.1"])],
        vec![
            resolver("a", lab.a.addr()),
            resolver("broken", lab.broken.addr()),
        ],
    );
    web.spec.interval = Some("10s".to_owned());
    web.spec.failure_threshold = Some(3);
    api.create(&PostParams::default(), &web)
        .await
        .expect("create");

    // Two failed probes of `broken`: not shown yet.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while probes_of(&operator, "broken") < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no second probe of broken; log:\n{}",
            operator.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let before = api.get("web").await.expect("get");
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

    let failed = wait_for(&api, "web", "Resolving False", &operator, |c| {
        is(c, "Resolving", "False")
    })
    .await;
    assert!(
        probes_of(&operator, "broken") >= 3,
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_changed_means_no_status_write_even_across_a_restart() {
    let lab = tokio::task::block_in_place(Lab::start);
    let ns = namespace("dhc-quiet").await;
    let api: Api<DomainHealthCheck> = Api::namespaced(ns.client.clone(), &ns.name);
    let port = lab.nsd.addr().port();
    let first = operator(&ns.name, "dhc-quiet-1", port);
    let mut web = check(
        "web",
        ZONE,
        vec![
            record("www", ProbeRecordType::A, &["192.0.2.1"]),
            record("@", ProbeRecordType::NS, &["ns1.shop.test"]),
        ],
        vec![resolver("a", lab.a.addr()), resolver("b", lab.b.addr())],
    );
    web.spec.interval = Some("10s".to_owned());
    api.create(&PostParams::default(), &web)
        .await
        .expect("create");
    let settled = wait_for(&api, "web", "a settled status", &first, |c| {
        is(c, "Resolving", "True") && is(c, "AnswersMatch", "True")
    })
    .await;
    let version = settled.metadata.resource_version.clone();
    let status = settled.status.clone().unwrap();
    assert_eq!(
        results(&status, "b")[1],
        (LookupOutcome::NOERROR, vec!["ns1.shop.test".to_owned()])
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
    let second = operator(&ns.name, "dhc-quiet-2", port);
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

/// A serial bump at the authoritative server reaches resolver `a` (which
/// asks it) at once, and resolver `slow` only when its own source (a
/// lagging copy of the zone nobody lists in NS) catches up: `Converged`
/// says `Propagating` and names `slow` meanwhile, and `lastChange` times
/// each resolver.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_serial_change_is_timed_until_each_resolver_serves_it() {
    let (nsd, lagging, a, slow) = tokio::task::block_in_place(|| {
        let nsd = Nsd::start(shop_zone());
        let lagging = Nsd::start_on(
            shop_zone(),
            &[],
            IpAddr::V4(Ipv4Addr::new(127, 0, 0, 65)),
            None,
        );
        let a = Unbound::start(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 66)), ZONE, nsd.addr());
        let slow = Unbound::start(
            IpAddr::V4(Ipv4Addr::new(127, 0, 0, 67)),
            ZONE,
            lagging.addr(),
        );
        (nsd, lagging, a, slow)
    });
    let ns = namespace("dhc-propagation").await;
    let api: Api<DomainHealthCheck> = Api::namespaced(ns.client.clone(), &ns.name);
    let operator = operator(&ns.name, "dhc-propagation", nsd.addr().port());
    let mut web = check(
        "web",
        ZONE,
        vec![record("www", ProbeRecordType::A, &["192.0.2.1"])],
        vec![resolver("a", a.addr()), resolver("slow", slow.addr())],
    );
    web.spec.interval = Some("10s".to_owned());
    api.create(&PostParams::default(), &web)
        .await
        .expect("create");

    let base = wait_for(&api, "web", "Converged", &operator, |c| {
        is(c, "Converged", "True")
    })
    .await;
    let propagation = base.status.unwrap().propagation.unwrap();
    assert_eq!(propagation.serial, Some(1));
    assert_eq!(propagation.authoritative.len(), 1, "{propagation:?}");
    assert_eq!(propagation.authoritative[0].server, "ns1.shop.test");
    assert_eq!(
        propagation.last_change, None,
        "the first round is the baseline"
    );

    tokio::task::block_in_place(|| nsd.change(|_| {}));
    let propagating = wait_for(&api, "web", "Propagating", &operator, |c| {
        is(c, "Converged", "False")
    })
    .await;
    let (_, reason, message) = condition(&propagating, "Converged").unwrap();
    assert_eq!(reason, "Propagating");
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
            "domain_monitor_dhc_propagation_pending_since_seconds{{namespace=\"{}\",name=\"web\",resolver=\"{resolver}\"}}",
            ns.name
        )
    };
    #[allow(clippy::cast_precision_loss)]
    let detected = change.detected_at.0.as_second() as f64;
    assert_eq!(gauge(&operator, &pending("slow")).await, Some(detected));
    assert_eq!(gauge(&operator, &pending("a")).await, None);

    tokio::task::block_in_place(|| lagging.change(|_| {}));
    let converged = wait_for(&api, "web", "Converged again", &operator, |c| {
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
        "domain_monitor_dhc_propagation_duration_seconds_count{{namespace=\"{}\",name=\"web\",resolver=\"slow\"}}",
        ns.name
    );
    assert_eq!(scraped(&operator, &series).await, 1);
    assert_eq!(
        gauge(&operator, &pending("slow")).await,
        None,
        "slow serves the serial: no longer pending"
    );
}
