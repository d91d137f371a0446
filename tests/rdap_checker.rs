//! The RDAP checker against a real RDAP server (ICANN's `rdap-srv`) and, for
//! answers no real server gives on demand, a canned HTTP stub.

mod support;

use std::time::Duration;

use domain_monitor::{
    check::{
        CheckOutcome, CheckReport, Checker, Strength,
        rdap::{RdapChecker, Settings},
    },
    domain_name::DomainName,
};
use jiff::Timestamp;
use support::{
    http_stub::{HttpStub, Reply},
    rdap_srv::{DomainSpec, RdapSrv},
};
use url::Url;

const RDAP_JSON: &str = "application/rdap+json";

/// A checker with the given overrides and bootstrap URL.
fn checker(overrides: &[(&str, &Url)], bootstrap_url: &str) -> RdapChecker {
    RdapChecker::new(Settings {
        bootstrap_url: Url::parse(bootstrap_url).unwrap(),
        overrides: overrides
            .iter()
            .map(|(tld, url)| ((*tld).to_owned(), (*url).clone()))
            .collect(),
        timeout: Duration::from_secs(5),
        rate_limit: support::rate_limit(100),
        dns_servers: vec![std::net::SocketAddr::from(([127, 0, 0, 1], 53))],
        allow_private: false,
        weak_404_tlds: vec!["io".to_owned(), "co".to_owned()],
    })
    .unwrap()
}

/// Nothing listens on port 9 (discard) on loopback: any use of it fails fast.
const NO_BOOTSTRAP: &str = "http://127.0.0.1:9/dns.json";

async fn check(checker: &RdapChecker, name: &str) -> CheckReport {
    checker.check(&DomainName::parse(name).unwrap()).await
}

fn ts(s: &str) -> Option<Timestamp> {
    Some(s.parse().unwrap())
}

// === against rdap-srv ===

#[tokio::test]
async fn registered_domains_report_registrar_dates_nameservers_and_statuses() {
    let srv = RdapSrv::start().await;
    srv.add_domain(
        &DomainSpec::new("active.test")
            .status("active")
            .status("client transfer prohibited")
            .registrar("Example Registrar, Inc.")
            .nameserver("ns1.example.net")
            .nameserver("ns2.example.net")
            .created("2020-05-01T10:00:00Z")
            .expires("2030-05-01T10:00:00Z"),
    )
    .await;
    srv.add_domain(
        &DomainSpec::new("dropping.test")
            .status("pending delete")
            .status("redemption period")
            .registrar("Example Registrar, Inc.")
            .expires("2025-01-10T00:00:00Z")
            .deletion("2025-03-01T18:00:00Z"),
    )
    .await;
    srv.add_domain(&DomainSpec::new("redeem.test").status("redemption period"))
        .await;
    srv.add_domain(
        &DomainSpec::new("held.test")
            .status("client hold")
            .status("auto renew period"),
    )
    .await;
    let base = srv.base_url();
    let checker = checker(&[("test", &base)], NO_BOOTSTRAP);

    let active = check(&checker, "active.test").await;
    assert_eq!(active.outcome, CheckOutcome::Registered, "{active:?}");
    assert_eq!(active.strength, Strength::Strong);
    assert_eq!(active.server.as_deref(), Some(base.as_str()));
    let facts = active.registration.expect("facts of an active domain");
    assert_eq!(facts.registrar.as_deref(), Some("Example Registrar, Inc."));
    assert_eq!(facts.statuses, ["active", "clientTransferProhibited"]);
    assert_eq!(facts.nameservers, ["ns1.example.net", "ns2.example.net"]);
    assert_eq!(facts.created, ts("2020-05-01T10:00:00Z"));
    assert_eq!(facts.expires, ts("2030-05-01T10:00:00Z"));

    let dropping = check(&checker, "dropping.test").await;
    assert_eq!(dropping.outcome, CheckOutcome::Registered, "{dropping:?}");
    assert!(
        dropping.detail.contains("pendingDelete"),
        "{}",
        dropping.detail
    );
    let facts = dropping.registration.expect("facts of a dropping domain");
    assert!(facts.has_status("pendingDelete") && facts.has_status("redemptionPeriod"));
    assert_eq!(facts.expires, ts("2025-01-10T00:00:00Z"));
    assert_eq!(facts.deletion, ts("2025-03-01T18:00:00Z"));

    let redeem = check(&checker, "redeem.test").await;
    assert_eq!(redeem.outcome, CheckOutcome::Registered);
    assert_eq!(redeem.registration.unwrap().statuses, ["redemptionPeriod"]);

    let held = check(&checker, "held.test").await;
    assert_eq!(held.outcome, CheckOutcome::Registered);
    assert_eq!(
        held.registration.unwrap().statuses,
        ["clientHold", "autoRenewPeriod"]
    );
}

