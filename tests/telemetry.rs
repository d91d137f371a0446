//! Telemetry end to end: the operator pushes its metrics over OTLP into a real
//! Prometheus 3, which also scrapes the operator's `/metrics/prometheus`.
//! After a short scenario (checks, a status write refused then retried, a
//! per-check callback failing, a domain list sync with an invalid entry, an
//! RDAP server throttling us, rate-limit waits, a drop notified), every panel
//! query of the Grafana dashboards (the operator's and the domain owners')
//! returns data from either path, and both
//! paths hold the same series.
//!
//! Prometheus comes from `DM_PROMETHEUS` (set by `just test`), else from
//! where tests/prometheus/build.sh puts it.

mod support;

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
    sync::atomic::Ordering,
    time::{Duration, Instant},
};

use domain_monitor::resource::{Availability, HealthSpec};
use kube::api::PostParams;
use serde_json::{Value, json};
use support::{
    cluster::{TestNamespace, client, pinned},
    http_stub::{HttpStub, Reply},
    operator::{Operator, wait_for_availability},
    prometheus::{Prometheus, Sample, ScrapeJob},
    promql::{self, GrafanaValues},
    throttle::ThrottlingFront,
    world::World,
};

/// The job of the pushed series: Prometheus takes it from `service.name`.
const OTLP_JOB: &str = "domain-monitor";
/// The job that scrapes `/metrics/prometheus`.
const SCRAPE_JOB: &str = "domain-monitor-scrape";
/// `INSTANCE_ID`, which becomes `service.instance.id` and so the pushed
/// series' `instance`.
const INSTANCE: &str = "telemetry-0";
/// What the Grafana time variables stand for: the whole test fits in it.
const WINDOW: &str = "1m";
const PATIENCE: Duration = Duration::from_secs(30);

// === the dashboard ===

/// `(panel title or variable name, query)` pairs.
type Queries = Vec<(String, String)>;

/// The dashboards the chart ships: the operator's and the domain owners'.
const DASHBOARDS: [&str; 2] = ["domain-monitor.json", "domain-health.json"];

/// Every query of the dashboards: `(panel title, expression)`, panels inside
/// rows included, then the `job` and `instance` variables' queries.
fn dashboard_queries() -> (Queries, Queries) {
    let (mut panels, mut variables) = (Vec::new(), Vec::new());
    for file in DASHBOARDS {
        let (p, v) = queries_of(file);
        panels.extend(p);
        variables.extend(v);
    }
    (panels, variables)
}

/// [`dashboard_queries`] of one dashboard, its panel titles prefixed with
/// the dashboard's file name.
fn queries_of(file: &str) -> (Queries, Queries) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("charts/domain-monitor/dashboards")
        .join(file);
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("the dashboard"))
            .expect("the dashboard is JSON");
    fn walk(file: &str, panels: &[Value], out: &mut Queries) {
        for panel in panels {
            let title = panel["title"].as_str().unwrap_or("untitled");
            for target in panel["targets"].as_array().into_iter().flatten() {
                if let Some(expr) = target["expr"].as_str() {
                    out.push((format!("{file}: {title}"), expr.to_owned()));
                }
            }
            walk(
                file,
                panel["panels"].as_array().map_or(&[], Vec::as_slice),
                out,
            );
        }
    }
    let mut panels = Vec::new();
    walk(
        file,
        dashboard["panels"].as_array().expect("panels"),
        &mut panels,
    );
    let variables = dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| {
            let query = v["query"]["query"].as_str()?;
            Some((format!("${}", v["name"].as_str()?), query.to_owned()))
        })
        .collect();
    (panels, variables)
}

/// `expr` with Grafana's variables substituted: `$job` by `job` (the job of
/// one path), `$instance` by every instance, the time variables by
/// [`WINDOW`].
fn substitute(expr: &str, job: &str) -> String {
    promql::from_grafana(
        expr,
        &GrafanaValues {
            rate_interval: WINDOW,
            interval: WINDOW,
            range: WINDOW,
            job,
        },
    )
}

/// `label_values(selector, label)` split into its selector and label.
fn label_values_call(query: &str) -> (&str, &str) {
    query
        .strip_prefix("label_values(")
        .and_then(|q| q.strip_suffix(')'))
        .and_then(|q| q.rsplit_once(','))
        .map(|(selector, label)| (selector.trim(), label.trim()))
        .unwrap_or_else(|| panic!("not a label_values() query: {query}"))
}

/// One query's answer on one path.
struct Answer {
    title: String,
    promql: String,
    series: usize,
    /// Series whose value is a number other than 0 (a quantile of no
    /// observations is NaN).
    nonzero: usize,
}

