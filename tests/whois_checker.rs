//! The WHOIS checker against real WHOIS servers on loopback.

mod support;

use std::{collections::BTreeMap, time::Duration};

use domain_monitor::{
    check::{
        CheckOutcome, CheckReport, Checker, Strength,
        whois::{MAX_ANSWER_BYTES, Settings, WhoisChecker},
    },
    config::HostPort,
    domain_name::DomainName,
};
use jiff::Timestamp;
use support::whois_server::{Reply, WhoisServer};

/// A referral server nobody should reach in tests that use overrides.
fn unreachable_referral() -> HostPort {
    HostPort {
        host: "127.0.0.1".to_owned(),
        port: 9,
    }
}

fn settings(referral: HostPort, overrides: &[(&str, HostPort)], timeout: Duration) -> Settings {
    Settings {
        referral_server: referral,
        overrides: overrides
            .iter()
            .map(|(tld, server)| ((*tld).to_owned(), server.clone()))
            .collect::<BTreeMap<_, _>>(),
        timeout,
        rate_limit: support::rate_limit(1000),
    }
}

/// A checker sending every listed TLD to `server`.
fn checker_for(server: &WhoisServer, tlds: &[&str]) -> WhoisChecker {
    let overrides: Vec<_> = tlds.iter().map(|t| (*t, server.host_port())).collect();
    WhoisChecker::new(settings(
        unreachable_referral(),
        &overrides,
        Duration::from_secs(2),
    ))
}

async fn check(checker: &WhoisChecker, domain: &str) -> CheckReport {
    checker.check(&DomainName::parse(domain).unwrap()).await
}

fn ts(raw: &str) -> Timestamp {
    raw.parse().unwrap()
}

/// An ICANN-format (RDDS) registry record.
fn icann_record(domain: &str, registrar: &str, status: &str) -> String {
    let upper = domain.to_ascii_uppercase();
    format!(
        "   Domain Name: {upper}\r\n   Registry Domain ID: 1234_DOMAIN-EXAMPLE\r\n\
         \x20  Registrar URL: http://registrar.example\r\n\
         \x20  Updated Date: 2025-06-01T10:00:00Z\r\n\
         \x20  Creation Date: 2001-02-03T04:05:06Z\r\n\
         \x20  Registry Expiry Date: 2027-02-03T04:05:06Z\r\n\
         \x20  Registrar: {registrar}\r\n   Registrar IANA ID: 9999\r\n\
         \x20  Registrar Abuse Contact Email:\r\n\
         \x20  Domain Status: {status} https://icann.org/epp#{status}\r\n\
         \x20  Name Server: NS1.{upper}\r\n   Name Server: NS2.{upper}\r\n\
         \x20  DNSSEC: unsigned\r\n\
         >>> Last update of whois database: 2026-01-01T00:00:00Z <<<\r\n\r\n\
         For more information on Whois status codes, please visit https://icann.org/epp\r\n\r\n\
         Terms of Use: access to this service is rate limited; data is provided for\r\n\
         information purposes only.\r\n"
    )
}

/// One TLD's free and registered answers, in the registry's own layout.
struct TldCase {
    tld: &'static str,
    /// Query line for `free-name.<tld>` (the registry's query format).
    free_query: String,
    free_answer: String,
    free_strength: Strength,
    taken: &'static str,
    taken_query: String,
    taken_answer: String,
    registrar: Option<&'static str>,
    created: Option<&'static str>,
    expires: Option<&'static str>,
    status: Option<&'static str>,
    nameserver: &'static str,
}