#[tokio::test]
async fn unknown_and_dropped_names_are_available() {
    let srv = RdapSrv::start().await;
    srv.add_domain(&DomainSpec::new("soon-gone.test").status("pending delete"))
        .await;
    let checker = checker(&[("test", &srv.base_url())], NO_BOOTSTRAP);

    let unknown = check(&checker, "never-registered.test").await;
    assert_eq!(unknown.outcome, CheckOutcome::Available, "{unknown:?}");
    assert_eq!(unknown.strength, Strength::Strong);
    assert!(unknown.detail.contains("HTTP 404"), "{}", unknown.detail);

    assert_eq!(
        check(&checker, "soon-gone.test").await.outcome,
        CheckOutcome::Registered
    );
    srv.remove_domain("soon-gone.test").await;
    let dropped = check(&checker, "soon-gone.test").await;
    assert_eq!(dropped.outcome, CheckOutcome::Available, "{dropped:?}");
}

#[tokio::test]
async fn bootstrap_picks_the_longest_suffix_and_is_fetched_once() {
    let srv = RdapSrv::start().await;
    srv.add_domain(&DomainSpec::new("shop.uk.com").status("active"))
        .await;
    let stub = HttpStub::start().await;
    // `com` points at a path of the stub that has no answers (every domain
    // 404s there, with no RDAP error object); only the longer `uk.com` entry
    // (a private registry) leads to rdap-srv.
    let bootstrap = format!(
        r#"{{"version":"1.0","services":[
            [["com"],["{wrong}"]],
            [["uk.com"],["{right}"]]]}}"#,
        wrong = stub.url("/wrong/"),
        right = srv.base_url(),
    );
    stub.set(
        "/dns.json",
        Reply::json(200, "application/json", bootstrap).header("Cache-Control", "max-age=3600"),
    );
    let checker = checker(&[], &stub.url("/dns.json"));

    let report = check(&checker, "shop.uk.com").await;
    assert_eq!(report.outcome, CheckOutcome::Registered, "{report:?}");
    assert_eq!(report.server.as_deref(), Some(srv.base_url().as_str()));
    let other = check(&checker, "other.com").await;
    assert_eq!(other.outcome, CheckOutcome::Inconclusive, "{other:?}");
    assert_eq!(other.server.as_deref(), Some(stub.url("/wrong/").as_str()));
    assert_eq!(stub.hits("/wrong/domain/other.com"), 1);

    assert_eq!(stub.hits("/dns.json"), 1, "the bootstrap file is cached");

    let unlisted = check(&checker, "example.xyz").await;
    assert_eq!(unlisted.outcome, CheckOutcome::Skipped);
    assert_eq!(unlisted.detail, "no RDAP service for .xyz");
    assert_eq!(stub.hits("/dns.json"), 1);
}

// === against the HTTP stub ===

