//! Server-side request forgery: names resolving into private space are never
//! contacted by the HTTP checker, its redirects are never followed, and the
//! RDAP checker follows redirects only where they may lead. Against a real
//! nsd and listeners on loopback.
//!
//! The scenario records its figures with [`support::chaos::record`] before it
//! asserts; `CHAOS_SCALE=full` (`just chaos`) runs it longer.

mod support;

use std::{collections::BTreeMap, time::Duration};

use domain_monitor::{
    check::{
        CheckOutcome, Checker,
        http::{HttpChecker, Settings as HttpSettings},
    },
    domain_name::DomainName,
};
use serde_json::json;
use support::{
    chaos::{Figures, by_scale, record},
    http_stub::{HttpStub, Reply},
    nsd::{Nsd, Zone},
    security::{domain, guarded_rdap_checker},
};

/// A stub on every local address (IPv4 and IPv6) of one port that answers
/// every request with `reply` and counts connections.
async fn listener(reply: Reply) -> HttpStub {
    let stub = HttpStub::start_on_every_address().await;
    stub.set_default(reply);
    stub
}

fn http_checker(nsd: &Nsd, http_port: u16, https_port: u16, allow_private: bool) -> HttpChecker {
    HttpChecker::new(HttpSettings {
        dns_servers: vec![nsd.addr()],
        timeout: Duration::from_secs(2),
        allow_private,
        rate_limit: support::rate_limit(1000),
        http_port,
        https_port,
    })
    .expect("http checker")
}

/// Names in the `.test` zone and the addresses they resolve to.
const SSRF_NAMES: &[(&str, &[&str])] = &[
    ("loopback.test", &["127.0.0.1"]),
    ("loopback-alt.test", &["127.3.2.1"]),
    ("this-host.test", &["0.0.0.0"]),
    ("loopback6.test", &["::1"]),
    ("unspecified6.test", &["::"]),
    ("mapped-loopback.test", &["::ffff:127.0.0.1"]),
    ("metadata.test", &["169.254.169.254"]),
    ("mapped-metadata.test", &["::ffff:169.254.169.254"]),
    ("metadata6.test", &["fd00:ec2::254"]),
    ("private10.test", &["10.0.0.1"]),
    ("private172.test", &["172.16.5.4"]),
    ("private192.test", &["192.168.1.1"]),
    ("cgnat.test", &["100.64.0.1"]),
    ("ula.test", &["fd12:3456:789a::1"]),
    ("link-local6.test", &["fe80::1"]),
    ("nat64-loopback.test", &["64:ff9b::7f00:1"]),
    ("compat-loopback.test", &["::7f00:1"]),
    ("sixtofour-loopback.test", &["2002:7f00:1::1"]),
    ("public-and-loopback.test", &["93.184.216.34", "127.0.0.1"]),
];

/// Names that reach this host's loopback when nothing guards them.
const LOOPBACK_NAMES: &[&str] = &[
    "loopback.test",
    "loopback-alt.test",
    "this-host.test",
    "loopback6.test",
    "mapped-loopback.test",
];