fn tld_cases() -> Vec<TldCase> {
    let icann = |tld: &'static str, free_answer: &str, free_strength| {
        let taken: &'static str = Box::leak(format!("taken.{tld}").into_boxed_str());
        let nameserver: &'static str = Box::leak(format!("ns1.taken.{tld}").into_boxed_str());
        TldCase {
            tld,
            free_query: format!("free-name.{tld}"),
            free_answer: free_answer.replace("{D}", &format!("FREE-NAME.{}", tld.to_uppercase())),
            free_strength,
            taken,
            taken_query: taken.to_owned(),
            taken_answer: icann_record(taken, "Example Registrar, LLC", "clientHold"),
            registrar: Some("Example Registrar, LLC"),
            created: Some("2001-02-03T04:05:06Z"),
            expires: Some("2027-02-03T04:05:06Z"),
            status: Some("clientHold"),
            nameserver,
        }
    };
    let verisign_free = "No match for \"{D}\".\r\n>>> Last update of whois database: 2026-01-01T00:00:00Z <<<\r\n\r\n\
        NOTICE: The expiration date displayed in this record is the date the\r\nregistrar's sponsorship \
        of the domain name registration in the registry is\r\ncurrently set to expire.\r\n";
    let not_found = "Domain not found.\r\n>>> Last update of WHOIS database: 2026-01-01T00:00:00Z <<<\r\n\r\n\
        Terms of Use: Access to WHOIS information is provided to assist persons in\r\ndetermining the contents \
        of a domain name registration record.\r\n";
    let centralnic = "The queried object does not exist: DOMAIN NOT FOUND\r\n";
    let mut cases = vec![
        icann("com", verisign_free, Strength::Strong),
        icann("net", verisign_free, Strength::Strong),
        icann("org", not_found, Strength::Strong),
        // Identity Digital's bare answer: also what it says when throttling.
        icann("info", "NOT FOUND\r\n", Strength::Weak),
        icann("io", not_found, Strength::Strong),
        icann("co", centralnic, Strength::Strong),
        icann("xyz", centralnic, Strength::Strong),
        icann("dev", not_found, Strength::Strong),
        icann("app", not_found, Strength::Strong),
        icann("nz", "query_status: 220 Available\r\n", Strength::Strong),
    ];
    cases.push(TldCase {
        tld: "de",
        free_query: "-T dn,ace free-name.de".to_owned(),
        free_answer: "Domain: free-name.de\nStatus: free\n".to_owned(),
        free_strength: Strength::Strong,
        taken: "taken.de",
        taken_query: "-T dn,ace taken.de".to_owned(),
        taken_answer:
            "% Restricted rights.\n%\n% Terms and Conditions of Use\n\nDomain: taken.de\n\
            Nserver: ns1.taken.de\nNserver: ns2.taken.de\nStatus: connect\n\
            Changed: 2025-03-12T21:44:25+01:00\n"
                .to_owned(),
        registrar: None,
        created: None,
        expires: None,
        status: Some("connect"),
        nameserver: "ns1.taken.de",
    });
    cases.push(TldCase {
        tld: "uk",
        free_query: "free-name.co.uk".to_owned(),
        free_answer: "\n    No match for \"free-name.co.uk\".\n\n    This domain name has not been registered.\n\n    \
            WHOIS lookup made at 12:00:00 01-Jan-2026\n"
            .to_owned(),
        free_strength: Strength::Strong,
        taken: "taken.co.uk",
        taken_query: "taken.co.uk".to_owned(),
        taken_answer: "\n    Domain name:\n        taken.co.uk\n\n    Registrar:\n        \
            Example Registrar Ltd [Tag = EXAMPLE]\n        URL: https://registrar.example\n\n    \
            Relevant dates:\n        Registered on: 26-Aug-1996\n        Expiry date:  26-Aug-2027\n        \
            Last updated:  01-Mar-2025\n\n    Registration status:\n        Registered until expiry date.\n\n    \
            Name servers:\n        ns1.taken.co.uk\n        ns2.taken.co.uk\n\n    \
            WHOIS lookup made at 12:00:00 01-Jan-2026\n"
            .to_owned(),
        registrar: Some("Example Registrar Ltd [Tag = EXAMPLE]"),
        created: Some("1996-08-26T00:00:00Z"),
        expires: Some("2027-08-26T00:00:00Z"),
        status: None,
        nameserver: "ns1.taken.co.uk",
    });
    cases.push(TldCase {
        tld: "eu",
        free_query: "free-name.eu".to_owned(),
        free_answer: "% The WHOIS service offered by EURid is for information only.\n\n\
            Domain: free-name.eu\nScript: LATIN\n\nStatus: AVAILABLE\n"
            .to_owned(),
        free_strength: Strength::Strong,
        taken: "taken.eu",
        taken_query: "taken.eu".to_owned(),
        taken_answer: "% The WHOIS service offered by EURid is for information only.\n\n\
            Domain: taken.eu\nScript: LATIN\n\nRegistrant:\n        NOT DISCLOSED!\n\n\
            Technical:\n        Organisation: Example Tech BV\n\n\
            Registrar:\n        Name: Example Registrar BV\n        Website: https://registrar.example\n\n\
            Name servers:\n        ns1.taken.eu\n        ns2.taken.eu\n\n"
            .to_owned(),
        registrar: Some("Example Registrar BV"),
        created: None,
        expires: None,
        status: None,
        nameserver: "ns1.taken.eu",
    });
    cases.push(TldCase {
        tld: "nl",
        free_query: "free-name.nl".to_owned(),
        free_answer: "free-name.nl is free\n".to_owned(),
        free_strength: Strength::Strong,
        taken: "taken.nl",
        taken_query: "taken.nl".to_owned(),
        taken_answer: "Domain name: taken.nl\nStatus:      active\n\nRegistrar:\n   Example Registrar B.V.\n   \
            Street 1\n   1234AB Amsterdam\n\nDNSSEC:      no\n\nDomain nameservers:\n   ns1.taken.nl\n   \
            ns2.taken.nl\n\nCreation Date: 2001-01-01\n\nUpdated Date: 2025-01-01\n"
            .to_owned(),
        registrar: Some("Example Registrar B.V."),
        created: Some("2001-01-01T00:00:00Z"),
        expires: None,
        status: Some("active"),
        nameserver: "ns1.taken.nl",
    });
    cases.push(TldCase {
        tld: "it",
        free_query: "free-name.it".to_owned(),
        free_answer: "Domain:             free-name.it\nStatus:             AVAILABLE\n".to_owned(),
        free_strength: Strength::Strong,
        taken: "taken.it",
        taken_query: "taken.it".to_owned(),
        taken_answer: "Domain:             taken.it\nStatus:             ok\nSigned:             no\n\
            Created:            1999-12-10 00:00:00\nLast Update:        2025-01-20 00:54:29\n\
            Expire Date:        2027-01-04\n\nRegistrant\n  Organization:     Example S.p.A.\n  \
            Created:          2007-03-01 10:28:27\n\nRegistrar\n  Organization:     Example S.r.l.\n  \
            Name:             EXAMPLE-REG\n\nNameservers\n  ns1.taken.it\n  ns2.taken.it\n"
            .to_owned(),
        registrar: Some("Example S.r.l."),
        created: Some("1999-12-10T00:00:00Z"),
        expires: Some("2027-01-04T00:00:00Z"),
        status: Some("ok"),
        nameserver: "ns1.taken.it",
    });
    cases.push(TldCase {
        tld: "jp",
        free_query: "free-name.jp/e".to_owned(),
        free_answer: "[ JPRS database provides information on network administration. Its use is    ]\n\
            [ restricted to network administration purposes.                              ]\n\nNo match!!\n"
            .to_owned(),
        free_strength: Strength::Strong,
        taken: "taken.jp",
        taken_query: "taken.jp/e".to_owned(),
        taken_answer: "[ JPRS database provides information on network administration. ]\n\n\
            Domain Information:\na. [Domain Name]                TAKEN.JP\n\
            g. [Organization]               Example K.K.\n\
            p. [Name Server]                ns1.taken.jp\np. [Name Server]                ns2.taken.jp\n\
            [State]                         Connected (2027/03/31)\n\
            [Registered Date]               2001/03/12\n\
            [Last Update]                   2025/04/01 01:05:03 (JST)\n"
            .to_owned(),
        registrar: None,
        created: Some("2001-03-12T00:00:00Z"),
        expires: None,
        status: Some("connected"),
        nameserver: "ns1.taken.jp",
    });
    cases
}

