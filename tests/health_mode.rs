//! Health mode end to end: the operator binary against the real API
//! server, a real registry (rdap-srv) and TLD servers (nsd). A domain with
//! `spec.health` gets `status.health` and the health conditions; a change
//! of its registration at the registry gives one status write and one Event
//! per change; nothing changing gives no write.

mod support;

use std::{
    net::{IpAddr, Ipv4Addr},
    time::Duration,
};

use domain_monitor::{
    health::{DELEGATION_DRIFT, DNSSEC_VALID, EXPIRING_SOON, HEALTHY, REGISTRY_LOCKED},
    resource::{HealthSpec, MonitoredDomain, RegistryLockPolicy},
};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::events::v1::Event;
use kube::{
    Api, ResourceExt,
    api::{ListParams, Patch, PatchParams, PostParams},
    runtime::{WatchStreamExt, watcher},
};
use support::{
    cluster::{TestNamespace, pinned},
    health::{self, assert_no_writes, condition, message, pair, writes_during},
    nsd::{Nsd, Zone, free_port_on},
    operator::{Operator, wait_for_resource},
    rdap_srv::DomainSpec,
    world::World,
};

const PATIENCE: Duration = Duration::from_secs(60);
const NAME: &str = "owned";
const DOMAIN: &str = "owned.test";
/// Where `owned.test`'s own server, `ns1.owned.test`, listens.
const CHILD: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 21);
/// Where the lame case's `ns1.owned.test` listens (serving another zone).
const LAME_CHILD: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 22);

/// The registry's object of `owned.test`, expiring on `expires`,
/// registry-locked unless `unlocked`, delegated to `ns1.owned.test`.
fn registry_object(expires: &str, unlocked: bool) -> DomainSpec {
    registry_object_with(expires, unlocked, &["ns1.owned.test"])
}

/// [`registry_object`] with the name servers `nameservers`.
fn registry_object_with(expires: &str, unlocked: bool, nameservers: &[&str]) -> DomainSpec {
    let mut spec = DomainSpec::new(DOMAIN).registrar("Demo Registrar Inc.");
    for nameserver in nameservers {
        spec = spec.nameserver(nameserver);
    }
    spec = spec
        .status("active")
        .status("client transfer prohibited")
        .status("server delete prohibited")
        .status("server update prohibited")
        .created("2020-01-15T10:00:00Z")
        .expires(expires);
    if !unlocked {
        spec = spec.status("server transfer prohibited");
    }
    spec
}

fn owned() -> MonitoredDomain {
    let mut md = pinned(NAME, DOMAIN, false);
    md.spec.health = Some(HealthSpec {
        registry_lock: RegistryLockPolicy::Required,
        expiry_warning: Some("30d".to_owned()),
        criticality: Some("critical".to_owned()),
        ..HealthSpec::default()
    });
    md
}

/// Every version of the resource the API server shows from now until
/// `stop` fires: its creation and each write after it (the namespace is
/// empty when this starts, so the watch's initial listing holds nothing).
fn record_versions(
    api: &Api<MonitoredDomain>,
    stop: tokio::sync::oneshot::Receiver<()>,
) -> tokio::task::JoinHandle<Vec<MonitoredDomain>> {
    let stream = watcher(api.clone(), watcher::Config::default())
        .touched_objects()
        .take_until(stop);
    tokio::spawn(async move { stream.try_collect::<Vec<_>>().await.expect("watch") })
}

/// The registry's RDAP answer becomes `object`: the writes that follow.
async fn registry_answers(world: &World, api: &Api<MonitoredDomain>, object: DomainSpec) -> usize {
    writes_during(api, async { world.rdap.add_domain(&object).await }).await
}

/// The value of the series of `name` that has every label of `labels`.
fn series(text: &str, name: &str, labels: &[String]) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with('{'))
        .find(|l| labels.iter().all(|label| l.contains(label.as_str())))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

