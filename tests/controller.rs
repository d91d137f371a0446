//! The operator end to end: a real API server, real DNS/RDAP/WHOIS servers,
//! the user's domain API and callback receiver, and the operator binary.

mod support;

use std::{sync::atomic::Ordering, time::Duration};

use domain_monitor::controller::writer::STATUS_WRITE_ACCEPT;
use domain_monitor::resource::{
    Availability, CheckOutcome, MonitoredDomain, NotificationDelivery, SOURCE_LABEL,
};
use futures::{StreamExt, TryStreamExt};
use http_body_util::BodyExt;
use kube::{
    Api, ResourceExt,
    api::{ListParams, PostParams},
    runtime::{WatchStreamExt, watcher},
};
use serde_json::json;
use support::{
    cluster::{
        PrivateServer, TestNamespace, create_namespace, install_crd, kubeconfig_path, names, pinned,
    },
    http_stub::Reply,
    nsd::{TldServers, Zone},
    operator::{Operator, wait_for_availability, wait_for_registration_facts},
    throttle::ThrottlingFront,
    world::{TOKEN, World},
};

const PATIENCE: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropping_domain_is_notified_exactly_once() {
    let ns = TestNamespace::new("drop-once").await;
    let world = World::start().await;
    world.register("drop.test", "active").await;
    let api = ns.domains();
    api.create(&PostParams::default(), &pinned("drop", "Drop.TEST", true))
        .await
        .expect("create");
    let env = world.notifying_env();
    let operator = Operator::start(&ns.name, "drop-once", &env);
    wait_for_availability(&api, "drop", Availability::Registered, &operator).await;
    // The first check asks the cheap layers; the facts follow in the deep lane.
    wait_for_registration_facts(&api, "drop", &operator).await;
    let status = api.get("drop").await.unwrap().status.unwrap();
    assert_eq!(
        status.domain.as_deref(),
        Some("drop.test"),
        "checked as the A-label"
    );
    let registration = status.registration.expect("registration facts");
    assert_eq!(
        registration.registrar.as_deref(),
        Some("Demo Registrar Inc.")
    );
    assert!(registration.expires_at.is_some());

    world.drop_domain("drop.test").await;
    wait_for_availability(&api, "drop", Availability::Available, &operator).await;
    world
        .wait_until("the availability notification", PATIENCE, |w| {
            !w.notifications().is_empty()
        })
        .await;
    // Several more check intervals pass: no second notification.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let notifications = world.notifications();
    assert_eq!(notifications.len(), 1, "exactly one notification");
    let sent = &notifications[0];
    assert_eq!(
        sent.header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    let key = sent
        .header("idempotency-key")
        .expect("Idempotency-Key header");
    let body = sent.json();
    assert_eq!(body["domain"], "drop.test");
    assert_eq!(body["status"], "available");
    assert!(body["confidence"].as_f64().unwrap() >= 0.9);
    assert_eq!(body["checks"]["checks"]["whois"]["result"], "available");

    let status = api.get("drop").await.unwrap().status.unwrap();
    let notification = status.notification.expect("notification state");
    assert_eq!(notification.state, NotificationDelivery::Delivered);
    assert_eq!(notification.attempts, 1);
    assert_eq!(notification.idempotency_key, key);
    assert!(
        status
            .conditions
            .iter()
            .any(|c| c.type_ == "Available" && c.status == "True")
    );

    // kubectl shows the verdict in its columns.
    let output = std::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig_path())
        .args(["get", "md", "-n", &ns.name, "drop", "--no-headers"])
        .output()
        .expect("kubectl");
    let row = String::from_utf8_lossy(&output.stdout);
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        &cells[..4],
        ["drop", "Drop.TEST", "true", "Available"],
        "{row}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_outage_and_a_restart_delay_the_notification_but_lose_nothing() {
    let ns = TestNamespace::new("outage").await;
    let world = World::start().await;
    world.unregistered("free.test");
    world.api.set("/callback", Reply::new(503));
    let api = ns.domains();
    api.create(&PostParams::default(), &pinned("free", "free.test", true))
        .await
        .expect("create");
    let env = world.notifying_env();
    let operator = Operator::start(&ns.name, "outage-1", &env);
    // The notification is recorded as pending before the first attempt, and
    // failed attempts are counted in status.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let pending = loop {
        let status = api.get("free").await.unwrap().status;
        if let Some(n) = status.and_then(|s| s.notification)
            && n.attempts >= 1
        {
            break n;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no attempt recorded:\n{}",
            operator.log()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(pending.state, NotificationDelivery::Pending);
    assert!(
        pending
            .last_error
            .as_deref()
            .unwrap_or_default()
            .contains("503")
    );
    assert!(!pending.last_error.unwrap_or_default().contains(TOKEN));
    assert!(
        !operator.log().contains(TOKEN),
        "the bearer token never appears in logs"
    );

    // Crash mid-outage, then the receiver recovers and a new operator starts.
    operator.kill().await;
    world.api.set("/callback", Reply::new(200));
    let operator = Operator::start(&ns.name, "outage-2", &env);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let state = api
            .get("free")
            .await
            .unwrap()
            .status
            .and_then(|s| s.notification);
        if state
            .as_ref()
            .is_some_and(|n| n.state == NotificationDelivery::Delivered)
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never delivered: {state:?}\n{}",
            operator.log()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let attempts = world.notifications();
    let keys: std::collections::BTreeSet<_> = attempts
        .iter()
        .map(|r| r.header("idempotency-key").unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        keys.len(),
        1,
        "every attempt carries the same idempotency key"
    );
    assert!(
        attempts.len() >= 2,
        "failed attempts, then the delivered one"
    );
    tokio::time::sleep(Duration::from_secs(4)).await;
    let accepted_later = world.notifications().len() - attempts.len();
    assert_eq!(accepted_later, 0, "nothing is sent after delivery");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sync_mirrors_the_domain_list_and_never_touches_pinned_resources() {
    let ns = TestNamespace::new("sync").await;
    let world = World::start().await;
    let api = ns.domains();
    api.create(
        &PostParams::default(),
        &pinned("my-pin", "pinned.test", false),
    )
    .await
    .expect("create pinned");
    world.set_domain_list(&json!({"domains": [
        "one.test", {"domain": "Two.TEST", "priority": true}, "pinned.test",
        "not a domain", 42, {"priority": true}
    ]}));
    let mut env = world.operator_env();
    env.push(("DOMAIN_API_REFRESH_INTERVAL".to_owned(), "10s".to_owned()));
    // Deleting one of three is allowed, deleting everything is not.
    env.push(("SYNC_MAX_DELETE_SHARE".to_owned(), "0.5".to_owned()));
    let operator = Operator::start(&ns.name, "sync", &env);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while names(&api).await != ["my-pin", "one.test", "two.test"] {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}\n{}",
            names(&api).await,
            operator.log()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let two = api.get("two.test").await.unwrap();
    assert!(two.spec.priority);
    assert_eq!(
        two.labels().get(SOURCE_LABEL).map(String::as_str),
        Some("api")
    );
    assert!(
        operator.log().contains("skipping bad domain list entry"),
        "bad entries are reported"
    );

    // Per-check results go out when a checker's result changes, not on every check.
    let per_check = |domain: &str, kind: &str| {
        world
            .callbacks()
            .iter()
            .map(|r| r.json())
            .filter(|b| b["domain"] == domain && b["check_type"] == kind)
            .count()
    };
    world
        .wait_until("per-check results for one.test", PATIENCE, |_| {
            per_check("one.test", "dns") == 1
        })
        .await;
    let sample = world
        .callbacks()
        .iter()
        .map(|r| r.json())
        .find(|b| b["domain"] == "one.test" && b["check_type"] == "rdap")
        .expect("an rdap result for one.test");
    assert_eq!(sample["result"], "available");
    assert!(sample["timestamp"].as_f64().is_some() && sample["duration_ms"].as_u64().is_some());

    // A malformed list changes nothing.
    world.api.set(
        "/domains",
        Reply::json(200, "application/json", "{\"domains\": [\"one.test\""),
    );
    tokio::time::sleep(Duration::from_secs(12)).await;
    assert_eq!(names(&api).await, ["my-pin", "one.test", "two.test"]);
    assert_eq!(
        per_check("one.test", "dns"),
        1,
        "unchanged results are not sent again"
    );
    assert!(
        operator.log().contains("not valid JSON"),
        "{}",
        operator.log()
    );

    // An empty list would delete every synced domain: refused.
    world.set_domain_list(&json!({"domains": []}));
    tokio::time::sleep(Duration::from_secs(12)).await;
    assert_eq!(names(&api).await, ["my-pin", "one.test", "two.test"]);
    assert!(
        operator
            .log()
            .contains("refusing to delete 2 of 2 synced domains"),
        "{}",
        operator.log()
    );

    // A priority change and a removal are applied; the pin stays.
    world.set_domain_list(
        &json!({"domains": [{"domain": "one.test", "priority": true}, "two.test", "three.test"]}),
    );
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let listed = names(&api).await;
        let one_priority = api
            .get("one.test")
            .await
            .map(|md| md.spec.priority)
            .unwrap_or(false);
        let two_priority = api
            .get("two.test")
            .await
            .map(|md| md.spec.priority)
            .unwrap_or(true);
        if listed == ["my-pin", "one.test", "three.test", "two.test"]
            && one_priority
            && !two_priority
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{listed:?}\n{}",
            operator.log()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    world.set_domain_list(&json!({"domains": ["one.test", "two.test"]}));
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while names(&api).await != ["my-pin", "one.test", "two.test"] {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            names(&api).await
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let pin = api.get("my-pin").await.unwrap();
    assert!(
        !pin.spec.priority && pin.labels().get(SOURCE_LABEL).is_none(),
        "pinned resource untouched"
    );
}

/// The names of the resources in `api` that change within `window`, once
/// per change, after the initial listing of `existing` resources.
async fn changes_within(
    api: &Api<MonitoredDomain>,
    existing: usize,
    window: Duration,
) -> Vec<String> {
    watcher(api.clone(), watcher::Config::default())
        .touched_objects()
        .skip(existing)
        .take_until(tokio::time::sleep(window))
        .map_ok(|md| md.name_any())
        .try_collect()
        .await
        .expect("watch")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_tld_with_two_servers_causes_no_status_writes_between_heartbeats() {
    let ns = TestNamespace::new("quiet").await;
    let world = World::start().await;
    assert!(
        world.nsd.servers().len() >= 2,
        "the TLD is served by several authoritative servers"
    );
    let api = ns.domains();
    let names: Vec<String> = (0..3).map(|i| format!("quiet{i}")).collect();
    for name in &names {
        world.register(&format!("{name}.test"), "active").await;
        api.create(
            &PostParams::default(),
            &pinned(name, &format!("{name}.test"), true),
        )
        .await
        .expect("create");
    }
    api.create(
        &PostParams::default(),
        &pinned("bad", "not_a domain.test", false),
    )
    .await
    .expect_err("the API server rejects white space");
    let mut env = world.checker_env();
    env.push(("STATUS_HEARTBEAT".to_owned(), "10m".to_owned()));
    let operator = Operator::start(&ns.name, "quiet", &env);
    for name in &names {
        wait_for_availability(&api, name, Availability::Registered, &operator).await;
        wait_for_registration_facts(&api, name, &operator).await;
    }

    // The idle window: ~10 priority checks per domain (PRIORITY_CHECK_INTERVAL
    // 2 s), spread over both servers, and nothing changes.
    let asked_before = world.nsd.ns_queries();
    let checks_before = operator.log().matches("check decided").count();
    let changed = changes_within(&api, names.len(), Duration::from_secs(20)).await;
    let asked: Vec<u64> = world
        .nsd
        .ns_queries()
        .iter()
        .zip(&asked_before)
        .map(|(after, before)| after - before)
        .collect();
    let checks = operator.log().matches("check decided").count() - checks_before;
    assert!(
        checks >= 20,
        "the domains were still checked ({checks} decisions)"
    );
    assert!(
        asked.iter().all(|&n| n > 0),
        "every server of the TLD was asked (NS queries per server: {asked:?})"
    );
    assert_eq!(
        changed.len(),
        0,
        "status writes in 20 s while nothing changed ({checks} checks, NS queries per server \
         {asked:?}): {changed:?}\n{}",
        operator.log()
    );

    // A real change is still written: quiet0.test loses its delegation (as a
    // name on hold does) on every server; the other two stay quiet.
    let dropped = names[0].as_str();
    let zone_name = format!("{dropped}.test");
    let changes = tokio::spawn({
        let api = api.clone();
        let existing = names.len();
        async move { changes_within(&api, existing, Duration::from_secs(15)).await }
    });
    // Let the watch list the resources before anything changes.
    tokio::time::sleep(Duration::from_secs(1)).await;
    tokio::task::block_in_place(|| world.nsd.remove_delegation(&zone_name));
    let changed = changes.await.expect("watch task");
    assert!(
        changed.iter().any(|name| name == dropped),
        "the lost delegation was written: {changed:?}\n{}",
        operator.log()
    );
    assert_eq!(
        changed,
        [dropped],
        "one write for the change, then quiet again; nothing for the others"
    );
    let status = api.get(dropped).await.unwrap().status.unwrap();
    assert_eq!(
        status.checks["dns"].result,
        CheckOutcome::Available,
        "{status:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_domain_is_marked_and_not_checked_again() {
    let ns = TestNamespace::new("invalid").await;
    let world = World::start().await;
    let api = ns.domains();
    // Passes the schema, fails IDNA (underscore).
    api.create(
        &PostParams::default(),
        &pinned("odd", "under_score.test", false),
    )
    .await
    .expect("create");
    let operator = Operator::start(&ns.name, "invalid", &world.checker_env());
    wait_for_availability(&api, "odd", Availability::Invalid, &operator).await;
    let status = api.get("odd").await.unwrap().status.unwrap();
    let ready = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .unwrap();
    assert_eq!(ready.reason, "InvalidDomain");
    assert!(
        ready.message.contains("under_score.test"),
        "{}",
        ready.message
    );
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(world.whois.connections(), 0, "never checked");
    assert_eq!(operator.log().matches("invalid domain").count(), 1);
}

/// Kubernetes 1.33 ships with WatchList off (as can any server, by hand):
/// it refuses the streamed initial list the operator asks of a server
/// whose version has it on by default. The operator pages instead, once,
/// and sees every resource.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_watchlist_gets_paged_lists_and_every_domain_is_seen() {
    let server = PrivateServer::start_with_feature_gates("WatchList=false");
    let client = server.client().await;
    install_crd(&client).await;
    // The operator's log file is named after namespace and instance, and
    // kept across runs: a name of this run's own.
    let namespace = format!("paged-{}", std::process::id());
    create_namespace(&client, &namespace).await;
    let api: Api<MonitoredDomain> = Api::namespaced(client, &namespace);
    for (name, domain) in [("one", "first_.test"), ("two", "second_.test")] {
        api.create(&PostParams::default(), &pinned(name, domain, false))
            .await
            .expect("create");
    }
    let world = World::start().await;
    let operator = Operator::start_with_kubeconfig(
        &namespace,
        "paged",
        &world.checker_env(),
        server.kubeconfig(),
    );
    for name in ["one", "two"] {
        wait_for_availability(&api, name, Availability::Invalid, &operator).await;
    }
    let log = operator.log();
    assert_eq!(
        log.matches("refused a streamed list").count(),
        1,
        "one refused stream, then pages:\n{log}"
    );
    assert!(log.contains("watch synced"), "{log}");
}

/// The checks `operator` logged of `domain`.
fn checks_of(operator: &Operator, domain: &str) -> usize {
    operator
        .events("check decided")
        .iter()
        .filter(|e| e["domain"] == domain)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_operator_keeps_each_domains_schedule() {
    let ns = TestNamespace::new("keep-schedule").await;
    let world = World::start().await;
    world.register("steady.test", "active").await;
    world.register("late.test", "active").await;
    let api = ns.domains();
    let mut steady = pinned("steady", "steady.test", false);
    steady.spec.check_interval = Some("1h".to_owned());
    api.create(&PostParams::default(), &steady)
        .await
        .expect("create");
    let env = world.checker_env();
    let first = Operator::start(&ns.name, "schedule-1", &env);
    wait_for_availability(&api, "steady", Availability::Registered, &first).await;
    assert_eq!(checks_of(&first, "steady.test"), 1, "{}", first.log());
    let before = api.get("steady").await.unwrap().status.unwrap();
    first.terminate();
    let mut first = first;
    assert_eq!(first.wait_exit(Duration::from_secs(20)).await, Some(0));

    // A new replica (a restart, a rolling update, a shard handover) picks
    // up where the last one left off: the domain checked a moment ago waits
    // for its hour; one nobody checked yet is checked at once.
    api.create(&PostParams::default(), &pinned("late", "late.test", false))
        .await
        .expect("create");
    let second = Operator::start(&ns.name, "schedule-2", &env);
    wait_for_availability(&api, "late", Availability::Registered, &second).await;
    // Long enough for `late` to be checked again (CHECK_INTERVAL 3 s).
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while checks_of(&second, "late.test") < 2 {
        assert!(tokio::time::Instant::now() < deadline, "{}", second.log());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(
        checks_of(&second, "steady.test"),
        0,
        "steady.test was checked again at start-up:\n{}",
        second.log()
    );
    let after = api.get("steady").await.unwrap().status.unwrap();
    assert_eq!(after.last_checked_at, before.last_checked_at);
    assert_eq!(after.next_check_at, before.next_check_at);
}

/// Deep-layer budgets: 50 priority names already `Available`
/// (re-checked every 10 s), WHOIS at 1/s and RDAP at 2/s, and a WHOIS server
/// that throttles the query that matters with a Retry-After banner. A normal
/// domain that drops is still notified, once, within its interval + 5 s:
/// confirmed names are re-verified by DNS alone and a change is confirmed
/// first, from DNS and RDAP over time where WHOIS is starved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drop_is_notified_in_time_while_fifty_available_names_are_rechecked() {
    const FREE: usize = 50;
    const INTERVAL: Duration = Duration::from_secs(30);
    let ns = TestNamespace::new("budgets").await;
    let world = World::start().await;
    world.register("drops.test", "active").await;
    let api = ns.domains();
    let free: Vec<String> = (0..FREE).map(|i| format!("free-{i:02}.test")).collect();
    for (i, name) in free.iter().enumerate() {
        world.unregistered(name);
        api.create(
            &PostParams::default(),
            &pinned(&format!("free-{i:02}"), name, true),
        )
        .await
        .expect("create");
    }
    api.create(
        &PostParams::default(),
        &pinned("drops", "drops.test", false),
    )
    .await
    .expect("create");
    let mut env = world.notifying_env();
    env.extend([
        ("PRIORITY_CHECK_INTERVAL".into(), "10s".into()),
        ("CHECK_INTERVAL".into(), format!("{}s", INTERVAL.as_secs())),
        ("WHOIS_RATE_LIMIT".into(), "1/s".into()),
        ("RDAP_RATE_LIMIT".into(), "2/s".into()),
        ("REGISTRY_CONFIRM_AFTER".into(), "3s".into()),
    ]);
    let operator = Operator::start(&ns.name, "budgets", &env);
    wait_for_availability(&api, "drops", Availability::Registered, &operator).await;
    // Every free name confirmed once (WHOIS at 1/s: about a minute).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(150);
    loop {
        let available = api
            .list(&ListParams::default())
            .await
            .expect("list")
            .items
            .iter()
            .filter(|md| {
                md.status
                    .as_ref()
                    .is_some_and(|s| s.availability == Availability::Available)
            })
            .count();
        if available == FREE {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {available} of {FREE} free names became Available; log:\n{}",
            operator.log()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let whois_before = world.whois.queries().len();
    // Two rounds of priority re-checks: DNS only, no WHOIS.
    tokio::time::sleep(Duration::from_secs(20)).await;
    let whois_rechecks = world.whois.queries().len() - whois_before;
    assert!(
        whois_rechecks <= 2,
        "confirmed names went back to WHOIS {whois_rechecks} times in 20 s"
    );

    // The registry releases the name; its WHOIS server throttles that query.
    world.drop_domain("drops.test").await;
    world.whois.set(
        "drops.test",
        support::whois_server::Reply::text("Rate limit exceeded. Try again after: 60 seconds\r\n"),
    );
    let dropped_at = tokio::time::Instant::now();
    let patience = INTERVAL + Duration::from_secs(5);
    world
        .wait_until("the drop's notification", patience, |w| {
            w.notifications()
                .iter()
                .any(|n| n.json()["domain"] == "drops.test")
        })
        .await;
    let took = dropped_at.elapsed();
    // Nothing more for it afterwards, and no other name notified twice.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let notifications = world.notifications();
    let drops: Vec<_> = notifications
        .iter()
        .filter(|n| n.json()["domain"] == "drops.test")
        .collect();
    assert_eq!(drops.len(), 1, "notified exactly once");
    let body = drops[0].json();
    assert_eq!(body["confirmed_by"], json!(["registry"]), "{body}");
    let mut keys: Vec<String> = notifications
        .iter()
        .filter_map(|n| n.header("idempotency-key").map(str::to_owned))
        .collect();
    let all = keys.len();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), all, "a notification was sent twice");
    assert_eq!(all, FREE + 1, "one notification per free name and the drop");
    eprintln!("drop notified {took:?} after the release (interval {INTERVAL:?})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_server_answering_429_slows_the_writer_without_losing_the_newest_state() {
    let ns = TestNamespace::new("throttled").await;
    let world = World::start().await;
    let api = ns.domains();
    let n = 20;
    for i in 0..n {
        world.register(&format!("busy{i}.test"), "active").await;
        api.create(
            &PostParams::default(),
            &pinned(&format!("busy{i}"), &format!("busy{i}.test"), false),
        )
        .await
        .expect("create");
    }
    let front = ThrottlingFront::start(support::cluster::client().await).await;
    front.throttle(true);
    let dir = tempfile::tempdir().expect("temp dir");
    let operator = Operator::start_with_kubeconfig(
        &ns.name,
        "throttled",
        &world.checker_env(),
        &front.kubeconfig(dir.path()),
    );

    // Eight seconds of 429s: every domain is checked (and re-checked) and
    // the writer keeps trying, but backs off instead of hammering.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let throttled = front.counts().throttled.load(Ordering::SeqCst);
    assert_eq!(front.counts().forwarded.load(Ordering::SeqCst), 0);
    assert!(
        throttled > 0,
        "the operator tried to write\n{}",
        operator.log()
    );
    assert!(
        throttled <= 3 * n,
        "the writer backs off: {throttled} refused writes in 8 s for {n} domains\n{}",
        operator.log()
    );
    for i in 0..n {
        let status = api.get(&format!("busy{i}")).await.unwrap().status;
        assert!(status.is_none(), "nothing was written while throttled");
    }
    assert!(
        operator.log().contains("pausing and retrying"),
        "{}",
        operator.log()
    );

    // The API server recovers: every domain gets its newest state, the
    // verdict of its first check merged with the facts that followed.
    front.throttle(false);
    for i in 0..n {
        let name = format!("busy{i}");
        wait_for_availability(&api, &name, Availability::Registered, &operator).await;
        let registration = wait_for_registration_facts(&api, &name, &operator).await;
        assert!(registration.expires_at.is_some(), "{registration:?}");
        let status = api.get(&name).await.unwrap().status.unwrap();
        assert_eq!(status.checks["dns"].result, CheckOutcome::Registered);
        assert_eq!(status.checks["rdap"].result, CheckOutcome::Registered);
    }
    let forwarded = front.counts().forwarded.load(Ordering::SeqCst);
    assert!(
        forwarded <= 3 * n,
        "coalesced: {forwarded} status writes for {n} domains after the throttle"
    );
}

/// The status writer's client negotiates HTTP/2 with the API server (so its
/// writes share one connection instead of one TLS connection each), and
/// merge patches of `status` sent through it concurrently are applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_writers_client_speaks_http2_to_the_api_server() {
    let ns = TestNamespace::new("writer-http2").await;
    let api = ns.domains();
    let n = 32;
    for i in 0..n {
        api.create(
            &PostParams::default(),
            &pinned(&format!("h2-{i}"), &format!("h2-{i}.test"), false),
        )
        .await
        .expect("create");
    }
    let client = support::cluster::writer_client_for(&kubeconfig_path()).await;
    let versions = futures::future::join_all((0..n).map(|i| {
        let client = client.clone();
        let patch = json!({"status": {"availability": "Registered", "confidence": 0.5 + f64::from(i) / 100.0}});
        let request = status_patch(&ns.name, &format!("h2-{i}"), &patch);
        async move {
            let response = client.send(request).await.expect("the API server answers");
            assert!(response.status().is_success(), "{}", response.status());
            response.version()
        }
    }))
    .await;
    assert!(
        versions.iter().all(|v| *v == http::Version::HTTP_2),
        "{versions:?}"
    );
    // What the API server refuses still comes back as a JSON Status whose
    // message the writer logs: a resource that is gone, an invalid status.
    for (name, patch, code, said) in [
        (
            "h2-gone",
            json!({"status": {"availability": "Registered"}}),
            404,
            "not found",
        ),
        (
            "h2-0",
            json!({"status": {"availability": "Maybe"}}),
            422,
            "availability",
        ),
    ] {
        let response = client
            .send(status_patch(&ns.name, name, &patch))
            .await
            .expect("the API server answers");
        assert_eq!(response.status().as_u16(), code);
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let status: serde_json::Value = serde_json::from_slice(&body).expect("a JSON Status");
        let message = status["message"].as_str().unwrap_or_default();
        assert!(message.contains(said), "{message}");
    }
    for i in 0..n {
        let status = api
            .get(&format!("h2-{i}"))
            .await
            .expect("get")
            .status
            .expect("the patch was applied");
        assert_eq!(status.availability, Availability::Registered);
        assert_eq!(status.confidence, Some(0.5 + f64::from(i) / 100.0));
    }
}

/// A JSON merge patch of `namespace/name`'s status as the status writer
/// sends it.
fn status_patch(
    namespace: &str,
    name: &str,
    patch: &serde_json::Value,
) -> http::Request<kube::client::Body> {
    let url = format!(
        "/apis/{}/v1alpha1/namespaces/{namespace}/monitoreddomains/{name}/status",
        domain_monitor::resource::GROUP,
    );
    http::Request::patch(url)
        .header(http::header::CONTENT_TYPE, "application/merge-patch+json")
        .header(http::header::ACCEPT, STATUS_WRITE_ACCEPT)
        .body(kube::client::Body::from(patch.to_string().into_bytes()))
        .expect("request")
}

/// The operator's `GET {path}` as JSON, or text for the Prometheus view.
async fn operator_get(base: &str, path: &str) -> String {
    reqwest::get(format!("{base}{path}"))
        .await
        .expect("operator answers")
        .text()
        .await
        .unwrap_or_default()
}

/// The sum of a Prometheus counter or gauge's series in `text`.
fn metric_total(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_thousand_resources_are_held_compactly_and_forgotten_when_deleted() {
    let n = 5000;
    let ns = TestNamespace::new("bulk").await;
    let api = ns.domains();
    let names: Vec<String> = (0..n).map(|i| format!("bulk{i}")).collect();
    let zone = names.iter().fold(Zone::new("test"), |zone, name| {
        zone.delegate(
            &format!("{name}.test"),
            &["ns1.elsewhere.example", "ns2.elsewhere.example"],
        )
    });
    let tld = tokio::task::block_in_place(|| TldServers::start(&zone, 2));
    futures::stream::iter(names.iter())
        .map(|name| {
            let api = api.clone();
            async move {
                api.create(
                    &PostParams::default(),
                    &pinned(name, &format!("{name}.test"), false),
                )
                .await
            }
        })
        .buffer_unordered(32)
        .try_collect::<Vec<_>>()
        .await
        .expect("create");
    let env: Vec<(String, String)> = vec![
        ("DNS_RESOLVERS".into(), tld.resolvers()),
        ("DNS_TIMEOUT".into(), "1s".into()),
        ("HTTP_TIMEOUT".into(), "1s".into()),
        ("CHECK_INTERVAL".into(), "1h".into()),
        ("PRIORITY_CHECK_INTERVAL".into(), "1h".into()),
        // `/domains` and `/domain/{d}` are read below without a token.
        ("OPEN_WATCHLIST".into(), "true".into()),
    ];
    let operator = Operator::start(&ns.name, "bulk", &env);
    let base = operator.base_url().await;

    // Every domain is held and checked once (a counter, not statuses).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(240);
    loop {
        let metrics = operator_get(&base, "/metrics/prometheus").await;
        let first = metric_total(&metrics, "domain_monitor_first_checks_total");
        let held = metric_total(&metrics, "domain_monitor_domains");
        if first >= n as f64 && held == n as f64 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "first pass incomplete: {first} checked, {held} held of {n}\n{}",
            operator.log()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // What a domain's record holds is what `/domains` shows, nothing more.
    let listed: serde_json::Value =
        serde_json::from_str(&operator_get(&base, "/domains?limit=1").await).expect("json");
    assert_eq!(listed["total"], n);
    let item = listed["items"][0].as_object().expect("an item");
    let mut keys: Vec<&str> = item.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "availability",
            "confidence",
            "domain",
            "expires_at",
            "last_checked_at",
            "name",
            "namespace",
            "next_check_at",
            "predicted_drop_at",
            "priority",
            "shard"
        ]
    );
    assert_eq!(item["availability"], "Registered");
    assert!(item["last_checked_at"].is_string() && item["next_check_at"].is_string());

    // Deleted resources are forgotten.
    futures::stream::iter(names.iter().take(n / 2))
        .map(|name| {
            let api = api.clone();
            async move { api.delete(name, &Default::default()).await }
        })
        .buffer_unordered(32)
        .try_collect::<Vec<_>>()
        .await
        .expect("delete");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let metrics = operator_get(&base, "/metrics/prometheus").await;
        let held = metric_total(&metrics, "domain_monitor_domains");
        let status: serde_json::Value =
            serde_json::from_str(&operator_get(&base, "/status").await).expect("json");
        if held == (n / 2) as f64 && status["domains"]["total"] == n / 2 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{held} domains still held after deleting {} of {n}",
            n / 2
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let gone: serde_json::Value =
        serde_json::from_str(&operator_get(&base, "/domain/bulk0.test").await).expect("json");
    assert!(
        gone["error"]
            .as_str()
            .unwrap_or_default()
            .contains("not watched"),
        "{gone}"
    );
}