#[tokio::test]
async fn every_tld_in_the_table_reads_free_and_registered_answers() {
    let cases = tld_cases();
    let replies = cases.iter().flat_map(|c| {
        [
            (c.free_query.clone(), Reply::text(c.free_answer.clone())),
            (c.taken_query.clone(), Reply::text(c.taken_answer.clone())),
        ]
    });
    let server = WhoisServer::start(replies).await;
    let tlds: Vec<&str> = cases.iter().map(|c| c.tld).collect();
    let checker = checker_for(&server, &tlds);

    for case in &cases {
        let tld = case.tld;
        let free_domain = if tld == "uk" {
            "free-name.co.uk".to_owned()
        } else {
            format!("free-name.{tld}")
        };
        let free = check(&checker, &free_domain).await;
        assert_eq!(free.outcome, CheckOutcome::Available, ".{tld}: {free:?}");
        assert_eq!(free.strength, case.free_strength, ".{tld}: {free:?}");
        assert_eq!(free.server, Some(server.host_port().to_string()));

        let taken = check(&checker, case.taken).await;
        assert_eq!(taken.outcome, CheckOutcome::Registered, ".{tld}: {taken:?}");
        let facts = taken.registration.expect("registration facts");
        assert_eq!(facts.registrar.as_deref(), case.registrar, ".{tld}");
        assert_eq!(facts.created, case.created.map(ts), ".{tld}");
        assert_eq!(facts.expires, case.expires.map(ts), ".{tld}");
        if let Some(status) = case.status {
            assert!(facts.has_status(status), ".{tld}: {:?}", facts.statuses);
        }
        assert!(
            facts.nameservers.iter().any(|ns| ns == case.nameserver),
            ".{tld}: {:?}",
            facts.nameservers
        );
    }
    // The registry-specific query formats were used (unknown queries would
    // have been answered "% unknown query" and failed above).
    let queries = server.queries();
    assert!(queries.contains(&"-T dn,ace free-name.de".to_owned()));
    assert!(queries.contains(&"taken.jp/e".to_owned()));
}

#[tokio::test]
async fn throttled_not_found_is_rate_limited_and_the_server_is_left_alone() {
    let server = WhoisServer::start([
        (
            "free-name.org",
            Reply::text(
                "WHOIS LIMIT EXCEEDED - SEE WWW.PIR.ORG/WHOIS FOR DETAILS\r\nNOT FOUND\r\n",
            ),
        ),
        ("other.org", Reply::text("Domain not found.\r\n")),
    ])
    .await;
    let checker = checker_for(&server, &["org"]);

    let first = check(&checker, "free-name.org").await;
    assert_eq!(first.outcome, CheckOutcome::RateLimited, "{first:?}");
    assert_eq!(first.retry_after, Some(Duration::from_secs(30)));
    assert!(
        first.detail.contains("WHOIS LIMIT EXCEEDED"),
        "{}",
        first.detail
    );
    assert_eq!(server.connections(), 1);

    // Backing off: the next check reports RateLimited without connecting.
    let second = check(&checker, "other.org").await;
    assert_eq!(second.outcome, CheckOutcome::RateLimited, "{second:?}");
    assert!(second.detail.contains("backing off"), "{}", second.detail);
    assert_eq!(server.connections(), 1, "a backed-off server was contacted");
}

#[tokio::test]
async fn quota_banners_are_rate_limited_with_the_retry_time_they_give() {
    let retry_at = Timestamp::now() + jiff::SignedDuration::from_secs(120);
    let retry_at = retry_at.strftime("%Y-%m-%d %H:%M:%S").to_string();
    let banners = [
        "Number of allowed queries exceeded.\r\nNOT FOUND\r\n".to_owned(),
        "Your access is too fast, please try again later.\r\n".to_owned(),
        "Quota exceeded\r\n".to_owned(),
        "%% Lookup quota exceeded\r\nNo match for \"FREE-NAME.COM\".\r\n".to_owned(),
        "%% Error: excessive querying, access suspended\r\n".to_owned(),
        format!("Rate limit exceeded. Try again after: {retry_at}\r\n"),
    ];
    for banner in banners {
        let server = WhoisServer::start([("free-name.com", Reply::text(banner.clone()))]).await;
        let checker = checker_for(&server, &["com"]);
        let report = check(&checker, "free-name.com").await;
        assert_eq!(
            report.outcome,
            CheckOutcome::RateLimited,
            "{banner}: {report:?}"
        );
        if banner.starts_with("Rate limit") {
            let wait = report.retry_after.expect("retry time parsed");
            assert!(
                (Duration::from_secs(115)..=Duration::from_secs(120)).contains(&wait),
                "{wait:?}"
            );
        }
        let again = check(&checker, "free-name.com").await;
        assert_eq!(again.outcome, CheckOutcome::RateLimited);
        assert_eq!(server.connections(), 1, "{banner}");
    }
}

#[tokio::test]
async fn reserved_premium_and_blocked_answers_are_reserved() {
    let server = WhoisServer::start([
        ("-T dn,ace a.de", Reply::text("Domain: a.de\nStatus: invalid\n")),
        (
            "rsv.xyz",
            Reply::text("The queried object does not exist: Reserved by the registry\r\n"),
        ),
        (
            "shop.app",
            Reply::text("This is a premium domain. Domain not found.\r\n"),
        ),
        ("repubblica.it", Reply::text("Domain: repubblica.it\nStatus: UNASSIGNABLE\n")),
        (
            "brand.org",
            Reply::text("This name is reserved by the Registry in accordance with ICANN Policy.\r\n"),
        ),
        (
            "brand.eu",
            Reply::text("Domain: brand.eu\nStatus: NOT ALLOWED\n"),
        ),
        (
            "brand.example",
            Reply::text(
                "The registration of this domain is restricted, as it is protected by the DPML Brand Protection policy.\r\n",
            ),
        ),
    ])
    .await;
    let checker = checker_for(&server, &["de", "xyz", "app", "it", "org", "eu", "example"]);
    for domain in [
        "a.de",
        "rsv.xyz",
        "shop.app",
        "repubblica.it",
        "brand.org",
        "brand.eu",
        "brand.example",
    ] {
        let report = check(&checker, domain).await;
        assert_eq!(
            report.outcome,
            CheckOutcome::Reserved,
            "{domain}: {report:?}"
        );
    }
}

