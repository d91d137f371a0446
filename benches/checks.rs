//! Throughput of the check library against real local servers:
//!
//! 1. the DNS layer: [`DnsChecker`] against nsd serving a `.test` zone of
//!    100k delegations, queried for delegated and absent names half and half,
//!    side by side with `dnsperf` (and a plain hickory lookup loop) against
//!    the same server; then against both of the TLD's two servers (as every
//!    real TLD has several), where a free name costs two queries (the
//!    second opinion);
//! 2. the pipeline: domains fully decided per second by
//!    [`LayeredChecker::evaluate`] when layer 1 settles them, and when half
//!    of them (free names) escalate to RDAP (rdap-srv) and WHOIS. Delegated
//!    names resolve, through a third nsd playing the recursive resolver, to
//!    a local web server, so an HTTP probe would connect; the probe waits for
//!    DNS (up to `LAST_IN_LAYER_WAIT`) and is skipped once DNS found the
//!    delegation (`verdict::needless`); `layer1_web_requests` counts the
//!    probes that reached the server.
//!
//! `cargo bench --bench checks -- --out FILE [--names N] [--seconds S] [--rounds R]`
//! writes the numbers as JSON; `just bench` runs it. Under `cargo test
//! --all-targets` (no `--bench` flag) it does nothing.

mod common;
#[path = "../tests/support/mod.rs"]
mod support;