/// A world where [`DOMAIN`] is registered and active, its registry object
/// expiring on 2027-01-15, registry-locked.
async fn registered_world() -> World {
    let world = World::start().await;
    world.register(DOMAIN, "active").await;
    world
        .rdap
        .add_domain(&registry_object("2027-01-15T10:00:00Z", false))
        .await;
    world
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registration_change_gives_one_write_and_one_event_per_change() {
    let ns = TestNamespace::new("health-mode").await;
    let world = registered_world().await;
    let api = ns.domains();
    let (stop_recording, recording_stopped) = tokio::sync::oneshot::channel();
    let versions = record_versions(&api, recording_stopped);
    // The watch is established before the resource exists.
    tokio::time::sleep(Duration::from_millis(500)).await;
    api.create(&PostParams::default(), &owned())
        .await
        .expect("create");
    // The domain's own server, authoritative for it, with glue at the parent.
    let port = free_port_on(&[IpAddr::V4(CHILD)]);
    let _child = tokio::task::block_in_place(|| {
        let child = Nsd::start_on(
            Zone::child(DOMAIN, &["ns1.owned.test"]),
            &[],
            IpAddr::V4(CHILD),
            Some(port),
        );
        world.nsd.change(|zone| {
            let parent = std::mem::replace(zone, Zone::new("test"));
            *zone = parent.address("ns1.owned.test", IpAddr::V4(CHILD));
        });
        child
    });
    let mut env = world.checker_env();
    env.push(("NAMESERVER_PORT".to_owned(), port.to_string()));
    let operator = Operator::start(&ns.name, "health-mode", &env);

    // The first registration facts give status.health and its conditions.
    let md = wait_for_resource(
        &api,
        NAME,
        PATIENCE,
        "the health conditions",
        &operator,
        |md| condition(md, HEALTHY).is_some_and(|(status, _)| status == "True"),
    )
    .await;
    // Health mode fetches the registry's facts at the first check: the
    // first status written already says whether the domain is healthy.
    stop_recording.send(()).expect("the watch runs");
    let versions = versions.await.expect("watch task");
    let status_writes: Vec<Option<(String, String)>> = versions
        .iter()
        .filter(|v| v.status.is_some())
        .map(|v| condition(v, HEALTHY))
        .collect();
    assert!(
        status_writes
            .first()
            .and_then(Option::as_ref)
            .is_some_and(|(status, _)| status != "Unknown"),
        "Healthy in each status write from creation on: {status_writes:?}\n{}",
        operator.log()
    );
    let health = md
        .status
        .as_ref()
        .unwrap()
        .health
        .clone()
        .expect("status.health");
    let registration = health.registration.expect("the registration view");
    assert_eq!(
        registration.registrar.as_deref(),
        Some("Demo Registrar Inc.")
    );
    assert_eq!(
        registration.expires_at.map(|t| t.0.to_string()).as_deref(),
        Some("2027-01-15T10:00:00Z")
    );
    assert_eq!(registration.nameservers, ["ns1.owned.test"]);
    let lock = health.lock.expect("the lock view");
    assert!(lock.locked, "{lock:?}");
    assert_eq!(lock.client, ["clientTransferProhibited"]);
    assert_eq!(condition(&md, REGISTRY_LOCKED), pair("True", "Locked"));
    assert_eq!(
        condition(&md, EXPIRING_SOON),
        pair("False", "NotExpiringSoon")
    );
    assert!(
        health::event_reasons(&ns, NAME).await.is_empty(),
        "the first facts are a baseline"
    );
    let healthy_message = md
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == HEALTHY))
        .map(|c| c.message.clone());
    assert_eq!(
        healthy_message.as_deref(),
        Some("every health check passes"),
        "no check the domain asks for is unknown"
    );

    // Checks every 3 s, each asking the registry: nothing changes, nothing
    // is written.
    assert_no_writes(&api, "nothing changed", &operator).await;

    // DNSSEC asked for, but this world's resolvers refuse to give the
    // root's keys: DNSSEC cannot be checked, so the domain is not called
    // healthy until it is.
    let dnssec = |policy: &str| serde_json::json!({"spec": {"health": {"dnssec": policy}}});
    api.patch(
        NAME,
        &PatchParams::default(),
        &Patch::Merge(&dnssec("Required")),
    )
    .await
    .expect("require DNSSEC");
    let md = wait_for_resource(&api, NAME, PATIENCE, "DNSSECValid", &operator, |md| {
        condition(md, DNSSEC_VALID).is_some()
    })
    .await;
    assert_eq!(condition(&md, DNSSEC_VALID), pair("Unknown", "NotChecked"));
    assert_eq!(condition(&md, HEALTHY), pair("Unknown", "Pending"));
    let healthy = message(&md, HEALTHY);
    assert!(
        healthy.contains("DNSSECValid (DNSSEC has not been checked yet)"),
        "{healthy}"
    );
    api.patch(
        NAME,
        &PatchParams::default(),
        &Patch::Merge(&dnssec("Ignore")),
    )
    .await
    .expect("ignore DNSSEC");
    wait_for_resource(
        &api,
        NAME,
        PATIENCE,
        "healthy again without DNSSEC",
        &operator,
        |md| condition(md, HEALTHY).is_some_and(|(status, _)| status == "True"),
    )
    .await;
    assert!(
        health::event_reasons(&ns, NAME).await.is_empty(),
        "DNSSEC not known is no event"
    );

    // Renewed at the registry: one write, one Event.
    let writes =
        registry_answers(&world, &api, registry_object("2028-01-15T10:00:00Z", false)).await;
    let md = api.get(NAME).await.expect("get");
    let expires = md
        .status
        .as_ref()
        .and_then(|s| s.health.as_ref())
        .and_then(|h| h.registration.as_ref())
        .and_then(|r| r.expires_at.as_ref())
        .map(|t| t.0.to_string());
    assert_eq!(expires.as_deref(), Some("2028-01-15T10:00:00Z"));
    assert_eq!(writes, 1, "one write for the renewal:\n{}", operator.log());
    assert_eq!(
        health::wait_for_event_reasons(&ns, NAME, 1).await,
        ["Renewed"]
    );

    // The registry lock goes: one write, the statuses change and the lock
    // is lost (one Event each), and the domain is unhealthy.
    let writes =
        registry_answers(&world, &api, registry_object("2028-01-15T10:00:00Z", true)).await;
    assert_eq!(
        writes,
        1,
        "one write for the lost lock:\n{}",
        operator.log()
    );
    let md = api.get(NAME).await.expect("get");
    assert_eq!(condition(&md, REGISTRY_LOCKED), pair("False", "NotLocked"));
    assert_eq!(condition(&md, HEALTHY), pair("False", "NotLocked"));
    let lock = md
        .status
        .as_ref()
        .and_then(|s| s.health.as_ref())
        .and_then(|h| h.lock.clone())
        .expect("the lock view");
    assert_eq!(lock.missing, ["serverTransferProhibited"]);
    assert_eq!(
        health::wait_for_event_reasons(&ns, NAME, 3).await,
        ["LockLost", "Renewed", "StatusesChanged"]
    );

    // The renewal undone (back to the old term): one write, a warning Event.
    let writes =
        registry_answers(&world, &api, registry_object("2027-01-15T10:00:00Z", true)).await;
    assert_eq!(
        writes,
        1,
        "one write for the shortened expiry:\n{}",
        operator.log()
    );
    assert_eq!(
        health::wait_for_event_reasons(&ns, NAME, 4).await,
        ["ExpiryShortened", "LockLost", "Renewed", "StatusesChanged"]
    );
    let events: Api<Event> = Api::namespaced(ns.client.clone(), &ns.name);
    let shortened = events
        .list(&ListParams::default())
        .await
        .expect("list events")
        .items
        .into_iter()
        .find(|e| e.reason.as_deref() == Some("ExpiryShortened"))
        .expect("the ExpiryShortened event");
    assert_eq!(shortened.type_.as_deref(), Some("Warning"));
    let note = shortened.note.unwrap_or_default();
    assert!(
        note.contains("2027-01-15") && note.contains("2028-01-15"),
        "{note}"
    );

    // The metrics: the expiry, the lock, the changes by kind.
    let text = operator.metrics().await;
    let labels = [
        format!("namespace=\"{}\"", ns.name),
        format!("name=\"{NAME}\""),
        format!("domain=\"{DOMAIN}\""),
        "criticality=\"critical\"".to_owned(),
    ];
    assert_eq!(
        series(&text, "domain_monitor_health_expiry_seconds", &labels),
        Some(1_800_007_200.0),
        "2027-01-15T10:00:00Z:\n{text}"
    );
    assert_eq!(
        series(&text, "domain_monitor_health_locked", &labels),
        Some(0.0),
        "{text}"
    );
    assert_eq!(
        series(&text, "domain_monitor_health_delegation_drift", &labels),
        Some(0.0),
        "the delegation is probed and consistent: {text}"
    );
    for (kind, count) in [
        ("renewed", 1.0),
        ("expiry_shortened", 1.0),
        ("statuses", 1.0),
        ("registrar", 0.0),
        ("nameservers", 0.0),
    ] {
        assert_eq!(
            series(
                &text,
                "domain_monitor_health_registration_changes_total",
                &[format!("kind=\"{kind}\"")]
            ),
            Some(count),
            "{kind}: {text}"
        );
    }

    // The name servers changed at the registry only (a hijack's first sign,
    // or a half-done migration): DelegationDrift, one write, one Event.
    let writes = writes_during(&api, async {
        world
            .rdap
            .add_domain(&registry_object_with(
                "2027-01-15T10:00:00Z",
                true,
                &["ns1.owned.test", "ns2.owned.test"],
            ))
            .await;
    })
    .await;
    assert_eq!(
        writes,
        1,
        "one write for the name servers changed at the registry:\n{}",
        operator.log()
    );
    let md = api.get(NAME).await.expect("get");
    assert_eq!(condition(&md, DELEGATION_DRIFT), pair("True", "Drift"));
    let drift = message(&md, DELEGATION_DRIFT);
    assert!(
        drift.starts_with(
            "The registry lists ns1.owned.test, ns2.owned.test; the parent and the child \
             server that answers list ns1.owned.test."
        ),
        "{drift}"
    );
    let healthy = message(&md, HEALTHY);
    assert!(
        healthy.contains(
            "DelegationDrift (the registry's name servers differ from the parent's; \
             lame servers: ns2.owned.test)"
        ) && !healthy.contains("Set the name servers"),
        "Healthy names the drift briefly: {healthy}"
    );
    let reasons = health::wait_for_event_reasons(&ns, NAME, 5).await;
    assert_eq!(
        reasons
            .iter()
            .filter(|r| *r == "NameserversChanged")
            .count(),
        1,
        "{reasons:?}"
    );
    assert_eq!(reasons.len(), 5, "{reasons:?}");
    assert_no_writes(&api, "the drift stays", &operator).await;

    // The expiry comes within the warning (here: the warning grows past
    // it): ExpiringSoon, one write, one Event.
    let writes = writes_during(&api, async {
        let patch = serde_json::json!({"spec": {"health": {"expiryWarning": "3650d"}}});
        api.patch(NAME, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("patch the warning");
    })
    .await;
    assert_eq!(
        writes,
        2,
        "the spec change and one status write:\n{}",
        operator.log()
    );
    let md = api.get(NAME).await.expect("get");
    assert_eq!(
        condition(&md, EXPIRING_SOON)
            .map(|(status, _)| status)
            .as_deref(),
        Some("True")
    );
    let reasons = health::wait_for_event_reasons(&ns, NAME, 6).await;
    assert_eq!(
        reasons.iter().filter(|r| *r == "ExpiringSoon").count(),
        1,
        "{reasons:?}"
    );
    assert_eq!(reasons.len(), 6, "{reasons:?}");

    // The TLD's servers stop answering: the delegation cannot be probed,
    // which says nothing about the domain. The last view stays, and no
    // write claims a change of its health.
    let health_of = |md: &MonitoredDomain| {
        let status = md.status.as_ref();
        (
            status.and_then(|s| s.health.clone()),
            status.map(|s| {
                s.conditions
                    .iter()
                    .filter(|c| domain_monitor::health::is_health_condition(&c.type_))
                    .map(|c| (c.type_.clone(), c.status.clone(), c.message.clone()))
                    .collect::<Vec<_>>()
            }),
        )
    };
    let before = health_of(&md);
    let (stop_recording, recording_stopped) = tokio::sync::oneshot::channel();
    let versions = record_versions(&api, recording_stopped);
    tokio::task::block_in_place(|| world.nsd.stop());
    tokio::time::sleep(Duration::from_secs(12)).await;
    stop_recording.send(()).expect("the watch runs");
    let versions = versions.await.expect("watch task");
    for version in &versions {
        assert_eq!(
            health_of(version),
            before,
            "a write changed the health while the TLD was silent:\n{}",
            operator.log()
        );
    }
    assert!(
        operator.log().contains("cannot probe the delegation"),
        "the probe failure is logged:\n{}",
        operator.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lame_name_server_is_delegation_drift_naming_it() {
    let ns = TestNamespace::new("health-lame").await;
    let world = registered_world().await;
    // `ns1.owned.test` answers, but does not serve `owned.test` (REFUSED).
    let port = free_port_on(&[IpAddr::V4(LAME_CHILD)]);
    let _child = tokio::task::block_in_place(|| {
        let child = Nsd::start_on(
            Zone::child("other.test", &["ns1.other.test"]),
            &[],
            IpAddr::V4(LAME_CHILD),
            Some(port),
        );
        world.nsd.change(|zone| {
            let parent = std::mem::replace(zone, Zone::new("test"));
            *zone = parent.address("ns1.owned.test", IpAddr::V4(LAME_CHILD));
        });
        child
    });
    let api = ns.domains();
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let versions = record_versions(&api, stopped);
    // The watch is established before the resource exists.
    tokio::time::sleep(Duration::from_millis(500)).await;
    api.create(&PostParams::default(), &owned())
        .await
        .expect("create");
    let mut env = world.checker_env();
    env.push(("NAMESERVER_PORT".to_owned(), port.to_string()));
    let operator = Operator::start(&ns.name, "health-lame", &env);

    let md = wait_for_resource(
        &api,
        NAME,
        PATIENCE,
        "the delegation drift",
        &operator,
        |md| {
            condition(md, DELEGATION_DRIFT).is_some()
                && condition(md, EXPIRING_SOON).is_some_and(|(status, _)| status == "False")
        },
    )
    .await;
    assert_eq!(
        condition(&md, DELEGATION_DRIFT),
        pair("True", "LameServers")
    );
    let message = md
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == DELEGATION_DRIFT))
        .map(|c| c.message.clone())
        .unwrap_or_default();
    assert!(message.contains("ns1.owned.test"), "{message}");
    assert_eq!(
        condition(&md, HEALTHY).map(|(status, _)| status).as_deref(),
        Some("False")
    );
    let lame = md
        .status
        .as_ref()
        .and_then(|s| s.health.as_ref())
        .and_then(|h| h.delegation.as_ref())
        .map(|d| d.lame.clone())
        .expect("the delegation view");
    assert_eq!(lame.len(), 1, "{lame:?}");
    assert!(lame[0].starts_with("ns1.owned.test"), "{lame:?}");

    // Still lame at every check (every 3 s): nothing more is written.
    let lame_version = md.resource_version();
    tokio::time::sleep(Duration::from_secs(10)).await;
    stop.send(()).expect("the watch runs");
    let versions = versions.await.expect("watch task");
    let summary: Vec<String> = versions
        .iter()
        .map(|v| {
            let status = v.status.as_ref();
            format!(
                "{:?}: availability {:?}, health {:?}, conditions {:?}",
                v.resource_version(),
                status.map(|s| s.availability),
                status.and_then(|s| s.health.as_ref()),
                status.map(|s| {
                    s.conditions
                        .iter()
                        .map(|c| format!("{}={}", c.type_, c.status))
                        .collect::<Vec<_>>()
                })
            )
        })
        .collect();
    assert_eq!(
        versions.last().and_then(ResourceExt::resource_version),
        lame_version,
        "writes after the lame server was reported:\n{}\n{}",
        summary.join("\n"),
        operator.log()
    );
    // From creation on: the creation, its shard label, and the first
    // verdict (the registry's facts fetched and the delegation probed
    // already: lame). Nothing for life signs, nothing per check.
    assert!(
        versions.len() <= 3,
        "{} versions from creation on:\n{}\n{}",
        versions.len(),
        summary.join("\n"),
        operator.log()
    );
}
