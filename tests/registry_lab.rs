//! Verdicts against registries that behave like real ones: each
//! case a named test, `domain-monitor check` run against a lab of two
//! authoritative nsd servers, the registry's RDAP (rdap-srv, or a stub that
//! answers like a proxy or a quirky registry) and a WHOIS server that may be
//! absent, refuse us or answer in its own words.

mod support;

use std::time::Instant;

use serde_json::Value;
use support::{
    http_stub::Reply,
    lab::{CONFIRM_AFTER, Lab, RdapFront},
    rdap_srv::DomainSpec,
};

const RDAP_JSON: &str = "application/rdap+json";
const NOT_FOUND_OBJECT: &str = r#"{"errorCode":404,"title":"Not Found"}"#;

/// Runs `check --output json` for `names` with the lab's settings plus
/// `extra`, and returns one JSON line per name.
async fn check(lab: &Lab, extra: &[(&str, &str)], names: &[&str]) -> Vec<Value> {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_domain-monitor"));
    command
        .env_clear()
        .args(["check", "--output", "json"])
        .args(names);
    for (key, value) in lab.env() {
        command.env(key, value);
    }
    for (key, value) in extra {
        command.env(key, value);
    }
    let output = command.output().await.expect("the binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let json: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "check printed no JSON ({e}):\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    json.as_array().expect("a JSON array").clone()
}

fn line<'a>(lines: &'a [Value], domain: &str) -> &'a Value {
    lines
        .iter()
        .find(|l| l["domain"] == domain || l["input"] == domain)
        .unwrap_or_else(|| panic!("no line for {domain} in {lines:#?}"))
}

/// The report of checker `kind` in a line's evaluation.
fn report_of<'a>(line: &'a Value, kind: &str) -> &'a Value {
    line["evaluation"]["reports"]
        .as_array()
        .and_then(|reports| reports.iter().find(|r| r["kind"] == kind))
        .unwrap_or_else(|| panic!("no {kind} report in {line:#}"))
}

fn availability(line: &Value) -> &str {
    line["availability"].as_str().unwrap_or_default()
}

/// A registry without WHOIS. Authoritative NXDOMAIN from
/// both servers and the registry's RDAP error object, asked twice
/// `REGISTRY_CONFIRM_AFTER` apart, make a notifiable drop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rdap_only_registry_drop_is_confirmed_over_time_and_notified() {
    let lab = Lab::start("lab", RdapFront::Registry, false).await;
    lab.delegate("taken.lab");
    lab.rdap_object(&DomainSpec::new("taken.lab").status("active"))
        .await;

    let started = Instant::now();
    let lines = check(&lab, &[], &["dropped.lab", "taken.lab"]).await;
    let dropped = line(&lines, "dropped.lab");
    assert_eq!(availability(dropped), "Available", "{dropped:#}");
    assert_eq!(dropped["notify"], true, "{dropped:#}");
    let verdict = &dropped["evaluation"]["verdict"];
    assert_eq!(verdict["confirmed_by"], serde_json::json!(["registry"]));
    assert!(
        verdict["reason"]
            .as_str()
            .is_some_and(|r| r.contains("confirmed")),
        "{verdict:#}"
    );
    let dns = report_of(dropped, "dns");
    assert_eq!(dns["servers_agreeing"], 2, "{dns:#}");
    assert!(
        started.elapsed() >= CONFIRM_AFTER,
        "the second registry answer waited for the confirmation delay"
    );
    assert_eq!(availability(line(&lines, "taken.lab")), "Registered");
}

