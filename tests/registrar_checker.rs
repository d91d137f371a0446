//! The registrar API checker against a real HTTP server on loopback, with
//! settings parsed from the command line as the binary parses them.

mod support;

use std::time::Duration;

use domain_monitor::{
    check::{
        CheckOutcome, CheckReport, Checker, Strength,
        registrar::{RegistrarChecker, Settings},
    },
    config::{CheckerArgs, Cli, Command},
    domain_name::DomainName,
};
use serde_json::json;
use support::http_stub::{HttpStub, Reply};

const KEY: &str = "dm-test-key-3f9a1c";
const SECRET: &str = "dm-test-secret-77b2e0";

fn checker_args(flags: &[&str]) -> CheckerArgs {
    let mut argv = vec!["domain-monitor", "check", "example.com"];
    argv.extend_from_slice(flags);
    match Cli::from_args(argv).expect("flags parse").command {
        Command::Check(check) => check.checks,
        _ => unreachable!("the check subcommand was given"),
    }
}

fn settings(flags: &[&str]) -> Settings {
    Settings::from_args(&checker_args(flags)).expect("valid registrar settings")
}

/// A registrar API on loopback answering `routes` (request target, path and
/// query, → answer); other targets get 404.
async fn registrar<T: AsRef<str>>(routes: impl IntoIterator<Item = (T, Reply)>) -> HttpStub {
    let stub = HttpStub::start().await;
    for (target, reply) in routes {
        stub.set(target.as_ref(), reply);
    }
    stub
}

/// A JSON answer with `status`.
fn answer(status: u16, body: serde_json::Value) -> Reply {
    Reply::json(status, "application/json", body.to_string())
}

fn godaddy(stub: &HttpStub) -> RegistrarChecker {
    RegistrarChecker::new(settings(&[
        "--registrar-provider=godaddy",
        &format!("--registrar-api-url={}", stub.url("")),
        &format!("--registrar-api-key={KEY}"),
        &format!("--registrar-api-secret={SECRET}"),
        "--registrar-rate-limit=100/s",
    ]))
    .expect("checker")
}

async fn check(checker: &RegistrarChecker, domain: &str) -> CheckReport {
    checker.check(&DomainName::parse(domain).unwrap()).await
}

fn godaddy_target(domain: &str) -> String {
    format!("/v1/domains/available?domain={domain}&checkType=FAST")
}

fn assert_no_credentials(report: &CheckReport) {
    let printed = format!("{report:?} {}", serde_json::to_string(report).unwrap());
    assert!(!printed.contains(KEY), "key leaked: {printed}");
    assert!(!printed.contains(SECRET), "secret leaked: {printed}");
}

#[tokio::test]
async fn godaddy_availability_answers() {
    let stub = registrar([
        (
            godaddy_target("free-name.com"),
            answer(
                200,
                json!({"available": true, "domain": "free-name.com", "definitive": true,
                       "price": 11_990_000, "currency": "USD", "period": 1}),
            ),
        ),
        (
            godaddy_target("taken.com"),
            answer(200, json!({"available": false, "domain": "taken.com", "definitive": true})),
        ),
        (
            godaddy_target("cached.com"),
            answer(200, json!({"available": true, "domain": "cached.com", "definitive": false})),
        ),
        (
            godaddy_target("premium.com"),
            answer(200, json!({"available": true, "domain": "premium.com", "definitive": true, "premium": true})),
        ),
        (
            godaddy_target("name.unsupported"),
            answer(422, json!({"code": "UNSUPPORTED_TLD", "message": "TLD not supported"})),
        ),
        (
            godaddy_target("broken.com"),
            answer(503, json!({"code": "SERVICE_UNAVAILABLE"})),
        ),
    ])
    .await;
    let checker = godaddy(&stub);

    let free = check(&checker, "free-name.com").await;
    assert_eq!(free.outcome, CheckOutcome::Available, "{free:?}");
    assert_eq!(free.strength, Strength::Strong);
    assert!(free.detail.contains("11.99 USD"), "{}", free.detail);
    assert_eq!(free.server, Some(stub.url("")));

    let taken = check(&checker, "taken.com").await;
    assert_eq!(taken.outcome, CheckOutcome::Registered, "{taken:?}");
    let cached = check(&checker, "cached.com").await;
    assert_eq!(cached.outcome, CheckOutcome::Available);
    assert_eq!(cached.strength, Strength::Weak, "definitive=false is weak");
    let premium = check(&checker, "premium.com").await;
    assert_eq!(premium.outcome, CheckOutcome::Reserved, "{premium:?}");
    let unsupported = check(&checker, "name.unsupported").await;
    assert_eq!(
        unsupported.outcome,
        CheckOutcome::Inconclusive,
        "{unsupported:?}"
    );
    assert!(unsupported.detail.contains("HTTP 422 UNSUPPORTED_TLD"));
    let broken = check(&checker, "broken.com").await;
    assert_eq!(broken.outcome, CheckOutcome::Error, "{broken:?}");

    let request = &stub.all_requests()[0];
    assert_eq!(request.target, godaddy_target("free-name.com"));
    assert_eq!(
        request.header("authorization"),
        Some(format!("sso-key {KEY}:{SECRET}").as_str())
    );
    for report in [free, taken, cached, premium, unsupported, broken] {
        assert_no_credentials(&report);
    }
}