#[tokio::test]
async fn stale_bootstrap_is_used_when_a_refresh_fails() {
    let stub = HttpStub::start().await;
    let bootstrap = format!(r#"{{"services":[[["io"],["{}"]]]}}"#, stub.url("/rdap/"));
    stub.set(
        "/dns.json",
        Reply::json(200, "application/json", bootstrap).header("Cache-Control", "max-age=1"),
    );
    stub.set(
        "/rdap/domain/free.io",
        Reply::json(404, RDAP_JSON, r#"{"errorCode":404,"title":"Not Found"}"#),
    );
    let checker = checker(&[], &stub.url("/dns.json"));
    assert_eq!(
        check(&checker, "free.io").await.outcome,
        CheckOutcome::Available
    );
    assert_eq!(stub.hits("/dns.json"), 1);

    stub.set("/dns.json", Reply::new(503));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let report = check(&checker, "free.io").await;
    assert_eq!(report.outcome, CheckOutcome::Available, "{report:?}");
    assert!(
        report.detail.contains("stale RDAP bootstrap") && report.detail.contains("503"),
        "{}",
        report.detail
    );
    assert_eq!(stub.hits("/dns.json"), 2, "the expired copy was refreshed");

    // The failed refresh is not retried by every check.
    check(&checker, "free.io").await;
    assert_eq!(stub.hits("/dns.json"), 2);
    assert_eq!(stub.hits("/rdap/domain/free.io"), 3);
}

#[tokio::test]
async fn bootstrap_failure_without_a_copy_is_an_error() {
    let stub = HttpStub::start().await;
    stub.set("/dns.json", Reply::json(200, "application/json", "<html>"));
    let checker = checker(&[], &stub.url("/dns.json"));
    let report = check(&checker, "example.com").await;
    assert_eq!(report.outcome, CheckOutcome::Error);
    assert!(report.detail.contains("bootstrap"), "{}", report.detail);
}

/// A stub serving `reply` for `domain`, and a checker pointed at it.
async fn stub_for(domain: &str, reply: Reply) -> (HttpStub, RdapChecker) {
    let stub = HttpStub::start().await;
    stub.set(&format!("/rdap/domain/{domain}"), reply);
    let base = Url::parse(&stub.url("/rdap")).unwrap();
    let tld = domain.rsplit('.').next().unwrap();
    let checker = checker(&[(tld, &base)], NO_BOOTSTRAP);
    (stub, checker)
}

#[tokio::test]
async fn a_404_that_is_not_an_rdap_error_object_is_inconclusive() {
    // A proxy's or a wrong base path's page, an empty 404, JSON that is not
    // an error object: none of them is the registry saying "not found".
    let replies = [
        Reply::json(
            404,
            "text/html",
            "<html><body><h1>NOT FOUND</h1></body></html>",
        ),
        Reply::new(404),
        Reply::json(404, "application/json", r#"{"message":"no route"}"#),
    ];
    for reply in replies {
        let (stub, checker) = stub_for("held-name.org", reply).await;
        let report = check(&checker, "held-name.org").await;
        assert_eq!(report.outcome, CheckOutcome::Inconclusive, "{report:?}");
        assert!(
            report.detail.contains("without an RDAP error object"),
            "{}",
            report.detail
        );
        assert_eq!(stub.hits("/rdap/domain/held-name.org"), 1);
    }
    let (_stub, checker) = stub_for(
        "free-name.org",
        Reply::json(404, RDAP_JSON, r#"{"errorCode":404,"title":"Not Found"}"#),
    )
    .await;
    let report = check(&checker, "free-name.org").await;
    assert_eq!(report.outcome, CheckOutcome::Available, "{report:?}");
    assert!(report.detail.contains("not in the registry database"));
}

#[tokio::test]
async fn not_found_from_a_registry_known_to_404_registered_names_is_weak() {
    let (_stub, checker) = stub_for(
        "taken-maybe.io",
        Reply::json(404, RDAP_JSON, r#"{"errorCode":404,"title":"Not Found"}"#),
    )
    .await;
    let report = check(&checker, "taken-maybe.io").await;
    assert_eq!(report.outcome, CheckOutcome::Available);
    assert_eq!(report.strength, Strength::Weak);
}

#[tokio::test]
async fn throttled_server_is_backed_off_for_its_retry_after() {
    let (stub, checker) = stub_for("busy.org", Reply::new(429).header("Retry-After", "120")).await;
    let first = check(&checker, "busy.org").await;
    assert_eq!(first.outcome, CheckOutcome::RateLimited, "{first:?}");
    assert_eq!(first.retry_after, Some(Duration::from_secs(120)));
    assert_eq!(stub.hits("/rdap/domain/busy.org"), 1);

    let second = check(&checker, "busy.org").await;
    assert_eq!(second.outcome, CheckOutcome::RateLimited, "{second:?}");
    assert!(second.detail.contains("backing off"), "{}", second.detail);
    let left = second.retry_after.unwrap();
    assert!(left > Duration::from_secs(100) && left <= Duration::from_secs(120));
    assert_eq!(
        stub.hits("/rdap/domain/busy.org"),
        1,
        "no request while backing off"
    );
}

#[tokio::test]
async fn quota_banners_and_throttle_statuses_are_rate_limits() {
    let cases = [
        (
            "quota.org",
            Reply::json(
                403,
                RDAP_JSON,
                r#"{"errorCode":403,"description":["Number of allowed queries exceeded"]}"#,
            ),
        ),
        ("fast.org", Reply::new(422).body("Your access is too fast")),
        (
            "banner.org",
            Reply::json(
                404,
                RDAP_JSON,
                r#"{"errorCode":404,"title":"Rate limit exceeded. Try again after: 60s"}"#,
            ),
        ),
    ];
    for (domain, reply) in cases {
        let (stub, checker) = stub_for(domain, reply).await;
        let report = check(&checker, domain).await;
        assert_eq!(
            report.outcome,
            CheckOutcome::RateLimited,
            "{domain}: {report:?}"
        );
        check(&checker, domain).await;
        assert_eq!(stub.hits(&format!("/rdap/domain/{domain}")), 1, "{domain}");
    }
}

#[tokio::test]
async fn bad_query_is_inconclusive() {
    let (_stub, checker) = stub_for(
        "odd.org",
        Reply::json(400, RDAP_JSON, r#"{"errorCode":400,"title":"Bad Request"}"#),
    )
    .await;
    let report = check(&checker, "odd.org").await;
    assert_eq!(report.outcome, CheckOutcome::Inconclusive);
    assert!(report.detail.contains("bad query"), "{}", report.detail);
}

#[tokio::test]
async fn garbage_and_oversized_answers_are_errors_never_available() {
    let (_stub, checker) = stub_for(
        "garbage.org",
        Reply::json(200, "text/html", "<html><body>maintenance</body></html>"),
    )
    .await;
    let report = check(&checker, "garbage.org").await;
    assert_eq!(report.outcome, CheckOutcome::Error);
    assert!(report.detail.contains("not JSON"), "{}", report.detail);

    let huge = format!(
        r#"{{"objectClassName":"domain","remarks":"{}"}}"#,
        "x".repeat(2 * 1024 * 1024)
    );
    // Refused on its declared length, and, without one, once reading passes the cap.
    for reply in [
        Reply::json(200, RDAP_JSON, huge.clone()),
        Reply::json(200, RDAP_JSON, huge).without_content_length(),
    ] {
        let (_stub, checker) = stub_for("huge.org", reply).await;
        let report = check(&checker, "huge.org").await;
        assert_eq!(report.outcome, CheckOutcome::Error);
        assert!(report.detail.contains("exceeds"), "{}", report.detail);
    }
}