/// A ccTLD whose WHOIS refuses automated clients, and one
/// whose "free" wording nobody taught us: RDAP still carries the drop, and
/// neither answer is taken for "not found".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whois_server_that_refuses_us_neither_blocks_nor_makes_a_drop() {
    let lab = Lab::start("lab", RdapFront::Registry, true).await;
    lab.whois_reply(
        "refused.lab",
        "Requests of this client are not permitted. Please use https://www.nic.lab/ for queries.\r\n",
    );
    lab.whois_reply(
        "odd-wording.lab",
        "Not found: odd-wording.lab\r\n%\r\n% Use of this service is subject to the terms of use.\r\n",
    );
    let lines = check(&lab, &[], &["refused.lab", "odd-wording.lab"]).await;
    for name in ["refused.lab", "odd-wording.lab"] {
        let l = line(&lines, name);
        assert_eq!(availability(l), "Available", "{l:#}");
        let whois = report_of(l, "whois");
        assert_ne!(whois["outcome"], "registered", "{whois:#}");
    }
}

/// A registered name on serverHold (absent from DNS), an
/// RDAP "404" that is an HTML page, and a bare `NOT FOUND` from a throttled
/// WHOIS server: no promise, no notification.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_name_behind_an_html_404_and_a_bare_not_found_is_never_available() {
    let lab = Lab::start("lab", RdapFront::Stub, true).await;
    lab.rdap_reply(
        "held.lab",
        Reply::json(
            404,
            "text/html",
            "<html><body><h1>NOT FOUND</h1></body></html>",
        ),
    );
    lab.whois_reply("held.lab", "NOT FOUND\r\n");
    let lines = check(&lab, &[], &["held.lab"]).await;
    let held = line(&lines, "held.lab");
    assert_ne!(availability(held), "Available", "{held:#}");
    assert_eq!(held["notify"], false, "{held:#}");
}

/// An RDAP server that throttles (429 with Retry-After, 403
/// quota) says nothing about the name. Where WHOIS is absent the name stays
/// unconfirmed; where the registry's WHOIS answers "not found", that and the
/// zone confirm it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttling_rdap_server_says_nothing_about_the_name() {
    let lab = Lab::start("lab", RdapFront::Stub, false).await;
    lab.rdap_reply(
        "quota.lab",
        Reply::json(403, "text/plain", "Number of allowed queries exceeded"),
    );
    lab.rdap_reply(
        "slow.lab",
        Reply::json(
            429,
            RDAP_JSON,
            r#"{"errorCode":429,"title":"Too Many Requests"}"#,
        )
        .header("Retry-After", "30"),
    );
    let lines = check(&lab, &[], &["quota.lab", "slow.lab"]).await;
    for name in ["quota.lab", "slow.lab"] {
        let l = line(&lines, name);
        assert_eq!(l["notify"], false, "{l:#}");
        assert_ne!(availability(l), "Available", "{l:#}");
        let rdap = report_of(l, "rdap");
        assert_eq!(rdap["outcome"], "rateLimited", "{rdap:#}");
    }

    let with_whois = Lab::start("lab", RdapFront::Stub, true).await;
    with_whois.rdap_reply(
        "slow.lab",
        Reply::json(
            429,
            RDAP_JSON,
            r#"{"errorCode":429,"title":"Too Many Requests"}"#,
        )
        .header("Retry-After", "30"),
    );
    with_whois.whois_reply("slow.lab", "No match for \"SLOW.LAB\".\r\n");
    let lines = check(&with_whois, &[], &["slow.lab"]).await;
    let l = line(&lines, "slow.lab");
    assert_eq!(availability(l), "Available", "{l:#}");
    assert_eq!(
        l["evaluation"]["verdict"]["confirmed_by"],
        serde_json::json!(["registry"])
    );
}

/// A name under a privately run second level. The .net
/// registry never holds such names, so its "No match" and RDAP 404 say
/// nothing: `Unknown`, with what to configure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_under_a_private_registry_is_unknown_never_available() {
    let lab = Lab::start("net", RdapFront::Registry, true).await;
    lab.whois_reply(
        "shop-example.in.net",
        "No match for \"SHOP-EXAMPLE.IN.NET\".\r\n>>> Last update of whois database: 2026-11-30T00:00:00Z <<<\r\n",
    );
    let lines = check(&lab, &[], &["shop-example.in.net"]).await;
    let shop = line(&lines, "shop-example.in.net");
    assert_eq!(availability(shop), "Unknown", "{shop:#}");
    assert_eq!(shop["notify"], false);
    let reason = shop["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("privately run") && reason.contains("in.net"),
        "{reason}"
    );
}

