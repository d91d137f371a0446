//! The MonitoredDomain resource against a real API server: schema, validation,
//! status subresource and `kubectl get md` columns.

mod support;

use std::process::Command;

use domain_monitor::resource::{
    Availability, DnssecPolicy, HealthSpec, MonitoredDomain, MonitoredDomainSpec,
    MonitoredDomainStatus, Registration, RegistryLockPolicy,
};
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Patch, PatchParams, PostParams};
use support::cluster::{TestNamespace, kubeconfig_path};

fn domain(name: &str, spec_domain: &str, priority: bool) -> MonitoredDomain {
    MonitoredDomain::new(
        name,
        MonitoredDomainSpec {
            domain: spec_domain.to_owned(),
            priority,
            check_interval: None,
            health: None,
        },
    )
}

#[tokio::test]
async fn resource_round_trips_and_status_subresource_is_separate() {
    let ns = TestNamespace::new("crd-roundtrip").await;
    let api = ns.domains();
    let created = api
        .create(
            &PostParams::default(),
            &domain("example-com", "Example.COM", true),
        )
        .await
        .expect("create");
    assert_eq!(created.spec.domain, "Example.COM");
    assert!(created.spec.priority);
    assert!(created.status.is_none(), "a new resource has no status");

    // Status goes through the status subresource with server-side apply.
    let expires: Timestamp = "2027-03-01T00:00:00Z".parse().unwrap();
    let status = MonitoredDomainStatus {
        domain: Some("example.com".to_owned()),
        availability: Availability::Registered,
        confidence: Some(0.97),
        registration: Some(Registration {
            registrar: Some("Example Registrar".to_owned()),
            expires_at: Some(Time(expires)),
            statuses: vec!["clientTransferProhibited".to_owned()],
            ..Default::default()
        }),
        observed_generation: created.metadata.generation,
        ..Default::default()
    };
    let patch = serde_json::json!({
        "apiVersion": "domainmonitor.io/v1alpha1",
        "kind": "MonitoredDomain",
        "status": status,
    });
    api.patch_status(
        "example-com",
        &PatchParams::apply("domain-monitor").force(),
        &Patch::Apply(&patch),
    )
    .await
    .expect("status patch");
    let read = api.get("example-com").await.expect("get");
    assert_eq!(read.status.as_ref(), Some(&status));

    // A spec update does not touch status, and a status in a main-resource
    // update is ignored (that is what the subresource means).
    let mut changed = read.clone();
    changed.spec.priority = false;
    changed.status = Some(MonitoredDomainStatus {
        availability: Availability::Available,
        ..Default::default()
    });
    let replaced = api
        .replace("example-com", &PostParams::default(), &changed)
        .await
        .expect("replace");
    assert!(!replaced.spec.priority);
    assert_eq!(
        replaced.status.unwrap().availability,
        Availability::Registered,
        "status must only change through the status subresource"
    );
}

#[tokio::test]
async fn api_server_rejects_invalid_domains_with_clear_messages() {
    let ns = TestNamespace::new("crd-validation").await;
    let api = ns.domains();
    let cases = [
        (
            "url",
            "https://example.com/",
            "bare name such as example.com",
        ),
        ("space", "exa mple.com", "no white space"),
        ("dots", "example..com", "empty labels"),
        ("single", "localhost", "at least two labels"),
    ];
    for (name, bad, message) in cases {
        let err = api
            .create(&PostParams::default(), &domain(name, bad, false))
            .await
            .expect_err(bad);
        let text = err.to_string();
        assert!(text.contains(message), "{bad:?}: {text}");
    }
    let mut bad_interval = domain("interval", "example.org", false);
    bad_interval.spec.check_interval = Some("5 minutes".to_owned());
    let err = api
        .create(&PostParams::default(), &bad_interval)
        .await
        .expect_err("bad interval");
    assert!(
        err.to_string().contains("checkInterval must be a duration"),
        "{err}"
    );
    bad_interval.spec.check_interval = Some("5s".to_owned());
    let err = api
        .create(&PostParams::default(), &bad_interval)
        .await
        .expect_err("too short interval");
    assert!(err.to_string().contains("at least 10s"), "{err}");

    // Unicode and an interval in range are accepted.
    let mut idn = domain("idn", "Bücher.example", false);
    idn.spec.check_interval = Some("1h30m".to_owned());
    api.create(&PostParams::default(), &idn)
        .await
        .expect("IDN with a valid interval");
}

