//! Fault scenarios: the operator under API server restarts, SIGKILLs,
//! receiver and domain-API failures, misbehaving registries and lease
//! trouble. Each records what was injected and what it cost
//! (`support::chaos`); none may lose a resource or produce a false
//! "Available". `CHAOS_SCALE=full` (`just chaos`) makes them longer.

mod support;

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};

use domain_monitor::resource::{
    Availability, MonitoredDomain, MonitoredDomainSpec, NotificationDelivery,
};
use kube::{
    Api, ResourceExt,
    api::{ListParams, PostParams},
};
use rand::Rng;
use serde_json::{Value, json};
use support::{
    chaos::{Conditions, Figures, by_scale},
    cluster::{RestartableServer, TestNamespace, create_namespace, install_crd},
    http_stub::{Recorded, Reply},
    operator::Operator,
    world::{TOKEN, World},
};

/// A scenario's namespace `name`, the API of its MonitoredDomains and a
/// world of servers.
async fn scenario(name: &str) -> (TestNamespace, Api<MonitoredDomain>, World) {
    let ns = TestNamespace::new(name).await;
    let api = ns.domains();
    (ns, api, World::start().await)
}

/// `<prefix>0.test`, `<prefix>1.test`, … (`count` names).
fn numbered(prefix: &str, count: usize) -> Vec<String> {
    (0..count).map(|i| format!("{prefix}{i}.test")).collect()
}

/// Priority resources named after their domains.
async fn create_domains(api: &Api<MonitoredDomain>, names: &[String]) {
    for name in names {
        let md = MonitoredDomain::new(
            name,
            MonitoredDomainSpec {
                domain: name.clone(),
                priority: true,
                check_interval: None,
                health: None,
            },
        );
        api.create(&PostParams::default(), &md)
            .await
            .expect("create resource");
    }
}

/// Registered names, and free names the world answers "not found" for.
async fn populate(
    world: &World,
    prefix: &str,
    taken: usize,
    free: usize,
) -> (Vec<String>, Vec<String>) {
    let taken = numbered(&format!("{prefix}-t"), taken);
    let free = numbered(&format!("{prefix}-f"), free);
    for name in &taken {
        world.register(name, "active").await;
    }
    for name in &free {
        world.unregistered(name);
    }
    (taken, free)
}

/// Shard leases short enough that a killed replica's work moves on quickly.
fn fast_leases() -> Vec<(String, String)> {
    vec![
        ("SHARD_LEASE_DURATION".into(), "4s".into()),
        ("SHARD_RENEW_DEADLINE".into(), "3s".into()),
        ("SHARD_RETRY_PERIOD".into(), "1s".into()),
    ]
}

/// Every resource in `api`, by name (empty while the API server is away).
async fn snapshot(api: &Api<MonitoredDomain>) -> BTreeMap<String, MonitoredDomain> {
    api.list(&ListParams::default())
        .await
        .map(|list| {
            list.items
                .into_iter()
                .map(|md| (md.name_any(), md))
                .collect()
        })
        .unwrap_or_default()
}

fn delivered(md: &MonitoredDomain) -> bool {
    md.status
        .as_ref()
        .and_then(|s| s.notification.as_ref())
        .is_some_and(|n| n.state == NotificationDelivery::Delivered)
}

fn availability(md: &MonitoredDomain) -> Availability {
    md.status
        .as_ref()
        .map_or(Availability::Unknown, |s| s.availability)
}