/// With `uk.com`'s own RDAP and WHOIS
/// servers configured (as overrides for that suffix), a name under it is
/// asked where it is registered, and can be found free there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_under_a_routed_private_registry_is_asked_at_its_own_servers() {
    let lab = Lab::start("com", RdapFront::Registry, true).await;
    // The .com zone delegates uk.com: its names are below another zone cut.
    lab.delegate("uk.com");
    let private = Lab::start("com", RdapFront::Registry, true).await;
    private.whois_reply(
        "brand-free.uk.com",
        "No match for \"BRAND-FREE.UK.COM\".\r\n",
    );
    let rdap = format!("uk.com={}", private.rdap.base_url());
    let whois = format!(
        "uk.com={}",
        private.whois.as_ref().expect("a WHOIS server").host_port()
    );
    let lines = check(
        &lab,
        &[
            ("RDAP_OVERRIDES", rdap.as_str()),
            ("WHOIS_OVERRIDES", whois.as_str()),
        ],
        &["brand-free.uk.com"],
    )
    .await;
    let l = line(&lines, "brand-free.uk.com");
    assert_eq!(availability(l), "Available", "{l:#}");
    assert_eq!(
        l["evaluation"]["verdict"]["confirmed_by"],
        serde_json::json!(["registry"])
    );
    let whois_report = report_of(l, "whois");
    assert_eq!(
        whois_report["server"],
        private.whois.as_ref().unwrap().host_port().to_string()
    );
}

/// Registry-reserved names look free to DNS, RDAP and
/// WHOIS alike; ICANN Specification 5 and the user's own lists make them
/// `Reserved`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reserved_names_are_reserved_though_every_source_looks_free() {
    let lab = Lab::start("xyz", RdapFront::Registry, true).await;
    for name in ["whois.xyz", "vip.xyz", "plain-free.xyz"] {
        lab.whois_reply(
            name,
            "The queried object does not exist: DOMAIN NOT FOUND\r\n",
        );
    }
    let list = tempfile::NamedTempFile::new().expect("temporary file");
    std::fs::write(
        list.path(),
        "# registry premium list\nvip.xyz  premium tier 1\n",
    )
    .unwrap();
    let path = list.path().to_string_lossy().into_owned();
    let lines = check(
        &lab,
        &[("RESERVED_NAMES", path.as_str())],
        &["whois.xyz", "vip.xyz", "plain-free.xyz"],
    )
    .await;
    let nic = line(&lines, "whois.xyz");
    assert_eq!(availability(nic), "Reserved", "{nic:#}");
    assert!(nic["reason"].as_str().unwrap().contains("Specification 5"));
    let vip = line(&lines, "vip.xyz");
    assert_eq!(availability(vip), "Reserved", "{vip:#}");
    assert!(vip["reason"].as_str().unwrap().contains("premium tier 1"));
    assert_eq!(
        availability(line(&lines, "plain-free.xyz")),
        "Available",
        "the control: a name on no list"
    );
}