#[tokio::test]
async fn kubectl_get_md_shows_the_printer_columns() {
    let ns = TestNamespace::new("crd-kubectl").await;
    let api = ns.domains();
    api.create(
        &PostParams::default(),
        &domain("drop-example", "drop.example", true),
    )
    .await
    .expect("create");
    let patch = serde_json::json!({
        "apiVersion": "domainmonitor.io/v1alpha1",
        "kind": "MonitoredDomain",
        "status": {"availability": "PendingDelete", "confidence": 0.8},
    });
    api.patch_status(
        "drop-example",
        &PatchParams::apply("domain-monitor").force(),
        &Patch::Apply(&patch),
    )
    .await
    .expect("status patch");

    let output = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig_path())
        .args(["get", "md", "-n", &ns.name])
        .output()
        .expect("kubectl runs");
    assert!(
        output.status.success(),
        "kubectl failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut lines = stdout.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "NAME",
            "DOMAIN",
            "PRIORITY",
            "AVAILABILITY",
            "HEALTH",
            "CONFIDENCE",
            "EXPIRES",
            "VERIFIED",
            "AGE"
        ]
    );
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        &row[..5],
        [
            "drop-example",
            "drop.example",
            "true",
            "PendingDelete",
            "0.8"
        ],
        "HEALTH is empty when health mode is off"
    );

    // In health mode, HEALTH shows the Healthy condition.
    let mut owned = domain("owned-example", "owned.example", false);
    owned.spec.health = Some(HealthSpec::default());
    api.create(&PostParams::default(), &owned)
        .await
        .expect("create");
    let patch = serde_json::json!({
        "apiVersion": "domainmonitor.io/v1alpha1",
        "kind": "MonitoredDomain",
        "status": {
            "availability": "Registered",
            "confidence": 0.97,
            "registration": {"expiresAt": "2027-01-15T10:00:00Z"},
            "health": {"registration": {"expiresAt": "2027-01-15T10:00:00Z"}},
            "conditions": [{
                "type": "Healthy", "status": "False", "reason": "WithinWarning",
                "message": "expires soon", "lastTransitionTime": "2026-12-01T00:00:00Z",
            }],
        },
    });
    api.patch_status(
        "owned-example",
        &PatchParams::apply("domain-monitor").force(),
        &Patch::Apply(&patch),
    )
    .await
    .expect("status patch");
    let output = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig_path())
        .args(["get", "md", "owned-example", "--no-headers", "-n", &ns.name])
        .output()
        .expect("kubectl runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let row: Vec<&str> = stdout.split_whitespace().collect();
    assert_eq!(
        &row[..7],
        [
            "owned-example",
            "owned.example",
            "false",
            "Registered",
            "False",
            "0.97",
            "2027-01-15T10:00:00Z"
        ],
        "{stdout}"
    );
}