/// Runs every panel query for `job`, and checks that the variable queries
/// list `job` and `instance`.
async fn run_dashboard(prometheus: &Prometheus, job: &str, instance: &str) -> Vec<Answer> {
    let (panels, variables) = dashboard_queries();
    let mut answers = Vec::new();
    for (title, expr) in panels {
        let promql = substitute(&expr, job);
        let samples = prometheus.query(&promql).await;
        answers.push(Answer {
            title,
            series: samples.len(),
            nonzero: samples
                .iter()
                .filter(|s| s.value.is_finite() && s.value != 0.0)
                .count(),
            promql,
        });
    }
    for (name, query) in variables {
        let (selector, label) = label_values_call(&query);
        let selector = substitute(selector, job);
        let values = prometheus.label_values(label, &selector).await;
        let want = if label == "job" { job } else { instance };
        let found = values.iter().any(|v| v == want);
        answers.push(Answer {
            title: format!("variable {name}"),
            promql: format!("label_values({selector}, {label}) -> {values:?}"),
            series: usize::from(found),
            nonzero: usize::from(found),
        });
    }
    answers
}

fn table(path: &str, answers: &[Answer]) -> String {
    let mut out = format!("{path}: series (of which non-zero) per dashboard query\n");
    for a in answers {
        out.push_str(&format!(
            "{:>4} ({:>3})  {} | {}\n",
            a.series, a.nonzero, a.title, a.promql
        ));
    }
    out
}

// === the two paths compared ===

type Series = BTreeSet<BTreeMap<String, String>>;

/// Every series of `job` named `domain_monitor_*` or `http_server_*` (the
/// operator's own metrics), without `job` and
/// `instance` (which differ by path).
async fn operator_series(prometheus: &Prometheus, job: &str) -> Series {
    prometheus
        .query(&format!(
            r#"{{__name__=~"(domain_monitor|http_server)_.+", job="{job}"}}"#
        ))
        .await
        .into_iter()
        .map(|Sample { mut labels, .. }| {
            labels.remove("job");
            labels.remove("instance");
            labels
        })
        .collect()
}

/// `series` with each bucket bound `le` written as one number: Prometheus 3
/// rewrites a scraped bound as a float (`le="1"` becomes `"1.0"`) while its
/// OTLP receiver keeps the exporter's (`"1"`), so bucket series of whole
/// bounds differ by path in that label only (`histogram_quantile` reads both
/// as the same bound).
fn with_numeric_le(series: &Series) -> Series {
    series
        .iter()
        .map(|labels| {
            let mut labels = labels.clone();
            if let Some(le) = labels.get_mut("le") {
                let bound: f64 = le
                    .parse()
                    .unwrap_or_else(|e| panic!("bucket bound {le}: {e}"));
                *le = bound.to_string();
            }
            labels
        })
        .collect()
}

/// The metric names of `job` outside the operator's own.
async fn other_names(prometheus: &Prometheus, job: &str) -> BTreeSet<String> {
    prometheus
        .query(&format!(
            r#"group by (__name__) ({{__name__!~"(domain_monitor|http_server)_.+", job="{job}"}})"#
        ))
        .await
        .into_iter()
        .filter_map(|s| s.labels.get("__name__").cloned())
        .collect()
}

fn names(series: &Series) -> BTreeSet<String> {
    series.iter().map(|l| l["__name__"].clone()).collect()
}

/// The metric names in a PromQL expression (the operator's only).
fn metrics_in(promql: &str) -> BTreeSet<&str> {
    promql
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("domain_monitor_") || w.starts_with("dns_lookup_duration"))
        .collect()
}

/// The DNSSEC gauges: this world signs no zone, so the DNSSEC checker
/// (when built) reports no validity or signature expiry here.
const DNSSEC_PREFIX: &str = "domain_monitor_health_dnssec_";

/// Whether Prometheus holds any DNSSEC gauge of `job`.
async fn has_dnssec_series(prometheus: &Prometheus, job: &str) -> bool {
    !prometheus
        .query(&format!(
            r#"{{__name__=~"{DNSSEC_PREFIX}.+", job="{job}"}}"#
        ))
        .await
        .is_empty()
}

/// Series of DomainHealthChecks, which this world does not run: their
/// panels are checked against real resolvers, nsd and TLS servers by
/// `tests/dhc_probes.rs`, `tests/dhc_tls.rs` and `tests/dashboard.rs`
/// (names and PromQL).
const DHC_PREFIXES: [&str; 2] = ["dns_lookup_duration", "domain_monitor_dhc_"];