use std::{
    collections::BTreeMap,
    net::{IpAddr, Ipv4Addr},
    path::PathBuf,
    process::Command,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use clap::Parser;
use common::round;
use domain_monitor::{
    check::{
        Checker, Layer,
        dns::{DnsChecker, Settings},
        http::{self, HttpChecker},
        rdap::{self, RdapChecker},
        whois::{self, WhoisChecker},
    },
    config::{CheckerArgs, RateLimit},
    domain_name::DomainName,
    layered::{Depth, LayeredChecker},
    resource::Availability,
    verdict::VerdictPolicy,
};
use hickory_resolver::proto::rr::RecordType;
use serde_json::{Value, json};
use support::{
    http_stub::{self, HttpStub},
    nsd::{Nsd, TldServers, Zone},
    rdap_srv::RdapSrv,
    whois_server::{Reply, WhoisServer},
    world::whois_free,
};

/// Name servers the delegations point to (as in a real zone, a few hosts
/// serve many domains).
const HOSTING_SERVERS: usize = 16;
/// Authoritative servers of the `.test` TLD.
const TLD_SERVERS: usize = 2;

/// Throughput of the check library (see the file's doc).
#[derive(Parser)]
#[command(name = "checks")]
struct Options {
    /// Set by `cargo bench` (and bench/run.sh); without it (as under `cargo
    /// test --all-targets`) nothing runs.
    #[arg(long)]
    bench: bool,
    /// Where the results go (JSON).
    #[arg(long, default_value = "bench/results/raw/checks.json")]
    out: PathBuf,
    /// Delegations in the zone (and names asked).
    #[arg(long, default_value_t = 100_000)]
    names: usize,
    /// Seconds of each measurement.
    #[arg(long, default_value_t = 4)]
    seconds: u64,
    /// Rounds of the DNS comparison (each number is the best round's).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
}

fn main() {
    if !common::benchmarking(
        "checks: a benchmark; run it with `cargo bench --bench checks` or `just bench`",
    ) {
        return;
    }
    let options = Options::parse();
    common::run_to_file("checks", &options.out, run(&options));
}

fn delegated(i: usize) -> String {
    format!("d{i}.test")
}

fn free(i: usize) -> String {
    format!("free{i}.test")
}

async fn run(options: &Options) -> Value {
    let n = options.names;
    let window = Duration::from_secs(options.seconds);
    eprintln!("checks: starting {TLD_SERVERS} nsd with {n} delegations each");
    let started = Instant::now();
    let tld = tokio::task::spawn_blocking(move || {
        let mut zone = Zone::new("test");
        for i in 0..n {
            let ns = format!("ns{}.hosting.example", i % HOSTING_SERVERS);
            zone = zone.delegate(&delegated(i), &[ns.as_str()]);
        }
        TldServers::start(&zone, TLD_SERVERS)
    })
    .await
    .expect("start nsd");
    let nsd_start_s = started.elapsed().as_secs_f64();
    // dnsperf asks one server: the checker is compared on that same one.
    let nsd = &tld.servers()[0];
    // Half delegated, half absent, interleaved.
    let queries: Arc<Vec<DomainName>> = Arc::new(
        (0..n)
            .map(|i| if i % 2 == 0 { delegated(i) } else { free(i) })
            .map(|name| DomainName::parse(&name).expect("valid name"))
            .collect(),
    );

    let mut results = serde_json::Map::new();
    results.insert("zone_delegations".into(), json!(n));
    results.insert("nsd_start_s".into(), json!(round(nsd_start_s, 2)));
    results.insert("window_s".into(), json!(options.seconds));

    // --- dnsperf and the DNS checker, in alternating rounds ---
    // Other work on the machine moves these numbers a lot: each is the best
    // of `rounds`, taken in turns so that both see the same conditions.
    let checker = Arc::new(
        DnsChecker::new(Settings {
            servers: vec![nsd.addr()],
            recursive_resolvers: Vec::new(),
            authoritative_port: 53,
            timeout: Duration::from_secs(2),
            rate_limit: unlimited(),
        })
        .expect("dns checker"),
    );
    let both_servers = Arc::new(
        DnsChecker::new(Settings {
            servers: tld.addrs(),
            recursive_resolvers: Vec::new(),
            authoritative_port: 53,
            timeout: Duration::from_secs(2),
            rate_limit: unlimited(),
        })
        .expect("dns checker"),
    );
    let mut dnsperf_runs = Vec::new();
    let mut checker_runs: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let mut two_server_runs = Vec::new();
    let (mut best_dnsperf, mut best) = (0.0_f64, 0.0_f64);
    let (mut best_two_checks, mut best_two_queries) = (0.0_f64, 0.0_f64);
    for round_number in 1..=options.rounds {
        let dnsperf = run_dnsperf(nsd, &queries, options.seconds);
        eprintln!("checks: round {round_number}: dnsperf {dnsperf}");
        best_dnsperf = best_dnsperf.max(dnsperf["queries_per_s"].as_f64().unwrap_or(0.0));
        dnsperf_runs.push(dnsperf);
        for in_flight in [100, 500] {
            let run = measure(in_flight, window, &queries, {
                let checker = checker.clone();
                move |name| {
                    let checker = checker.clone();
                    async move { format!("{:?}", checker.check(&name).await.outcome) }
                }
            })
            .await;
            eprintln!("checks: round {round_number}: dns checker, {in_flight} tasks: {run}");
            best = best.max(run["per_s"].as_f64().unwrap_or(0.0));
            checker_runs
                .entry(format!("{in_flight}_tasks"))
                .or_default()
                .push(run);
        }
        let asked_before: u64 = tld.ns_queries().iter().sum();
        let mut run = measure(500, window, &queries, {
            let checker = both_servers.clone();
            move |name| {
                let checker = checker.clone();
                async move { format!("{:?}", checker.check(&name).await.outcome) }
            }
        })
        .await;
        let asked = tld.ns_queries().iter().sum::<u64>() - asked_before;
        let seconds = run["seconds"].as_f64().unwrap_or(f64::INFINITY);
        run["nsd_queries_per_s"] = json!(round(asked as f64 / seconds, 0));
        eprintln!("checks: round {round_number}: dns checker, both servers, 500 tasks: {run}");
        best_two_checks = best_two_checks.max(run["per_s"].as_f64().unwrap_or(0.0));
        best_two_queries = best_two_queries.max(asked as f64 / seconds);
        two_server_runs.push(run);
    }
    results.insert("dnsperf".into(), json!(dnsperf_runs));
    results.insert("dns_checker_two_servers".into(), json!(two_server_runs));
    results.insert(
        "dns_two_servers_checks_per_s".into(),
        json!(round(best_two_checks, 0)),
    );
    results.insert(
        "dns_two_servers_queries_per_s".into(),
        json!(round(best_two_queries, 0)),
    );
    let wire = checker.wire_stats();
    results.insert(
        "dns_wire_drops".into(),
        json!({
            "unmatched": wire.unmatched,
            "wrong_source": wire.wrong_source,
            "wrong_question": wire.wrong_question,
            "malformed": wire.malformed,
            "timeouts": wire.timeouts,
            "tcp_fallbacks": wire.tcp_fallbacks,
        }),
    );
    // The way a single stream drives it (as `buffer_unordered` in one task).
    let one_task = measure_one_task(500, window, &queries, checker.clone()).await;
    eprintln!("checks: dns checker, one task, 500 in flight: {one_task}");
    checker_runs.insert("500_in_one_task".into(), vec![one_task]);
    results.insert("dns_checker".into(), json!(checker_runs));
    results.insert("rounds".into(), json!(options.rounds));
    results.insert("dns_checks_per_s".into(), json!(round(best, 0)));
    results.insert(
        "dnsperf_queries_per_s".into(),
        json!(round(best_dnsperf, 0)),
    );
    results.insert(
        "dns_ratio_to_dnsperf".into(),
        json!(if best_dnsperf > 0.0 {
            round(best / best_dnsperf, 3)
        } else {
            0.0
        }),
    );

    // --- a plain hickory lookup loop, for scale ---
    let resolver =
        domain_monitor::check::dns::recursive_resolver(&[nsd.addr()], Duration::from_secs(2))
            .expect("resolver");
    let hickory = measure(500, window, &queries, move |name| {
        let resolver = resolver.clone();
        async move {
            match resolver
                .lookup(format!("{}.", name.as_str()), RecordType::NS)
                .await
            {
                Ok(_) => "answer".to_owned(),
                Err(e) if e.is_nx_domain() => "nxdomain".to_owned(),
                Err(e) if e.is_no_records_found() => "referral".to_owned(),
                Err(_) => "error".to_owned(),
            }
        }
    })
    .await;
    eprintln!("checks: hickory lookup loop, 500 tasks: {hickory}");
    results.insert("hickory_lookups_per_s".into(), hickory["per_s"].clone());
    results.insert("hickory_lookup_loop".into(), hickory);

    // --- the pipeline ---
    // The web: every delegated name resolves (through an nsd playing the
    // recursive resolver) to a local web server; free names do not resolve.
    let web_dns = tokio::task::spawn_blocking(move || {
        let mut zone = Zone::new("test");
        for i in 0..n {
            zone = zone.address(&delegated(i), IpAddr::V4(Ipv4Addr::LOCALHOST));
        }
        Nsd::start(zone)
    })
    .await
    .expect("start the web's nsd");
    let web = HttpStub::start().await;
    web.set("/", http_stub::Reply::new(200));
    let rdap = RdapSrv::start().await;
    let whois = WhoisServer::start(Vec::<(String, Reply)>::new()).await;
    for i in (1..n).step_by(2) {
        let name = free(i);
        whois.set(&name, Reply::text(whois_free(&name)));
    }
    let args = checker_args(&tld, &rdap, &whois);
    let layered = Arc::new(layered_checker(&args, &web_dns, &web).await);

    let registered: Arc<Vec<DomainName>> = Arc::new(
        (0..n)
            .map(|i| DomainName::parse(&delegated(i)).expect("valid"))
            .collect(),
    );
    let mut layer1: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let mut best_layer1 = 0.0_f64;
    for _ in 0..options.rounds.min(2) {
        for in_flight in [200, 500] {
            let run = measure(in_flight, window, &registered, evaluate(&layered)).await;
            eprintln!("checks: layer 1 settles, {in_flight} tasks: {run}");
            best_layer1 = best_layer1.max(run["per_s"].as_f64().unwrap_or(0.0));
            layer1
                .entry(format!("{in_flight}_tasks"))
                .or_default()
                .push(run);
        }
    }
    results.insert("layer1".into(), json!(layer1));
    results.insert("layer1_domains_per_s".into(), json!(round(best_layer1, 0)));
    results.insert("layer1_web_requests".into(), json!(web.hits("/")));

    let mixed = measure(500, window, &queries, evaluate(&layered)).await;
    eprintln!("checks: half escalate to RDAP and WHOIS, 500 tasks: {mixed}");
    results.insert(
        "half_escalated_domains_per_s".into(),
        mixed["per_s"].clone(),
    );
    results.insert("half_escalated".into(), mixed);
    Value::Object(results)
}

/// The `evaluate` of one domain as an outcome word: availability and layers.
fn evaluate(
    layered: &Arc<LayeredChecker>,
) -> impl Fn(DomainName) -> std::pin::Pin<Box<dyn Future<Output = String> + Send>> + Send + Sync + 'static
{
    let layered = layered.clone();
    move |name| {
        let layered = layered.clone();
        Box::pin(async move {
            let evaluation = layered
                .evaluate(&name, Depth::Escalate, Default::default())
                .await;
            let layers = evaluation
                .layers
                .iter()
                .map(|l| match l {
                    Layer::Fast => "1",
                    Layer::Reliable => "2",
                    Layer::Deep => "3",
                })
                .collect::<Vec<_>>()
                .join("+");
            let word = match evaluation.verdict.availability {
                Availability::Registered => "registered",
                Availability::Available => "available",
                other => return format!("{other:?} via layers {layers}"),
            };
            format!("{word} via layers {layers}")
        })
    }
}

/// The checkers of `LayeredChecker::from_args`, except that the http
/// checker resolves through `web_dns` and probes `web` (plain HTTP; its
/// HTTPS port is closed, as on a site without TLS).
async fn layered_checker(args: &CheckerArgs, web_dns: &Nsd, web: &HttpStub) -> LayeredChecker {
    let closed_port = support::closed_port();
    let checkers: Vec<Arc<dyn Checker>> = vec![
        Arc::new(DnsChecker::new(Settings::from_args(args)).expect("dns checker")),
        Arc::new(
            HttpChecker::new(http::Settings {
                dns_servers: vec![web_dns.addr()],
                timeout: args.http_timeout,
                allow_private: true,
                rate_limit: args.http_rate_limit,
                http_port: web.addr().port(),
                https_port: closed_port,
            })
            .expect("http checker"),
        ),
        Arc::new(RdapChecker::new(rdap::Settings::from_args(args)).expect("rdap checker")),
        Arc::new(WhoisChecker::new(whois::Settings::from_args(args))),
    ];
    LayeredChecker::new(checkers, VerdictPolicy::from_args(args))
}

fn unlimited() -> RateLimit {
    support::rate_limit(10_000_000)
}

/// Checker settings for the local world, with rate limits far above what
/// the machine can do (the budgets are not what is measured here).
fn checker_args(tld: &TldServers, rdap: &RdapSrv, whois: &WhoisServer) -> CheckerArgs {
    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        checks: CheckerArgs,
    }
    let nsd_addr = tld.resolvers();
    let rdap_override = format!("test={}", rdap.base_url());
    let whois_override = format!("test={}", whois.host_port());
    Wrapper::parse_from([
        "bench",
        "--dns-resolvers",
        &nsd_addr,
        "--dns-timeout",
        "2s",
        "--http-timeout",
        "2s",
        "--rdap-overrides",
        &rdap_override,
        "--rdap-timeout",
        "5s",
        "--whois-overrides",
        &whois_override,
        "--whois-timeout",
        "5s",
        "--dns-rate-limit",
        "10000000/s",
        "--http-rate-limit",
        "10000000/s",
        "--rdap-rate-limit",
        "10000000/s",
        "--whois-rate-limit",
        "10000000/s",
    ])
    .checks
}