#[tokio::test]
async fn api_server_rejects_bad_health_settings_with_clear_messages() {
    use kube::{
        Api,
        api::{ApiResource, DynamicObject},
    };
    let ns = TestNamespace::new("crd-health").await;
    let api = ns.domains();
    // Untyped, so that values the Rust types cannot hold reach the server.
    let raw: Api<DynamicObject> = Api::namespaced_with(
        ns.client.clone(),
        &ns.name,
        &ApiResource::erase::<MonitoredDomain>(&()),
    );
    let with = |name: &str, health: serde_json::Value| {
        serde_json::from_value::<DynamicObject>(serde_json::json!({
            "apiVersion": "domainmonitor.io/v1alpha1",
            "kind": "MonitoredDomain",
            "metadata": {"name": name},
            "spec": {"domain": format!("{name}.example"), "health": health},
        }))
        .expect("an object")
    };
    let cases = [
        (
            "ns-url",
            serde_json::json!({"expectedNameservers": ["ns1.example.net", "https://ns2.example.net/"]}),
            "expectedNameservers must be host names",
        ),
        (
            "ns-port",
            serde_json::json!({"expectedNameservers": ["ns1.example.net:53"]}),
            "expectedNameservers must be host names",
        ),
        (
            "ns-address",
            serde_json::json!({"expectedNameservers": ["192.0.2.1"]}),
            "expectedNameservers must be host names",
        ),
        (
            "warning",
            serde_json::json!({"expiryWarning": "a month"}),
            "expiryWarning must be a duration such as 30d",
        ),
        (
            // Fits the units but no duration: refused, not read as 30d.
            "warning-huge",
            serde_json::json!({"expiryWarning": "99999999999999999999d"}),
            "at most 9 digits a number",
        ),
        (
            "critical",
            serde_json::json!({"criticality": "very critical!"}),
            "criticality must be a short label",
        ),
        (
            "lock",
            serde_json::json!({"registryLock": "Sometimes"}),
            "Unsupported value: \"Sometimes\"",
        ),
        (
            "dnssec",
            serde_json::json!({"dnssec": "Yes"}),
            "Unsupported value: \"Yes\"",
        ),
    ];
    for (name, health, message) in cases {
        let err = raw
            .create(&PostParams::default(), &with(name, health.clone()))
            .await
            .expect_err(name);
        let text = err.to_string();
        assert!(text.contains(message), "{health}: {text}");
    }

    // Valid settings are accepted; case and a trailing dot are fine, and
    // the policies default to Ignore.
    let good = serde_json::json!({
        "expectedNameservers": ["NS1.Example.NET.", "ns2.example.net"],
        "expiryWarning": "14d12h",
        "criticality": "tier-1",
    });
    raw.create(&PostParams::default(), &with("good", good))
        .await
        .expect("valid health settings");
    let health = api.get("good").await.expect("get").spec.health;
    let health = health.expect("health kept");
    assert_eq!(health.registry_lock, RegistryLockPolicy::Ignore);
    assert_eq!(health.dnssec, DnssecPolicy::Ignore);
    assert_eq!(health.criticality.as_deref(), Some("tier-1"));
    // An empty block switches health mode on with the defaults.
    raw.create(
        &PostParams::default(),
        &with("empty", serde_json::json!({})),
    )
    .await
    .expect("an empty health block");
    let empty = api.get("empty").await.expect("get");
    assert_eq!(empty.spec.health, Some(HealthSpec::default()));
}

#[tokio::test]
async fn resources_applied_by_hand_get_their_shard_label_across_namespaces() {
    use domain_monitor::shard::{SHARD_LABEL, label_unsharded, shard_of_key};
    use kube::{Api, ResourceExt};

    let ns = TestNamespace::new("labeler").await;
    let api = ns.domains();
    api.create(
        &PostParams::default(),
        &domain("by-hand", "By-Hand.example", false),
    )
    .await
    .expect("create");
    // Watching every namespace, as an operator without WATCH_NAMESPACE does.
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let labeler = tokio::spawn(label_unsharded(Api::all(ns.client.clone()), 16, async {
        let _ = stopped.await;
    }));
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    let label = loop {
        let md = api.get("by-hand").await.expect("get");
        if let Some(label) = md.labels().get(SHARD_LABEL) {
            break label.clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "never labelled");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(label, shard_of_key("by-hand.example", 16).to_string());
    let _ = stop.send(());
    labeler.await.expect("labeler stops");
}