#[tokio::test]
async fn broken_answers_are_never_available() {
    let not_found = b"No match for \"FREE-NAME.COM\".\r\n".to_vec();
    let oversize: Vec<u8> = not_found
        .iter()
        .copied()
        .cycle()
        .take(MAX_ANSWER_BYTES + 64 * 1024)
        .collect();
    let junk: Vec<u8> = (0..4096_u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let server = WhoisServer::start([
        ("empty.com", Reply::Close),
        ("truncated.com", Reply::text("No mat")),
        (
            "truncated-record.com",
            Reply::text("   Domain Name: TRUNCATED-RECORD.COM\r\n   Registry Do"),
        ),
        ("junk.com", Reply::Answer(junk)),
        ("reset.com", Reply::ResetAfter(not_found.clone())),
        ("oversize.com", Reply::Answer(oversize)),
        (
            "slow.com",
            Reply::Drip {
                bytes: not_found,
                every: Duration::from_millis(100),
            },
        ),
    ])
    .await;
    let checker = WhoisChecker::new(settings(
        unreachable_referral(),
        &[("com", server.host_port())],
        Duration::from_millis(600),
    ));
    let expectations = [
        ("empty.com", CheckOutcome::Inconclusive, "empty answer"),
        (
            "truncated.com",
            CheckOutcome::Inconclusive,
            "matched no known wording",
        ),
        (
            "truncated-record.com",
            CheckOutcome::Inconclusive,
            "matched no known wording",
        ),
        (
            "junk.com",
            CheckOutcome::Inconclusive,
            "matched no known wording",
        ),
        ("reset.com", CheckOutcome::Error, "exchange with"),
        ("oversize.com", CheckOutcome::Error, "answer too large"),
        (
            "slow.com",
            CheckOutcome::Error,
            "did not finish its answer within 600ms",
        ),
    ];
    for (domain, outcome, detail) in expectations {
        let started = std::time::Instant::now();
        let report = check(&checker, domain).await;
        assert_ne!(report.outcome, CheckOutcome::Available, "{domain}");
        assert_eq!(report.outcome, outcome, "{domain}: {report:?}");
        assert!(
            report.detail.contains(detail),
            "{domain}: {}",
            report.detail
        );
        assert!(
            started.elapsed() < Duration::from_millis(1500),
            "{domain} took {:?}: the time cap did not hold",
            started.elapsed()
        );
    }
}

#[tokio::test]
async fn unreachable_server_is_an_error() {
    let checker = WhoisChecker::new(settings(
        unreachable_referral(),
        &[("com", unreachable_referral())],
        Duration::from_secs(2),
    ));
    let report = check(&checker, "example.com").await;
    assert_eq!(report.outcome, CheckOutcome::Error);
    assert!(
        report
            .detail
            .contains("cannot connect to WHOIS server 127.0.0.1:9")
    );
}

#[tokio::test]
async fn iana_referral_finds_and_caches_each_tlds_server() {
    let registry = WhoisServer::start([
        (
            "free-name.com",
            Reply::text("No match for \"FREE-NAME.COM\".\r\n"),
        ),
        (
            "taken.com",
            Reply::text(icann_record("taken.com", "Example Registrar, LLC", "ok")),
        ),
    ])
    .await;
    let referral =
        WhoisServer::referral(&[("com", Some(registry.host_port())), ("nowhois", None)]).await;
    let checker = WhoisChecker::new(settings(referral.host_port(), &[], Duration::from_secs(2)));

    let free = check(&checker, "free-name.com").await;
    assert_eq!(free.outcome, CheckOutcome::Available, "{free:?}");
    assert_eq!(free.server, Some(registry.host_port().to_string()));
    let taken = check(&checker, "taken.com").await;
    assert_eq!(taken.outcome, CheckOutcome::Registered, "{taken:?}");
    assert_eq!(registry.queries(), ["free-name.com", "taken.com"]);
    assert_eq!(
        referral.queries(),
        ["com"],
        "the referral is cached per TLD"
    );

    let none = check(&checker, "name.nowhois").await;
    assert_eq!(none.outcome, CheckOutcome::Inconclusive, "{none:?}");
    assert!(
        none.detail.contains("no WHOIS server for .nowhois"),
        "{}",
        none.detail
    );
    let unknown = check(&checker, "name.unlisted").await;
    assert_eq!(unknown.outcome, CheckOutcome::Inconclusive, "{unknown:?}");
    assert!(unknown.detail.contains("no WHOIS server for .unlisted"));

    // Overrides win over the referral.
    let override_server =
        WhoisServer::start([("free-name.com", Reply::text("NOT FOUND\r\n"))]).await;
    let checker = WhoisChecker::new(settings(
        referral.host_port(),
        &[("com", override_server.host_port())],
        Duration::from_secs(2),
    ));
    let report = check(&checker, "free-name.com").await;
    assert_eq!(report.server, Some(override_server.host_port().to_string()));
    assert_eq!(referral.connections(), 3, "overrides need no referral");
}

#[tokio::test]
async fn thin_registry_asks_the_registrar_for_details() {
    let registrar_record = "Domain Name: taken.com\r\nRegistrar WHOIS Server: whois.registrar.example\r\n\
        Creation Date: 2001-02-03T04:05:06Z\r\n\
        Registrar Registration Expiration Date: 2027-02-03T04:05:06Z\r\n\
        Registrar: Example Registrar, LLC\r\nName Server: ns1.taken.com\r\nName Server: ns2.taken.com\r\n";
    let registrar = WhoisServer::start([
        ("taken.com", Reply::text(registrar_record)),
        ("broken.com", Reply::ResetAfter(Vec::new())),
    ])
    .await;
    let registry_record = |domain: &str| {
        format!(
            "   Domain Name: {}\r\n   Registrar WHOIS Server: {}\r\n\
             \x20  Updated Date: 2025-06-01T10:00:00Z\r\n\
             \x20  Registry Expiry Date: 2027-02-03T04:05:06Z\r\n\
             \x20  Registrar: EXAMPLE REGISTRAR LLC\r\n\
             \x20  Domain Status: clientTransferProhibited https://icann.org/epp#clientTransferProhibited\r\n",
            domain.to_uppercase(),
            registrar.host_port()
        )
    };
    let registry = WhoisServer::start([
        ("taken.com", Reply::text(registry_record("taken.com"))),
        ("broken.com", Reply::text(registry_record("broken.com"))),
        (
            "free-name.com",
            Reply::text("No match for \"FREE-NAME.COM\".\r\n"),
        ),
    ])
    .await;
    let checker = checker_for(&registry, &["com"]);

    let taken = check(&checker, "taken.com").await;
    assert_eq!(taken.outcome, CheckOutcome::Registered, "{taken:?}");
    assert!(
        taken.detail.contains("details from registrar server"),
        "{}",
        taken.detail
    );
    let facts = taken.registration.expect("facts");
    assert_eq!(
        facts.registrar.as_deref(),
        Some("EXAMPLE REGISTRAR LLC"),
        "registry wins"
    );
    assert_eq!(
        facts.created,
        Some(ts("2001-02-03T04:05:06Z")),
        "from the registrar"
    );
    assert_eq!(facts.nameservers, ["ns1.taken.com", "ns2.taken.com"]);
    assert!(facts.has_status("clientTransferProhibited"));

    // A failing registrar server does not turn the registry's verdict.
    let broken = check(&checker, "broken.com").await;
    assert_eq!(broken.outcome, CheckOutcome::Registered, "{broken:?}");
    assert!(
        broken.detail.contains("gave no details"),
        "{}",
        broken.detail
    );

    // A free name never reaches the registrar.
    let free = check(&checker, "free-name.com").await;
    assert_eq!(free.outcome, CheckOutcome::Available);
    assert_eq!(registrar.queries(), ["taken.com", "broken.com"]);
}

/// Recognition figures over a corpus of real answers laid out as
/// `<server>/<tld>/status_available.txt` and `status_registered.txt`, each
/// with a `.expected` file whose `#expires_on` section holds `%TIME{date}`
/// (the public fixtures of the whois-parser Ruby project have this shape).
/// Run with `WHOIS_CORPUS=<dir> cargo test --test whois_checker -- --ignored corpus`.
#[test]
#[ignore = "needs a corpus of real WHOIS answers in WHOIS_CORPUS"]
fn corpus_recognition() {
    use domain_monitor::check::whois::{
        parse::{decode, parse_record_with},
        patterns::{Classification, classify, layout_for},
    };
    let Some(root) = std::env::var_os("WHOIS_CORPUS") else {
        panic!("set WHOIS_CORPUS to the corpus directory");
    };
    let now = ts("2026-01-01T00:00:00Z");
    let (mut free_total, mut free_ok, mut taken_total, mut taken_ok) = (0, 0, 0, 0);
    let (mut expiry_expected, mut expiry_read, mut expiry_wrong) = (0, 0, 0);
    let mut misses = Vec::new();
    let mut servers: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    servers.sort();
    for server in servers {
        let mut dirs: Vec<_> = std::fs::read_dir(&server)
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        dirs.sort();
        for dir in dirs {
            let name = dir.file_name().unwrap().to_string_lossy().into_owned();
            let tld = name.rsplit('.').next().unwrap().to_owned();
            let label = format!("{}/{name}", server.file_name().unwrap().to_string_lossy());
            if let Ok(bytes) = std::fs::read(dir.join("status_available.txt")) {
                free_total += 1;
                let answer = decode(&bytes);
                match classify(&tld, &answer, now) {
                    Classification::NotFound { .. } => free_ok += 1,
                    other => misses.push(format!("free  {label}: {other:?}")),
                }
            }
            if let Ok(bytes) = std::fs::read(dir.join("status_registered.txt")) {
                taken_total += 1;
                let answer = decode(&bytes);
                let class = classify(&tld, &answer, now);
                let facts = parse_record_with(&answer, &layout_for(&tld)).facts;
                if class == Classification::Unmatched && !facts.is_empty() {
                    taken_ok += 1;
                } else {
                    misses.push(format!("taken {label}: {class:?} {facts:?}"));
                }
                let expected = std::fs::read_to_string(dir.join("status_registered.expected"))
                    .unwrap_or_default();
                let want = expected
                    .split("#expires_on")
                    .nth(1)
                    .and_then(|s| s.split("%TIME{").nth(1))
                    .filter(|_| {
                        !expected
                            .split("#expires_on")
                            .nth(1)
                            .unwrap()
                            .trim_start()
                            .starts_with('#')
                    })
                    .map(|s| s.split('}').next().unwrap().to_owned());
                if let Some(want) = want {
                    expiry_expected += 1;
                    match facts.expires {
                        Some(got) => {
                            expiry_read += 1;
                            // An expected time with an offset is compared as an instant.
                            let same_instant =
                                jiff::fmt::strtime::parse("%Y-%m-%d %H:%M:%S %:z", &want)
                                    .ok()
                                    .and_then(|t| t.to_timestamp().ok())
                                    .is_some_and(|want| want == got);
                            let got = got.strftime("%Y-%m-%d").to_string();
                            if !same_instant && !want.starts_with(&got) {
                                expiry_wrong += 1;
                                misses.push(format!("DATE  {label}: read {got}, expected {want}"));
                            }
                        }
                        None => misses.push(format!("nodate {label}: expected {want}")),
                    }
                }
            }
        }
    }
    // Every other answer of the corpus: throttles must read as throttles, and
    // records (`status_registered`, `property_*`) never as free or throttled.
    let (mut throttles, mut throttles_ok, mut others, mut others_ok) = (0, 0, 0, 0);
    let mut stack = vec![std::path::PathBuf::from(&root)];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().filter_map(Result::ok) {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let file = path.file_name().unwrap().to_string_lossy().into_owned();
            if !file.ends_with(".txt") {
                continue;
            }
            let tld = path
                .parent()
                .and_then(|p| p.file_name())
                .map(|n| n.to_string_lossy().rsplit('.').next().unwrap().to_owned())
                .unwrap_or_default();
            let answer = decode(&std::fs::read(&path).unwrap());
            let class = classify(&tld, &answer, now);
            if file.starts_with("response_throttled") && !file.contains(".expected") {
                throttles += 1;
                if matches!(class, Classification::RateLimited { .. }) {
                    throttles_ok += 1;
                } else {
                    misses.push(format!("throttle {}: {class:?}", path.display()));
                }
            } else if (file.starts_with("status_registered") || file.starts_with("property_"))
                && !file.contains("available")
                && !file.contains("missing")
            {
                others += 1;
                if matches!(
                    class,
                    Classification::NotFound { .. }
                        | Classification::RateLimited { .. }
                        | Classification::Refused { .. }
                ) {
                    misses.push(format!("record {}: {class:?}", path.display()));
                } else {
                    others_ok += 1;
                }
            }
        }
    }
    println!(
        "throttles recognised: {throttles_ok}/{throttles}; records never free or throttled: {others_ok}/{others}"
    );
    for miss in &misses {
        println!("{miss}");
    }
    println!(
        "not found recognised: {free_ok}/{free_total}; records recognised: {taken_ok}/{taken_total}; \
         expiry read {expiry_read}/{expiry_expected}, wrong {expiry_wrong}"
    );
}

