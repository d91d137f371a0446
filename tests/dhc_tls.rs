//! DomainHealthCheck certificates end to end: ONE operator (the real
//! binary, `DOMAIN_HEALTH_CHECKS=true`, the test CA as `DHC_CA_BUNDLE`)
//! against the real API server, four real TLS servers on loopback each
//! serving one certificate of a test CA: valid, expiring within the
//! default 14-day warning, for another name, expired.
//!
//! The records of the checks are asked at nsd directly (it answers its
//! zone to any query), which keeps the DNS side of this test small.

mod support;

use std::{
    net::{IpAddr, Ipv4Addr},
    time::Duration,
};

use domain_monitor::resource::dhc::{
    CertificateStatus, CertificateVerdict, DomainHealthCheck, ProbeRecordType, TlsTarget,
};
use kube::{Api, api::PostParams};
use support::{
    cluster::TestNamespace,
    dhc::{PATIENCE, check, condition, install_dhc_crd, record, resolver, wait_for},
    nsd::{Nsd, Zone},
    operator::Operator,
    tls::{CA_NAME, Leaf, TestCa, TlsServer},
};

const ZONE: &str = "tls.test";
const WWW: &str = "www.tls.test";
const SERVERS: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 71));
fn zone() -> Zone {
    Zone::child(ZONE, &["ns1.tls.test"])
        .address("ns1.tls.test", IpAddr::V4(Ipv4Addr::LOCALHOST))
        .address(WWW, "192.0.2.1".parse().unwrap())
}

fn reason(check: &DomainHealthCheck, type_: &str) -> Option<(String, String)> {
    condition(check, type_).map(|(s, r, _)| (s, r))
}

fn certificate(check: &DomainHealthCheck) -> Option<&CertificateStatus> {
    check.status.as_ref()?.certificates.first()
}

/// Status writes the operator logged for the check `name`.
fn writes_of(operator: &Operator, name: &str) -> usize {
    operator
        .events("DomainHealthCheck status written")
        .iter()
        .filter(|e| e["fields"]["check"] == name || e["check"] == name)
        .count()
}

/// Certificate probes the operator logged for the check `name`.
fn probes_of(operator: &Operator, name: &str) -> usize {
    operator
        .events("certificate probed")
        .iter()
        .filter(|e| e["fields"]["check"] == name || e["check"] == name)
        .count()
}