#[tokio::test]
async fn godaddy_429_backs_off_without_asking_again() {
    let stub = registrar([(
        godaddy_target("busy.com"),
        answer(
            429,
            json!({"code": "TOO_MANY_REQUESTS", "retryAfterSec": 120}),
        )
        .header("Retry-After", "120"),
    )])
    .await;
    let checker = godaddy(&stub);
    let first = check(&checker, "busy.com").await;
    assert_eq!(first.outcome, CheckOutcome::RateLimited, "{first:?}");
    assert_eq!(first.retry_after, Some(Duration::from_secs(120)));
    let second = check(&checker, "other.com").await;
    assert_eq!(second.outcome, CheckOutcome::RateLimited, "{second:?}");
    assert!(second.detail.contains("backing off"), "{}", second.detail);
    assert_eq!(
        stub.all_requests().len(),
        1,
        "a backed-off API was asked again"
    );
}

#[tokio::test]
async fn rejected_credentials_are_an_error_that_never_shows_them() {
    let stub = registrar([
        (
            godaddy_target("example.com"),
            answer(
                401,
                json!({"code": "UNABLE_TO_AUTHENTICATE", "message": format!("bad key {KEY}:{SECRET}")}),
            ),
        ),
        // An API that echoes the credential back must not get it into reports.
        (
            godaddy_target("echo.com"),
            answer(400, json!({"code": KEY})),
        ),
    ])
    .await;
    let checker = godaddy(&stub);
    let report = check(&checker, "example.com").await;
    assert_eq!(report.outcome, CheckOutcome::Error, "{report:?}");
    assert!(
        report
            .detail
            .contains("rejected the credentials (HTTP 401)")
    );
    assert!(
        report
            .error
            .as_deref()
            .unwrap()
            .contains("REGISTRAR_API_SECRET")
    );
    assert_no_credentials(&report);
    let echo = check(&checker, "echo.com").await;
    assert_eq!(echo.outcome, CheckOutcome::Inconclusive, "{echo:?}");
    assert!(
        echo.detail.contains("HTTP 400 <redacted>"),
        "{}",
        echo.detail
    );
    assert_no_credentials(&echo);
    let settings = settings(&[
        "--registrar-provider=godaddy",
        &format!("--registrar-api-key={KEY}"),
        &format!("--registrar-api-secret={SECRET}"),
    ]);
    let printed = format!("{settings:?} {checker:?}");
    assert!(
        !printed.contains(KEY) && !printed.contains(SECRET),
        "{printed}"
    );
}