/// Whether `answer` may be empty on a path: a query of the DNSSEC gauges
/// alone, only while the path holds none of them at all (once one exists,
/// its panels must show it), or of DomainHealthChecks' series alone.
fn may_be_empty(answer: &Answer, dnssec_exported: bool) -> bool {
    let metrics = metrics_in(&answer.promql);
    !metrics.is_empty()
        && metrics.iter().all(|m| {
            (!dnssec_exported && m.starts_with(DNSSEC_PREFIX))
                || DHC_PREFIXES.iter().any(|p| m.starts_with(p))
        })
}

/// Runs every dashboard query on either path until all have data (or
/// [`PATIENCE`] passed), prints what each returned and fails on any without
/// (the DNSSEC gauges aside while this world has none, and the
/// DomainHealthChecks' series: [`may_be_empty`]).
async fn assert_every_query_has_data(prometheus: &Prometheus, scrape_instance: &str) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let (pushed, scraped) = loop {
        let pushed = run_dashboard(prometheus, OTLP_JOB, INSTANCE).await;
        let scraped = run_dashboard(prometheus, SCRAPE_JOB, scrape_instance).await;
        let dnssec = has_dnssec_series(prometheus, OTLP_JOB).await
            || has_dnssec_series(prometheus, SCRAPE_JOB).await;
        let complete = pushed
            .iter()
            .chain(&scraped)
            .all(|a| a.series > 0 || may_be_empty(a, dnssec));
        if complete || tokio::time::Instant::now() >= deadline {
            break (pushed, scraped);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let report = format!(
        "{}\n{}",
        table(&format!("OTLP push (job {OTLP_JOB})"), &pushed),
        table(&format!("scrape (job {SCRAPE_JOB})"), &scraped)
    );
    println!("{report}");
    for (path, job, answers) in [
        ("OTLP", OTLP_JOB, &pushed),
        ("scrape", SCRAPE_JOB, &scraped),
    ] {
        let dnssec = has_dnssec_series(prometheus, job).await;
        let empty: Vec<_> = answers
            .iter()
            .filter(|a| a.series == 0 && !may_be_empty(a, dnssec))
            .map(|a| format!("{}: {}", a.title, a.promql))
            .collect();
        assert!(
            empty.is_empty(),
            "{path}: dashboard queries without data:\n{}\n\n{report}",
            empty.join("\n")
        );
    }
}

/// Both paths hold the same series (names and labels, `le` aside); beyond
/// them, the push adds `target_info` (the resource's attributes) and the
/// scrape Prometheus's own `up` and `scrape_*`.
async fn assert_same_series_pushed_and_scraped(prometheus: &Prometheus) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let (raw_pushed, raw_scraped) = loop {
        let pushed = operator_series(prometheus, OTLP_JOB).await;
        let scraped = operator_series(prometheus, SCRAPE_JOB).await;
        if with_numeric_le(&pushed) == with_numeric_le(&scraped)
            || tokio::time::Instant::now() >= deadline
        {
            break (pushed, scraped);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let (pushed, scraped) = (with_numeric_le(&raw_pushed), with_numeric_le(&raw_scraped));
    println!(
        "{} operator metric names, {} series on each path; {} bucket series differ only in how `le` is written",
        names(&pushed).len(),
        pushed.len(),
        raw_pushed.difference(&raw_scraped).count()
    );
    assert_eq!(
        names(&pushed),
        names(&scraped),
        "the same metric names pushed and scraped"
    );
    let exported: BTreeSet<String> = domain_monitor::metrics::prometheus_names()
        .into_iter()
        .collect();
    let unknown: Vec<_> = names(&pushed).difference(&exported).cloned().collect();
    assert!(
        unknown.is_empty(),
        "names the registry does not list: {unknown:?}"
    );
    let only_pushed: Vec<_> = pushed.difference(&scraped).collect();
    let only_scraped: Vec<_> = scraped.difference(&pushed).collect();
    assert!(
        only_pushed.is_empty() && only_scraped.is_empty(),
        "the same series pushed and scraped:\nonly pushed: {only_pushed:#?}\nonly scraped: {only_scraped:#?}"
    );
    let pushed_other = other_names(prometheus, OTLP_JOB).await;
    let scraped_other = other_names(prometheus, SCRAPE_JOB).await;
    println!("other names: pushed {pushed_other:?}, scraped {scraped_other:?}");
    assert_eq!(pushed_other, BTreeSet::from(["target_info".to_owned()]));
    assert!(
        scraped_other.contains("up")
            && scraped_other
                .iter()
                .all(|n| n == "up" || n.starts_with("scrape_")),
        "{scraped_other:?}"
    );
}

// === the scenario ===

/// The sum of what `promql` returns (0 when nothing).
async fn total(prometheus: &Prometheus, promql: &str) -> f64 {
    prometheus
        .query(&format!("sum({promql})"))
        .await
        .first()
        .map_or(0.0, |s| s.value)
}

/// Waits until the series `promql` selects add up to `at_least`.
async fn wait_for_total(prometheus: &Prometheus, operator: &Operator, promql: &str, at_least: f64) {
    wait_for(&format!("{promql} >= {at_least}"), operator, async || {
        total(prometheus, promql).await >= at_least
    })
    .await;
}

/// Waits until `condition` holds, polling every 200 ms.
async fn wait_for(what: &str, operator: &Operator, mut condition: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !condition().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {PATIENCE:?} waiting for {what}; operator log:\n{}",
            operator.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The world's operator environment, with `.slow` served by `slow_rdap` (and
/// no WHOIS), tight RDAP and WHOIS budgets, and metrics pushed to
/// `prometheus` every second.
fn operator_env(
    world: &World,
    slow_rdap: &HttpStub,
    prometheus: &Prometheus,
) -> Vec<(String, String)> {
    let overrides: BTreeMap<&str, String> = [
        (
            "RDAP_OVERRIDES",
            format!(
                "test={},slow={}",
                world.rdap.base_url(),
                slow_rdap.url("/rdap/")
            ),
        ),
        (
            "WHOIS_OVERRIDES",
            format!("test={},slow=127.0.0.1:9", world.whois.host_port()),
        ),
        // Tight budgets: the first pass waits for them.
        ("RDAP_RATE_LIMIT", "2/s".into()),
        ("WHOIS_RATE_LIMIT", "1/s".into()),
        ("REGISTRY_CONFIRM_AFTER", "2s".into()),
        (
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
            prometheus.otlp_metrics_url(),
        ),
        ("OTEL_METRIC_EXPORT_INTERVAL", "1000".into()),
    ]
    .into_iter()
    .collect();
    let mut env: Vec<(String, String)> = world
        .operator_env()
        .into_iter()
        .filter(|(k, _)| !overrides.contains_key(k.as_str()))
        .collect();
    env.extend(overrides.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    env
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dashboard_query_has_data_pushed_over_otlp_and_scraped_with_the_same_names() {
    domain_monitor::net::ensure_crypto_provider();
    let started = Instant::now();
    let (ns, world, prometheus) = tokio::join!(
        TestNamespace::new("telemetry"),
        World::start(),
        Prometheus::start()
    );
    println!("servers up after {:?}", started.elapsed());

    // The `.test` registry: registered names, one pinned as a priority.
    for name in ["taken.test", "drop.test", "pinned.test", "late.test"] {
        world.register(name, "active").await;
    }
    // The user's list: two names of `.test`, one of `.slow` (whose RDAP
    // server throttles us) and a public suffix the sync rejects.
    world.set_domain_list(
        &json!({"domains": ["taken.test", "drop.test", "throttled.slow", "co.uk"]}),
    );
    let domains = ns.domains();
    // In health mode: its per-domain gauges take both paths too.
    let mut owned = pinned("pinned", "pinned.test", true);
    owned.spec.health = Some(HealthSpec {
        criticality: Some("critical".to_owned()),
        ..HealthSpec::default()
    });
    domains
        .create(&PostParams::default(), &owned)
        .await
        .expect("create pinned.test");
    // The receiver is down at first: per-check callbacks fail.
    world.api.set("/callback", Reply::new(503));
    let slow_rdap = HttpStub::start().await;
    slow_rdap.set(
        "/rdap/domain/throttled.slow",
        Reply::new(429).header("Retry-After", "60"),
    );
    // The API server refuses status writes at first (429).
    let front = ThrottlingFront::start(client().await).await;
    front.throttle(true);

    let env = operator_env(&world, &slow_rdap, &prometheus);
    let dir = tempfile::tempdir().expect("temp dir");
    let operator =
        Operator::start_with_kubeconfig(&ns.name, INSTANCE, &env, &front.kubeconfig(dir.path()));
    let base = operator.base_url().await;
    prometheus
        .scrape(&[ScrapeJob {
            job: SCRAPE_JOB.into(),
            target: base.trim_start_matches("http://").into(),
            path: "/metrics/prometheus".into(),
        }])
        .await;

    // A status write refused, then the API server recovers.
    wait_for("a refused status write", &operator, async || {
        front.counts().throttled.load(Ordering::SeqCst) > 0
    })
    .await;
    front.throttle(false);
    // A per-check callback failed, then the receiver recovers.
    wait_for("a failed per-check callback", &operator, async || {
        world.callbacks().iter().any(|r| r.status == 503)
    })
    .await;
    world.api.set("/callback", Reply::new(200));

    for name in ["taken.test", "drop.test", "pinned"] {
        wait_for_availability(&domains, name, Availability::Registered, &operator).await;
    }
    // A counter's series is born with its first increment, which
    // `increase()` cannot see (Prometheus holds no sample before it): once
    // Prometheus holds the first transitions, one more domain makes the same
    // transition, so that "Recent transitions" shows one.
    wait_for_total(
        &prometheus,
        &operator,
        &format!(r#"domain_monitor_transitions_total{{job="{OTLP_JOB}", to="Registered"}}"#),
        3.0,
    )
    .await;
    domains
        .create(&PostParams::default(), &pinned("late", "late.test", false))
        .await
        .expect("create late.test");

    // A drop: the transition to Available and its notification.
    world.drop_domain("drop.test").await;
    wait_for_availability(&domains, "drop.test", Availability::Available, &operator).await;
    wait_for("the availability notification", &operator, async || {
        world.notifications().iter().any(|r| r.status == 200)
    })
    .await;
    wait_for_availability(&domains, "late", Availability::Registered, &operator).await;
    // A second scheduled sync (DOMAIN_API_REFRESH_INTERVAL is 10 s), pushed
    // and scraped.
    for job in [OTLP_JOB, SCRAPE_JOB] {
        let runs = format!(r#"domain_monitor_sync_runs_total{{job="{job}"}}"#);
        wait_for_total(&prometheus, &operator, &runs, 2.0).await;
    }
    println!("scenario done after {:?}", started.elapsed());

    // Each step of the scenario reached Prometheus over OTLP.
    let job = format!(r#"job="{OTLP_JOB}""#);
    let steps = [
        format!("domain_monitor_checks_total{{{job}}}"),
        format!(r#"domain_monitor_status_writes_total{{{job}}}"#),
        format!(r#"domain_monitor_reconcile_errors_total{{{job}, kind="write_status_retry"}}"#),
        format!(
            r#"domain_monitor_callbacks_total{{{job}, kind="check_result", outcome="failed"}}"#
        ),
        format!(
            r#"domain_monitor_callbacks_total{{{job}, kind="notification", outcome="delivered"}}"#
        ),
        format!(r#"domain_monitor_transitions_total{{{job}, from="Registered", to="Available"}}"#),
        format!(r#"domain_monitor_sync_runs_total{{{job}, outcome="ok"}}"#),
        format!(r#"domain_monitor_sync_rejected_entries_total{{{job}}}"#),
        format!(r#"domain_monitor_rate_limited_total{{{job}, checker="rdap"}}"#),
        format!(r#"domain_monitor_ratelimit_waits_total{{{job}}}"#),
        // pinned.test's registration, in health mode (2027-01-15, the
        // world's expiry; the lock statuses are known, not set).
        format!(
            r#"domain_monitor_health_expiry_seconds{{{job}, domain="pinned.test", name="pinned", criticality="critical"}} == bool 1800007200"#
        ),
        format!(
            r#"domain_monitor_health_locked{{{job}, domain="pinned.test", criticality="critical"}} == bool 0"#
        ),
        // Its expiryWarning, the default 30 days.
        format!(
            r#"domain_monitor_health_expiry_warning_seconds{{{job}, domain="pinned.test"}} == bool 2592000"#
        ),
    ];
    for step in &steps {
        wait_for_total(&prometheus, &operator, step, 1.0).await;
    }

    assert_every_query_has_data(&prometheus, base.trim_start_matches("http://")).await;
    assert_same_series_pushed_and_scraped(&prometheus).await;

    // Prometheus took every OTLP export (it answers 500 to delta
    // temporality, for one).
    let otlp = prometheus.otlp_requests_by_code().await;
    println!("OTLP exports answered, by HTTP status: {otlp:?}");
    assert!(
        otlp.iter()
            .any(|(code, n)| code.starts_with('2') && *n > 0.0)
            && otlp
                .iter()
                .all(|(code, n)| code.starts_with('2') || *n == 0.0),
        "Prometheus refused OTLP exports: {otlp:?}"
    );

    operator.terminate();
    println!("done after {:?}", started.elapsed());
}