/// Runs `job` over `names` (cycling) from `tasks` spawned tasks for
/// `window`; counts the outcome words.
async fn measure<F, Fut>(
    tasks: usize,
    window: Duration,
    names: &Arc<Vec<DomainName>>,
    job: F,
) -> Value
where
    F: Fn(DomainName) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = String> + Send + 'static,
{
    let job = Arc::new(job);
    let next = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let workers: Vec<_> = (0..tasks)
        .map(|_| {
            let (job, next, stop, names) = (job.clone(), next.clone(), stop.clone(), names.clone());
            tokio::spawn(async move {
                let mut outcomes: BTreeMap<String, u64> = BTreeMap::new();
                while !stop.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let word = job(names[i % names.len()].clone()).await;
                    *outcomes.entry(word).or_default() += 1;
                }
                outcomes
            })
        })
        .collect();
    tokio::time::sleep(window).await;
    stop.store(true, Ordering::Relaxed);
    let mut outcomes: BTreeMap<String, u64> = BTreeMap::new();
    for worker in workers {
        for (word, count) in worker.await.expect("worker") {
            *outcomes.entry(word).or_default() += count;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let total: u64 = outcomes.values().sum();
    json!({
        "tasks": tasks,
        "done": total,
        "seconds": round(secs, 2),
        "per_s": round(total as f64 / secs, 0),
        "outcomes": outcomes,
    })
}

/// The DNS checker driven by one task polling `in_flight` checks at once.
async fn measure_one_task(
    in_flight: usize,
    window: Duration,
    names: &Arc<Vec<DomainName>>,
    checker: Arc<DnsChecker>,
) -> Value {
    use futures::StreamExt;
    let started = Instant::now();
    let deadline = started + window;
    let names = names.clone();
    let outcomes = futures::stream::iter(0..)
        .take_while(|_| std::future::ready(Instant::now() < deadline))
        .map(|i| {
            let checker = checker.clone();
            let name = names[i % names.len()].clone();
            async move { checker.check(&name).await.outcome }
        })
        .buffer_unordered(in_flight)
        .fold(BTreeMap::<String, u64>::new(), |mut acc, outcome| {
            *acc.entry(format!("{outcome:?}")).or_default() += 1;
            std::future::ready(acc)
        })
        .await;
    let secs = started.elapsed().as_secs_f64();
    let total: u64 = outcomes.values().sum();
    json!({
        "in_flight": in_flight,
        "done": total,
        "seconds": round(secs, 2),
        "per_s": round(total as f64 / secs, 0),
        "outcomes": outcomes,
    })
}

/// `dnsperf` over the same names, against the same server.
fn run_dnsperf(nsd: &Nsd, names: &[DomainName], seconds: u64) -> Value {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("queries.txt");
    let text: String = names
        .iter()
        .map(|name| format!("{} NS\n", name.as_str()))
        .collect();
    std::fs::write(&data, text).expect("write the dnsperf query file");
    let output = Command::new("dnsperf")
        .args(["-s", &nsd.addr().ip().to_string()])
        .args(["-p", &nsd.addr().port().to_string()])
        .arg("-d")
        .arg(&data)
        .args(["-l", &seconds.to_string()])
        .args(["-c", "4", "-T", "1", "-q", "500"])
        .output()
        .expect("run dnsperf (apt-get install -y dnsperf)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let field = |label: &str| -> Option<f64> {
        stdout
            .lines()
            .find(|l| l.trim_start().starts_with(label))
            .and_then(|l| l.split(':').nth(1))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
    };
    json!({
        "settings": "-c 4 -T 1 -q 500",
        "queries_per_s": field("Queries per second").map(|q| round(q, 0)),
        "queries_completed": field("Queries completed"),
        "queries_lost": field("Queries lost"),
        "avg_latency_s": field("Average Latency (s)"),
    })
}