#[tokio::test]
async fn generic_provider_follows_its_pointers_and_sends_its_key() {
    let stub = registrar([
        (
            "/api/check?name=free-name.io",
            answer(200, json!({"data": {"is_free": true, "premium": false}})),
        ),
        (
            "/api/check?name=shop.io",
            answer(200, json!({"data": {"is_free": true, "premium": true}})),
        ),
        (
            "/api/check?name=taken.io",
            answer(200, json!({"data": {"is_free": false}})),
        ),
        (
            "/api/check?name=odd.io",
            answer(200, json!({"data": {"status": "unknown"}})),
        ),
    ])
    .await;
    let checker = RegistrarChecker::new(settings(&[
        "--registrar-provider=generic",
        &format!(
            "--registrar-api-url={}/api/check?name={{domain}}",
            stub.url("")
        ),
        &format!("--registrar-api-key={KEY}"),
        "--registrar-api-key-header=X-Api-Key",
        "--registrar-available-pointer=/data/is_free",
        "--registrar-reserved-pointer=/data/premium",
        "--registrar-rate-limit=100/s",
    ]))
    .unwrap();
    let expectations = [
        ("free-name.io", CheckOutcome::Available),
        ("shop.io", CheckOutcome::Reserved),
        ("taken.io", CheckOutcome::Registered),
        ("odd.io", CheckOutcome::Inconclusive),
    ];
    for (domain, outcome) in expectations {
        let report = check(&checker, domain).await;
        assert_eq!(report.outcome, outcome, "{domain}: {report:?}");
        assert_no_credentials(&report);
    }
    let requests = stub.all_requests();
    assert_eq!(requests[0].header("x-api-key"), Some(KEY));
    assert_eq!(requests[0].header("authorization"), None);
}

#[tokio::test]
async fn generic_provider_sends_a_bearer_token_and_honours_the_timeout() {
    let stub = registrar([
        ("/v2/free-name.dev", answer(200, json!({"available": true}))),
        (
            "/v2/slow.dev",
            answer(200, json!({"available": true})).delay(Duration::from_secs(3)),
        ),
    ])
    .await;
    let checker = RegistrarChecker::new(settings(&[
        "--registrar-provider=generic",
        &format!("--registrar-api-url={}/v2/{{domain}}", stub.url("")),
        &format!("--registrar-api-key={KEY}"),
        "--registrar-timeout=300ms",
    ]))
    .unwrap();
    let free = check(&checker, "free-name.dev").await;
    assert_eq!(free.outcome, CheckOutcome::Available, "{free:?}");
    assert_eq!(
        stub.all_requests()[0].header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    let started = std::time::Instant::now();
    let slow = check(&checker, "slow.dev").await;
    assert_eq!(slow.outcome, CheckOutcome::Error, "{slow:?}");
    assert!(
        slow.detail.contains("did not answer within 300ms"),
        "{}",
        slow.detail
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn unconfigured_checker_is_skipped() {
    let settings = settings(&[]);
    assert!(!settings.enabled());
    let checker = RegistrarChecker::new(settings).unwrap();
    let report = check(&checker, "example.com").await;
    assert_eq!(report.outcome, CheckOutcome::Skipped);
    assert_eq!(report.detail, "no registrar API configured");
}

#[test]
fn inconsistent_settings_are_refused_with_the_variable_named() {
    let key = format!("--registrar-api-key={KEY}");
    let secret = format!("--registrar-api-secret={SECRET}");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--registrar-provider=godaddy", &secret],
            "needs REGISTRAR_API_KEY",
        ),
        (
            vec!["--registrar-provider=godaddy", &key],
            "needs REGISTRAR_API_SECRET",
        ),
        (
            vec!["--registrar-provider=generic"],
            "needs REGISTRAR_API_URL",
        ),
        (
            vec![
                "--registrar-provider=generic",
                "--registrar-api-url=https://api.example/check",
            ],
            "no {domain} placeholder",
        ),
        (
            vec![
                "--registrar-provider=generic",
                "--registrar-api-url=ftp://x/{domain}",
            ],
            "not an absolute http:// or https:// URL",
        ),
        (
            vec![
                "--registrar-provider=generic",
                "--registrar-api-url=https://api.example/{domain}",
                "--registrar-available-pointer=available",
            ],
            "REGISTRAR_AVAILABLE_POINTER",
        ),
        (
            vec![
                "--registrar-provider=generic",
                "--registrar-api-url=https://api.example/{domain}",
                &secret,
            ],
            "REGISTRAR_API_SECRET is set but REGISTRAR_PROVIDER=generic does not use it",
        ),
        (
            vec![&key],
            "REGISTRAR_API_KEY is set but REGISTRAR_PROVIDER=none",
        ),
    ];
    for (flags, expected) in cases {
        let error = Settings::from_args(&checker_args(&flags))
            .expect_err(expected)
            .to_string();
        assert!(error.contains(expected), "{flags:?}: {error}");
        assert!(!error.contains(KEY) && !error.contains(SECRET), "{error}");
    }
    assert!(settings(&["--registrar-provider=godaddy", &key, &secret]).enabled());
}