/// A registry known to answer 404 for registered
/// names. With the WHOIS record the name stays Registered; with WHOIS absent
/// the weak 404 is no promise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_that_404s_registered_names_never_makes_them_available() {
    let lab = Lab::start("io", RdapFront::Stub, true).await;
    lab.rdap_reply("held.io", Reply::json(404, RDAP_JSON, NOT_FOUND_OBJECT));
    lab.whois_reply(
        "held.io",
        "Domain Name: HELD.IO\r\nRegistrar: Demo Registrar Inc.\r\nCreation Date: 2019-02-01T00:00:00Z\r\n\
         Registry Expiry Date: 2027-02-01T00:00:00Z\r\nDomain Status: serverHold https://icann.org/epp#serverHold\r\n",
    );
    let lines = check(&lab, &[], &["held.io"]).await;
    assert_eq!(availability(line(&lines, "held.io")), "Registered");

    let starved = Lab::start("io", RdapFront::Stub, false).await;
    starved.rdap_reply("held.io", Reply::json(404, RDAP_JSON, NOT_FOUND_OBJECT));
    let lines = check(&starved, &[], &["held.io"]).await;
    let held = line(&lines, "held.io");
    assert_eq!(held["notify"], false, "{held:#}");
    assert_ne!(availability(held), "Available", "{held:#}");
}

/// A gTLD redemption record carries `pendingDelete` and
/// `redemptionPeriod` (and `serverHold`): the earlier phase, redemption, wins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redemption_record_is_expiring_not_pending_delete() {
    let lab = Lab::start("lab", RdapFront::Registry, false).await;
    lab.rdap_object(
        &DomainSpec::new("redeeming.lab")
            .status("pending delete")
            .status("redemption period")
            .status("server hold")
            .expires("2026-09-01T00:00:00Z"),
    )
    .await;
    let lines = check(&lab, &[], &["redeeming.lab"]).await;
    let l = line(&lines, "redeeming.lab");
    assert_eq!(availability(l), "Expiring", "{l:#}");
    assert_eq!(l["reason"], "registry status redemptionPeriod", "{l:#}");
}

/// Names that are not registrable domains are refused
/// with a message that says what to watch instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_suffixes_and_names_inside_domains_are_refused() {
    let lab = Lab::start("lab", RdapFront::Registry, false).await;
    let lines = check(&lab, &[], &["co.uk", "www.example.com"]).await;
    let suffix = line(&lines, "co.uk");
    assert_eq!(availability(suffix), "Invalid");
    assert!(
        suffix["reason"]
            .as_str()
            .unwrap()
            .contains("is a public suffix"),
        "{suffix:#}"
    );
    let inside = line(&lines, "www.example.com");
    assert_eq!(availability(inside), "Invalid");
    assert!(
        inside["reason"]
            .as_str()
            .unwrap()
            .contains("watch example.com instead"),
        "{inside:#}"
    );
}

/// `.it` writes its lifecycle on one line
/// (`Status: pendingDelete / redemptionPeriod`). With the name absent from DNS
/// and the RDAP answer an HTML page, WHOIS alone carries the phase: the
/// redemption, with the drop predicted from the last update.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_it_record_with_two_statuses_on_one_line_is_in_redemption() {
    let lab = Lab::start("it", RdapFront::Stub, true).await;
    lab.rdap_reply(
        "redimere.it",
        Reply::json(404, "text/html", "<html><body>Not Found</body></html>"),
    );
    lab.whois_reply(
        "redimere.it",
        "Domain:             redimere.it\r\nStatus:             pendingDelete / redemptionPeriod\r\n\
         Signed:             no\r\nCreated:            2015-03-02 10:00:00\r\n\
         Last Update:        2026-11-20 00:52:11\r\nExpire Date:        2026-10-01\r\n\r\n\
         Registrar\r\n  Organization:     Demo Registrar S.r.l.\r\n  Name:             DEMO-REG\r\n",
    );
    let lines = check(&lab, &[], &["redimere.it"]).await;
    let l = line(&lines, "redimere.it");
    assert_eq!(availability(l), "Expiring", "{l:#}");
    assert_eq!(l["reason"], "registry status redemptionPeriod", "{l:#}");
    let drop = l["evaluation"]["verdict"]["predicted_drop_at"]
        .as_str()
        .unwrap_or_default();
    assert!(
        drop.starts_with("2026-12-25"),
        "30 days of redemption and 5 of pendingDelete after the last update: {l:#}"
    );
}