/// One answer of `tests/data/whois/samples.txt`.
struct Sample {
    tlds: Vec<String>,
    taken: bool,
    weak: bool,
    expires: Option<Timestamp>,
    deletion: Option<Timestamp>,
    statuses: Vec<String>,
    text: String,
}

fn samples() -> Vec<Sample> {
    let mut samples: Vec<Sample> = Vec::new();
    for line in include_str!("data/whois/samples.txt").lines() {
        if let Some(header) = line.strip_prefix("=== ") {
            let mut parts = header.split(" | ");
            let tlds = parts
                .next()
                .unwrap()
                .split(' ')
                .map(str::to_owned)
                .collect();
            let mut sample = Sample {
                tlds,
                taken: false,
                weak: false,
                expires: None,
                deletion: None,
                statuses: Vec::new(),
                text: String::new(),
            };
            for part in parts {
                match part.split_once('=') {
                    None if part == "taken" => sample.taken = true,
                    None if part == "free" => {}
                    None if part == "weak" => sample.weak = true,
                    Some(("expires", at)) => sample.expires = Some(ts(at)),
                    Some(("deletion", at)) => sample.deletion = Some(ts(at)),
                    Some(("status", codes)) => {
                        sample.statuses = codes.split(',').map(str::to_owned).collect();
                    }
                    _ => panic!("bad sample header {header:?}"),
                }
            }
            samples.push(sample);
        } else if let Some(sample) = samples.last_mut() {
            sample.text.push_str(line);
            sample.text.push('\n');
        }
    }
    samples
}