/// The HTTP checker contacts no private, loopback, link-local, metadata,
/// CGNAT, ULA or IPv4-embedding address, whatever a name resolves to, and
/// follows no redirect. The listener that counts connections is on every
/// local address of the probed port; names that resolve to loopback reach it
/// when the guard is off (the control), so its zero is the guard's doing.
/// Other private addresses cannot be listened on here: for them the evidence
/// is the resolver's refusal, which comes before any socket is opened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssrf() {
    let mut zone = Zone::new("test").address("web.test", "127.0.0.1".parse().expect("IP"));
    for (name, ips) in SSRF_NAMES {
        for ip in *ips {
            zone = zone.address(name, ip.parse().expect("IP"));
        }
    }
    let nsd = tokio::task::spawn_blocking(move || Nsd::start(zone))
        .await
        .expect("start nsd");
    let rounds = by_scale(1, 20);

    // The guard on: nothing private is contacted, whatever the name says.
    let target = listener(Reply::new(200)).await;
    let guarded = http_checker(&nsd, target.addr().port(), target.addr().port(), false);
    let mut unrefused = Vec::new();
    let mut false_available = 0_u64;
    let mut probes = 0_u64;
    for _ in 0..rounds {
        for (name, _) in SSRF_NAMES {
            let report = guarded.check(&domain(name)).await;
            probes += 1;
            if report.outcome == CheckOutcome::Available {
                false_available += 1;
            }
            // The resolver refuses before any socket opens.
            if !report.detail.contains("refused to connect")
                || report.outcome != CheckOutcome::Inconclusive
            {
                unrefused.push(format!("{name}: {:?} {}", report.outcome, report.detail));
            }
        }
    }
    // IP literals never reach the resolver: the checker refuses them itself.
    let mut literals = 0_u64;
    for literal in [
        "127.0.0.1",
        "0.0.0.0",
        "169.254.169.254",
        "[::1]",
        "::1",
        "2130706433",
        "0x7f.0.0.1",
    ] {
        if let Ok(name) = DomainName::parse(literal) {
            literals += 1;
            let report = guarded.check(&name).await;
            if report.outcome == CheckOutcome::Registered {
                unrefused.push(format!("IP literal {literal}: {}", report.detail));
            }
        }
    }
    let private_connections = target.connections();

    // Control: without the guard the loopback names do reach the listener,
    // so the zero above is the guard's doing.
    let control = listener(Reply::new(200)).await;
    let unguarded = http_checker(&nsd, control.addr().port(), control.addr().port(), true);
    let mut reached_without_guard = BTreeMap::new();
    for name in LOOPBACK_NAMES {
        let before = control.connections();
        let report = unguarded.check(&domain(name)).await;
        reached_without_guard.insert(
            (*name).to_owned(),
            json!({"connections": control.connections() - before, "outcome": format!("{:?}", report.outcome)}),
        );
    }
    let control_connections = control.connections();

    // Redirects: the first hop answers (the guard is off so it can live on
    // loopback); wherever its Location points, nothing follows it.
    let redirect_target = listener(Reply::new(200)).await;
    let port = redirect_target.addr().port();
    let locations = [
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/".to_owned(),
        format!("http://127.0.0.1:{port}/admin"),
        format!("http://[::1]:{port}/"),
        format!("http://[::ffff:127.0.0.1]:{port}/"),
        format!("http://loopback.test:{port}/"),
        format!("https://127.0.0.1:{port}/"),
        format!("//127.0.0.1:{port}/protocol-relative"),
        "http://10.0.0.1/".to_owned(),
        "http://[fd00:ec2::254]/latest/meta-data/".to_owned(),
    ];
    let statuses = [301, 302, 303, 307, 308];
    let closed_port = support::closed_port();
    let mut redirects = 0_u64;
    let mut redirect_answers = 0_u64;
    for (i, location) in locations.iter().enumerate() {
        let status = statuses[i % statuses.len()];
        let first_hop = listener(redirect_reply(status, location)).await;
        let checker = http_checker(&nsd, first_hop.addr().port(), closed_port, true);
        let report = checker.check(&domain("web.test")).await;
        redirects += 1;
        if report.outcome == CheckOutcome::Registered
            && report.detail.starts_with(&format!("HTTP {status} "))
        {
            redirect_answers += 1;
        } else {
            unrefused.push(format!(
                "redirect to {location}: {:?} {}",
                report.outcome, report.detail
            ));
        }
    }
    let redirect_connections = redirect_target.connections();

    // RDAP servers may redirect, and the RDAP checker follows them, but not
    // into the cluster: the server (an override here, so it may live on
    // loopback) points elsewhere; the target answers a valid domain object.
    let (rdap, rdap_followed) = rdap_redirects(&nsd, &mut unrefused, &mut false_available).await;

    let mut figures = Figures {
        false_available,
        ..Figures::default()
    };
    figures.note("names", json!(SSRF_NAMES.len()));
    figures.note("probes", json!(probes));
    figures.note("ip_literals_accepted_as_names", json!(literals));
    figures.note("private_connections", json!(private_connections));
    figures.note("not_refused", json!(unrefused));
    figures.note(
        "control_connections_without_guard",
        json!(control_connections),
    );
    figures.note("control_by_name", json!(reached_without_guard));
    figures.note("redirects", json!(redirects));
    figures.note("redirects_reported_as_answers", json!(redirect_answers));
    figures.note("redirect_target_connections", json!(redirect_connections));
    figures.note("rdap_redirects_refused", json!(rdap.refused));
    figures.note("rdap_redirect_target_connections", json!(rdap.connections));
    figures.note("rdap_redirects_followed", json!(rdap_followed));
    let passed = private_connections == 0
        && redirect_connections == 0
        && rdap.connections == 0
        && unrefused.is_empty()
        && false_available == 0
        && control_connections > 0;
    record(
        "ssrf",
        "domain names resolving to loopback, private, link-local, metadata, CGNAT, ULA and IPv4-embedding IPv6 addresses (HTTP_ALLOW_PRIVATE off); HTTP and RDAP redirects to private and metadata addresses",
        &figures,
        passed,
    );

    assert_eq!(private_connections, 0, "a private address was contacted");
    assert_eq!(redirect_connections, 0, "a redirect was followed");
    assert_eq!(
        rdap.connections, 0,
        "an RDAP redirect reached a private address"
    );
    assert!(
        unrefused.is_empty(),
        "not refused:\n{}",
        unrefused.join("\n")
    );
    assert_eq!(false_available, 0);
    assert!(
        control.connections() > 0,
        "without the guard the listener must be reachable, or the zero proves nothing: {reached_without_guard:?}"
    );
}

