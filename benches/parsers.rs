//! Micro-benchmarks of the pure code on a check's hot path: the RDAP and
//! WHOIS parsers and the verdict. `cargo bench --bench parsers`; `just bench`
//! runs it with short measurement times and copies the headline numbers into
//! `bench/results/summary.json`.

use std::{hint::black_box, time::Duration};

use criterion::{Criterion, criterion_group, criterion_main};
use domain_monitor::{
    check::{
        CheckKind, CheckOutcome, CheckReport, RegistrationFacts, Strength,
        rdap::parse::parse_domain,
        whois::{
            parse::{decode, parse_record},
            patterns::classify,
        },
    },
    domain_name::DomainName,
    verdict::{Background, VerdictPolicy, decide},
};
use jiff::Timestamp;

/// A .com registry RDAP answer (links, notices, nested entities, DS data).
const RDAP_DOMAIN: &[u8] = include_bytes!("fixtures/rdap-domain.json");
/// A .com registry WHOIS answer with its legal boilerplate.
const WHOIS_RECORD: &[u8] = include_bytes!("fixtures/whois-com.txt");
/// The same registry's answer for a free name.
const WHOIS_FREE: &[u8] = b"No match for \"FREE-NAME-4711.COM\".\r\n>>> Last update of whois database: 2026-11-21T08:00:00Z <<<\r\n\r\nNOTICE: The expiration date displayed in this record is the date the\r\nregistrar's sponsorship of the domain name registration in the registry is\r\ncurrently set to expire.\r\n";

fn now() -> Timestamp {
    "2026-11-21T08:00:00Z".parse().expect("a timestamp")
}

fn report(kind: CheckKind, outcome: CheckOutcome, facts: Option<RegistrationFacts>) -> CheckReport {
    let mut report = CheckReport::new(kind, outcome, format!("{kind} said {outcome:?}"), now())
        .with_strength(Strength::Strong)
        .with_server("127.0.0.1:53");
    report.registration = facts;
    report
}

fn rdap(c: &mut Criterion) {
    c.bench_function("rdap_parse_domain", |b| {
        b.iter(|| parse_domain(black_box(RDAP_DOMAIN)).expect("a domain object"));
    });
}

fn whois(c: &mut Criterion) {
    c.bench_function("whois_parse_record", |b| {
        b.iter(|| parse_record(&decode(black_box(WHOIS_RECORD))));
    });
    c.bench_function("whois_classify_record", |b| {
        let answer = decode(WHOIS_RECORD);
        b.iter(|| classify("com", black_box(&answer), now()));
    });
    c.bench_function("whois_classify_not_found", |b| {
        let answer = decode(WHOIS_FREE);
        b.iter(|| classify("com", black_box(&answer), now()));
    });
}

fn verdict(c: &mut Criterion) {
    let policy = VerdictPolicy::default();
    let facts = parse_domain(RDAP_DOMAIN).expect("a domain object").facts;
    // The common case: layer 1 settles a registered name.
    let registered = vec![
        report(
            CheckKind::Dns,
            CheckOutcome::Registered,
            Some(RegistrationFacts {
                nameservers: vec!["a.iana-servers.net".into(), "b.iana-servers.net".into()],
                ..RegistrationFacts::default()
            }),
        ),
        report(CheckKind::Http, CheckOutcome::Registered, None),
    ];
    // A registered name with its registration facts (first check of a day).
    let with_facts = {
        let mut reports = registered.clone();
        reports.push(report(
            CheckKind::Rdap,
            CheckOutcome::Registered,
            Some(facts),
        ));
        reports
    };
    // A free name confirmed by every layer.
    let available = vec![
        report(CheckKind::Dns, CheckOutcome::Available, None),
        report(CheckKind::Http, CheckOutcome::Error, None),
        report(CheckKind::Rdap, CheckOutcome::Available, None),
        report(CheckKind::Whois, CheckOutcome::Available, None),
    ];
    c.bench_function("verdict_decide_registered", |b| {
        b.iter(|| {
            decide(
                black_box(&registered),
                &policy,
                &Background::default(),
                now(),
            )
        });
    });
    c.bench_function("verdict_decide_with_facts", |b| {
        b.iter(|| {
            decide(
                black_box(&with_facts),
                &policy,
                &Background::default(),
                now(),
            )
        });
    });
    c.bench_function("verdict_decide_available", |b| {
        b.iter(|| {
            decide(
                black_box(&available),
                &policy,
                &Background::default(),
                now(),
            )
        });
    });
}

fn domain_name(c: &mut Criterion) {
    c.bench_function("domain_name_parse_idn", |b| {
        b.iter(|| DomainName::parse(black_box("Bücher-Straße.Example")).expect("valid"));
    });
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = rdap, whois, verdict, domain_name
}
criterion_main!(benches);
