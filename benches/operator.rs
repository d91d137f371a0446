//! The operator at scale, as real processes: the test Kubernetes API server,
//! nsd, rdap-srv, a WHOIS server and a callback receiver on loopback, and
//! the release `domain-monitor` binary.
//!
//! ```text
//! cargo bench --bench operator -- scale --domains 100000 [--window S] [--interval S] [--patience S] --out FILE
//! cargo bench --bench operator -- publishing --domains 100000 [--patience S] --out FILE
//! cargo bench --bench operator -- scaleout --domains 10000 --out FILE
//! cargo bench --bench operator -- detection --per-class 20 --out FILE
//! ```
//!
//! The world is honest: the `.test` TLD is served by two authoritative nsd
//! (every real TLD has 2–13), RDAP and WHOIS run at the operator's default
//! budgets (the scale-out alone lifts them: it measures check concurrency),
//! and the status heartbeat is the operator's default. Each result's
//! `settings` say which budgets were in force.
//!
//! - `scale`: N `MonitoredDomain`s (all delegated, each with an RDAP
//!   object). In one run: seconds from operator start until every domain was
//!   checked once (the `domain_monitor_first_checks_total` counter, or
//!   `domain_monitor_verdicts_total` where the operator has no such counter),
//!   status writes per second during that first pass, resident memory per
//!   domain after it and after a window of re-checks (and the peak), status
//!   writes in that window while nothing changes, API server requests per
//!   second. The first pass's writes are compared with the API server's
//!   ceiling for first status patches on fresh resources, sampled while
//!   the operator publishes (stopped with SIGSTOP for each sample: see
//!   `Interleaved`), and after the pass beside the operator (still
//!   re-checking) and with it stopped.
//! - `publishing`: the same first pass at the operator's default intervals
//!   (`scale` re-checks every domain once a window, 60 s, while it
//!   publishes: 1,667 checks/s at 100k on the same two cores as the API
//!   server): first statuses written per second until every domain has one,
//!   over the API server's ceiling sampled as in `scale`.
//! - `scaleout`: 1 and then 3 replicas on the same N domains, with DNS
//!   servers that answer after a fixed delay (remote TLD servers) and a
//!   per-replica concurrency cap, so that checking is the bottleneck.
//! - `detection`: domains dropped by the "registry" while the operator runs;
//!   the time until the availability notification reaches the receiver, for
//!   ordinary, priority and drop-window domains.
//!
//! `just bench` runs all four. Without `--bench` (as under `cargo test
//! --all-targets`) it does nothing. The servers and the operator process
//! are tests/support's (the integration tests' harness); the test API server
//! binary is `DM_TEST_APISERVER`, else `tools/test-apiserver` in the target
//! dir (`CARGO_TARGET_DIR` or `target/`), where `tests/cluster/build.sh`
//! puts it.

mod common;
#[path = "../tests/support/mod.rs"]
mod support;

use std::{
    collections::BTreeMap,
    net::{Ipv4Addr, SocketAddr},
    path::{Path, PathBuf},
    process::Command,
    sync::Arc,
    time::{Duration, Instant},
};

use clap::{Parser, ValueEnum};
use common::round;
use domain_monitor::{
    controller::writer,
    domain_name::DomainName,
    resource::{MonitoredDomain, MonitoredDomainSpec},
    shard::{SHARD_LABEL, shard_of},
};
use futures::StreamExt;
use kube::{
    Api, Client, Resource,
    api::{Patch, PatchParams, PostParams},
};
use serde_json::{Value, json};
use support::{
    cluster::{PrivateServer, create_namespace, install_crd, writer_client_for},
    http_stub::{HttpStub, Reply as HttpReply},
    nsd::{TldServers, Zone, free_port_on},
    operator::{Operator, cpu_seconds, metric_by_label, metric_sum},
    rdap_srv::RdapSrv,
    wait_until,
    whois_server::{Reply, WhoisServer},
    world::{whois_free, whois_record},
};
use tokio::net::UdpSocket;

/// Namespace of the benchmark's resources.
const NAMESPACE: &str = "bench";
/// Shards (the operator's default).
const SHARDS: u32 = 16;
/// Name servers every delegation points to (a large hoster's), the same in
/// DNS, RDAP and WHOIS: when sources disagree on them, each source's answer
/// rewrites the status once.
const NAMESERVERS: [&str; 2] = ["ns1.hosting.example", "ns2.hosting.example"];
/// The callback receiver's bearer token.
const TOKEN: &str = "bench-callback-token";
/// Authoritative servers of the `.test` TLD (every real TLD has 2–13).
const TLD_SERVERS: usize = 2;
/// Request budget per DNS server. The operator's default (200/s) is a
/// politeness budget toward one remote TLD server; kept here, 100k domains
/// would need 250 s of DNS alone and the first pass would measure that
/// number. 20,000/s per loopback nsd (~167k q/s each) is far from what the
/// servers can take, yet a budget the DNS layer has to respect.
const DNS_BUDGET: &str = "20000/s";
/// The first metric the first pass is read from (domains checked for the
/// first time by this replica); `domain_monitor_verdicts_total` stands in
/// where the operator does not export it.
const FIRST_CHECKS_METRIC: &str = "domain_monitor_first_checks_total";
/// The deep-layer budget of the scale-out scenario only, which measures
/// check concurrency rather than a registry's budget.
const LIFTED_BUDGET: &str = "1000000/s";
/// Requests in flight while measuring the API server's status-patch ceiling.
const CEILING_CONCURRENCY: usize = 64;
/// The `Accept` of the `metadata` half of `--response-pairs`: the written
/// object's metadata alone, in protobuf (else JSON), as client-go's metadata
/// client asks; error answers stay JSON.
const METADATA_RESPONSES: &str = "application/vnd.kubernetes.protobuf;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,\
     application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,\
     application/json";
/// The namespace of the resources the ceiling is measured on while the
/// operator runs: it watches only [`NAMESPACE`], so it never sees them.
const CEILING_NAMESPACE: &str = "bench-ceiling";
/// Resources in [`CEILING_NAMESPACE`] per second of each ceiling
/// measurement, more than the API server writes (550/s with the operator
/// stopped on an EPYC of 2026), so that every patch there is a resource's
/// first status, as the operator's first pass writes are.
const CEILING_RESOURCES_PER_S: usize = 800;
/// Operator-stopped 10-s samples of the ceiling; their median is reported
/// beside the sustained sample the ratio is taken to.
const CEILING_SAMPLES: usize = 3;
/// Operator-stopped samples with a watch open on the namespace, after the
/// others: what the watch event of each write costs the API server (the
/// operator's own writes all come back to it on its watch; the plain
/// samples' have no watcher).
const CEILING_WATCHED_SAMPLES: usize = 2;
/// The pause between two operator-stopped samples of the ceiling.
const CEILING_SPACING: Duration = Duration::from_secs(20);
/// The slices a ceiling measurement's rate is also reported by.
const CEILING_SLICE: Duration = Duration::from_secs(10);
/// The fewest interleaved samples the ratio is taken to: a single 10-s
/// sample holds one GC cycle of the API server or two.
const INTERLEAVED_MIN: usize = 3;
/// The most ceiling samples taken while the operator publishes (see
/// [`Interleaved`]): a first pass of 100k at 250–450 writes/s publishes for
/// 220–400 s, one sample every 30 s of it.
const INTERLEAVED_SAMPLES: usize = 12;
/// After the operator was stopped, how long an interleaved sample waits
/// before it starts: the operator's writes in flight (64 at most, a few
/// ms of API server CPU each) are answered meanwhile.
const INTERLEAVE_SETTLE: Duration = Duration::from_secs(1);
/// The shard lease of runs with interleaved samples: the operator is the
/// only replica, and a lease it could not renew while stopped would make
/// it give its shards up (`SHARD_RENEW_DEADLINE`, 10 s by default) and
/// start over.
const INTERLEAVED_LEASE: [(&str, &str); 2] = [
    ("SHARD_LEASE_DURATION", "120s"),
    ("SHARD_RENEW_DEADLINE", "90s"),
];

// === command line ===

/// The operator at scale (see the file's doc).
#[derive(Parser)]
#[command(name = "operator")]
struct Options {
    /// Set by `cargo bench` (and bench/run.sh); without it (as under `cargo
    /// test --all-targets`) nothing runs.
    #[arg(long)]
    bench: bool,
    /// What to measure.
    #[arg(value_enum)]
    scenario: Scenario,
    /// Where the results go (JSON).
    #[arg(long, default_value = "bench/results/raw/operator.json")]
    out: PathBuf,
    /// MonitoredDomains of `scale` and `scaleout`.
    #[arg(long, default_value_t = 10_000)]
    domains: usize,
    /// Dropped domains per class of `detection`.
    #[arg(long, default_value_t = 20)]
    per_class: usize,
    /// Seconds of the idle window (`scale`) and of each measurement
    /// (`scaleout`).
    #[arg(long = "window", value_name = "SECONDS", default_value_t = 60)]
    window_s: u64,
    /// `CHECK_INTERVAL` of `scale`, in seconds (default: the window).
    #[arg(long = "interval", value_name = "SECONDS")]
    interval_s: Option<u64>,
    /// Longest wait for the first pass, in seconds, before it is recorded
    /// as not reached.
    #[arg(long = "patience", value_name = "SECONDS", default_value_t = 1800)]
    patience_s: u64,
    /// How long the API server's status-patch ceiling is measured, in
    /// seconds.
    #[arg(long = "ceiling-seconds", value_name = "SECONDS", default_value_t = 10)]
    ceiling_s: u64,
    /// How long the sustained operator-stopped sample of the ceiling after
    /// the pass runs, in seconds (after the short samples; 0: none). It is
    /// the ceiling the ratio is taken to when there are no interleaved
    /// samples (see [`StoppedCeiling::per_s`]).
    #[arg(
        long = "sustained-seconds",
        value_name = "SECONDS",
        default_value_t = 60
    )]
    sustained_s: u64,
    /// The ceiling's loop writes with kube's default client (HTTP/1.1, a
    /// TLS connection per request in flight) instead of the client of the
    /// operator's status writer (HTTP/2, one connection), to compare the
    /// two transports' ceilings.
    #[arg(long = "ceiling-http1")]
    ceiling_http1: bool,
    /// After the operator-stopped samples, this many pairs of short
    /// samples, one asking for the metadata alone back
    /// ([`METADATA_RESPONSES`]) and one for the whole object as the
    /// operator's writer does (taking turns at going first), so the two
    /// responses' costs are compared on the same API server (0: none).
    #[arg(long = "response-pairs", value_name = "PAIRS", default_value_t = 0)]
    response_pairs: usize,
    /// While the operator publishes its first statuses, once every domain
    /// was checked once, every this many seconds of its publishing it is
    /// stopped (SIGSTOP) for one `--ceiling-seconds` sample of the ceiling,
    /// 12 times at most (0, or `--ceiling-seconds 0`: none). With three
    /// samples or more, taken in the API server's state of the moment, they
    /// are the ceiling the ratio is taken to (see `Interleaved`).
    #[arg(
        long = "interleave-every",
        value_name = "SECONDS",
        default_value_t = 30
    )]
    interleave_every_s: u64,
}

/// The four scenarios.
#[derive(Clone, Copy, ValueEnum)]
enum Scenario {
    Scale,
    Publishing,
    Scaleout,
    Detection,
}

impl Options {
    fn window(&self) -> Duration {
        Duration::from_secs(self.window_s)
    }

    fn interval(&self) -> Option<Duration> {
        self.interval_s.map(Duration::from_secs)
    }

    fn patience(&self) -> Duration {
        Duration::from_secs(self.patience_s)
    }

    fn ceiling(&self) -> Duration {
        Duration::from_secs(self.ceiling_s)
    }

    fn sustained(&self) -> Duration {
        Duration::from_secs(self.sustained_s)
    }

    /// Interleaved ceiling samples to prepare resources for (see
    /// [`Interleaved`]): enough for `domains` published at 250/s (the
    /// slowest first passes of 100k so far), [`INTERLEAVED_SAMPLES`] at
    /// most.
    fn interleaved_samples(&self) -> usize {
        if self.interleave_every_s == 0 || self.ceiling_s == 0 {
            return 0;
        }
        let publishing_s = self.domains.div_ceil(250) as u64;
        (publishing_s.div_ceil(self.interleave_every_s) as usize + 1).min(INTERLEAVED_SAMPLES)
    }
}