/// What the RDAP redirects to private places came to.
struct RdapRedirects {
    refused: u64,
    /// Connections the private redirect target received.
    connections: usize,
}

/// An answer that redirects to `location`.
fn redirect_reply(status: u16, location: &str) -> Reply {
    Reply::new(status).header("Location", location)
}

/// The RDAP part of [`ssrf`]: redirects to private addresses and other
/// schemes are refused, with an error and without a connection; a redirect
/// on the server's own host is followed; with the guard off (the control)
/// the same targets are reached; a redirect loop ends. Returns the refusals
/// and how many redirects were followed.
async fn rdap_redirects(
    nsd: &Nsd,
    unrefused: &mut Vec<String>,
    false_available: &mut u64,
) -> (RdapRedirects, u64) {
    let body = r#"{"objectClassName":"domain","ldhName":"web.test","status":["active"]}"#;
    let target = listener(Reply::json(200, "application/rdap+json", body)).await;
    let port = target.addr().port();
    let private = [
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        format!("http://127.0.0.2:{port}/domain/web.test"),
        format!("http://[::1]:{port}/domain/web.test"),
        format!("http://[::ffff:127.0.0.1]:{port}/domain/web.test"),
        format!("http://loopback.test:{port}/domain/web.test"),
        format!("http://loopback-alt.test:{port}/domain/web.test"),
        "http://10.0.0.1/domain/web.test".to_owned(),
        "http://[fd00:ec2::254]/latest/meta-data/".to_owned(),
        "file:///etc/passwd".to_owned(),
        "gopher://127.0.0.1:11211/".to_owned(),
    ];
    let statuses = [301, 302, 303, 307, 308];
    let check = |location: String, status: u16, allow_private: bool| async move {
        let first_hop = listener(redirect_reply(status, &location)).await;
        let checker = guarded_rdap_checker(
            &first_hop.url("/"),
            Duration::from_secs(2),
            vec![nsd.addr()],
            allow_private,
        );
        checker.check(&domain("web.test")).await
    };
    let mut refused = 0;
    for (i, location) in private.iter().enumerate() {
        let report = check(location.clone(), statuses[i % statuses.len()], false).await;
        if report.outcome == CheckOutcome::Available {
            *false_available += 1;
        }
        let said = report.error.clone().unwrap_or_default();
        if report.outcome == CheckOutcome::Error && said.contains("not followed") {
            refused += 1;
        } else {
            unrefused.push(format!(
                "RDAP redirect to {location}: {:?} {said}",
                report.outcome
            ));
        }
    }
    let connections = target.connections();

    // On the server's own host, and everywhere with the guard off, the
    // redirect is followed to the domain object.
    let mut followed = 0;
    let mut follow = vec![(format!("http://127.0.0.1:{port}/domain/web.test"), false)];
    follow.extend(
        [
            format!("http://127.0.0.2:{port}/domain/web.test"),
            format!("http://loopback.test:{port}/domain/web.test"),
        ]
        .into_iter()
        .map(|location| (location, true)),
    );
    for (location, allow_private) in follow {
        let report = check(location.clone(), 302, allow_private).await;
        if report.outcome == CheckOutcome::Registered {
            followed += 1;
        } else {
            unrefused.push(format!(
                "RDAP redirect to {location} (allow_private {allow_private}) not followed: {:?} {:?}",
                report.outcome, report.error
            ));
        }
    }
    assert!(
        target.connections() > connections,
        "the followed redirects reached the target"
    );

    // A server that redirects to itself forever.
    let endless = listener(redirect_reply(302, "/again")).await;
    let checker = guarded_rdap_checker(
        &endless.url("/"),
        Duration::from_secs(2),
        vec![nsd.addr()],
        false,
    );
    let report = checker.check(&domain("web.test")).await;
    let said = report.error.clone().unwrap_or_default();
    if report.outcome != CheckOutcome::Error || !said.contains("more than 5 redirects") {
        unrefused.push(format!(
            "endless RDAP redirects: {:?} {said}",
            report.outcome
        ));
    }
    assert_eq!(
        endless.connections(),
        6,
        "the first request and 5 redirects"
    );
    (
        RdapRedirects {
            refused,
            connections,
        },
        followed,
    )
}
