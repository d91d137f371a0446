//! Several operator processes share the work through shard Leases.

mod support;

use std::{
    collections::{BTreeMap, BTreeSet},
    net::{IpAddr, Ipv4Addr},
    sync::Mutex,
    time::Duration,
};

use domain_monitor::{
    resource::dhc::{DomainHealthCheck, ProbeRecordType},
    resource::{MonitoredDomain, MonitoredDomainSpec, NotificationDelivery},
};
use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::Lease;
use kube::{
    Api,
    api::{ListParams, PostParams},
};
use support::{
    cluster::{TestNamespace, kubeconfig_path},
    dhc::{check, install_dhc_crd, record, resolver},
    nsd::{Nsd, Zone, free_port_on},
    operator::Operator,
    proxy::{Proxy, api_server_addr},
    unbound::Unbound,
    world::World,
};

/// These tests start many processes; running them one at a time keeps their
/// timing honest on a 2-core machine.
static SERIAL: Mutex<()> = Mutex::new(());

/// Runs `test` on its own runtime while no other test of this file runs.
fn serially(test: impl std::future::Future<Output = ()>) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(test);
}

const SHARDS: u32 = 12;
const LEASE: Duration = Duration::from_secs(6);
const DOMAINS: usize = 300;

fn env(world: &World) -> Vec<(String, String)> {
    let mut env = world.notifying_env();
    env.extend(
        [
            ("SHARDS", SHARDS.to_string()),
            ("SHARD_LEASE_DURATION", format!("{}s", LEASE.as_secs())),
            ("SHARD_RENEW_DEADLINE", "4s".to_owned()),
            ("SHARD_RETRY_PERIOD", "1s".to_owned()),
            ("RDAP_RATE_LIMIT", "2000/s".to_owned()),
            ("WHOIS_RATE_LIMIT", "2000/s".to_owned()),
            ("DNS_RATE_LIMIT", "5000/s".to_owned()),
        ]
        .map(|(k, v)| (k.to_owned(), v)),
    );
    env
}

/// A world with `DOMAINS` delegated names and their resources.
async fn populated(ns: &TestNamespace) -> World {
    let world = World::start().await;
    tokio::task::block_in_place(|| {
        world.nsd.change(|zone| {
            let mut next = zone.clone();
            for i in 0..DOMAINS {
                next = next.delegate(&format!("d{i}.test"), &["ns.elsewhere.example"]);
            }
            *zone = next;
        });
    });
    let api = ns.domains();
    for i in 0..DOMAINS {
        let md = MonitoredDomain::new(
            &format!("d{i}"),
            MonitoredDomainSpec {
                domain: format!("d{i}.test"),
                priority: false,
                check_interval: None,
                health: None,
            },
        );
        api.create(&PostParams::default(), &md)
            .await
            .expect("create");
    }
    world
}

/// Live shard holders, from the Leases.
async fn holders(ns: &TestNamespace) -> BTreeMap<u32, String> {
    let leases: Api<Lease> = Api::namespaced(ns.client.clone(), &ns.name);
    let now = Timestamp::now();
    leases
        .list(&ListParams::default().labels("domainmonitor.io/lease-kind=shard"))
        .await
        .expect("list leases")
        .items
        .into_iter()
        .filter_map(|lease| {
            let shard = lease
                .metadata
                .name?
                .strip_prefix("domain-monitor-shard-")?
                .parse()
                .ok()?;
            let spec = lease.spec?;
            let holder = spec.holder_identity?;
            let renewed = spec.renew_time?.0;
            let fresh =
                Duration::try_from(now.duration_since(renewed)).unwrap_or_default() <= LEASE;
            fresh.then_some((shard, holder))
        })
        .collect()
}