#[test]
fn every_tld_of_the_table_reads_its_free_and_registered_samples() {
    use domain_monitor::check::whois::{
        parse::parse_record_with,
        patterns::{Classification, PROFILES, classify, layout_for},
    };
    let now = ts("2026-01-01T00:00:00Z");
    let samples = samples();
    let mut failures = Vec::new();
    for tld in PROFILES.iter().flat_map(|p| p.tlds) {
        let of = |taken: bool| {
            let found: Vec<&Sample> = samples
                .iter()
                .filter(|s| s.taken == taken && s.tlds.iter().any(|t| t == tld))
                .collect();
            assert_eq!(found.len(), 1, ".{tld}: one {taken} sample expected");
            found[0]
        };
        let name = |kind: &str| format!("{kind}.{tld}");
        let fill = |text: &str, domain: &str| {
            text.replace("{D}", domain)
                .replace("{U}", &domain.to_uppercase())
        };

        let free = of(false);
        let answer = fill(&free.text, &name("free-name"));
        match classify(tld, &answer, now) {
            Classification::NotFound { strength, .. } => {
                let want = if free.weak {
                    Strength::Weak
                } else {
                    Strength::Strong
                };
                if strength != want {
                    failures.push(format!(".{tld} free: {strength:?}"));
                }
            }
            other => failures.push(format!(".{tld} free: {other:?}")),
        }

        let taken = of(true);
        let answer = fill(&taken.text, &name("taken"));
        let class = classify(tld, &answer, now);
        let facts = parse_record_with(&answer, &layout_for(tld)).facts;
        if class != Classification::Unmatched || facts.is_empty() {
            failures.push(format!(".{tld} taken: {class:?} {facts:?}"));
            continue;
        }
        if facts.expires != taken.expires {
            failures.push(format!(".{tld} expires {:?}", facts.expires));
        }
        if facts.deletion != taken.deletion {
            failures.push(format!(".{tld} deletion {:?}", facts.deletion));
        }
        for status in &taken.statuses {
            if !facts.has_status(status) {
                failures.push(format!(".{tld} status {status}: {:?}", facts.statuses));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let count = PROFILES.iter().map(|p| p.tlds.len()).sum::<usize>();
    assert!(count >= 60, "only {count} TLDs in the table");
}

/// A big gTLD back end's not-found answer: the terms of use at its end
/// describe the throttling policy in legal prose.
const NOT_FOUND_WITH_THROTTLE_TERMS: &str = "Domain not found.\r\n\
    >>> Last update of WHOIS database: 2026-01-01T00:00:00Z <<<\r\n\r\n\
    Terms of Use: Access to WHOIS information is provided to assist persons in\r\n\
    determining the contents of a domain name registration record. Queries from\r\n\
    one address are throttled; too many queries are rejected for a while and the\r\n\
    answer then says the limit exceeded, so please try again later. You agree\r\n\
    not to use high-volume, automated processes and that excessive querying may\r\n\
    lead to your access being denied. Rate limit exceeded answers carry no data.\r\n";

#[tokio::test]
async fn terms_of_use_are_not_a_throttle() {
    let registrar_terms = "TERMS OF USE: You may not use high-volume, automated processes\r\n\
        to query this service; excessive querying leads to quota exceeded answers and\r\n\
        too many queries from one address are rejected. Access denied to abusers.\r\n\
        Please try again later if you were throttled, as the limit exceeded message says.\r\n\
        We reserve the right to change these terms at any time without notice to you.\r\n\r\n";
    let record = format!(
        "{registrar_terms}{}",
        icann_record("taken.com", "Example Registrar, LLC", "ok")
    );
    let server = WhoisServer::start([
        ("free-name.org", Reply::text(NOT_FOUND_WITH_THROTTLE_TERMS)),
        ("taken.com", Reply::text(record)),
    ])
    .await;
    let checker = checker_for(&server, &["org", "com"]);

    let free = check(&checker, "free-name.org").await;
    assert_eq!(free.outcome, CheckOutcome::Available, "{free:?}");
    assert_eq!(free.strength, Strength::Strong, "{free:?}");
    let taken = check(&checker, "taken.com").await;
    assert_eq!(taken.outcome, CheckOutcome::Registered, "{taken:?}");
    // Neither answer put the server in back-off.
    let again = check(&checker, "free-name.org").await;
    assert_eq!(again.outcome, CheckOutcome::Available, "{again:?}");
    assert_eq!(server.connections(), 3);
}

#[tokio::test]
async fn short_throttle_answers_are_throttles_even_inside_comment_blocks() {
    let afnic = "%%\r\n%% This is the AFNIC Whois server.\r\n%%\r\n\
        %% Too many requests...\r\n%%\r\n\r\n%% No entries found in the AFNIC Database.\r\n";
    let eurid = "% The WHOIS service offered by EURid is for information only.\r\n\
        % EURid can take measures to limit the use of its WHOIS services.\r\n\r\n\
        -1: Still in grace period, wait 30 seconds\r\n";
    for (tld, banner) in [("fr", afnic), ("eu", eurid)] {
        let domain = format!("free-name.{tld}");
        let server = WhoisServer::start([(domain.clone(), Reply::text(banner))]).await;
        let checker = checker_for(&server, &[tld]);
        let report = check(&checker, &domain).await;
        assert_eq!(
            report.outcome,
            CheckOutcome::RateLimited,
            ".{tld}: {report:?}"
        );
    }
}

#[tokio::test]
async fn a_server_refusing_automated_clients_is_inconclusive_and_left_alone() {
    let refusal = "Requests of this client are not permitted. Please use https://www.nic.ch/whois/ for queries.\r\n";
    let server = WhoisServer::start([
        ("free-name.ch", Reply::text(refusal)),
        ("other.ch", Reply::text(refusal)),
    ])
    .await;
    let checker = checker_for(&server, &["ch"]);

    let first = check(&checker, "free-name.ch").await;
    assert_eq!(first.outcome, CheckOutcome::Inconclusive, "{first:?}");
    assert!(
        first
            .detail
            .contains("Requests of this client are not permitted"),
        "{}",
        first.detail
    );
    assert!(first.detail.contains("1h"), "{}", first.detail);
    assert_eq!(
        first.retry_after, None,
        "a refusal is not a throttle to wait out"
    );

    let second = check(&checker, "other.ch").await;
    assert_eq!(second.outcome, CheckOutcome::Inconclusive, "{second:?}");
    assert!(
        second.detail.contains("refuses automated queries"),
        "{}",
        second.detail
    );
    assert_eq!(server.connections(), 1, "a refusing server was asked again");
}

#[tokio::test]
async fn unrecognised_answers_name_their_first_line_and_are_never_available() {
    let answers = [
        (
            "free-name.example",
            "% Welcome to the Example Registry\r\n%\r\n\r\nLa requête n'a donné aucun résultat.\r\n",
            "La requête n'a donné aucun résultat.",
        ),
        (
            "other.example",
            ">>> Last update <<<\r\nSomething the table does not know\r\n",
            "Something the table does not know",
        ),
    ];
    let server = WhoisServer::start(
        answers
            .iter()
            .map(|(domain, answer, _)| (*domain, Reply::text(*answer))),
    )
    .await;
    let checker = checker_for(&server, &["example"]);
    for (domain, _, first_line) in answers {
        let report = check(&checker, domain).await;
        assert_eq!(
            report.outcome,
            CheckOutcome::Inconclusive,
            "{domain}: {report:?}"
        );
        assert!(
            report.detail.contains(first_line),
            "{domain}: {}",
            report.detail
        );
        assert!(
            report.detail.contains("please report it"),
            "{}",
            report.detail
        );
    }
}

#[tokio::test]
async fn release_dates_and_split_statuses_reach_the_report() {
    let server = WhoisServer::start([
        (
            "taken.it",
            Reply::text(
                "Domain:             taken.it\nStatus:             pendingDelete / redemptionPeriod\n\
                 Created:            1999-12-10 00:00:00\nExpire Date:        2026-01-04\n\n\
                 Registrar\n  Organization:     Example S.r.l.\n",
            ),
        ),
        (
            "taken.nl",
            Reply::text(
                "Domain name: taken.nl\nStatus:      in quarantine\n\nLast registrar:\n   Example B.V.\n\n\
                 Date out of quarantine: 2026-02-10\n",
            ),
        ),
    ])
    .await;
    let checker = checker_for(&server, &["it", "nl"]);
    let it = check(&checker, "taken.it").await;
    assert_eq!(it.outcome, CheckOutcome::Registered, "{it:?}");
    let facts = it.registration.expect("facts");
    assert_eq!(facts.statuses, ["pendingDelete", "redemptionPeriod"]);
    let nl = check(&checker, "taken.nl").await;
    let facts = nl.registration.expect("facts");
    assert_eq!(facts.statuses, ["redemptionPeriod"]);
    assert_eq!(facts.deletion, Some(ts("2026-02-10T00:00:00Z")));
}

/// Recognition figures over a flat corpus: `notfound/<tld>_<name>` (free
/// answers) and `noterror/<tld>_<name>` (records) with `<file>.json` holding
/// `domain.expiration_date` as the registry wrote it (the layout of the Go
/// whois-parser project's test data). Dates that do not start with the date
/// read are printed for review. Run with
/// `WHOIS_FLAT_CORPUS=<dir> cargo test --test whois_checker -- --ignored flat_corpus`.
#[test]
#[ignore = "needs a corpus of real WHOIS answers in WHOIS_FLAT_CORPUS"]
fn flat_corpus_recognition() {
    use domain_monitor::check::whois::{
        parse::{decode, parse_record_with},
        patterns::{Classification, classify, layout_for},
    };
    let Some(root) = std::env::var_os("WHOIS_FLAT_CORPUS") else {
        panic!("set WHOIS_FLAT_CORPUS to the corpus directory");
    };
    let root = std::path::PathBuf::from(root);
    let now = ts("2026-01-01T00:00:00Z");
    let answers = |dir: &str| {
        let mut files: Vec<_> = std::fs::read_dir(root.join(dir))
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.extension()
                    .is_none_or(|e| e != "json" && e != "pre" && e != "md")
            })
            .collect();
        files.sort();
        files
    };
    let tld_of = |path: &std::path::Path| {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        name.split('_').next().unwrap().to_owned()
    };
    let mut report = Vec::new();
    let (mut free_total, mut free_ok) = (0, 0);
    for path in answers("notfound") {
        free_total += 1;
        let answer = decode(&std::fs::read(&path).unwrap());
        match classify(&tld_of(&path), &answer, now) {
            Classification::NotFound { .. } => free_ok += 1,
            other => report.push(format!("free  {}: {other:?}", path.display())),
        }
    }
    let (mut taken_total, mut taken_ok, mut expiry_expected, mut expiry_read) = (0, 0, 0, 0);
    for path in answers("noterror") {
        taken_total += 1;
        let tld = tld_of(&path);
        let answer = decode(&std::fs::read(&path).unwrap());
        let class = classify(&tld, &answer, now);
        let facts = parse_record_with(&answer, &layout_for(&tld)).facts;
        if class == Classification::Unmatched && !facts.is_empty() {
            taken_ok += 1;
        } else {
            report.push(format!("taken {}: {class:?}", path.display()));
        }
        let mut json = path.clone().into_os_string();
        json.push(".json");
        let expected: serde_json::Value = std::fs::read(&json)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        if let Some(want) = expected["domain"]["expiration_date"].as_str() {
            expiry_expected += 1;
            match facts.expires {
                Some(got) => {
                    expiry_read += 1;
                    let got = got.strftime("%Y-%m-%d").to_string();
                    if !want.starts_with(&got) {
                        report.push(format!(
                            "REVIEW {}: read {got}, written {want:?}",
                            path.display()
                        ));
                    }
                }
                None => report.push(format!("nodate {}: written {want:?}", path.display())),
            }
        }
    }
    for line in &report {
        println!("{line}");
    }
    println!(
        "not found recognised: {free_ok}/{free_total}; records recognised: {taken_ok}/{taken_total}; \
         expiry read {expiry_read}/{expiry_expected}"
    );
}

/// Each status vocabulary of `check::epp`, read from a free and a registered
/// answer in its registry's layout (and EIS's EPP codes with notes).
#[test]
fn status_vocabularies_read_from_wire_samples() {
    use domain_monitor::check::whois::{
        parse::parse_record_with,
        patterns::{Classification, classify, layout_for},
    };
    let now = ts("2026-01-01T00:00:00Z");
    let cases: &[(&str, &str, &str, &[&str])] = &[
        (
            "it",
            "Domain:             free-name.it\nStatus:             AVAILABLE\n",
            "Domain:             taken.it\nStatus:             inactive / clientHold\n\
             Created:            2001-01-01 00:00:00\nExpire Date:        2026-01-04\n",
            &["inactive", "clientHold"],
        ),
        (
            "it",
            "Domain:             free-name.it\nStatus:             AVAILABLE\n",
            "Domain:             taken.it\nStatus:             REDEMPTION-NO-PROVIDER\n\
             Created:            2001-01-01 00:00:00\n",
            &["redemptionPeriod"],
        ),
        (
            "nl",
            "free-name.nl is free\n",
            "Domain name: taken.nl\nStatus:      in quarantine\n\nLast registrar:\n   Example B.V.\n",
            &["redemptionPeriod"],
        ),
        (
            "ca",
            "Domain name:           free-name.ca\nDomain status:         available\n",
            "Domain name:           taken.ca\nDomain status:         redemption\n\
             Creation date:         2000/10/16\nExpiry date:           2026/10/16\n",
            &["redemptionPeriod"],
        ),
        (
            "ee",
            "Estonia .ee Top Level Domain WHOIS server\n\nDomain not found\n",
            "Domain:\nname:       taken.ee\nstatus:     expired (Domain has expired)\n\
             status:     serverForceDelete (Domain will be deleted)\nexpire:     2026-01-04\n",
            &["expired", "serverForceDelete"],
        ),
        (
            "fi",
            "Domain not found\n",
            "domain.............: taken.fi\nstatus.............: Grace Period\n\
             expires............: 4.1.2026 10:15:55\n",
            &["autoRenewPeriod"],
        ),
    ];
    for (tld, free, taken, statuses) in cases {
        assert!(
            matches!(classify(tld, free, now), Classification::NotFound { .. }),
            ".{tld}: {free}"
        );
        assert_eq!(
            classify(tld, taken, now),
            Classification::Unmatched,
            ".{tld}"
        );
        let facts = parse_record_with(taken, &layout_for(tld)).facts;
        assert_eq!(&facts.statuses, statuses, ".{tld}: {taken}");
    }
}