fn main() {
    if !common::benchmarking("operator: a benchmark; run it with `just bench`") {
        return;
    }
    let options = Options::parse();
    common::run_to_file("operator bench", &options.out, async {
        match options.scenario {
            Scenario::Scale => scale(&options).await,
            Scenario::Publishing => publishing(&options).await,
            Scenario::Scaleout => scaleout(&options).await,
            Scenario::Detection => detection(&options).await,
        }
    });
}

fn say(message: impl AsRef<str>) {
    eprintln!("operator bench: {}", message.as_ref());
}

/// A temporary work directory (the operators' logs), removed when dropped
/// unless `DM_BENCH_KEEP` is set.
struct Work(#[allow(dead_code)] Option<tempfile::TempDir>, PathBuf);

impl Work {
    fn new(prefix: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix(prefix)
            .tempdir()
            .expect("temp dir");
        if std::env::var_os("DM_BENCH_KEEP").is_some() {
            let path = dir.keep();
            say(format!("keeping {}", path.display()));
            Self(None, path)
        } else {
            let path = dir.path().to_owned();
            Self(Some(dir), path)
        }
    }

    fn path(&self) -> &Path {
        &self.1
    }
}

// === the API server ===

/// A test API server of the scenario's own (tests/support's, without its
/// controllers and log), with the CRD and the bench namespace; stopped when
/// dropped.
struct Cluster {
    server: PrivateServer,
    client: Client,
    /// What the ceiling's loop writes with: the operator's status writer's
    /// client, or kube's default one with `--ceiling-http1`.
    writes: Client,
    /// Which of the two `writes` is, for the samples' `transport`.
    transport: &'static str,
}

impl Cluster {
    async fn start(options: &Options) -> Self {
        let server = tokio::task::spawn_blocking(PrivateServer::start_bare)
            .await
            .expect("start the test API server");
        let client = server.client().await;
        install_crd(&client).await;
        create_namespace(&client, NAMESPACE).await;
        let (writes, transport) = if options.ceiling_http1 {
            (client.clone(), "kube's default client (HTTP/1.1)")
        } else {
            (
                writer_client_for(server.kubeconfig()).await,
                "the operator's status writer's client (HTTP/2)",
            )
        };
        Self {
            server,
            client,
            writes,
            transport,
        }
    }

    fn kubeconfig(&self) -> &Path {
        self.server.kubeconfig()
    }

    /// The API server's CPU time so far, in seconds.
    fn cpu_seconds(&self) -> f64 {
        cpu_seconds(self.server.pid())
    }

    /// Creates the resources, 64 requests in flight, and returns how long
    /// it took.
    async fn create(&self, domains: &[(String, bool)]) -> Duration {
        self.create_in(NAMESPACE, domains).await
    }

    /// [`Cluster::create`] in `namespace`.
    async fn create_in(&self, namespace: &str, domains: &[(String, bool)]) -> Duration {
        let api: Api<MonitoredDomain> = Api::namespaced(self.client.clone(), namespace);
        let started = Instant::now();
        let failures = futures::stream::iter(domains.iter().cloned())
            .map(|(domain, priority)| {
                let api = api.clone();
                async move {
                    let shard = shard_of(&DomainName::parse(&domain).expect("valid"), SHARDS);
                    let mut resource = MonitoredDomain::new(
                        &domain.replace('.', "-"),
                        MonitoredDomainSpec {
                            domain,
                            priority,
                            check_interval: None,
                            health: None,
                        },
                    );
                    resource.metadata.labels =
                        Some([(SHARD_LABEL.to_owned(), shard.to_string())].into());
                    api.create(&PostParams::default(), &resource).await.err()
                }
            })
            .buffer_unordered(64)
            .filter_map(|failure| async move { failure })
            .collect::<Vec<_>>()
            .await;
        assert!(
            failures.is_empty(),
            "{} creates failed, e.g. {}",
            failures.len(),
            failures[0]
        );
        started.elapsed()
    }

    /// The API server's own request counter (`apiserver_request_total`).
    fn requests_total(&self) -> f64 {
        let output = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(self.kubeconfig())
            .args(["get", "--raw", "/metrics"])
            .output()
            .expect("run kubectl");
        metric_sum(
            &String::from_utf8_lossy(&output.stdout),
            "apiserver_request_total",
            None,
        )
    }
}

/// Domains checked at least once, read from a `/metrics/prometheus` text:
/// [`FIRST_CHECKS_METRIC`] where the operator exports it (even before its
/// first sample), otherwise every verdict so far (re-checks included, so it
/// may reach N a little before every domain had its first check). Returns
/// the count and the metric it came from.
fn checked_once(metrics: &str) -> (f64, &'static str) {
    let exported = metrics.lines().any(|line| {
        line.split_whitespace()
            .find(|word| !word.starts_with('#') && !matches!(*word, "HELP" | "TYPE"))
            .is_some_and(|word| word.split('{').next() == Some(FIRST_CHECKS_METRIC))
    });
    if exported {
        (
            metric_sum(metrics, FIRST_CHECKS_METRIC, None),
            FIRST_CHECKS_METRIC,
        )
    } else {
        (
            metric_sum(metrics, "domain_monitor_verdicts_total", None),
            "domain_monitor_verdicts_total",
        )
    }
}

// === the operator process ===

/// `DM_BENCH_OPERATOR_ENV="K=V,K=V"`: extra environment for every operator,
/// for experiments (e.g. allocator settings); the default run sets none.
fn extra_operator_env() -> Vec<(String, String)> {
    std::env::var("DM_BENCH_OPERATOR_ENV")
        .unwrap_or_default()
        .split(',')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// The operator binary: this build's, or `DM_BENCH_OPERATOR_BIN` (another
/// build of the same source, e.g. with another allocator, to compare under
/// the same bench).
fn operator_binary() -> PathBuf {
    std::env::var_os("DM_BENCH_OPERATOR_BIN")
        .filter(|path| !path.is_empty())
        .map_or_else(support::operator::binary, PathBuf::from)
}

/// Starts `domain-monitor run` (tests/support's [`Operator`]) as replica
/// `instance` of the bench namespace, with `env` on top of a free loopback
/// port, warn-level logs to `<dir>/<instance>.log` and telemetry export off.
fn start_operator(
    dir: &Path,
    kubeconfig: &Path,
    instance: &str,
    env: &[(&str, String)],
) -> Operator {
    let port = free_port_on(&[Ipv4Addr::LOCALHOST.into()]);
    let rust_log = std::env::var("DM_BENCH_RUST_LOG").unwrap_or_else(|_| "warn".to_owned());
    let mut settings: Vec<(String, String)> = [
        ("WATCH_NAMESPACE", NAMESPACE.to_owned()),
        ("POD_NAMESPACE", NAMESPACE.to_owned()),
        ("INSTANCE_ID", instance.to_owned()),
        ("LISTEN_ADDR", format!("127.0.0.1:{port}")),
        ("RUST_LOG", rust_log),
        ("OTEL_SDK_DISABLED", "true".to_owned()),
    ]
    .into_iter()
    .chain(env.iter().cloned())
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    settings.extend(extra_operator_env());
    Operator::start_binary(
        &operator_binary(),
        dir.join(format!("{instance}.log")),
        &settings,
        kubeconfig,
    )
}

/// Evaluations so far (one verdict per evaluation).
async fn verdicts(operator: &Operator) -> f64 {
    metric_sum(
        &operator.metrics().await,
        "domain_monitor_verdicts_total",
        None,
    )
}

// === the local registry ===

fn delegated(i: usize) -> String {
    format!("d{i}.test")
}

/// An RDAP domain object as a registry serves it.
fn rdap_object(statuses: &[&str], deletion: Option<&str>) -> Value {
    let mut events = vec![
        json!({"eventAction": "registration", "eventDate": "2020-01-15T10:00:00Z"}),
        json!({"eventAction": "expiration", "eventDate": "2027-01-15T10:00:00Z"}),
    ];
    if let Some(date) = deletion {
        events.push(json!({"eventAction": "deletion", "eventDate": date}));
    }
    json!({
        "objectClassName": "domain",
        "ldhName": "template.test",
        "rdapConformance": ["rdap_level_0"],
        "status": statuses,
        "events": events,
        "entities": [{
            "objectClassName": "entity",
            "handle": "REG-DEMO",
            "roles": ["registrar"],
            "vcardArray": ["vcard", [["version", {}, "text", "4.0"], ["fn", {}, "text", "Demo Registrar Inc."]]],
        }],
        "nameservers": NAMESERVERS
            .iter()
            .map(|ns| json!({"objectClassName": "nameserver", "ldhName": ns}))
            .collect::<Vec<_>>(),
    })
}

/// The `.test` TLD's servers ([`TLD_SERVERS`] nsd) with `n` delegations
/// `d<i>.test`, rdap-srv with an object for each, and a WHOIS server
/// (records are not needed: layer 1 settles them).
async fn registry(n: usize) -> (TldServers, RdapSrv, WhoisServer) {
    let dns = tokio::task::spawn_blocking(move || {
        let mut zone = Zone::new("test");
        for i in 0..n {
            zone = zone.delegate(&delegated(i), &NAMESERVERS);
        }
        TldServers::start(&zone, TLD_SERVERS)
    })
    .await
    .expect("start nsd");
    let rdap = RdapSrv::start().await;
    let names: Vec<String> = (0..n).map(delegated).collect();
    rdap.serve_template("registered", &rdap_object(&["active"], None), &names)
        .await;
    let whois = WhoisServer::start(Vec::<(String, Reply)>::new()).await;
    (dns, rdap, whois)
}

/// Operator settings for the local registry: the TLD's DNS servers `dns`,
/// [`DNS_BUDGET`] per DNS server, and the operator's own defaults for the
/// HTTP (per probed host), RDAP and WHOIS budgets.
fn registry_env(
    dns: &[SocketAddr],
    rdap: &RdapSrv,
    whois: &WhoisServer,
) -> Vec<(&'static str, String)> {
    let servers: Vec<String> = dns.iter().map(ToString::to_string).collect();
    vec![
        ("DNS_RESOLVERS", servers.join(",")),
        ("DNS_TIMEOUT", "2s".into()),
        ("HTTP_TIMEOUT", "2s".into()),
        ("RDAP_OVERRIDES", format!("test={}", rdap.base_url())),
        ("RDAP_TIMEOUT", "5s".into()),
        ("WHOIS_OVERRIDES", format!("test={}", whois.host_port())),
        ("WHOIS_TIMEOUT", "5s".into()),
        ("DNS_RATE_LIMIT", DNS_BUDGET.into()),
    ]
}

/// The default of the operator's setting `env` (as `domain-monitor run
/// --help` prints it), so the results say which defaults were measured.
fn operator_default(env: &str) -> String {
    let output = Command::new(operator_binary())
        .args(["run", "--help"])
        .output()
        .expect("run domain-monitor run --help");
    let help = String::from_utf8_lossy(&output.stdout);
    help.split_once(&format!("env: {env}="))
        .and_then(|(_, after)| after.split_once("[default: "))
        .and_then(|(_, value)| value.split_once(']'))
        .map_or_else(|| "?".to_owned(), |(value, _)| value.to_owned())
}

/// The budgets every scenario runs with, for the results' settings block.
fn budget_settings() -> Value {
    json!({
        "tld_servers": TLD_SERVERS,
        "DNS_RATE_LIMIT": format!(
            "{DNS_BUDGET} per server, set by the bench: the default ({}) is a politeness budget toward one remote TLD server, and would make 100k domains take 250 s of DNS alone",
            operator_default("DNS_RATE_LIMIT")
        ),
        "RDAP_RATE_LIMIT": format!("{} per server (operator default)", operator_default("RDAP_RATE_LIMIT")),
        "WHOIS_RATE_LIMIT": format!("{} per server (operator default)", operator_default("WHOIS_RATE_LIMIT")),
        "HTTP_RATE_LIMIT": format!("{} per probed host (operator default)", operator_default("HTTP_RATE_LIMIT")),
    })
}

// === scenario: scale ===

/// What the operator did from its start until every domain was checked once
/// and every domain's first status was written.
struct FirstPass {
    /// The metric the checks were counted by.
    counted_by: &'static str,
    /// `/ready` said so (the first list of the resources was applied).
    ready: Option<Duration>,
    /// Every domain checked once (the counter reached N), from operator start.
    checked: Option<Duration>,
    /// Domains checked when the wait ended.
    checked_count: f64,
    /// The first check seen.
    first_check: Option<Duration>,
    /// The first status write seen.
    first_write: Option<Duration>,
    /// Status writes from `first_check` to `checked`.
    writes_in_pass: f64,
    /// Every domain's first status written (writes with reason `first`
    /// reached N; all writes for operators that do not say why).
    published: Option<Duration>,
    /// `/status` counts no domain `Unknown` (every resource has a verdict).
    no_unknown: Option<Duration>,
    /// After `published`: the writer's queue is down to what the facts
    /// backfill keeps adding (at most [`drained_pending`] patches waiting).
    drained: Option<Duration>,
    /// `VmRSS` when the counter reached N (or when the wait ended).
    rss_after_pass: u64,
    /// How long the wait lasted.
    waited: Duration,
    /// Every [`PROGRESS_EVERY`]: the rates of that stretch (see
    /// [`first_pass`]).
    progress: Vec<Value>,
    /// The API server's CPU seconds from `first_write` to `published`,
    /// those of interleaved samples left out.
    apiserver_cpu_publishing: Option<f64>,
    /// How long the operator was stopped for interleaved samples (see
    /// [`Interleaved`]): not publishing time.
    paused: Duration,
    /// The API server's CPU seconds while it was.
    apiserver_cpu_paused: f64,
}

impl FirstPass {
    /// The API server's CPU milliseconds per first status while `n`
    /// domains were published (all its work then, the operator's watch
    /// and reads included).
    fn apiserver_cpu_ms_per_write(&self, n: usize) -> Option<f64> {
        self.apiserver_cpu_publishing
            .map(|s| round(s * 1000.0 / n as f64, 2))
    }

    /// From the first write until every domain's first status was written,
    /// the time the operator was stopped for interleaved samples left out.
    fn publish_window(&self) -> Option<Duration> {
        match (self.first_write, self.published) {
            (Some(from), Some(to)) if to > from + self.paused => Some(to - from - self.paused),
            _ => None,
        }
    }
}

/// Ceiling samples taken while the operator publishes: every
/// [`Options::interleave_every_s`] of its publishing (after every domain
/// was checked once), the operator is stopped (SIGSTOP), its writes in
/// flight are answered ([`INTERLEAVE_SETTLE`]), the loop of
/// [`write_ceiling`] writes first statuses (the operator's own status of
/// `d0.test`) on fresh resources for `--ceiling-seconds`, and the operator
/// goes on (SIGCONT).
///
/// Why: the API server's CPU per write drifts over minutes, with Go's GC
/// over a heap that grows with every written object and with stretches of
/// 4–9 ms per write between others of 2.5–4 (`bench/results/experiments/
/// README.md`, 2026-12-02 and 2026-12-03: interleaved samples of one pass
/// ran at 196 to 408 patches/s). Samples taken after
/// the pass measure an API server in another state than the one the
/// operator published to; between runs of the same operator the ratio to
/// them went from 0.67 to 0.84. Interleaved samples compare the two in
/// the same minutes, as alternating samples do, and with statuses of the
/// size the operator writes then (first statuses, before the registration
/// facts: `d0.test`'s after the pass is larger). The stopped time is left
/// out of the publishing ([`FirstPass::publish_window`]), and the API
/// server's CPU in it out of the pass's.
struct Interleaved<'a> {
    /// Fresh resource sets, one per sample, used in order.
    sets: std::vec::IntoIter<&'a [String]>,
    /// Publishing between two samples.
    every: Duration,
    /// Each sample's length.
    sample: Duration,
    /// The samples taken, each with `at_s` (from the operator's start).
    samples: Vec<Value>,
    /// When the operator's publishing since the last sample began.
    publishing_since: Option<Instant>,
}

impl<'a> Interleaved<'a> {
    /// Samples every `options.interleave_every_s` on the first
    /// [`Options::interleaved_samples`] of `sets` (taken from it), and adds
    /// [`INTERLEAVED_LEASE`] to the operator's `env`; `None` (and nothing
    /// taken or added) when the options ask for none.
    fn new(
        options: &Options,
        sets: &mut impl Iterator<Item = &'a [String]>,
        env: &mut Vec<(&'static str, String)>,
    ) -> Option<Self> {
        let wanted = options.interleaved_samples();
        if wanted == 0 {
            return None;
        }
        env.extend(INTERLEAVED_LEASE.map(|(k, v)| (k, v.to_owned())));
        Some(Self {
            sets: sets.take(wanted).collect::<Vec<_>>().into_iter(),
            every: Duration::from_secs(options.interleave_every_s),
            sample: options.ceiling(),
            samples: Vec::new(),
            publishing_since: None,
        })
    }

    /// Patches per second over all samples (`None` with fewer than
    /// [`INTERLEAVED_MIN`] samples, or when none wrote).
    fn per_s(&self) -> Option<f64> {
        if self.samples.len() < INTERLEAVED_MIN {
            return None;
        }
        let (patches, seconds) = self.samples.iter().fold((0.0, 0.0), |(p, s), sample| {
            (
                p + sample["patches"].as_f64().unwrap_or(0.0),
                s + sample["seconds"].as_f64().unwrap_or(0.0),
            )
        });
        (patches > 0.0 && seconds > 0.0).then(|| round(patches / seconds, 1))
    }

    /// What the result says about the samples.
    fn report(&self) -> Value {
        json!({
            "what": "patches per second over ceiling samples taken while the operator published (once every domain was checked once), each with the operator stopped (SIGSTOP) after its writes in flight were answered; the ceiling the ratio is taken to when there are at least min_samples",
            "min_samples": INTERLEAVED_MIN,
            "every_s": self.every.as_secs(),
            "sample_s": self.sample.as_secs(),
            "settle_s": INTERLEAVE_SETTLE.as_secs_f64(),
            "operator_settings": INTERLEAVED_LEASE.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(),
            "per_s": self.per_s(),
            "samples_per_s": self.samples.iter().map(|s| s["patches_per_s"].clone()).collect::<Vec<_>>(),
            "samples": self.samples,
        })
    }
}

/// How often the first pass's progress is logged and recorded.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// Status writes that published a resource's first verdict (reason
/// `first`), or every write when the operator gives no such reason.
fn first_writes(metrics: &str) -> f64 {
    let by_reason = metric_by_label(metrics, "domain_monitor_status_writes_total", "reason");
    by_reason
        .get("first")
        .copied()
        .unwrap_or_else(|| metric_sum(metrics, "domain_monitor_status_writes_total", None))
}

/// Status patches that may still wait when the first pass counts as
/// published and drained: the facts backfill keeps adding a few.
fn drained_pending(n: f64) -> f64 {
    (n / 1000.0).max(10.0)
}

/// Waits for the first pass of `options.domains` domains (see
/// [`FirstPass`]): polls the operator's metrics every 250 ms from its start
/// (`started`) until every domain is checked once and published, or
/// `options`' patience is over. Every [`PROGRESS_EVERY`] it logs (each line
/// starting with `label`)
/// and records, for that stretch: status writes, checks and deferred
/// checks per second, the writer's queue, and the CPU cores of the
/// operator and of `cluster`'s API server, so that a
/// publishing rate that falls can be told apart from an API server that
/// is busy elsewhere.
async fn first_pass(
    operator: &mut Operator,
    cluster: &Cluster,
    started: Instant,
    options: &Options,
    label: &str,
    mut interleaved: Option<&mut Interleaved<'_>>,
) -> FirstPass {
    let (n, patience) = (options.domains as f64, options.patience());
    let mut deadline = started + patience;
    let mut pass = FirstPass {
        counted_by: "",
        ready: None,
        checked: None,
        checked_count: 0.0,
        first_check: None,
        first_write: None,
        writes_in_pass: 0.0,
        published: None,
        no_unknown: None,
        drained: None,
        rss_after_pass: 0,
        waited: Duration::ZERO,
        progress: Vec::new(),
        apiserver_cpu_publishing: None,
        paused: Duration::ZERO,
        apiserver_cpu_paused: 0.0,
    };
    // After an interleaved sample, the next stretch starts at the next poll.
    let mut restart_stretch = false;
    let mut apiserver_cpu_at_first_write = 0.0;
    // (when, writes, checks, deferred, operator CPU s, API server CPU s)
    let mut stretch = (
        Instant::now(),
        0.0,
        0.0,
        0.0,
        operator.cpu_seconds(),
        cluster.cpu_seconds(),
    );
    let mut writes_at_first_check = 0.0;
    let mut last_writes = (0.0, Instant::now());
    for poll in 0_u64.. {
        if Instant::now() >= deadline {
            break;
        }
        let Some(metrics) = operator.get("/metrics/prometheus").await else {
            // Not listening yet (or gone: `ready` says which).
            if poll % 20 == 19 {
                operator
                    .ready(deadline.saturating_duration_since(Instant::now()))
                    .await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let at = started.elapsed();
        if pass.ready.is_none()
            && operator
                .get("/ready")
                .await
                .is_some_and(|body| body.contains("\"ready\":true"))
        {
            pass.ready = Some(at);
        }
        let (checked, counted_by) = checked_once(&metrics);
        let writes = metric_sum(&metrics, "domain_monitor_status_writes_total", None);
        pass.counted_by = counted_by;
        pass.checked_count = checked;
        if pass.first_check.is_none() && checked > 0.0 {
            pass.first_check = Some(at);
            writes_at_first_check = writes;
        }
        if pass.first_write.is_none() && writes > 0.0 {
            pass.first_write = Some(at);
            apiserver_cpu_at_first_write = cluster.cpu_seconds();
        }
        if pass.checked.is_none() && checked >= n {
            pass.checked = Some(at);
            pass.writes_in_pass = writes - writes_at_first_check;
            pass.rss_after_pass = operator.memory().0;
            say(format!(
                "{label}: every domain checked {:.1}s after start ({counted_by}), RSS {} MiB",
                at.as_secs_f64(),
                pass.rss_after_pass >> 20
            ));
        }
        if pass.published.is_none() && first_writes(&metrics) >= n {
            pass.published = Some(at);
            pass.apiserver_cpu_publishing = Some(
                cluster.cpu_seconds() - apiserver_cpu_at_first_write - pass.apiserver_cpu_paused,
            );
        }
        if pass.published.is_some()
            && pass.drained.is_none()
            && metric_sum(&metrics, "domain_monitor_status_pending_writes", None)
                <= drained_pending(n)
        {
            pass.drained = Some(at);
        }
        if pass.no_unknown.is_none() && poll % 4 == 0 {
            let status = operator.status().await;
            let domains = &status["domains"];
            let unknown = domains["by_availability"]["Unknown"].as_u64().unwrap_or(0);
            if domains["total"].as_u64() == Some(n as u64) && unknown == 0 {
                pass.no_unknown = Some(started.elapsed());
            }
        }
        if writes > last_writes.0 {
            last_writes = (writes, Instant::now());
        }
        let stalled = pass.checked.is_some() && last_writes.1.elapsed() > Duration::from_secs(30);
        let done = pass.ready.is_some()
            && pass.checked.is_some()
            && pass.drained.is_some()
            && pass.no_unknown.is_some();
        if done || stalled {
            break;
        }
        if restart_stretch {
            restart_stretch = false;
            stretch = (
                Instant::now(),
                writes,
                metric_sum(&metrics, "domain_monitor_verdicts_total", None),
                metric_sum(&metrics, "domain_monitor_checks_deferred_total", None).max(0.0),
                operator.cpu_seconds(),
                cluster.cpu_seconds(),
            );
        }
        if let Some(interleaved) = interleaved.as_deref_mut()
            && pass.checked.is_some()
            && pass.published.is_none()
            && interleaved
                .publishing_since
                .get_or_insert_with(Instant::now)
                .elapsed()
                >= interleaved.every
            && interleaved.sets.len() > 0
            && let Some(template) = written_status(cluster).await
            && let Some(set) = interleaved.sets.next()
        {
            operator.signal("STOP");
            let stopped = Instant::now();
            // The writes in flight are the operator's: their CPU counts
            // as publishing.
            tokio::time::sleep(INTERLEAVE_SETTLE).await;
            let cpu_before = cluster.cpu_seconds();
            let mut sample = write_ceiling(
                cluster,
                CEILING_NAMESPACE,
                set,
                &template,
                interleaved.sample,
                "JSON merge patch of status (the status the operator wrote), each a resource's first status, with the operator stopped in the middle of its first pass",
                false,
                writer::STATUS_WRITE_ACCEPT,
            )
            .await;
            operator.signal("CONT");
            pass.paused += stopped.elapsed();
            // The patience is for the operator's work.
            deadline += stopped.elapsed();
            pass.apiserver_cpu_paused += cluster.cpu_seconds() - cpu_before;
            sample["at_s"] = json!(round(at.as_secs_f64(), 1));
            sample["operator_published_before"] = json!(first_writes(&metrics));
            say(format!(
                "{label}: interleaved ceiling at {:.0}s: {} patches/s, {} ms of API server CPU per patch",
                at.as_secs_f64(),
                sample["patches_per_s"],
                sample["apiserver_cpu_ms_per_patch"]
            ));
            interleaved.samples.push(sample);
            interleaved.publishing_since = Some(Instant::now());
            last_writes.1 = Instant::now();
            restart_stretch = true;
            continue;
        }
        if stretch.0.elapsed() >= PROGRESS_EVERY {
            let now = (
                Instant::now(),
                writes,
                metric_sum(&metrics, "domain_monitor_verdicts_total", None),
                metric_sum(&metrics, "domain_monitor_checks_deferred_total", None).max(0.0),
                operator.cpu_seconds(),
                cluster.cpu_seconds(),
            );
            let s = (now.0 - stretch.0).as_secs_f64();
            let rate = |to: f64, from: f64| round((to - from) / s, 0);
            let cores = |to: f64, from: f64| round((to - from) / s, 2);
            let progress = json!({
                "at_s": round(at.as_secs_f64(), 0),
                "checked_once": checked,
                "status_writes": writes,
                "status_writes_per_s": rate(now.1, stretch.1),
                "checks_per_s": rate(now.2, stretch.2),
                "checks_deferred_per_s": rate(now.3, stretch.3),
                "pending_writes": metric_sum(&metrics, "domain_monitor_status_pending_writes", None),
                "operator_cpu_cores": cores(now.4, stretch.4),
                "apiserver_cpu_cores": cores(now.5, stretch.5),
            });
            say(format!("{label}: {progress}"));
            pass.progress.push(progress);
            stretch = now;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    if pass.checked.is_none() {
        pass.rss_after_pass = operator.memory().0;
        say(format!(
            "{label}: the first pass did not end within {patience:?} ({} of {n} checked)",
            pass.checked_count
        ));
    }
    pass.waited = started.elapsed();
    pass
}

fn resource_name(domain: &str) -> String {
    domain.replace('.', "-")
}

/// The status the operator wrote for `d0.test`, so that the ceiling's
/// patches are as large as real ones (a small stand-in if it has none).
async fn status_template(cluster: &Cluster) -> Value {
    written_status(cluster)
        .await
        .unwrap_or_else(|| json!({"availability": "Registered", "confidence": 0.97}))
}

/// The status the operator wrote for `d0.test`, if it wrote one yet.
async fn written_status(cluster: &Cluster) -> Option<Value> {
    let request = kube::core::Request::new(MonitoredDomain::url_path(&(), Some(NAMESPACE)));
    let written = request
        .get(
            &resource_name(&delegated(0)),
            &kube::api::GetParams::default(),
        )
        .expect("a GET request");
    match cluster.client.request::<Value>(written).await {
        Ok(object) if object["status"].is_object() => Some(object["status"].clone()),
        _ => None,
    }
}

/// The API server's ceiling for status writes: JSON merge patches of
/// `status` on `names` in `namespace`, each resource once,
/// [`CEILING_CONCURRENCY`] in flight for `duration` (or until every
/// resource was patched; `seconds` in the result is the time it took). Each patch carries
/// `template` with a new `lastCheckedAt`, so that every patch is a real
/// write; responses are read but not parsed. `method` says in what
/// conditions it ran; it is copied into the result. With `watched`, a watch
/// on `namespace` is open for the whole sample and its events are read (not
/// parsed), as the operator's watch receives an event for each of its own
/// writes; the result then says how many events and bytes it received.
/// `accept` is each patch's `Accept` header (what the response holds).
#[allow(clippy::too_many_arguments)]
async fn write_ceiling(
    cluster: &Cluster,
    namespace: &str,
    names: &[String],
    template: &Value,
    duration: Duration,
    method: &str,
    watched: bool,
    accept: &str,
) -> Value {
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
    let request = kube::core::Request::new(MonitoredDomain::url_path(&(), Some(namespace)));
    let status_bytes = template.to_string().len();
    let next = AtomicUsize::new(0);
    let patched = AtomicU64::new(0);
    let failed = AtomicU64::new(0);
    let first_error = std::sync::Mutex::new(None::<String>);
    let slices: Vec<AtomicU64> = (0..=duration.as_secs().div_ceil(CEILING_SLICE.as_secs()))
        .map(|_| AtomicU64::new(0))
        .collect();
    let watch = if watched {
        Some(WatchDrain::open(&cluster.client, namespace).await)
    } else {
        None
    };
    let cpu_before = cluster.cpu_seconds();
    let started = Instant::now();
    let deadline = started + duration;
    let worker = || async {
        while Instant::now() < deadline {
            // Each resource once: a second patch of the same one would not
            // be a first status any more.
            let Some(name) = names.get(next.fetch_add(1, Ordering::Relaxed)) else {
                break;
            };
            let mut status = template.clone();
            status["lastCheckedAt"] = json!(jiff::Timestamp::now().to_string());
            let patch = json!({ "status": status });
            let mut call = request
                .patch_subresource(
                    "status",
                    name,
                    &PatchParams::default(),
                    &Patch::Merge(&patch),
                )
                .expect("a patch request");
            call.headers_mut().insert(
                http::header::ACCEPT,
                http::HeaderValue::from_str(accept).expect("an Accept header"),
            );
            // As the operator's writer does: the body is drained, not
            // decoded (for the metadata half of `--response-pairs` it is
            // protobuf).
            let sent = cluster
                .writes
                .send(call.map(kube::client::Body::from))
                .await;
            let answered = match sent {
                Ok(response) if response.status().is_success() => {
                    http_body_util::BodyExt::collect(response.into_body())
                        .await
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                }
                Ok(response) => Err(format!("HTTP {}", response.status())),
                Err(error) => Err(error.to_string()),
            };
            match answered {
                Ok(()) => {
                    patched.fetch_add(1, Ordering::Relaxed);
                    let slice = (started.elapsed().as_secs() / CEILING_SLICE.as_secs()) as usize;
                    slices[slice.min(slices.len() - 1)].fetch_add(1, Ordering::Relaxed);
                }
                Err(error) => {
                    failed.fetch_add(1, Ordering::Relaxed);
                    first_error
                        .lock()
                        .expect("error slot")
                        .get_or_insert_with(|| format!("{name}: {error}"));
                }
            }
        }
    };
    futures::future::join_all((0..CEILING_CONCURRENCY).map(|_| worker())).await;
    let seconds = started.elapsed().as_secs_f64();
    let cpu = cluster.cpu_seconds() - cpu_before;
    let watch = watch.map(WatchDrain::close);
    let patched = patched.into_inner();
    // Whole slices only: the last, shorter one would read low.
    let whole = (seconds / CEILING_SLICE.as_secs_f64()) as usize;
    let by_slice: Vec<f64> = slices
        .iter()
        .take(whole)
        .map(|n| {
            round(
                n.load(Ordering::Relaxed) as f64 / CEILING_SLICE.as_secs_f64(),
                0,
            )
        })
        .collect();
    json!({
        "method": method,
        "transport": cluster.transport,
        "accept": accept,
        "concurrency": CEILING_CONCURRENCY,
        "resources": names.len(),
        "seconds": round(seconds, 1),
        "status_bytes": status_bytes,
        "patches": patched,
        "failed": failed.into_inner(),
        "first_error": first_error.into_inner().expect("error slot"),
        "patches_per_s": round(patched as f64 / seconds, 0),
        "patches_per_s_by_slice": by_slice,
        "apiserver_cpu_cores": round(cpu / seconds, 2),
        "apiserver_cpu_ms_per_patch": (patched > 0).then(|| round(cpu * 1000.0 / patched as f64, 2)),
        "slice_s": CEILING_SLICE.as_secs(),
        "watch_events": watch.map(|(events, _)| events),
        "watch_bytes": watch.map(|(_, bytes)| bytes),
    })
}

/// A watch on one namespace's `MonitoredDomain`s from now on, whose events
/// a task reads line by line and counts without parsing them.
struct WatchDrain {
    task: tokio::task::JoinHandle<()>,
    events: std::sync::Arc<std::sync::atomic::AtomicU64>,
    bytes: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl WatchDrain {
    /// Lists one resource for the current resource version and opens the
    /// watch from it (no events for what exists already); returns once the
    /// API server answered the watch request.
    async fn open(client: &Client, namespace: &str) -> Self {
        use futures::AsyncBufReadExt;
        use std::sync::{Arc, atomic::AtomicU64};
        let api: Api<MonitoredDomain> = Api::namespaced(client.clone(), namespace);
        let list = api
            .list_metadata(&kube::api::ListParams::default().limit(1))
            .await
            .expect("list for a resource version");
        let version = list
            .metadata
            .resource_version
            .expect("a list's resource version");
        let request = kube::core::Request::new(MonitoredDomain::url_path(&(), Some(namespace)))
            .watch(&kube::api::WatchParams::default().timeout(290), &version)
            .expect("a watch request");
        let stream = client
            .request_stream(request)
            .await
            .expect("open the watch");
        let events = Arc::new(AtomicU64::new(0));
        let bytes = Arc::new(AtomicU64::new(0));
        let (counted, read) = (events.clone(), bytes.clone());
        let task = tokio::spawn(async move {
            let mut lines = std::pin::pin!(stream.lines());
            while let Some(Ok(line)) = lines.next().await {
                counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                read.fetch_add(line.len() as u64 + 1, std::sync::atomic::Ordering::Relaxed);
            }
        });
        Self {
            task,
            events,
            bytes,
        }
    }

    /// Closes the watch; returns the events and bytes it received.
    fn close(self) -> (u64, u64) {
        self.task.abort();
        (
            self.events.load(std::sync::atomic::Ordering::Relaxed),
            self.bytes.load(std::sync::atomic::Ordering::Relaxed),
        )
    }
}

/// The API server's ceiling with the operator stopped (see
/// [`stopped_ceiling`]).
struct StoppedCeiling {
    /// The short samples, the first right after the operator stopped.
    samples: Vec<Value>,
    /// Their median (`None` unless every sample wrote something).
    median_per_s: Option<f64>,
    /// The samples taken with a watch on the namespace, after the short ones.
    watched: Vec<Value>,
    /// The sustained sample (`Null` when none was asked for).
    sustained: Value,
    /// Its rate (`None` when none ran or it wrote nothing).
    sustained_per_s: Option<f64>,
    /// `--response-pairs`: `{"metadata": sample, "full": sample}` each.
    response_pairs: Vec<Value>,
}

impl StoppedCeiling {
    /// The ceiling the ratio is taken to: the sustained sample's rate (the
    /// median of the short samples when no sustained sample ran).
    ///
    /// The test API server (like any kube-apiserver) spends a quarter to a
    /// third of its CPU on Go's garbage collection at 100k objects, in
    /// cycles of 4–7 CPU-seconds every 6–10 s, and compacts etcd every 5
    /// minutes (`bench/results/experiments/README.md`, 2026-12-02). A 10-s
    /// sample holds one GC cycle or two, and a compaction or none: its
    /// rate is a draw (2.9 to 5.8 ms of API server CPU per patch between
    /// samples 20 s apart). A first pass publishes for minutes and pays
    /// that background work in proportion; so does a sample of minutes.
    fn per_s(&self) -> Option<f64> {
        self.sustained_per_s.or(self.median_per_s)
    }
}

/// How `apiserver_write_ceiling_per_s` is measured with interleaved
/// samples (see [`Interleaved`]).
const INTERLEAVED_WHAT: &str = "the interleaved samples (apiserver_write_ceiling_interleaved): patches per second over ceiling samples taken while the operator published, the operator stopped for each, so that the API server is in the state it published to; the operator-stopped samples after the pass are reported beside (apiserver_write_ceiling_after_pass_per_s: the sustained one)";

/// `published / ceiling`, rounded, where both are known.
fn ratio(published: Option<f64>, ceiling: Option<f64>) -> Option<f64> {
    published.zip(ceiling).map(|(w, c)| round(w / c, 3))
}

/// How `apiserver_write_ceiling_per_s` is measured without interleaved
/// samples, and `apiserver_write_ceiling_after_pass_per_s` with them (see
/// [`StoppedCeiling::per_s`]).
const CEILING_WHAT: &str = "the sustained operator-stopped sample (apiserver_write_ceiling_sustained: as long as --sustained-seconds, after the short samples; a 10-s sample holds one of the API server's GC cycles or two, and its etcd compaction or none, so their median, apiserver_write_ceiling_short_median_per_s, is reported beside)";

/// The API server's ceiling with the operator stopped: [`CEILING_SAMPLES`]
/// samples of `short` each, then [`CEILING_WATCHED_SAMPLES`] more with a
/// watch open on their namespace, [`CEILING_SPACING`] apart, then one sample
/// of `sustained` (none if zero), each on a fresh set from `next_set`.
///
/// The API server's own background work (etcd snapshots and compaction,
/// Go's GC of a heap of several GB) comes and goes: one 10-s sample may fall
/// in it or not, and the samples of one run have differed by 60 %. The
/// sustained sample, minutes like the publishing it is compared with, pays
/// that background work in the same proportion: it is the ceiling
/// ([`StoppedCeiling::per_s`]); the short samples' median is reported
/// beside it.
async fn stopped_ceiling<'a>(
    cluster: &Cluster,
    next_set: &mut impl FnMut() -> &'a [String],
    template: &Value,
    short: Duration,
    sustained: Duration,
    pairs: usize,
    label: &str,
) -> StoppedCeiling {
    let (mut samples, mut watched) = (Vec::new(), Vec::new());
    for i in 0..CEILING_SAMPLES + CEILING_WATCHED_SAMPLES {
        let watch = i >= CEILING_SAMPLES;
        let spacing = CEILING_SPACING.as_secs();
        let method = if i == 0 {
            "JSON merge patch of status (the status the operator wrote), each a resource's first status, as the operator's first pass writes are; responses read but not parsed; the operator stopped".to_owned()
        } else if watch {
            format!(
                "as apiserver_write_ceiling, with a watch on the namespace open and read (one event per patch, as the operator's watch receives for each of its writes), {spacing} s after the sample before it ended"
            )
        } else {
            format!("as apiserver_write_ceiling, {spacing} s after the sample before it ended")
        };
        if i > 0 {
            tokio::time::sleep(CEILING_SPACING).await;
        }
        let sample = write_ceiling(
            cluster,
            CEILING_NAMESPACE,
            next_set(),
            template,
            short,
            &method,
            watch,
            writer::STATUS_WRITE_ACCEPT,
        )
        .await;
        let kind = if watch {
            "ceiling with a watch"
        } else {
            "ceiling"
        };
        say(format!("{label}: {kind} {sample}"));
        if watch {
            watched.push(sample)
        } else {
            samples.push(sample)
        }
    }
    let mut rates: Vec<f64> = samples
        .iter()
        .filter_map(|s| s["patches_per_s"].as_f64())
        .filter(|c| *c > 0.0)
        .collect();
    rates.sort_by(f64::total_cmp);
    let median_per_s = (rates.len() == CEILING_SAMPLES).then(|| percentile(&rates, 50.0));
    let sustained = if sustained.is_zero() {
        Value::Null
    } else {
        tokio::time::sleep(CEILING_SPACING).await;
        say(format!(
            "{label}: the sustained ceiling ({}s)",
            sustained.as_secs()
        ));
        let sample = write_ceiling(
            cluster,
            CEILING_NAMESPACE,
            next_set(),
            template,
            sustained,
            &format!(
                "as apiserver_write_ceiling, for {} s instead of {} s, {} s after the last short sample ended",
                sustained.as_secs(),
                short.as_secs(),
                CEILING_SPACING.as_secs()
            ),
            false,
            writer::STATUS_WRITE_ACCEPT,
        )
        .await;
        say(format!("{label}: sustained ceiling {sample}"));
        sample
    };
    let sustained_per_s = sustained["patches_per_s"].as_f64().filter(|c| *c > 0.0);
    let mut response_pairs = Vec::new();
    for pair in 0..pairs {
        // Taking turns at going first: the first of a pair is not always
        // the one right after a GC cycle or a compaction.
        let order = if pair % 2 == 0 {
            [
                ("metadata", METADATA_RESPONSES),
                ("full", writer::STATUS_WRITE_ACCEPT),
            ]
        } else {
            [
                ("full", writer::STATUS_WRITE_ACCEPT),
                ("metadata", METADATA_RESPONSES),
            ]
        };
        let mut samples = serde_json::Map::new();
        for (which, accept) in order {
            tokio::time::sleep(CEILING_SPACING).await;
            let sample = write_ceiling(
                cluster,
                CEILING_NAMESPACE,
                next_set(),
                template,
                short,
                &format!(
                    "as apiserver_write_ceiling, asking for {which} responses, {} s after the sample before it ended",
                    CEILING_SPACING.as_secs()
                ),
                false,
                accept,
            )
            .await;
            say(format!("{label}: response pair {pair}, {which}: {sample}"));
            samples.insert(which.to_owned(), sample);
        }
        response_pairs.push(Value::Object(samples));
    }
    StoppedCeiling {
        samples,
        median_per_s,
        watched,
        sustained,
        sustained_per_s,
        response_pairs,
    }
}

/// Fresh resources for ceiling measurements in [`CEILING_NAMESPACE`], one
/// set per entry of `durations` ([`CEILING_RESOURCES_PER_S`] per second of
/// it), named after the domains from `first` on, created now so that no
/// burst of creates precedes a measurement; the operator never sees them.
async fn ceiling_resources(
    cluster: &Cluster,
    first: usize,
    durations: &[Duration],
) -> Vec<Vec<String>> {
    create_namespace(&cluster.client, CEILING_NAMESPACE).await;
    let sizes: Vec<usize> = durations
        .iter()
        .filter(|d| !d.is_zero())
        .map(|d| CEILING_RESOURCES_PER_S * d.as_secs().max(1) as usize)
        .collect();
    let total: usize = sizes.iter().sum();
    let fresh: Vec<(String, bool)> = (first..first + total)
        .map(|i| (delegated(i), false))
        .collect();
    cluster.create_in(CEILING_NAMESPACE, &fresh).await;
    let mut rest = fresh.as_slice();
    sizes
        .iter()
        .map(|size| {
            let (set, after) = rest.split_at(*size);
            rest = after;
            set.iter().map(|(d, _)| resource_name(d)).collect()
        })
        .collect()
}

/// The durations of the ceiling measurements of a run: the interleaved
/// samples ([`Options::interleaved_samples`]), `beside` samples beside the
/// operator and [`CEILING_SAMPLES`] + [`CEILING_WATCHED_SAMPLES`] without
/// it, of `options`' ceiling each, then the sustained one.
fn ceiling_durations(options: &Options, beside: usize) -> Vec<Duration> {
    let mut durations =
        vec![
            options.ceiling();
            options.interleaved_samples() + beside + CEILING_SAMPLES + CEILING_WATCHED_SAMPLES
        ];
    durations.push(options.sustained());
    durations.extend(std::iter::repeat_n(
        options.ceiling(),
        2 * options.response_pairs,
    ));
    durations
}

// === scenario: publishing ===

/// The first pass's publishing at the operator's default intervals and
/// budgets (see the file's doc), and the API server's ceiling while it
/// publishes ([`Interleaved`]) and once it stopped.
async fn publishing(options: &Options) -> Value {
    let n = options.domains;
    let label = format!("publishing {n}");
    let work = Work::new("dm-bench-publishing-");
    say(format!("{label}: API server, {TLD_SERVERS} nsd, rdap-srv"));
    let cluster = Cluster::start(options).await;
    let (dns, rdap, whois) = registry(n).await;
    // The registry's addresses and budgets as in `scale`; every interval is
    // the operator's default.
    let mut env = registry_env(&dns.addrs(), &rdap, &whois);
    let domains: Vec<(String, bool)> = (0..n).map(|i| (delegated(i), false)).collect();
    let creation = cluster.create(&domains).await;
    say(format!(
        "{label}: created {n} resources in {:.1}s",
        creation.as_secs_f64()
    ));
    let sets = ceiling_resources(&cluster, n, &ceiling_durations(options, 0)).await;
    let mut sets = sets.iter().map(Vec::as_slice);
    let mut interleaved = Interleaved::new(options, &mut sets, &mut env);
    let mut next_set = || sets.next().expect("a fresh set per measurement");

    let apiserver_cpu_before = cluster.cpu_seconds();
    let started = Instant::now();
    let mut operator = start_operator(work.path(), cluster.kubeconfig(), "publishing", &env);
    let pass = first_pass(
        &mut operator,
        &cluster,
        started,
        options,
        &label,
        interleaved.as_mut(),
    )
    .await;
    let publish_window = pass.publish_window();
    // The interleaved samples left out, as in `scale`.
    let waited = (pass.waited - pass.paused).as_secs_f64();
    let operator_cpu = operator.cpu_seconds() / waited;
    let apiserver_cpu =
        (cluster.cpu_seconds() - apiserver_cpu_before - pass.apiserver_cpu_paused) / waited;
    let metrics = operator.metrics().await;
    let deferred = metric_sum(&metrics, "domain_monitor_checks_deferred_total", None).max(0.0);
    let checks = metric_sum(&metrics, "domain_monitor_verdicts_total", None);
    let publishing_per_s = publish_window.map(|window| n as f64 / window.as_secs_f64());
    let template = status_template(&cluster).await;
    operator.stop().await;
    let ceiling = stopped_ceiling(
        &cluster,
        &mut next_set,
        &template,
        options.ceiling(),
        options.sustained(),
        options.response_pairs,
        &label,
    )
    .await;
    let after_pass_per_s = ceiling.per_s();
    let ceiling_per_s = interleaved
        .as_ref()
        .and_then(Interleaved::per_s)
        .or(after_pass_per_s);
    let median_per_s = ceiling.median_per_s;
    drop((dns, rdap, whois));
    drop(cluster);
    let result = json!({
        "domains": n,
        "settings": {
            "CHECK_INTERVAL": format!("{} (operator default)", operator_default("CHECK_INTERVAL")),
            "MAX_CONCURRENT_CHECKS": format!("{} (operator default)", operator_default("MAX_CONCURRENT_CHECKS")),
            "budgets": budget_settings(),
            "first_pass_patience_s": options.patience().as_secs(),
        },
        "first_pass_complete": pass.checked.is_some(),
        "first_pass_checked_s": seconds(pass.checked),
        "first_write_seen_s": seconds(pass.first_write),
        "published_all_s": seconds(pass.published),
        "publish_window_s": seconds(publish_window),
        "operator_stopped_for_interleaved_samples_s": round(pass.paused.as_secs_f64(), 1),
        "status_writes_per_s_publishing": publishing_per_s.map(|w| round(w, 1)),
        "checks_until_published": checks,
        "checks_deferred_until_published": deferred,
        "first_pass_progress": pass.progress,
        "apiserver_cpu_ms_per_write_publishing": pass.apiserver_cpu_ms_per_write(n),
        "operator_cpu_cores": round(operator_cpu, 2),
        "apiserver_cpu_cores": round(apiserver_cpu, 2),
        "apiserver_write_ceiling_samples": ceiling.samples,
        "apiserver_write_ceiling_watched_samples": ceiling.watched,
        "apiserver_write_ceiling_sustained": ceiling.sustained,
        "apiserver_write_ceiling_response_pairs": ceiling.response_pairs,
        "apiserver_write_ceiling_interleaved": interleaved.as_ref().map(Interleaved::report),
        "apiserver_write_ceiling_what": if interleaved.as_ref().and_then(Interleaved::per_s).is_some() { INTERLEAVED_WHAT } else { CEILING_WHAT },
        "apiserver_write_ceiling_per_s": ceiling_per_s,
        "apiserver_write_ceiling_after_pass_per_s": after_pass_per_s,
        "apiserver_write_ceiling_short_median_per_s": median_per_s,
        "published_ratio_what": "first statuses written per second, from the first write until every domain's first status was written (the operator's stopped time left out), at the operator's default intervals, over apiserver_write_ceiling_per_s",
        "published_ratio_to_ceiling": ratio(publishing_per_s, ceiling_per_s),
        "published_ratio_to_ceiling_after_pass": ratio(publishing_per_s, after_pass_per_s),
        "published_ratio_to_short_median": ratio(publishing_per_s, median_per_s),
    });
    say(format!("{label}: {result}"));
    result
}

fn seconds(duration: Option<Duration>) -> Option<f64> {
    duration.map(|d| round(d.as_secs_f64(), 1))
}

async fn scale(options: &Options) -> Value {
    let n = options.domains;
    let label = format!("scale {n}");
    let work = Work::new("dm-bench-scale-");
    say(format!(
        "scale {n}: API server, {TLD_SERVERS} nsd, rdap-srv"
    ));
    let cluster = Cluster::start(options).await;
    let (dns, rdap, whois) = registry(n).await;
    // By default as long as the window, so that the window sees every
    // domain re-checked; a shorter one (--interval) asks for more checks
    // than the operator can do, to measure its capacity.
    let check_interval = options.interval().unwrap_or(options.window());
    let mut env = registry_env(&dns.addrs(), &rdap, &whois);
    env.extend([
        ("CHECK_INTERVAL", format!("{}s", check_interval.as_secs())),
        (
            "PRIORITY_CHECK_INTERVAL",
            format!("{}s", check_interval.as_secs()),
        ),
        (
            "DROP_WINDOW_INTERVAL",
            format!("{}s", check_interval.as_secs().min(10)),
        ),
    ]);

    // Baseline: the operator watching no domain.
    let mut idle = start_operator(work.path(), cluster.kubeconfig(), "baseline", &env);
    idle.ready(Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (baseline_rss, _) = idle.memory();
    idle.stop().await;
    say(format!(
        "scale {n}: baseline RSS {} KiB",
        baseline_rss / 1024
    ));

    let domains: Vec<(String, bool)> = (0..n).map(|i| (delegated(i), false)).collect();
    let creation = cluster.create(&domains).await;
    say(format!(
        "scale {n}: created {n} resources in {:.1}s",
        creation.as_secs_f64()
    ));
    // The resources the write ceiling is measured on, a set of fresh ones
    // per measurement (beside the operator, and the operator-stopped
    // samples), created now so that no burst of creates precedes the
    // measurements; the operator never sees them.
    let sets = ceiling_resources(&cluster, n, &ceiling_durations(options, 1)).await;
    let mut sets = sets.iter().map(Vec::as_slice);
    let mut interleaved = Interleaved::new(options, &mut sets, &mut env);
    let mut next_set = || sets.next().expect("a fresh set per measurement");

    let requests_before = cluster.requests_total();
    let apiserver_cpu_before = cluster.cpu_seconds();
    let started = Instant::now();
    let mut operator = start_operator(work.path(), cluster.kubeconfig(), "scale", &env);
    let pass = first_pass(
        &mut operator,
        &cluster,
        started,
        options,
        &label,
        interleaved.as_mut(),
    )
    .await;
    // The pass's rates leave the interleaved samples out: the operator's
    // stopped time, the API server's CPU then and the loop's patches.
    let pass_s = (pass.waited - pass.paused).as_secs_f64();
    let interleaved_requests: f64 = interleaved.as_ref().map_or(0.0, |i| {
        i.samples
            .iter()
            .filter_map(|s| Some(s["patches"].as_f64()? + s["failed"].as_f64()?))
            .sum()
    });
    let requests_first = cluster.requests_total() - interleaved_requests;
    let apiserver_cpu_first =
        cluster.cpu_seconds() - apiserver_cpu_before - pass.apiserver_cpu_paused;
    let operator_cpu_first = operator.cpu_seconds();
    let check_window = match (pass.first_check, pass.checked) {
        (Some(from), Some(to)) if to > from => Some(to - from),
        _ => None,
    };
    let writes_per_s_first_pass =
        check_window.map(|window| pass.writes_in_pass / window.as_secs_f64());
    // Publishing: from the first status write until every domain's first
    // status is written.
    let publish_window = pass.publish_window();
    let publishing_per_s = publish_window.map(|window| n as f64 / window.as_secs_f64());
    let per_domain = |rss: u64| round(rss.saturating_sub(baseline_rss) as f64 / n as f64, 0);

    // The idle window: nothing changes in the world. It starts once every
    // first status is written; registration facts still arrive at the
    // default RDAP budget (their writes, reason `facts`, are counted apart).
    let metrics_before = operator.metrics().await;
    let cpu_before = operator.cpu_seconds();
    let apiserver_cpu_window_start = cluster.cpu_seconds();
    let requests_window_start = cluster.requests_total();
    let window_started = Instant::now();
    tokio::time::sleep(options.window()).await;
    let window = window_started.elapsed().as_secs_f64();
    let metrics_after = operator.metrics().await;
    let cpu_after = operator.cpu_seconds();
    let apiserver_cpu_window = cluster.cpu_seconds() - apiserver_cpu_window_start;
    let requests_window_end = cluster.requests_total();
    let (rss, hwm) = operator.memory();
    let delta = |name: &str, labels: Option<&str>| {
        metric_sum(&metrics_after, name, labels) - metric_sum(&metrics_before, name, labels)
    };
    let checks = delta("domain_monitor_verdicts_total", None);
    let writes = delta("domain_monitor_status_writes_total", None);
    let mut writes_by_reason = metric_by_label(
        &metrics_after,
        "domain_monitor_status_writes_total",
        "reason",
    );
    for (reason, before) in metric_by_label(
        &metrics_before,
        "domain_monitor_status_writes_total",
        "reason",
    ) {
        *writes_by_reason.entry(reason).or_insert(0.0) -= before;
    }
    let backfill = ["first", "facts"]
        .iter()
        .filter_map(|reason| writes_by_reason.get(*reason))
        .sum::<f64>();
    let idle_writes = writes - backfill;
    let mut changes_by_field = metric_by_label(
        &metrics_after,
        "domain_monitor_status_changes_total",
        "field",
    );
    for (field, before) in metric_by_label(
        &metrics_before,
        "domain_monitor_status_changes_total",
        "field",
    ) {
        *changes_by_field.entry(field).or_insert(0.0) -= before;
    }
    let rdap_checks = delta("domain_monitor_checks_total", Some("checker=\"rdap\""));
    let errors = delta("domain_monitor_reconcile_errors_total", None);
    let total_writes = metric_sum(&metrics_after, "domain_monitor_status_writes_total", None);

    // The API server's ceiling twice: first beside the operator, which goes
    // on re-checking every domain as it did while it published (so the
    // machine's cores are shared as they were then), on fresh resources in
    // a namespace it does not watch; then alone, with the operator stopped.
    let template = status_template(&cluster).await;
    say(format!(
        "scale {n}: the API server's status-patch ceiling beside the operator's re-checks ({}s, {CEILING_CONCURRENCY} in flight)",
        options.ceiling().as_secs()
    ));
    let writes_before = metric_sum(
        &operator.metrics().await,
        "domain_monitor_status_writes_total",
        None,
    );
    let cpu_before_beside = operator.cpu_seconds();
    let mut beside = write_ceiling(
        &cluster,
        CEILING_NAMESPACE,
        next_set(),
        &template,
        options.ceiling(),
        "JSON merge patch of status (the status the operator wrote), each a resource's first status, while the operator re-checks its domains at CHECK_INTERVAL in another namespace; responses read but not parsed",
        false,
        writer::STATUS_WRITE_ACCEPT,
    )
    .await;
    let seconds_beside = beside["seconds"].as_f64().unwrap_or(1.0);
    beside["operator_cpu_cores"] = json!(round(
        (operator.cpu_seconds() - cpu_before_beside) / seconds_beside,
        2
    ));
    beside["operator_status_writes"] = json!(
        metric_sum(
            &operator.metrics().await,
            "domain_monitor_status_writes_total",
            None
        ) - writes_before
    );
    let beside_per_s = beside["patches_per_s"].as_f64().filter(|c| *c > 0.0);
    say(format!("scale {n}: ceiling beside the operator {beside}"));
    operator.stop().await;

    say(format!(
        "scale {n}: the API server's status-patch ceiling ({}s, {CEILING_CONCURRENCY} in flight)",
        options.ceiling().as_secs()
    ));
    let ceiling = stopped_ceiling(
        &cluster,
        &mut next_set,
        &template,
        options.ceiling(),
        options.sustained(),
        options.response_pairs,
        &label,
    )
    .await;
    let (samples, after_pass_per_s, median_per_s) =
        (&ceiling.samples, ceiling.per_s(), ceiling.median_per_s);
    let ceiling_per_s = interleaved
        .as_ref()
        .and_then(Interleaved::per_s)
        .or(after_pass_per_s);
    let single_per_s = samples[0]["patches_per_s"].as_f64().filter(|c| *c > 0.0);

    // What watching alone costs: a fresh operator whose watch cache holds
    // every resource with its status, checking one domain at a time.
    let mut watch_env = env.clone();
    watch_env.push(("MAX_CONCURRENT_CHECKS", "1".into()));
    let mut watcher = start_operator(work.path(), cluster.kubeconfig(), "watch-only", &watch_env);
    watcher.ready(Duration::from_secs(600)).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (watch_rss, _) = watcher.memory();
    watcher.stop().await;
    drop((dns, rdap, whois));
    drop(cluster);

    let checked_s = pass.checked.map(|d| d.as_secs_f64());
    let mut result = json!({
        "domains": n,
        "settings": {
            "CHECK_INTERVAL": format!("{}s", check_interval.as_secs()),
            "STATUS_HEARTBEAT": format!("{} (operator default)", operator_default("STATUS_HEARTBEAT")),
            "MAX_CONCURRENT_CHECKS": format!("{} (operator default)", operator_default("MAX_CONCURRENT_CHECKS")),
            "budgets": budget_settings(),
            "first_pass_patience_s": options.patience().as_secs(),
            "first_pass_counted_by": pass.counted_by,
        },
        "creation_s": round(creation.as_secs_f64(), 1),
        "creation_per_s": round(n as f64 / creation.as_secs_f64(), 0),
        "ready_s": seconds(pass.ready),
        "first_pass_complete": pass.checked.is_some(),
        "first_pass_checked_s": seconds(pass.checked),
        "first_pass_checked_count": pass.checked_count,
        "first_check_seen_s": seconds(pass.first_check),
        "published_all_s": seconds(pass.published),
        "writes_drained_s": seconds(pass.drained),
        "first_check_all_s": seconds(pass.no_unknown),
        "first_check_per_s": checked_s.map(|s| round(n as f64 / s, 0)),
        "first_write_seen_s": seconds(pass.first_write),
        "status_writes_first_pass": pass.writes_in_pass,
        "first_pass_check_window_s": seconds(check_window),
        "status_writes_per_s_first_pass": writes_per_s_first_pass.map(|w| round(w, 1)),
        "first_pass_checks_per_s": check_window.map(|w| round(n as f64 / w.as_secs_f64(), 1)),
        "publish_window_s": seconds(publish_window),
        "operator_stopped_for_interleaved_samples_s": round(pass.paused.as_secs_f64(), 1),
        "status_writes_per_s_publishing": publishing_per_s.map(|w| round(w, 1)),
        "first_pass_progress": pass.progress,
        "apiserver_cpu_ms_per_write_publishing": pass.apiserver_cpu_ms_per_write(n),
        "apiserver_write_ceiling_interleaved": interleaved.as_ref().map(Interleaved::report),
        "apiserver_write_ceiling": samples[0],
        "apiserver_write_ceiling_samples": samples,
        "apiserver_write_ceiling_watched_samples": ceiling.watched,
        "apiserver_write_ceiling_sustained": ceiling.sustained,
        "apiserver_write_ceiling_response_pairs": ceiling.response_pairs,
    });
    // Three objects: one would exceed the `json!` macro's recursion limit.
    let ratios = json!({
        "apiserver_write_ceiling_what": if interleaved.as_ref().and_then(Interleaved::per_s).is_some() { INTERLEAVED_WHAT } else { CEILING_WHAT },
        "apiserver_write_ceiling_per_s": ceiling_per_s,
        "apiserver_write_ceiling_after_pass_per_s": after_pass_per_s,
        "apiserver_write_ceiling_short_median_per_s": median_per_s,
        "apiserver_write_ceiling_single_sample_per_s": single_per_s,
        "published_ratio_what": "first statuses written per second, from the first write until every domain's first status was written (the operator's stopped time left out), over apiserver_write_ceiling_per_s (on this machine the operator's re-checks share its two cores while it publishes, which the samples with the operator stopped do not; published_ratio_to_ceiling_beside_operator accounts for it)",
        "published_ratio_to_ceiling": ratio(publishing_per_s, ceiling_per_s),
        "published_ratio_to_ceiling_after_pass": ratio(publishing_per_s, after_pass_per_s),
        "published_ratio_to_short_median": ratio(publishing_per_s, median_per_s),
        "published_ratio_to_single_sample": ratio(publishing_per_s, single_per_s),
        "apiserver_write_ceiling_beside_operator": beside,
        "apiserver_write_ceiling_beside_operator_per_s": beside_per_s,
        "published_ratio_to_ceiling_beside_operator": ratio(publishing_per_s, beside_per_s),
    });
    let idle = json!({
        "apiserver_requests_per_s_first_checks": round((requests_first - requests_before) / pass_s, 0),
        "window_s": round(window, 1),
        "checks_in_window": checks,
        "checks_per_s_sustained": round(checks / window, 0),
        "demand_checks_per_s": round(n as f64 / check_interval.as_secs_f64(), 0),
        "operator_cpu_cores_in_window": round((cpu_after - cpu_before) / window, 2),
        "apiserver_cpu_cores_in_window": round(apiserver_cpu_window / window, 2),
        "operator_cpu_cores_first_checks": round(operator_cpu_first / pass_s, 2),
        "apiserver_cpu_cores_first_checks": round(apiserver_cpu_first / pass_s, 2),
        "checks_deferred_while_publishing": metric_sum(&metrics_before, "domain_monitor_checks_deferred_total", None),
        "status_writes_in_window": writes,
        "status_writes_in_window_by_reason": writes_by_reason,
        "status_writes_for_changes_in_window": writes_by_reason.get("change").copied().unwrap_or(0.0),
        "status_writes_for_first_facts_in_window": backfill,
        "status_changes_in_window_by_field": changes_by_field,
        "rdap_checks_in_window": rdap_checks,
        "status_writes_total": total_writes,
        "reconcile_errors_in_window": errors,
        "idle_status_writes_per_domain_per_hour": round(idle_writes / n as f64 * 3600.0 / window, 4),
        "idle_status_writes_per_domain_per_day": round(idle_writes / n as f64 * 86400.0 / window, 3),
        "idle_status_writes_what": "status writes in the window but those of the registration facts backfill (reason first or facts: a resource's first verdict or first facts, once in its life)",
        "status_writes_per_domain_per_day_with_backfill": round(writes / n as f64 * 86400.0 / window, 3),
        "apiserver_requests_per_s_idle": round((requests_window_end - requests_window_start) / window, 1),
        "baseline_rss_bytes": baseline_rss,
        "rss_bytes_after_first_pass": pass.rss_after_pass,
        "rss_bytes_per_domain": per_domain(pass.rss_after_pass),
        "rss_bytes": rss,
        "rss_bytes_after_rechecks": rss,
        "rss_bytes_per_domain_after_rechecks": per_domain(rss),
        "peak_rss_bytes": hwm,
        "watch_only_rss_bytes": watch_rss,
        "watch_only_rss_bytes_per_domain": per_domain(watch_rss),
    });
    if let (Value::Object(result), Value::Object(ratios), Value::Object(idle)) =
        (&mut result, ratios, idle)
    {
        result.extend(ratios);
        result.extend(idle);
    }
    say(format!("scale {n}: {result}"));
    result
}

// === scenario: scale-out ===

/// A UDP DNS relay that holds every query for `delay` before passing it to
/// `upstream`: a TLD server far away, without touching the loopback device.
async fn delaying_dns_relay(upstream: SocketAddr, delay: Duration) -> SocketAddr {
    let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await.expect("bind relay"));
    let addr = socket.local_addr().expect("relay address");
    tokio::spawn(async move {
        let mut buffer = vec![0_u8; 4096];
        loop {
            let Ok((len, client)) = socket.recv_from(&mut buffer).await else {
                continue;
            };
            let query = buffer[..len].to_vec();
            let socket = socket.clone();
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                let Ok(upstream_socket) = UdpSocket::bind("127.0.0.1:0").await else {
                    return;
                };
                if upstream_socket.send_to(&query, upstream).await.is_err() {
                    return;
                }
                let mut answer = vec![0_u8; 4096];
                if let Ok(Ok(len)) =
                    tokio::time::timeout(Duration::from_secs(2), upstream_socket.recv(&mut answer))
                        .await
                {
                    let _ = socket.send_to(&answer[..len], client).await;
                }
            });
        }
    });
    addr
}

/// Shards held by each replica, from their `/status`.
async fn shards_held(replicas: &[Operator]) -> Vec<usize> {
    let mut held = Vec::new();
    for replica in replicas {
        let status = replica.status().await;
        held.push(status["shards"]["held"].as_array().map_or(0, Vec::len));
    }
    held
}

async fn total_verdicts(replicas: &[Operator]) -> f64 {
    let mut sum = 0.0;
    for replica in replicas {
        sum += verdicts(replica).await;
    }
    sum
}

/// Throughput of `replicas` once every domain was checked under the final
/// shard assignment.
async fn measure_replicas(replicas: &[Operator], n: usize, window: Duration) -> Value {
    let count = replicas.len();
    let balanced_at = wait_until(
        "the shards to be balanced",
        Duration::from_secs(120),
        || async {
            let held = shards_held(replicas).await;
            let max = (SHARDS as usize).div_ceil(count);
            (held.iter().sum::<usize>() == SHARDS as usize
                && held.iter().all(|h| *h <= max && *h > 0))
            .then_some(held)
        },
    )
    .await;
    let base = total_verdicts(replicas).await;
    let warm_started = Instant::now();
    wait_until(
        "every domain checked once",
        Duration::from_secs(600),
        || async { (total_verdicts(replicas).await - base >= n as f64).then_some(()) },
    )
    .await;
    let warm_up = warm_started.elapsed().as_secs_f64();
    let held_after = shards_held(replicas).await;
    let before = total_verdicts(replicas).await;
    let started = Instant::now();
    tokio::time::sleep(window).await;
    let after = total_verdicts(replicas).await;
    let seconds = started.elapsed().as_secs_f64();
    let held_end = shards_held(replicas).await;
    let rss: Vec<u64> = replicas.iter().map(|r| r.memory().0).collect();
    json!({
        "replicas": count,
        "shards_held": held_end,
        "shards_stable_during_window": held_after == held_end && balanced_at == held_end,
        "warm_up_s": round(warm_up, 1),
        "window_s": round(seconds, 1),
        "checks_in_window": after - before,
        "checks_per_s": round((after - before) / seconds, 1),
        "rss_bytes": rss,
    })
}

async fn scaleout(options: &Options) -> Value {
    let n = options.domains;
    let delay = Duration::from_millis(100);
    let concurrency = 40;
    // One replica does about concurrency / delay = 400 checks/s: ask for
    // 2,000/s, more than three replicas can do.
    let check_interval = Duration::from_secs((n as u64 / 2000).max(1));
    let work = Work::new("dm-bench-scaleout-");
    say(format!(
        "scale-out {n}: API server, {TLD_SERVERS} nsd, rdap-srv"
    ));
    let cluster = Cluster::start(options).await;
    let (dns, rdap, whois) = registry(n).await;
    let mut relays = Vec::new();
    for server in dns.addrs() {
        relays.push(delaying_dns_relay(server, delay).await);
    }
    let domains: Vec<(String, bool)> = (0..n).map(|i| (delegated(i), false)).collect();
    let creation = cluster.create(&domains).await;
    say(format!(
        "scale-out {n}: created in {:.1}s",
        creation.as_secs_f64()
    ));
    let mut env = registry_env(&relays, &rdap, &whois);
    env.extend([
        // Each domain's first check asks RDAP for its registration facts:
        // at the default budget the warm-up would measure that budget, a
        // global one that does not scale out by design.
        ("RDAP_RATE_LIMIT", LIFTED_BUDGET.to_owned()),
        ("WHOIS_RATE_LIMIT", LIFTED_BUDGET.to_owned()),
        ("CHECK_INTERVAL", format!("{}s", check_interval.as_secs())),
        (
            "PRIORITY_CHECK_INTERVAL",
            format!("{}s", check_interval.as_secs()),
        ),
        (
            "DROP_WINDOW_INTERVAL",
            format!("{}s", check_interval.as_secs()),
        ),
        ("MAX_CONCURRENT_CHECKS", concurrency.to_string()),
    ]);

    let one = vec![start_operator(
        work.path(),
        cluster.kubeconfig(),
        "solo",
        &env,
    )];
    let single = measure_replicas(&one, n, options.window()).await;
    say(format!("scale-out {n}: one replica {single}"));
    for replica in one {
        replica.stop().await;
    }
    let three: Vec<Operator> = ["r1", "r2", "r3"]
        .iter()
        .map(|id| start_operator(work.path(), cluster.kubeconfig(), id, &env))
        .collect();
    let triple = measure_replicas(&three, n, options.window()).await;
    say(format!("scale-out {n}: three replicas {triple}"));
    for replica in three {
        replica.stop().await;
    }
    drop((dns, rdap, whois));
    drop(cluster);
    let ratio = triple["checks_per_s"].as_f64().unwrap_or(0.0)
        / single["checks_per_s"].as_f64().unwrap_or(f64::NAN);
    json!({
        "domains": n,
        "what": "checks/s of 1 vs 3 replicas when each replica's MAX_CONCURRENT_CHECKS is the bottleneck: every DNS answer is delayed like a remote TLD server's, and the check interval asks for more than 3 replicas can do",
        "settings": {
            "dns_delay_ms": delay.as_millis(),
            "MAX_CONCURRENT_CHECKS": concurrency,
            "CHECK_INTERVAL": format!("{}s", check_interval.as_secs()),
            "tld_servers": TLD_SERVERS,
            "DNS_RATE_LIMIT": format!("{DNS_BUDGET} per server"),
            "RDAP_RATE_LIMIT": format!("{LIFTED_BUDGET} (lifted: scale-out measures check concurrency, and budgets are global)"),
            "WHOIS_RATE_LIMIT": format!("{LIFTED_BUDGET} (lifted, as RDAP)"),
            "demand_checks_per_s": round(n as f64 / check_interval.as_secs_f64(), 0),
        },
        "one_replica": single,
        "three_replicas": triple,
        "scaleout_ratio_3v1": round(ratio, 2),
    })
}

// === scenario: detection latency ===

/// `RUST_LOG` of the detection operator: warnings, and a debug line per
/// check.
const CHECK_LOG: &str = "warn,domain_monitor::controller::reconcile=debug";

/// One `check decided` line of the operator's log.
#[derive(Debug, Clone)]
struct CheckLine {
    /// When the verdict was logged.
    decided: jiff::Timestamp,
    /// The availability decided.
    after: String,
    /// From the due time to the start of the evaluation.
    late: Option<Duration>,
    /// The evaluation.
    took: Duration,
    /// Each checker's duration, as logged.
    durations: String,
}

impl CheckLine {
    fn began(&self) -> jiff::Timestamp {
        self.decided
            .checked_sub(jiff::SignedDuration::try_from(self.took).unwrap_or_default())
            .unwrap_or(self.decided)
    }
}

/// The `check decided` lines of a JSON log, by domain, in order.
fn check_lines(log: &str) -> BTreeMap<String, Vec<CheckLine>> {
    let mut lines: BTreeMap<String, Vec<CheckLine>> = BTreeMap::new();
    for line in log.lines() {
        let Ok(entry) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if entry["message"] != "check decided" {
            continue;
        }
        let (Some(domain), Some(decided)) = (
            entry["domain"].as_str(),
            entry["timestamp"]
                .as_str()
                .and_then(|t| t.parse::<jiff::Timestamp>().ok()),
        ) else {
            continue;
        };
        lines.entry(domain.to_owned()).or_default().push(CheckLine {
            decided,
            after: entry["after"].as_str().unwrap_or_default().to_owned(),
            late: entry["late_ms"].as_u64().map(Duration::from_millis),
            took: Duration::from_millis(entry["took_ms"].as_u64().unwrap_or(0)),
            durations: entry["durations"].as_str().unwrap_or_default().to_owned(),
        });
    }
    lines
}

/// What happened to one dropped domain: the check that found it free,
/// and the checks between the drop and that one.
#[derive(Debug, Clone)]
struct DropTrace {
    name: String,
    class: Class,
    /// From the drop to the notification's arrival.
    latency: Option<Duration>,
    /// From the drop to the start of the check that found it free.
    until_check: Option<Duration>,
    /// That check's [`CheckLine`].
    found_by: Option<CheckLine>,
    /// From that check's verdict to the notification's arrival.
    after_decision: Option<Duration>,
    /// Checks that began after the drop and still said Registered.
    missed_by: usize,
}

impl DropTrace {
    fn of(
        name: &str,
        class: Class,
        dropped: jiff::Timestamp,
        latency: Option<Duration>,
        checks: &[CheckLine],
    ) -> Self {
        let since = |from: jiff::Timestamp, to: jiff::Timestamp| {
            Duration::try_from(to.duration_since(from)).ok()
        };
        let after: Vec<&CheckLine> = checks.iter().filter(|c| c.began() >= dropped).collect();
        let found = after.iter().find(|c| c.after == "Available").copied();
        let missed_by = after
            .iter()
            .take_while(|c| c.after != "Available")
            .filter(|c| c.after == "Registered")
            .count();
        let arrived = latency.and_then(|l| {
            dropped
                .checked_add(jiff::SignedDuration::try_from(l).ok()?)
                .ok()
        });
        Self {
            name: name.to_owned(),
            class,
            latency,
            until_check: found.and_then(|c| since(dropped, c.began())),
            after_decision: found.zip(arrived).and_then(|(c, at)| since(c.decided, at)),
            found_by: found.cloned(),
            missed_by,
        }
    }

    fn json(&self) -> Value {
        let ms = |d: Option<Duration>| d.map(|d| d.as_millis() as u64);
        json!({
            "domain": self.name,
            "latency_ms": ms(self.latency),
            "until_check_ms": ms(self.until_check),
            "late_ms": ms(self.found_by.as_ref().and_then(|c| c.late)),
            "took_ms": ms(self.found_by.as_ref().map(|c| c.took)),
            "durations": self.found_by.as_ref().map(|c| c.durations.clone()),
            "after_decision_ms": ms(self.after_decision),
            "missed_by_checks": self.missed_by,
        })
    }
}

/// The parts of one class's detection latencies: their medians and
/// maxima, the drops some check missed, and the slowest three drops.
fn breakdown(drops: &[DropTrace], class: Class) -> Value {
    let mut of_class: Vec<&DropTrace> = drops.iter().filter(|d| d.class == class).collect();
    let stats = |part: fn(&DropTrace) -> Option<Duration>| {
        let mut values: Vec<f64> = of_class
            .iter()
            .filter_map(|d| part(d))
            .map(|d| d.as_secs_f64() * 1000.0)
            .collect();
        values.sort_by(f64::total_cmp);
        json!({
            "p50": round(percentile(&values, 50.0), 0),
            "max": round(values.last().copied().unwrap_or(f64::NAN), 0),
        })
    };
    let traced = of_class.iter().filter(|d| d.found_by.is_some()).count();
    let missed = of_class.iter().filter(|d| d.missed_by > 0).count();
    let until_check = stats(|d| d.until_check);
    let late = stats(|d| d.found_by.as_ref().and_then(|c| c.late));
    let took = stats(|d| d.found_by.as_ref().map(|c| c.took));
    let after_decision = stats(|d| d.after_decision);
    of_class.sort_by_key(|d| std::cmp::Reverse(d.latency.unwrap_or(Duration::MAX)));
    let slowest: Vec<Value> = of_class.iter().take(3).map(|d| d.json()).collect();
    json!({
        "traced": traced,
        "until_check_ms": until_check,
        "late_ms": late,
        "took_ms": took,
        "after_decision_ms": after_decision,
        "missed_by_a_check": missed,
        "slowest": slowest,
    })
}

/// The three kinds of domain whose drop is timed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Class {
    Normal,
    Priority,
    DropWindow,
}

impl Class {
    fn prefix(self) -> &'static str {
        match self {
            Self::Normal => "normal",
            Self::Priority => "priority",
            Self::DropWindow => "window",
        }
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    // Nearest rank.
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

/// The registry's RDAP objects of the detection scenario: `active` names,
/// and `pending` ones in pendingDelete whose deletion date is `deletion`.
async fn serve_rdap(rdap: &RdapSrv, active: &[String], pending: &[String], deletion: &str) {
    rdap.serve_template("active", &rdap_object(&["active"], None), active)
        .await;
    rdap.serve_template(
        "pending",
        &rdap_object(&["pending delete"], Some(deletion)),
        pending,
    )
    .await;
}

async fn detection(options: &Options) -> Value {
    let k = options.per_class;
    let intervals = [
        (Class::Normal, Duration::from_secs(60)),
        (Class::Priority, Duration::from_secs(10)),
        (Class::DropWindow, Duration::from_secs(2)),
    ];
    let work = Work::new("dm-bench-detection-");
    say(format!("detection: {k} domains per class"));
    let cluster = Cluster::start(options).await;
    let dns = tokio::task::spawn_blocking(|| TldServers::start(&Zone::new("test"), TLD_SERVERS))
        .await
        .expect("start nsd");
    let rdap = RdapSrv::start().await;
    let whois = WhoisServer::start(Vec::<(String, Reply)>::new()).await;
    let receiver = HttpStub::start().await;
    receiver.set("/callback", HttpReply::new(200));

    let names = |class: Class| -> Vec<String> {
        (0..k)
            .map(|i| format!("{}{i}.test", class.prefix()))
            .collect()
    };
    let all: Vec<(Class, String)> = intervals
        .iter()
        .flat_map(|(class, _)| names(*class).into_iter().map(move |n| (*class, n)))
        .collect();
    // DNS: every domain delegated.
    let delegations: Vec<String> = all.iter().map(|(_, n)| n.clone()).collect();
    tokio::task::block_in_place(|| {
        dns.change(|zone| {
            let mut grown = std::mem::replace(zone, Zone::new("test"));
            for name in &delegations {
                grown = grown.delegate(name, &NAMESERVERS);
            }
            *zone = grown;
        });
    });
    // RDAP and WHOIS: active names, and names in pendingDelete whose
    // registry-published deletion date has just passed (a drop window).
    let deletion = jiff::Timestamp::now()
        .checked_sub(jiff::SignedDuration::from_secs(60))
        .expect("a timestamp")
        .to_string();
    let mut active: Vec<String> = names(Class::Normal);
    active.extend(names(Class::Priority));
    let mut pending = names(Class::DropWindow);
    serve_rdap(&rdap, &active, &pending, &deletion).await;
    for (class, name) in &all {
        let status = if *class == Class::DropWindow {
            "pendingDelete"
        } else {
            "active"
        };
        whois.set(name, Reply::text(whois_record(name, status, &NAMESERVERS)));
    }
    let domains: Vec<(String, bool)> = all
        .iter()
        .map(|(class, name)| (name.clone(), *class == Class::Priority))
        .collect();
    cluster.create(&domains).await;

    let mut env = registry_env(&dns.addrs(), &rdap, &whois);
    env.extend([
        ("CHECK_INTERVAL", "60s".to_owned()),
        ("PRIORITY_CHECK_INTERVAL", "10s".to_owned()),
        ("DROP_WINDOW_INTERVAL", "2s".to_owned()),
        ("API_CALLBACK_URL", receiver.url("/callback")),
        ("API_AUTH_TOKEN", TOKEN.to_owned()),
        ("PER_CHECK_CALLBACKS", "off".to_owned()),
    ]);
    // The check lines (`check decided`: when each check began against
    // when it was due, and how long it took) explain each drop's latency.
    if std::env::var_os("DM_BENCH_RUST_LOG").is_none() {
        env.push(("RUST_LOG", CHECK_LOG.to_owned()));
    }
    let operator = start_operator(work.path(), cluster.kubeconfig(), "detection", &env);
    wait_until("the first checks", Duration::from_secs(120), || async {
        let status = operator.status().await;
        let by = &status["domains"]["by_availability"];
        (by["Registered"].as_u64() == Some(2 * k as u64)
            && by["PendingDelete"].as_u64() == Some(k as u64))
        .then_some(())
    })
    .await;
    say("detection: every domain checked; dropping them one per class every 3 s");

    // Each round drops one domain of each class: RDAP and WHOIS first, the
    // delegation last, so the drop is complete when DNS changes. The clock
    // starts just before that DNS change.
    let mut dropped_at: BTreeMap<String, (Class, Instant)> = BTreeMap::new();
    // The same moments on the wall clock, to read the operator's log by.
    let mut dropped_wall: BTreeMap<String, jiff::Timestamp> = BTreeMap::new();
    for round in 0..k {
        let round_started = Instant::now();
        let victims: Vec<(Class, String)> = intervals
            .iter()
            .map(|(class, _)| (*class, format!("{}{round}.test", class.prefix())))
            .collect();
        active.retain(|n| !victims.iter().any(|(_, v)| v == n));
        pending.retain(|n| !victims.iter().any(|(_, v)| v == n));
        serve_rdap(&rdap, &active, &pending, &deletion).await;
        for (_, name) in &victims {
            rdap.wait_gone(name).await;
            whois.set(name, Reply::text(whois_free(name)));
        }
        for (class, name) in &victims {
            let at = Instant::now();
            dropped_wall.insert(name.clone(), jiff::Timestamp::now());
            let name_for_zone = name.clone();
            tokio::task::block_in_place(|| dns.remove_delegation(&name_for_zone));
            dropped_at.insert(name.clone(), (*class, at));
        }
        let elapsed = round_started.elapsed();
        if elapsed < Duration::from_secs(3) {
            tokio::time::sleep(Duration::from_secs(3) - elapsed).await;
        }
    }
    say("detection: every domain dropped; waiting for the notifications");
    let longest = intervals[0].1.mul_f64(1.1) + Duration::from_secs(20);
    let deadline = Instant::now() + longest;
    let mut arrived: BTreeMap<String, Instant> = BTreeMap::new();
    while Instant::now() < deadline && arrived.len() < dropped_at.len() {
        for request in receiver.requests("/callback") {
            let body = request.json();
            if body.get("status").and_then(Value::as_str) == Some("available")
                && let Some(domain) = body["domain"].as_str()
            {
                arrived
                    .entry(domain.to_owned())
                    .or_insert(request.received_at);
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let log = operator.log();
    operator.stop().await;
    let checks = check_lines(&log);
    let drops: Vec<DropTrace> = dropped_at
        .iter()
        .map(|(name, (class, at))| {
            let latency = arrived
                .get(name)
                .map(|got| got.saturating_duration_since(*at));
            DropTrace::of(
                name,
                *class,
                dropped_wall[name],
                latency,
                checks.get(name).map_or(&[][..], Vec::as_slice),
            )
        })
        .collect();

    let mut by_class = serde_json::Map::new();
    for (class, interval) in intervals {
        let mut latencies: Vec<f64> = dropped_at
            .iter()
            .filter(|(_, (c, _))| *c == class)
            .filter_map(|(name, (_, at))| {
                arrived
                    .get(name)
                    .map(|got| got.saturating_duration_since(*at).as_secs_f64() * 1000.0)
            })
            .collect();
        latencies.sort_by(f64::total_cmp);
        let missing = k - latencies.len();
        by_class.insert(
            class.prefix().to_owned(),
            json!({
                "interval_s": interval.as_secs(),
                "dropped": k,
                "notified": latencies.len(),
                "missing": missing,
                "p50_ms": round(percentile(&latencies, 50.0), 0),
                "p99_ms": round(percentile(&latencies, 99.0), 0),
                "max_ms": round(latencies.last().copied().unwrap_or(f64::NAN), 0),
                "min_ms": round(latencies.first().copied().unwrap_or(f64::NAN), 0),
                "target_p99_ms": if class == Class::DropWindow { 5000 } else { interval.as_millis() as u64 + 1000 },
                "breakdown": breakdown(&drops, class),
            }),
        );
    }
    json!({
        "settings": {
            "CHECK_INTERVAL": "60s",
            "PRIORITY_CHECK_INTERVAL": "10s",
            "DROP_WINDOW_INTERVAL": "2s",
            "jitter": "every interval shortened by a random 0–10 % (src/schedule.rs)",
            "clock": "from just before the first of the TLD's nsd reloads that remove the delegation (one server after the other, as a zone change propagates; RDAP object and WHOIS record already gone) to the notification's arrival at the receiver",
            "breakdown": "from the operator's `check decided` debug lines: until_check_ms = from the drop to the start of the check that found it; late_ms = how long after its due time that check began; took_ms = its evaluation; after_decision_ms = from its verdict to the notification's arrival; missed_by_checks = checks that began after the drop and still said Registered (they asked a TLD server not yet reloaded)",
            "budgets": budget_settings(),
        },
        "classes": by_class,
    })
}