/// Polls until every free name is delivered and every taken one is
/// Registered, or `patience` runs out; returns the last snapshot.
async fn settle(
    api: &Api<MonitoredDomain>,
    taken: &[String],
    free: &[String],
    patience: Duration,
) -> BTreeMap<String, MonitoredDomain> {
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        let now = snapshot(api).await;
        let done = free.iter().all(|n| now.get(n).is_some_and(delivered))
            && taken.iter().all(|n| {
                now.get(n)
                    .is_some_and(|md| availability(md) == Availability::Registered)
            });
        if done || tokio::time::Instant::now() > deadline {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The domain a notification is about.
fn notified_domain(request: &Recorded) -> String {
    serde_json::from_slice::<Value>(&request.body)
        .ok()
        .and_then(|body| body["domain"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Losses and false verdicts: resources of `all` missing from `now`, taken
/// names that were called Available in a status or a notification.
fn damage(
    figures: &mut Figures,
    now: &BTreeMap<String, MonitoredDomain>,
    all: &[String],
    taken: &[String],
    notifications: &[Recorded],
) {
    figures.resources_lost = all.iter().filter(|n| !now.contains_key(*n)).count() as u64;
    let taken: BTreeSet<&String> = taken.iter().collect();
    let in_status = now
        .iter()
        .filter(|(n, md)| taken.contains(n) && availability(md) == Availability::Available)
        .count();
    let notified = notifications
        .iter()
        .map(notified_domain)
        .filter(|d| taken.contains(d))
        .collect::<BTreeSet<_>>()
        .len();
    figures.false_available = (in_status + notified) as u64;
}

/// Deliveries the receiver accepted, per notified domain.
fn accepted_per_domain(notifications: &[Recorded]) -> BTreeMap<String, u64> {
    let mut accepted: BTreeMap<String, u64> = BTreeMap::new();
    for request in notifications
        .iter()
        .filter(|r| (200..300).contains(&r.status))
    {
        *accepted.entry(notified_domain(request)).or_default() += 1;
    }
    accepted
}

/// Idempotency keys seen per notified domain (must be one each).
fn keys_per_domain(notifications: &[Recorded]) -> BTreeMap<String, BTreeSet<String>> {
    let mut keys: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for request in notifications {
        keys.entry(notified_domain(request)).or_default().insert(
            request
                .header("idempotency-key")
                .unwrap_or_default()
                .to_owned(),
        );
    }
    keys
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_server_restart() {
    let mut server = tokio::task::block_in_place(RestartableServer::start);
    let client = server.client().await;
    install_crd(&client).await;
    let namespace = "chaos-restart";
    create_namespace(&client, namespace).await;
    let api: Api<MonitoredDomain> = Api::namespaced(client.clone(), namespace);
    let world = World::start().await;
    let (taken, free) = populate(&world, "rs", by_scale(3, 10), by_scale(3, 10)).await;
    let all: Vec<String> = taken.iter().chain(&free).cloned().collect();
    create_domains(&api, &all).await;
    let mut env = world.notifying_env();
    env.extend(fast_leases());
    let operator = Operator::start_with_kubeconfig(namespace, "restart", &env, server.kubeconfig());
    let restarts = by_scale(1, 3);
    for _ in 0..restarts {
        // Let it work, then take the API server away mid-run.
        tokio::time::sleep(Duration::from_millis(rand::rng().random_range(1500..4000))).await;
        tokio::task::block_in_place(|| server.stop());
        tokio::time::sleep(by_scale(Duration::from_secs(5), Duration::from_secs(20))).await;
        tokio::task::block_in_place(|| server.start_again());
    }
    let client = server.client().await;
    let api: Api<MonitoredDomain> = Api::namespaced(client, namespace);
    let now = settle(&api, &taken, &free, Duration::from_secs(120)).await;
    let notifications = world.notifications();
    let mut figures = Figures {
        notifications_expected: free.len() as u64,
        ..Figures::default()
    };
    figures.count_deliveries(&notifications);
    damage(&mut figures, &now, &all, &taken, &notifications);
    figures.note("restarts", json!(restarts));
    let all_delivered = free.iter().all(|n| now.get(n).is_some_and(delivered));
    let mut conditions = Conditions::default();
    conditions.require(
        all_delivered,
        "every free name is marked delivered in its status",
    );
    conditions.require_all_delivered(&figures);
    conditions.require(
        figures.duplicates <= restarts as u64,
        format!(
            "{} duplicate deliveries for {restarts} restarts (at most one each)",
            figures.duplicates
        ),
    );
    conditions.require_nothing_lost(&figures);
    conditions.require_no_false_available(&figures);
    conditions.conclude(
        "api_server_restart",
        &format!(
            "API server stopped for {}s and restarted, {restarts}x, mid-run",
            by_scale(5, 20)
        ),
        &figures,
        &format!("{figures:?}\n{}", operator.log()),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_sigkill_during_checks_and_delivery() {
    let (ns, api, world) = scenario("chaos-kill").await;
    let (taken, free) = populate(&world, "kill", by_scale(2, 5), by_scale(4, 12)).await;
    let all: Vec<String> = taken.iter().chain(&free).cloned().collect();
    // A slow receiver, so that kills land while deliveries are in flight.
    world.api.set(
        "/callback",
        Reply::new(200).delay(Duration::from_millis(800)),
    );
    create_domains(&api, &all).await;
    let mut env = world.notifying_env();
    env.extend(fast_leases());
    let kills = by_scale(3, 8);
    for round in 0..kills {
        let operator = Operator::start(&ns.name, &format!("kill-{round}"), &env);
        tokio::time::sleep(Duration::from_millis(rand::rng().random_range(1500..4500))).await;
        operator.kill().await;
    }
    let operator = Operator::start(&ns.name, "kill-final", &env);
    let now = settle(&api, &taken, &free, Duration::from_secs(120)).await;
    let notifications = world.notifications();
    let mut figures = Figures {
        notifications_expected: free.len() as u64,
        ..Figures::default()
    };
    figures.count_deliveries(&notifications);
    damage(&mut figures, &now, &all, &taken, &notifications);
    let keys = keys_per_domain(&notifications);
    let one_key_each = keys.values().all(|k| k.len() == 1);
    figures.note("kills", json!(kills));
    figures.note("requests_received", json!(notifications.len()));
    let marked = free
        .iter()
        .filter(|n| now.get(*n).is_some_and(delivered))
        .count();
    // At least once: a kill between the receiver's answer and the status
    // write repeats that delivery (same key) after the restart, so each
    // notification is accepted at most once more per kill.
    let accepted = accepted_per_domain(&notifications);
    figures.note("accepted_per_domain", json!(accepted));
    let mut conditions = Conditions::default();
    conditions.require(
        marked == free.len(),
        format!("{marked} of {} free names marked delivered", free.len()),
    );
    conditions.require_all_delivered(&figures);
    conditions.require(
        accepted.values().all(|n| *n <= 1 + kills as u64),
        format!("a notification accepted more than once per kill ({kills} kills): {accepted:?}"),
    );
    conditions.require(one_key_each, "one idempotency key per domain");
    conditions.require_nothing_lost(&figures);
    conditions.require_no_false_available(&figures);
    conditions.conclude(
        "operator_sigkill",
        &format!("operator SIGKILLed {kills}x during checks and 0.8 s deliveries"),
        &figures,
        &format!("{figures:?} keys {keys:?}\n{}", operator.log()),
    );
}

/// `/metrics` counter of checks run so far.
async fn checks_run(base: &str) -> u64 {
    let body: Value = reqwest::get(format!("{base}/metrics?include_api=false"))
        .await
        .and_then(|r| r.error_for_status())
        .expect("metrics")
        .json()
        .await
        .expect("JSON");
    body["check_results"]["results"]
        .as_object()
        .map_or(0, |m| m.values().filter_map(Value::as_u64).sum())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callback_receiver_faults() {
    let (ns, api, world) = scenario("chaos-receiver").await;
    let (taken, free) = populate(&world, "rcv", 2, by_scale(3, 8)).await;
    let all: Vec<String> = taken.iter().chain(&free).cloned().collect();
    create_domains(&api, &all).await;
    let phases = [
        ("down (503)", Reply::new(503)),
        ("500", Reply::new(500)),
        (
            "slow",
            // The operator gives a callback 30 s; at full scale the receiver
            // answers after that, so the delivery counts as failed and is
            // repeated with the same key.
            Reply::new(200).delay(by_scale(Duration::from_secs(12), Duration::from_secs(35))),
        ),
        (
            "429 Retry-After",
            Reply::new(429).header("Retry-After", &by_scale(10, 600).to_string()),
        ),
    ];
    world.api.set("/callback", phases[0].1.clone());
    let operator = Operator::start(&ns.name, "receiver", &world.notifying_env());
    let base = operator.base_url().await;
    let phase_length = by_scale(Duration::from_secs(5), Duration::from_secs(30));
    let mut checks_during_outage = Vec::new();
    for (_, reply) in &phases {
        world.api.set("/callback", reply.clone());
        let before = checks_run(&base).await;
        tokio::time::sleep(phase_length).await;
        checks_during_outage.push(checks_run(&base).await - before);
    }
    // The 429's Retry-After runs out while the receiver keeps refusing.
    world.api.set("/callback", phases[3].1.clone());
    tokio::time::sleep(by_scale(Duration::from_secs(10), Duration::from_secs(600))).await;
    world.api.set("/callback", Reply::new(200));
    let now = settle(
        &api,
        &taken,
        &free,
        by_scale(Duration::from_secs(120), Duration::from_secs(900)),
    )
    .await;
    let notifications = world.notifications();
    let mut figures = Figures {
        notifications_expected: free.len() as u64,
        ..Figures::default()
    };
    figures.count_deliveries(&notifications);
    damage(&mut figures, &now, &all, &taken, &notifications);
    let keys = keys_per_domain(&notifications);
    figures.note("checks_per_phase", json!(checks_during_outage));
    figures.note("attempts", json!(notifications.len()));
    let kept_checking = checks_during_outage.iter().all(|n| *n > 0);
    let mut conditions = Conditions::default();
    conditions.require(
        kept_checking,
        format!("checks ran in every phase of the outage: {checks_during_outage:?}"),
    );
    conditions.require(
        free.iter().all(|n| now.get(n).is_some_and(delivered)),
        "every free name is marked delivered in its status",
    );
    conditions.require_all_delivered(&figures);
    conditions.require(
        keys.values().all(|k| k.len() == 1),
        format!("one idempotency key per domain: {keys:?}"),
    );
    conditions.require_nothing_lost(&figures);
    conditions.require_no_false_available(&figures);
    conditions.conclude(
        "callback_receiver_faults",
        &format!(
            "receiver 503, 500, answering after {} s, then 429 with Retry-After {} s",
            by_scale(12, 35),
            by_scale(10, 600)
        ),
        &figures,
        &format!("{figures:?}\n{}", operator.log()),
    );
}

async fn refresh(base: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{base}/refresh"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("refresh");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn domain_api_faults() {
    let (ns, api, world) = scenario("chaos-domain-api").await;
    let baseline = numbered("list-", by_scale(20, 500));
    world.set_domain_list(&json!({ "domains": baseline }));
    let mut env = world.operator_env();
    // Only the refreshes below sync.
    env.push(("DOMAIN_API_REFRESH_INTERVAL".into(), "1h".into()));
    let operator = Operator::start(&ns.name, "domain-api", &env);
    let base = operator.base_url().await;
    support::poll(
        Duration::from_secs(120),
        Duration::from_millis(500),
        || async {
            (snapshot(&api).await.len() >= baseline.len())
                .then_some(())
                .ok_or(())
        },
        |()| operator.log(),
    )
    .await;
    // Every synced name once (the IDN one came with the previous fault),
    // then repeats and junk up to the size.
    let mut big: Vec<Value> = baseline.iter().map(|n| json!(n)).collect();
    big.push(json!("bücher.test"));
    for i in big.len()..100_000 {
        big.push(match i % 4 {
            0 => json!(baseline[i % baseline.len()]),
            1 => json!({"domain": baseline[i % baseline.len()], "priority": false}),
            2 => json!("not a domain"),
            _ => json!(i),
        });
    }
    let truncated = json!({ "domains": baseline }).to_string();
    let truncated = truncated[..truncated.len() / 2].to_owned();
    let mut faults: Vec<(&str, Reply, bool)> = vec![
        ("500", Reply::new(500), false),
        (
            "truncated JSON",
            Reply::json(200, "application/json", truncated),
            false,
        ),
        (
            "cut connection",
            Reply::json(200, "application/json", "{\"domains\": [")
                .header("Content-Length", "5000")
                .without_content_length(),
            false,
        ),
        (
            "wrong types",
            Reply::json(200, "application/json", r#"{"domains": {"a": 1}}"#),
            false,
        ),
        (
            "not JSON",
            Reply::json(200, "text/html", "<html>maintenance</html>"),
            false,
        ),
        (
            "empty list",
            Reply::json(200, "application/json", r#"{"domains": []}"#),
            false,
        ),
        (
            "duplicates, invalid and IDN names",
            Reply::json(
                200,
                "application/json",
                json!({"domains": baseline.iter().map(|n| json!(n)).chain([
                    json!(baseline[0].to_uppercase()), json!("bücher.test"), json!("bad name.test"),
                    json!({"domain": "xn--bcher-kva.test"}), json!("-dash.test"), json!(null),
                ]).collect::<Vec<_>>()})
                .to_string(),
            ),
            true,
        ),
        (
            "100k entries with repeats and invalid ones",
            Reply::json(
                200,
                "application/json",
                json!({ "domains": big }).to_string(),
            ),
            true,
        ),
    ];
    if by_scale(false, true) {
        faults.insert(
            0,
            (
                "timeout (65 s)",
                Reply::new(200).delay(Duration::from_secs(65)),
                false,
            ),
        );
    }
    let mut outcomes = BTreeMap::new();
    let mut lost = 0;
    for (fault, reply, succeeds) in faults {
        world.api.set("/domains", reply);
        let (status, body) = refresh(&base).await;
        let now = snapshot(&api).await;
        lost = lost.max(baseline.iter().filter(|n| !now.contains_key(*n)).count());
        let ok = if succeeds {
            status == 200 && body["deleted"] == 0
        } else {
            status != 200
        };
        outcomes.insert(
            fault.to_owned(),
            json!({"status": status, "as_expected": ok, "rejected": body["rejected_count"], "duplicates": body["duplicates"], "error": body["error"]}),
        );
    }
    let idn = snapshot(&api).await.contains_key("xn--bcher-kva.test");
    let all_expected = outcomes.values().all(|o| o["as_expected"] == true);
    let mut figures = Figures {
        resources_lost: lost as u64,
        ..Figures::default()
    };
    figures.note("faults", json!(outcomes));
    let mut conditions = Conditions::default();
    conditions.require(
        all_expected,
        "every domain API fault answered as expected (see faults)",
    );
    conditions.require(idn, "the IDN name was created as xn--bcher-kva.test");
    conditions.require(lost == 0, format!("{lost} resources lost"));
    conditions.conclude(
        "domain_api_faults",
        "domain API: 500, truncated/cut/non-JSON, wrong types, empty list, duplicates, invalid and IDN names, 100k entries",
        &figures,
        &format!("{figures:?}\n{}", operator.log()),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registries_misbehaving() {
    let (ns, api, world) = scenario("chaos-registries").await;
    // Every name here is free, but no source can say so convincingly.
    let names = numbered("mis-", by_scale(4, 12));
    for name in &names {
        world.unregistered(name);
    }
    let rdap = support::http_stub::HttpStub::start().await;
    for (i, name) in names.iter().enumerate() {
        let reply = if i % 2 == 0 {
            Reply::json(
                429,
                "application/rdap+json",
                r#"{"errorCode": 429, "title": "Too Many Requests"}"#,
            )
            .header("Retry-After", "60")
        } else {
            Reply::json(
                403,
                "application/rdap+json",
                r#"{"errorCode": 403, "title": "Number of allowed queries exceeded"}"#,
            )
        };
        rdap.set(&format!("/rdap/domain/{name}"), reply);
    }
    let whois = support::whois_server::WhoisServer::start(
        names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let reply = if i % 2 == 0 {
                    support::whois_server::Reply::text(
                        "Your access is too fast, please try again later.\r\n".to_owned(),
                    )
                } else {
                    support::whois_server::Reply::ResetAfter(Vec::new())
                };
                (n.clone(), reply)
            })
            .collect::<Vec<_>>(),
    )
    .await;
    create_domains(&api, &names).await;
    let env = vec![
        // DNS: a port nobody answers on.
        ("DNS_RESOLVERS".to_owned(), "127.0.0.1:9".to_owned()),
        ("DNS_TIMEOUT".to_owned(), "1s".to_owned()),
        (
            "RDAP_OVERRIDES".to_owned(),
            format!("test={}", rdap.url("/rdap/")),
        ),
        ("RDAP_TIMEOUT".to_owned(), "2s".to_owned()),
        (
            "WHOIS_OVERRIDES".to_owned(),
            format!("test={}", whois.host_port()),
        ),
        ("WHOIS_TIMEOUT".to_owned(), "2s".to_owned()),
        ("HTTP_TIMEOUT".to_owned(), "1s".to_owned()),
        ("API_CALLBACK_URL".to_owned(), world.api.url("/callback")),
        ("API_AUTH_TOKEN".to_owned(), TOKEN.to_owned()),
    ];
    let operator = Operator::start(&ns.name, "registries", &env);
    let watch = by_scale(Duration::from_secs(20), Duration::from_secs(90));
    let deadline = tokio::time::Instant::now() + watch;
    let mut available_seen = BTreeSet::new();
    let mut checked = BTreeSet::new();
    while tokio::time::Instant::now() < deadline {
        for (name, md) in snapshot(&api).await {
            if md
                .status
                .as_ref()
                .is_some_and(|s| s.last_checked_at.is_some())
            {
                checked.insert(name.clone());
            }
            if availability(&md) == Availability::Available {
                available_seen.insert(name);
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // The throttled RDAP names were asked once, then backed off for 60 s.
    let throttled_hits: Vec<usize> = names
        .iter()
        .step_by(2)
        .map(|n| rdap.hits(&format!("/rdap/domain/{n}")))
        .collect();
    let notifications = world.notifications();
    let now = snapshot(&api).await;
    let mut figures = Figures {
        false_available: (available_seen.len() + notifications.len()) as u64,
        resources_lost: names.iter().filter(|n| !now.contains_key(*n)).count() as u64,
        ..Figures::default()
    };
    figures.note("domains_checked", json!(checked.len()));
    figures.note("rdap_hits_of_429_names", json!(throttled_hits));
    let backoff_honoured = throttled_hits.iter().all(|h| *h <= 2);
    let mut conditions = Conditions::default();
    conditions.require(
        figures.false_available == 0,
        format!(
            "{} false \"Available\" (verdicts seen {available_seen:?}, {} notifications)",
            figures.false_available,
            notifications.len()
        ),
    );
    conditions.require_nothing_lost(&figures);
    conditions.require(
        checked.len() == names.len(),
        format!("{} of {} names checked", checked.len(), names.len()),
    );
    conditions.require(
        backoff_honoured,
        format!("Retry-After honoured (at most 2 RDAP hits each): {throttled_hits:?}"),
    );
    conditions.conclude(
        "registries_misbehaving",
        "DNS silent, RDAP 429 (Retry-After 60) / 403 quota, WHOIS throttle banner / connection reset",
        &figures,
        &format!("{figures:?}\n{}", operator.log()),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_with_a_frozen_lease_holder() {
    let (ns, api, world) = scenario("chaos-leases").await;
    let names = numbered("lease-", by_scale(8, 24));
    for name in &names {
        world.register(name, "active").await;
    }
    create_domains(&api, &names).await;
    let mut env = world.notifying_env();
    env.extend(fast_leases());
    let a = Operator::start(&ns.name, "replica-a", &env);
    let b = Operator::start(&ns.name, "replica-b", &env);
    // Both hold shards and have checked everything once.
    support::poll(
        Duration::from_secs(60),
        Duration::from_millis(500),
        || async {
            let registered = snapshot(&api)
                .await
                .values()
                .filter(|md| availability(md) == Availability::Registered)
                .count();
            (registered == names.len()).then_some(()).ok_or(())
        },
        |()| a.log(),
    )
    .await;
    // Freeze replica A (as a long GC pause or a stalled node would) past its
    // lease, drop every name meanwhile, then let it run again.
    let freezes = by_scale(1, 3);
    for name in &names {
        world.drop_domain(name).await;
    }
    for _ in 0..freezes {
        a.signal("STOP");
        tokio::time::sleep(Duration::from_secs(8)).await;
        a.signal("CONT");
        tokio::time::sleep(Duration::from_secs(4)).await;
    }
    let now = settle(&api, &[], &names, Duration::from_secs(90)).await;
    let notifications = world.notifications();
    let mut figures = Figures {
        notifications_expected: names.len() as u64,
        ..Figures::default()
    };
    figures.count_deliveries(&notifications);
    figures.resources_lost = names.iter().filter(|n| !now.contains_key(*n)).count() as u64;
    let keys = keys_per_domain(&notifications);
    let per_domain_accepted = accepted_per_domain(&notifications);
    figures.note("freezes", json!(freezes));
    // At least once: a replica frozen between sending and recording may send
    // once more after it wakes, with the same key; never more than that.
    let within_bound = per_domain_accepted
        .values()
        .all(|n| *n <= 1 + freezes as u64);
    let mut conditions = Conditions::default();
    conditions.require(
        names.iter().all(|n| now.get(n).is_some_and(delivered)),
        "every name is marked delivered in its status",
    );
    conditions.require_all_delivered(&figures);
    conditions.require(
        keys.values().all(|k| k.len() == 1),
        format!("one idempotency key per domain: {keys:?}"),
    );
    conditions.require(
        within_bound,
        format!(
            "at most one extra delivery per freeze ({freezes} freezes): {per_domain_accepted:?}"
        ),
    );
    conditions.require_nothing_lost(&figures);
    conditions.conclude(
        "lease_holder_frozen",
        "two replicas; one SIGSTOPped past its lease while every name drops",
        &figures,
        &format!(
            "{figures:?} {per_domain_accepted:?}\n{}\n{}",
            a.log(),
            b.log()
        ),
    );
}
