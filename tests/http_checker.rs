//! The http checker against a real nsd (names resolve through it) and an
//! [`HttpStub`] on 127.0.0.1 that counts connections and requests.

mod support;

use std::{sync::Arc, time::Duration};

use domain_monitor::{
    check::{
        CheckKind, CheckOutcome, Checker, Strength,
        http::{HttpChecker, Settings},
    },
    domain_name::DomainName,
    ratelimit::ServerBudgets,
};
use support::{
    closed_port,
    http_stub::{HttpStub, Reply},
    nsd::Nsd,
};

fn settings(nsd: &Nsd, web: &HttpStub, allow_private: bool) -> Settings {
    Settings {
        dns_servers: vec![nsd.addr()],
        timeout: Duration::from_secs(3),
        allow_private,
        rate_limit: support::rate_limit(1000),
        http_port: web.addr().port(),
        https_port: closed_port(),
    }
}

/// A stub answering `status` to every request for `/`.
async fn answering(status: u16) -> HttpStub {
    let web = HttpStub::start().await;
    web.set("/", Reply::new(status));
    web
}

fn domain(name: &str) -> DomainName {
    DomainName::parse(name).unwrap()
}

#[tokio::test]
async fn any_http_answer_is_weakly_registered() {
    let nsd = Nsd::standard();
    let web = answering(404).await;
    let checker = HttpChecker::new(settings(&nsd, &web, true)).unwrap();
    let report = checker.check(&domain("web.test")).await;
    assert_eq!(report.kind, CheckKind::Http);
    assert_eq!(report.outcome, CheckOutcome::Registered, "{report:?}");
    assert_eq!(report.strength, Strength::Weak);
    assert_eq!(
        report.detail,
        format!("HTTP 404 from http://web.test:{}/", web.addr().port())
    );
    assert_eq!(methods(&web), ["HEAD"]);
}

#[tokio::test]
async fn private_addresses_are_refused_without_contact() {
    let nsd = Nsd::standard();
    let web = answering(200).await;
    let checker = HttpChecker::new(settings(&nsd, &web, false)).unwrap();
    let report = checker.check(&domain("web.test")).await;
    assert_eq!(report.outcome, CheckOutcome::Inconclusive, "{report:?}");
    assert!(
        report.detail.contains("127.0.0.1") && report.detail.contains("loopback"),
        "{}",
        report.detail
    );
    assert_eq!(web.connections(), 0, "the server must not be contacted");
}

#[tokio::test]
async fn a_head_refused_or_broken_by_the_server_falls_back_to_get() {
    let nsd = Nsd::standard();
    for (case, to_head) in [
        ("405 to HEAD", Reply::new(405)),
        ("hang-up on HEAD", Reply::hang_up()),
    ] {
        let web = HttpStub::start().await;
        web.set_fn("/", move |request, _| {
            if request.method == "HEAD" {
                to_head.clone()
            } else {
                Reply::new(200)
            }
        });
        let checker = HttpChecker::new(settings(&nsd, &web, true)).unwrap();
        let report = checker.check(&domain("web.test")).await;
        assert_eq!(
            report.outcome,
            CheckOutcome::Registered,
            "{case}: {report:?}"
        );
        assert!(
            report.detail.starts_with("HTTP 200 "),
            "{case}: {}",
            report.detail
        );
        assert_eq!(methods(&web), ["HEAD", "GET"], "{case}");
    }
}

#[tokio::test]
async fn redirects_are_answers_and_are_not_followed() {
    let nsd = Nsd::standard();
    let elsewhere = HttpStub::start().await;
    elsewhere.set("/admin", Reply::new(200));
    let web = HttpStub::start().await;
    web.set(
        "/",
        Reply::new(302).header("Location", &elsewhere.url("/admin")),
    );
    let checker = HttpChecker::new(settings(&nsd, &web, true)).unwrap();
    let report = checker.check(&domain("redirect.test")).await;
    assert_eq!(report.outcome, CheckOutcome::Registered, "{report:?}");
    assert!(report.detail.starts_with("HTTP 302 "), "{}", report.detail);
    assert_eq!(elsewhere.connections(), 0, "the redirect was followed");
}

#[tokio::test]
async fn nxdomain_is_weakly_available() {
    let nsd = Nsd::standard();
    let web = answering(200).await;
    let checker = HttpChecker::new(settings(&nsd, &web, true)).unwrap();
    let report = checker.check(&domain("unregistered.test")).await;
    assert_eq!(report.outcome, CheckOutcome::Available, "{report:?}");
    assert_eq!(report.strength, Strength::Weak);
    assert!(report.detail.starts_with("no address"), "{}", report.detail);
    assert_eq!(web.connections(), 0);
}

#[tokio::test]
async fn nothing_listening_is_inconclusive() {
    let nsd = Nsd::standard();
    let web = answering(200).await;
    let mut settings = settings(&nsd, &web, true);
    settings.http_port = closed_port();
    let checker = HttpChecker::new(settings).unwrap();
    let report = checker.check(&domain("web.test")).await;
    assert_eq!(report.outcome, CheckOutcome::Inconclusive, "{report:?}");
    assert!(report.error.is_some());
}

#[tokio::test]
async fn a_host_backing_off_is_not_contacted() {
    let nsd = Nsd::standard();
    let web = answering(200).await;
    let settings = settings(&nsd, &web, true);
    let budgets = Arc::new(ServerBudgets::new("web host", settings.rate_limit));
    budgets.back_off("web.test", Some(Duration::from_secs(30)));
    let checker = HttpChecker::with_budgets(settings, budgets).unwrap();
    let report = checker.check(&domain("web.test")).await;
    assert_eq!(report.outcome, CheckOutcome::RateLimited, "{report:?}");
    assert_eq!(web.connections(), 0);
}

/// The methods of the requests `web` received, in order.
fn methods(web: &HttpStub) -> Vec<String> {
    web.all_requests().into_iter().map(|r| r.method).collect()
}