/// Waits until every shard is held, by exactly `replicas` holders, none over
/// its fair share, and the assignment has been stable for three seconds.
async fn wait_balanced(
    ns: &TestNamespace,
    replicas: usize,
    operators: &[&Operator],
) -> BTreeMap<u32, String> {
    let fair = (SHARDS as usize).div_ceil(replicas);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    let mut stable_since: Option<(tokio::time::Instant, BTreeMap<u32, String>)> = None;
    loop {
        let now = holders(ns).await;
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for holder in now.values() {
            *counts.entry(holder.as_str()).or_default() += 1;
        }
        let balanced = now.len() == SHARDS as usize
            && counts.len() == replicas
            && counts.values().all(|c| *c <= fair);
        match (&stable_since, balanced) {
            (Some((since, seen)), true) if *seen == now => {
                if since.elapsed() >= Duration::from_secs(3) {
                    return now;
                }
            }
            (_, true) => stable_since = Some((tokio::time::Instant::now(), now.clone())),
            (_, false) => stable_since = None,
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "shards never balanced over {replicas} replicas: {counts:?}\n{}",
            operators
                .iter()
                .map(|o| o.log())
                .collect::<Vec<_>>()
                .join("\n")
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn at(event: &serde_json::Value) -> Timestamp {
    event["timestamp"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .expect("event timestamp")
}

/// domain → the instances that checked it at or after `since`.
fn checkers_since(
    operators: &[(&str, &Operator)],
    since: Timestamp,
) -> BTreeMap<String, BTreeSet<String>> {
    let mut seen: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (name, operator) in operators {
        for event in operator.events("check decided") {
            if at(&event) >= since {
                let domain = event["domain"].as_str().unwrap_or_default().to_owned();
                seen.entry(domain).or_default().insert((*name).to_owned());
            }
        }
    }
    seen
}

#[test]
fn three_replicas_check_every_domain_and_none_twice() {
    serially(async {
        let ns = TestNamespace::new("shard-three").await;
        let world = populated(&ns).await;
        let env = env(&world);
        let a = Operator::start(&ns.name, "a", &env);
        let b = Operator::start(&ns.name, "b", &env);
        let c = Operator::start(&ns.name, "c", &env);
        wait_balanced(&ns, 3, &[&a, &b, &c]).await;

        let since = Timestamp::now();
        // Three check intervals (3 s each) with a stable assignment.
        tokio::time::sleep(Duration::from_secs(9)).await;
        let seen = checkers_since(&[("a", &a), ("b", &b), ("c", &c)], since);
        assert_eq!(seen.len(), DOMAINS, "every domain was checked");
        let doubles: Vec<_> = seen.iter().filter(|(_, by)| by.len() > 1).collect();
        assert!(doubles.is_empty(), "checked by two replicas: {doubles:?}");
        for name in ["a", "b", "c"] {
            let share = seen.values().filter(|by| by.contains(name)).count();
            assert!(share > DOMAINS / 6, "{name} did its share: {share}");
        }
    });
}

#[test]
fn a_killed_replica_is_replaced_within_the_lease_duration() {
    serially(async {
        let ns = TestNamespace::new("shard-kill").await;
        let world = populated(&ns).await;
        let env = env(&world);
        let a = Operator::start(&ns.name, "a", &env);
        let b = Operator::start(&ns.name, "b", &env);
        let c = Operator::start(&ns.name, "c", &env);
        let before = wait_balanced(&ns, 3, &[&a, &b, &c]).await;
        let orphaned: BTreeSet<u32> = before
            .iter()
            .filter(|(_, h)| *h == "c")
            .map(|(s, _)| *s)
            .collect();

        let killed_at = tokio::time::Instant::now();
        let killed_ts = Timestamp::now();
        c.kill().await;
        let deadline = killed_at + LEASE + Duration::from_secs(10);
        let takeover = loop {
            let now = holders(&ns).await;
            if orphaned
                .iter()
                .all(|s| now.get(s).is_some_and(|h| h != "c"))
            {
                break killed_at.elapsed();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "shards of the dead replica not taken over: {now:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        println!("takeover after SIGKILL: {takeover:?} (lease duration {LEASE:?})");
        // The dead replica's last renewal was up to one retry period before the
        // kill; its Leases expire one lease duration after it, and the next
        // coordination round (one retry period) takes them.
        assert!(
            takeover <= LEASE + Duration::from_secs(3),
            "takeover took {takeover:?}"
        );

        // Every domain is checked again within one interval of the takeover.
        tokio::time::sleep(Duration::from_secs(4)).await;
        let seen = checkers_since(&[("a", &a), ("b", &b)], killed_ts);
        assert_eq!(seen.len(), DOMAINS, "no domain was forgotten");
    });
}

#[test]
fn scaling_one_three_one_rebalances_without_losing_or_repeating_notifications() {
    serially(async {
        let ns = TestNamespace::new("shard-scale").await;
        let world = populated(&ns).await;
        let api = ns.domains();
        let free = |name: &str| {
            MonitoredDomain::new(
                name,
                MonitoredDomainSpec {
                    domain: format!("{name}.test"),
                    priority: true,
                    check_interval: None,
                    health: None,
                },
            )
        };
        for name in ["free1", "free2"] {
            world.unregistered(&format!("{name}.test"));
            api.create(&PostParams::default(), &free(name))
                .await
                .expect("create");
        }
        let env = env(&world);
        let a = Operator::start(&ns.name, "a", &env);
        wait_balanced(&ns, 1, &[&a]).await;
        world
            .wait_until("two notifications", Duration::from_secs(60), |w| {
                w.notifications().len() == 2
            })
            .await;

        let b = Operator::start(&ns.name, "b", &env);
        let c = Operator::start(&ns.name, "c", &env);
        wait_balanced(&ns, 3, &[&a, &b, &c]).await;
        // A domain that frees up while three replicas run.
        world.unregistered("free3.test");
        api.create(&PostParams::default(), &free("free3"))
            .await
            .expect("create");
        world
            .wait_until("the third notification", Duration::from_secs(60), |w| {
                w.notifications().len() == 3
            })
            .await;

        b.terminate();
        c.terminate();
        let mut b = b;
        let mut c = c;
        assert_eq!(
            b.wait_exit(Duration::from_secs(20)).await,
            Some(0),
            "clean exit:\n{}",
            b.log()
        );
        assert_eq!(c.wait_exit(Duration::from_secs(20)).await, Some(0));
        let left = tokio::time::Instant::now();
        wait_balanced(&ns, 1, &[&a]).await;
        println!(
            "handover after SIGTERM of two replicas: {:?} (including 3 s of stability)",
            left.elapsed()
        );

        tokio::time::sleep(Duration::from_secs(5)).await;
        let notifications = world.notifications();
        let domains: BTreeSet<String> = notifications
            .iter()
            .map(|n| n.json()["domain"].as_str().unwrap_or_default().to_owned())
            .collect();
        assert_eq!(notifications.len(), 3, "no duplicate notifications");
        assert_eq!(domains.len(), 3, "one per domain: {domains:?}");
        for name in ["free1", "free2", "free3"] {
            let state = api
                .get(name)
                .await
                .unwrap()
                .status
                .unwrap()
                .notification
                .unwrap();
            assert_eq!(state.state, NotificationDelivery::Delivered);
        }
    });
}

#[test]
fn a_replica_cut_off_from_the_api_stops_before_its_shards_move() {
    serially(async {
        let ns = TestNamespace::new("shard-cut").await;
        let world = populated(&ns).await;
        let env = env(&world);
        let upstream = api_server_addr(&kubeconfig_path());
        let proxy = Proxy::start(upstream).await;
        let a = Operator::start(&ns.name, "a", &env);
        let b = Operator::start_with_kubeconfig(
            &ns.name,
            "b",
            &env,
            &proxy.kubeconfig(&kubeconfig_path(), upstream),
        );
        let before = wait_balanced(&ns, 2, &[&a, &b]).await;
        let b_shards: BTreeSet<u32> = before
            .iter()
            .filter(|(_, h)| *h == "b")
            .map(|(s, _)| *s)
            .collect();

        let cut_at = Timestamp::now();
        proxy.cut();
        let deadline = tokio::time::Instant::now() + LEASE + Duration::from_secs(15);
        loop {
            let now = holders(&ns).await;
            if b_shards
                .iter()
                .all(|s| now.get(s).map(String::as_str) == Some("a"))
            {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "a never took b's shards: {now:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let first_takeover = a
            .events("acquired shard")
            .iter()
            .filter(|e| {
                e["shard"]
                    .as_u64()
                    .is_some_and(|s| b_shards.contains(&(s as u32)))
            })
            .map(at)
            .filter(|t| *t >= cut_at)
            .min()
            .expect("a logged its acquisitions");
        let b_last_check = b
            .events("check decided")
            .iter()
            .map(at)
            .max()
            .expect("b worked before the cut");
        println!("b's last check {b_last_check}, a took over {first_takeover}");
        assert!(
            b_last_check < first_takeover,
            "b checked at {b_last_check} after a took its shards at {first_takeover}"
        );
    });
}

/// `GET /ready` of `operator`: the status code and the body.
async fn readiness(operator: &Operator) -> (u16, serde_json::Value) {
    domain_monitor::net::ensure_crypto_provider();
    let response = reqwest::get(format!("{}/ready", operator.base_url().await))
        .await
        .expect("GET /ready");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

#[test]
fn a_replica_beyond_the_shards_is_a_ready_standby_and_takes_over() {
    serially(async {
        let ns = TestNamespace::new("shard-standby").await;
        let world = World::start().await;
        let mut env = env(&world);
        env.retain(|(name, _)| name != "SHARDS");
        env.push(("SHARDS".to_owned(), "1".to_owned()));
        let a = Operator::start(&ns.name, "a", &env);
        let b = Operator::start(&ns.name, "b", &env);

        // Both become ready (a rollout finishes): one works the shard, the
        // other stands by.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let (holder, standby) = loop {
            let (ra, rb) = (readiness(&a).await, readiness(&b).await);
            let shown = |(status, body): &(u16, serde_json::Value)| {
                (*status, body["shards"].clone(), body["standby"].clone())
            };
            let one = (200, serde_json::json!([0]), serde_json::json!(false));
            let other = (200, serde_json::json!([]), serde_json::json!(true));
            match (shown(&ra), shown(&rb)) {
                (x, y) if x == one && y == other => break (a, b),
                (x, y) if x == other && y == one => break (b, a),
                seen => assert!(
                    tokio::time::Instant::now() < deadline,
                    "not one holder and one ready standby: {seen:?}\n{}\n{}",
                    a.log(),
                    b.log()
                ),
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        };

        // The holder dies: the standby takes the shard within the lease.
        holder.kill().await;
        let deadline = tokio::time::Instant::now() + LEASE + Duration::from_secs(10);
        loop {
            let (status, body) = readiness(&standby).await;
            if status == 200 && body["shards"] == serde_json::json!([0]) {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the standby never took over: {status} {body}\n{}",
                standby.log()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    });
}

#[test]
fn a_refresh_sent_to_the_wrong_replica_names_the_one_to_ask() {
    serially(async {
        let ns = TestNamespace::new("shard-refresh").await;
        let world = World::start().await;
        world.register("listed.test", "active").await;
        world.set_domain_list(&serde_json::json!({"domains": ["listed.test"]}));
        let mut env = env(&world);
        env.push(("DOMAIN_API_URL".to_owned(), world.api.url("/domains")));
        let a = Operator::start(&ns.name, "a", &env);
        let b = Operator::start(&ns.name, "b", &env);
        domain_monitor::net::ensure_crypto_provider();
        let http = reqwest::Client::new();
        let (url_a, url_b) = (a.base_url().await, b.base_url().await);
        let refresh = |base: String| {
            let http = http.clone();
            async move {
                let response = http
                    .post(format!("{base}/refresh"))
                    .bearer_auth(support::world::TOKEN)
                    .send()
                    .await
                    .expect("POST /refresh");
                let status = response.status().as_u16();
                (status, response.json::<serde_json::Value>().await.unwrap())
            }
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let answers = [
                ("a", refresh(url_a.clone()).await),
                ("b", refresh(url_b.clone()).await),
            ];
            let ran: Vec<&str> = answers
                .iter()
                .filter(|(_, (status, body))| *status == 200 && body["listed"] == 1)
                .map(|(name, _)| *name)
                .collect();
            if let [leader] = ran.as_slice() {
                let (_, (status, body)) = answers.iter().find(|(n, _)| n != leader).unwrap();
                assert_eq!(*status, 409, "{body}");
                assert_eq!(body["sync_leader"], *leader, "{body}");
                let said = body["error"].as_str().unwrap();
                assert!(
                    said.contains(&format!("kubectl port-forward pod/{leader} 8000")),
                    "{said}"
                );
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no single sync leader answered: {answers:?}"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
}

/// DomainHealthChecks are sharded like domains: with two replicas, each
/// check is probed by the replica holding the shard of `namespace/name`,
/// and by no other, and every check gets its status.
#[test]
fn two_replicas_probe_every_domain_health_check_and_none_twice() {
    const CHECKS: usize = 8;
    serially(async {
        let (servers, resolving) = tokio::task::block_in_place(|| {
            let ips = [85, 86].map(|last| IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)));
            let port = free_port_on(&ips);
            let zone = Zone::child("shard.test", &["ns1.shard.test", "ns2.shard.test"])
                .address("ns1.shard.test", ips[0])
                .address("ns2.shard.test", ips[1])
                .address("www.shard.test", "192.0.2.1".parse().unwrap());
            let servers = ips.map(|ip| Nsd::start_on(zone.clone(), &[], ip, Some(port)));
            let addrs = servers.each_ref().map(Nsd::addr);
            let resolving = Unbound::start_stubs(
                IpAddr::V4(Ipv4Addr::new(127, 0, 0, 87)),
                &[("shard.test", &addrs)],
            );
            (servers, resolving)
        });
        let ns = TestNamespace::new("shard-dhc").await;
        install_dhc_crd(&ns.client).await;
        let port = servers[0].addr().port().to_string();
        let env: Vec<(String, String)> = [
            ("DOMAIN_HEALTH_CHECKS", "true"),
            ("DNS_TIMEOUT", "2s"),
            ("NAMESERVER_PORT", port.as_str()),
            ("SHARDS", &SHARDS.to_string()),
            ("SHARD_LEASE_DURATION", &format!("{}s", LEASE.as_secs())),
            ("SHARD_RENEW_DEADLINE", "4s"),
            ("SHARD_RETRY_PERIOD", "1s"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .into();
        let a = Operator::start(&ns.name, "a", &env);
        let b = Operator::start(&ns.name, "b", &env);
        wait_balanced(&ns, 2, &[&a, &b]).await;

        let since = Timestamp::now();
        let api: Api<DomainHealthCheck> = Api::namespaced(ns.client.clone(), &ns.name);
        for i in 0..CHECKS {
            let mut web = check(
                &format!("c{i}"),
                "shard.test",
                vec![record("www", ProbeRecordType::A, &["192.0.2.1"])],
                vec![resolver("r", resolving.addr())],
            );
            web.spec.interval = Some("10s".to_owned());
            api.create(&PostParams::default(), &web)
                .await
                .expect("create");
        }
        // Every check answered, then one more round of each.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let checks = api.list(&ListParams::default()).await.expect("list");
            let done = checks.items.iter().all(|c| {
                c.status.as_ref().is_some_and(|s| {
                    s.conditions
                        .iter()
                        .any(|c| c.type_ == "AnswersMatch" && c.status == "True")
                })
            });
            if done && checks.items.len() == CHECKS {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "not every check matched: {:#?}\n{}\n{}",
                checks.items.iter().map(|c| &c.status).collect::<Vec<_>>(),
                a.log(),
                b.log()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        tokio::time::sleep(Duration::from_secs(11)).await;

        let mut probers: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
        let mut rounds: BTreeMap<String, usize> = BTreeMap::new();
        for (name, operator) in [("a", &a), ("b", &b)] {
            for event in operator.events("probed") {
                let check = event["check"]
                    .as_str()
                    .or_else(|| event["fields"]["check"].as_str())
                    .unwrap_or_default()
                    .to_owned();
                if at(&event) >= since {
                    *rounds.entry(check.clone()).or_default() += 1;
                    probers.entry(check).or_default().insert(name);
                }
            }
        }
        assert_eq!(probers.len(), CHECKS, "every check was probed: {probers:?}");
        let doubles: Vec<_> = probers.iter().filter(|(_, by)| by.len() > 1).collect();
        assert!(doubles.is_empty(), "probed by two replicas: {doubles:?}");
        assert!(
            rounds.values().all(|n| *n >= 2),
            "each check was probed at least twice (by its one replica): {rounds:?}"
        );
        for name in ["a", "b"] {
            assert!(
                probers.values().any(|by| by.contains(name)),
                "{name} probed some checks: {probers:?}"
            );
        }
    });
}
