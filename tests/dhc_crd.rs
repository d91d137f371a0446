//! The DomainHealthCheck resource against a real API server: its schema's
//! validation messages, the status subresource and `kubectl get dhc`.

mod support;

use std::process::Command;

use domain_monitor::resource::dhc::{
    CanarySpec, CertificateStatus, CertificateVerdict, DomainHealthCheck, DomainHealthCheckStatus,
    Expectation, LookupOutcome, ProbeRecordType, RecordResult, ResolverStatus, TlsTarget,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{
    Api,
    api::{Patch, PatchParams, PostParams},
};
use support::{
    cluster::{TestNamespace, kubeconfig_path},
    dhc::{check, install_dhc_crd, record, resolver},
};

fn valid(name: &str) -> DomainHealthCheck {
    check(
        name,
        "example.com",
        vec![record("www", ProbeRecordType::A, &["192.0.2.1"])],
        vec![resolver("one", "127.0.0.1:5353")],
    )
}

async fn checks(test: &str) -> Api<DomainHealthCheck> {
    let ns = TestNamespace::new(test).await;
    install_dhc_crd(&ns.client).await;
    Api::namespaced(ns.client.clone(), &ns.name)
}

async fn rejected(api: &Api<DomainHealthCheck>, dhc: &DomainHealthCheck) -> String {
    api.create(&PostParams::default(), dhc)
        .await
        .expect_err("the API server must reject it")
        .to_string()
}

#[tokio::test]
async fn api_server_rejects_invalid_checks_with_clear_messages() {
    let api = checks("dhc-validation").await;
    api.create(&PostParams::default(), &valid("ok"))
        .await
        .expect("a valid check is accepted");

    let mut both = valid("both");
    both.spec.domain_ref = Some("example-com".to_owned());
    let text = rejected(&api, &both).await;
    assert!(text.contains("set exactly one of domain"), "{text}");

    let mut neither = valid("neither");
    neither.spec.domain = None;
    let text = rejected(&api, &neither).await;
    assert!(text.contains("set exactly one of domain"), "{text}");

    let mut url = valid("url");
    url.spec.domain = Some("https://example.com/".to_owned());
    let text = rejected(&api, &url).await;
    assert!(text.contains("bare name such as example.com"), "{text}");

    let mut bad_name = valid("bad-name");
    bad_name.spec.records[0].name = "www.example.com.".to_owned();
    let text = rejected(&api, &bad_name).await;
    assert!(text.contains("name must be @"), "{text}");

    let mut two_matchers = valid("two-matchers");
    two_matchers.spec.records[0].expect = vec![Expectation {
        exact: Some("192.0.2.1".to_owned()),
        contains: Some("192".to_owned()),
        regex: None,
    }];
    let text = rejected(&api, &two_matchers).await;
    assert!(
        text.contains("exactly one of exact, contains or regex"),
        "{text}"
    );

    for address in ["localhost:53", "192.0.2.1:dns", "http://192.0.2.1"] {
        let mut bad_address = valid("bad-address");
        bad_address.spec.resolvers[0].address = address.to_owned();
        let text = rejected(&api, &bad_address).await;
        assert!(
            text.contains("must be an IP address with an optional port"),
            "{address}: {text}"
        );
    }

    let mut twice = valid("twice");
    twice.spec.resolvers.push(resolver("one", "127.0.0.2"));
    let text = rejected(&api, &twice).await;
    assert!(text.contains("resolvers[].name must be unique"), "{text}");

    let mut fast = valid("fast");
    fast.spec.interval = Some("5s".to_owned());
    let text = rejected(&api, &fast).await;
    assert!(text.contains("interval must be at least 10s"), "{text}");

    let mut no_records = valid("no-records");
    no_records.spec.records.clear();
    let text = rejected(&api, &no_records).await;
    assert!(text.contains("records"), "{text}");

    let mut tls_url = valid("tls-url");
    tls_url.spec.tls = vec![TlsTarget {
        host: "https://www.example.com".to_owned(),
        port: None,
        sni: None,
    }];
    let text = rejected(&api, &tls_url).await;
    assert!(
        text.contains("tls[].host must be a bare host name"),
        "{text}"
    );

    let mut warning = valid("warning");
    warning.spec.certificate_warning = Some("two weeks".to_owned());
    let text = rejected(&api, &warning).await;
    assert!(
        text.contains("certificateWarning must be a duration"),
        "{text}"
    );

    let mut bad_canary = valid("bad-canary");
    bad_canary.spec.canary = Some(CanarySpec {
        name: "_canary.example.com.".to_owned(),
    });
    let text = rejected(&api, &bad_canary).await;
    assert!(
        text.contains("canary.name must be @ (the domain itself) or a name relative to the domain"),
        "{text}"
    );

    // The other address forms, a reference, certificates and a canary are
    // accepted.
    let mut forms = valid("forms");
    forms.spec.domain = None;
    forms.spec.domain_ref = Some("example-com".to_owned());
    forms.spec.resolvers = vec![
        resolver("v4", "192.0.2.53"),
        resolver("v6", "2001:db8::53"),
        resolver("v6-port", "[2001:db8::53]:5353"),
    ];
    forms
        .spec
        .records
        .push(record("@", ProbeRecordType::TXT, &[]));
    forms.spec.interval = Some("1m30s".to_owned());
    forms.spec.failure_threshold = Some(2);
    forms.spec.tls = vec![TlsTarget {
        host: "2001:db8::443".to_owned(),
        port: Some(8443),
        sni: Some("www.example.com".to_owned()),
    }];
    forms.spec.certificate_warning = Some("30d".to_owned());
    forms.spec.canary = Some(CanarySpec {
        name: "_canary".to_owned(),
    });
    api.create(&PostParams::default(), &forms)
        .await
        .expect("IPv6 resolvers, a domainRef and @ are accepted");
}

#[tokio::test]
async fn status_subresource_and_kubectl_columns() {
    let api = checks("dhc-status").await;
    let created = api
        .create(&PostParams::default(), &valid("www"))
        .await
        .expect("create");
    let now = Time("2026-01-01T00:00:00Z".parse().unwrap());
    let condition = |type_: &str, status: &str, reason: &str| Condition {
        type_: type_.to_owned(),
        status: status.to_owned(),
        reason: reason.to_owned(),
        message: "m".to_owned(),
        observed_generation: created.metadata.generation,
        last_transition_time: now.clone(),
    };
    let status = DomainHealthCheckStatus {
        domain: Some("example.com".to_owned()),
        resolvers: vec![ResolverStatus {
            name: "one".to_owned(),
            address: "127.0.0.1:5353".to_owned(),
            records: vec![RecordResult {
                name: "www.example.com".to_owned(),
                record_type: ProbeRecordType::A,
                rcode: LookupOutcome::NOERROR,
                answers: vec!["192.0.2.9".to_owned()],
                matches: false,
            }],
        }],
        propagation: None,
        certificates: vec![CertificateStatus {
            host: "www.example.com".to_owned(),
            port: 443,
            server_name: "www.example.com".to_owned(),
            verdict: CertificateVerdict::HostnameMismatch,
            not_after: Some(Time("2026-03-01T00:00:00Z".parse().unwrap())),
            issuer: Some("CN=Test CA,O=Example".to_owned()),
            dns_names: vec!["other.example.com".to_owned()],
            message: Some(
                "the certificate is for other.example.com, not www.example.com".to_owned(),
            ),
            note: None,
        }],
        canary: None,
        conditions: vec![
            condition("Resolving", "True", "AllResolving"),
            condition("AnswersMatch", "False", "AnswerMismatch"),
            condition("Converged", "False", "Propagating"),
            condition("CertificateValid", "False", "HostnameMismatch"),
            condition("CertificateExpiring", "False", "NotExpiring"),
        ],
        observed_generation: created.metadata.generation,
    };
    let patch = serde_json::json!({
        "apiVersion": "domainmonitor.io/v1alpha1",
        "kind": "DomainHealthCheck",
        "status": status,
    });
    api.patch_status(
        "www",
        &PatchParams::apply("domain-monitor").force(),
        &Patch::Apply(&patch),
    )
    .await
    .expect("status patch");
    let read = api.get("www").await.expect("get");
    assert_eq!(read.status.as_ref(), Some(&status));

    let output = Command::new("kubectl")
        .args(["--kubeconfig"])
        .arg(kubeconfig_path())
        .args(["get", "dhc", "-o", "wide", "-n"])
        .arg(api.namespace().unwrap_or_default())
        .output()
        .expect("kubectl runs");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        header,
        [
            "NAME",
            "DOMAIN",
            "RESOLVING",
            "ANSWERS",
            "CONVERGED",
            "CERTIFICATE",
            "REASON",
            "AGE"
        ]
    );
    let row: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        row[..7],
        [
            "www",
            "example.com",
            "True",
            "False",
            "False",
            "HostnameMismatch",
            "AnswerMismatch"
        ]
    );
}