/// Waits until every check in `names` had `rounds` more certificate probes.
async fn rounds(operator: &Operator, names: &[&str], rounds: usize) {
    let seen: Vec<usize> = names.iter().map(|n| probes_of(operator, n)).collect();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while names
        .iter()
        .zip(&seen)
        .any(|(n, before)| probes_of(operator, n) < before + rounds)
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {rounds} more probe rounds:\n{}",
            operator.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The value of `domain_monitor_dhc_certificate_expiry_seconds` for the
/// check `name`, if the operator serves one.
async fn expiry_gauge(operator: &Operator, name: &str) -> Option<i64> {
    gauge(
        operator,
        "domain_monitor_dhc_certificate_expiry_seconds",
        name,
    )
    .await
}

/// The value of the gauge `metric` for the check `name`'s endpoint, if the
/// operator serves one.
async fn gauge(operator: &Operator, metric: &str, name: &str) -> Option<i64> {
    let text = operator.metrics().await;
    let series = text.lines().find(|l| {
        l.starts_with(&format!("{metric}{{")) && l.contains(&format!("name=\"{name}\""))
    })?;
    assert!(
        series.contains(&format!("server_address=\"{SERVERS}\""))
            && series.contains("tls_client_server_name=\"www.tls.test\""),
        "{series}"
    );
    #[allow(clippy::cast_possible_truncation)]
    series
        .rsplit_once(' ')
        .map(|(_, v)| v.parse::<f64>().expect("a number") as i64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_are_verified_and_their_expiry_watched() {
    let ca = TestCa::new();
    let valid = ca.leaf(&[WWW], -1, 90);
    let expiring = ca.leaf(&[WWW], -80, 5);
    let wrong_name = ca.leaf(&["other.tls.test"], -1, 90);
    let expired = ca.leaf(&[WWW], -90, -2);
    let mut servers = Vec::new();
    for leaf in [&valid, &expiring, &wrong_name, &expired] {
        servers.push(TlsServer::start(SERVERS, leaf).await);
    }
    let nsd = tokio::task::block_in_place(|| Nsd::start(zone()));
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("ca.pem");
    ca.write_pem(&bundle);

    let ns = TestNamespace::new("dhc-tls").await;
    install_dhc_crd(&ns.client).await;
    let api: Api<DomainHealthCheck> = Api::namespaced(ns.client.clone(), &ns.name);
    let env = [
        ("DOMAIN_HEALTH_CHECKS", "true"),
        ("DNS_TIMEOUT", "4s"),
        ("NAMESERVER_PORT", &nsd.addr().port().to_string()),
        ("DHC_CA_BUNDLE", bundle.to_str().unwrap()),
        ("RUST_LOG", "info,domain_monitor::dhc=debug"),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()));
    let operator = Operator::start(&ns.name, "dhc-tls", &env);

    let names = ["valid", "expiring", "mismatch", "expired"];
    for (name, server) in names.iter().zip(&servers) {
        let mut dhc = check(
            name,
            ZONE,
            vec![record("www", ProbeRecordType::A, &["192.0.2.1"])],
            vec![resolver("ns", nsd.addr())],
        );
        dhc.spec.interval = Some("10s".to_owned());
        dhc.spec.tls = vec![TlsTarget {
            host: SERVERS.to_string(),
            port: Some(server.addr().port()),
            sni: Some(WWW.to_owned()),
        }];
        api.create(&PostParams::default(), &dhc)
            .await
            .expect("create");
    }

    let pair = |s: &str, r: &str| Some((s.to_owned(), r.to_owned()));
    let settled =
        |c: &DomainHealthCheck| reason(c, "CertificateValid").is_some_and(|(s, _)| s != "Unknown");
    let mut found = Vec::new();
    for name in names {
        found.push(wait_for(&api, name, "settled certificate", &operator, settled).await);
    }
    let [valid_check, expiring_check, mismatch_check, expired_check] = &found[..] else {
        unreachable!()
    };

    // Valid: every field read from the leaf.
    assert_eq!(
        reason(valid_check, "CertificateValid"),
        pair("True", "Valid")
    );
    assert_eq!(
        reason(valid_check, "CertificateExpiring"),
        pair("False", "NotExpiring")
    );
    let shown = certificate(valid_check).unwrap();
    assert_eq!(shown.verdict, CertificateVerdict::Valid);
    assert_eq!(shown.server_name, WWW);
    assert_eq!(shown.port, servers[0].addr().port());
    assert_eq!(shown.issuer.as_deref(), Some(&*format!("CN={CA_NAME}")));
    assert_eq!(shown.dns_names, [WWW]);
    assert_eq!(
        shown.not_after.as_ref().map(|t| t.0.as_second()),
        Some(valid.not_after)
    );
    assert_eq!(shown.message, None);

    // Expiring: valid, and within the 14-day warning.
    assert_eq!(
        reason(expiring_check, "CertificateValid"),
        pair("True", "Valid")
    );
    let (status, why, message) = condition(expiring_check, "CertificateExpiring").unwrap();
    assert_eq!((status.as_str(), why.as_str()), ("True", "ExpiresSoon"));
    assert!(message.contains("within 14 days"), "{message}");

    // Another name: the names are shown, the verdict says why.
    assert_eq!(
        reason(mismatch_check, "CertificateValid"),
        pair("False", "HostnameMismatch")
    );
    let shown = certificate(mismatch_check).unwrap();
    assert_eq!(shown.dns_names, ["other.tls.test"]);
    assert_eq!(
        shown.message.as_deref(),
        Some("the certificate is for other.tls.test, not www.tls.test")
    );

    // Expired: invalid and expiring both say so.
    assert_eq!(
        reason(expired_check, "CertificateValid"),
        pair("False", "Expired")
    );
    assert_eq!(
        reason(expired_check, "CertificateExpiring"),
        pair("True", "Expired")
    );
    assert_eq!(
        certificate(expired_check)
            .and_then(|c| c.not_after.as_ref())
            .map(|t| t.0.as_second()),
        Some(expired.not_after)
    );

    // The expiry gauge per endpoint.
    assert_eq!(
        expiry_gauge(&operator, "valid").await,
        Some(valid.not_after)
    );
    assert_eq!(
        expiry_gauge(&operator, "expired").await,
        Some(expired.not_after)
    );
    // The warning each expiry is compared with (the default 14 days).
    assert_eq!(
        gauge(
            &operator,
            "domain_monitor_dhc_certificate_expiry_warning_seconds",
            "valid"
        )
        .await,
        Some(14 * 86_400)
    );

    // Nothing changes for two more rounds: nothing is written.
    let writes: Vec<usize> = names.iter().map(|n| writes_of(&operator, n)).collect();
    let versions: Vec<Option<String>> = found
        .iter()
        .map(|c| c.metadata.resource_version.clone())
        .collect();
    rounds(&operator, &names, 2).await;
    for ((name, before), version) in names.iter().zip(&writes).zip(&versions) {
        assert_eq!(
            writes_of(&operator, name),
            *before,
            "{name}: a write without a change"
        );
        let now = api.get(name).await.unwrap();
        assert_eq!(
            &now.metadata.resource_version, version,
            "{name}: status changed without a change: {:#?}",
            now.status
        );
    }

    // The expiring certificate is renewed: one write, with the new
    // notAfter, and the gauge follows.
    let renewed: Leaf = ca.leaf(&[WWW], -1, 90);
    assert_ne!(renewed.not_after, expiring.not_after);
    servers[1].replace(&renewed);
    let after = wait_for(&api, "expiring", "the renewal", &operator, |c| {
        reason(c, "CertificateExpiring") == pair("False", "NotExpiring")
    })
    .await;
    assert_eq!(
        certificate(&after)
            .and_then(|c| c.not_after.as_ref())
            .map(|t| t.0.as_second()),
        Some(renewed.not_after)
    );
    rounds(&operator, &["expiring"], 2).await;
    assert_eq!(
        writes_of(&operator, "expiring"),
        writes[1] + 1,
        "one write for the renewal:\n{}",
        operator.log()
    );
    assert_eq!(
        expiry_gauge(&operator, "expiring").await,
        Some(renewed.not_after)
    );
}
