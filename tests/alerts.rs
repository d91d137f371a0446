//! The chart's alert rules (README "Alerts"), checked the way Prometheus
//! meets them: the PrometheusRule rendered by helm, its spec written as a
//! rule file, and `promtool check rules` and `promtool test rules`
//! (tests/data/alerts/) run on exactly that. helm comes from `DM_HELM` (set
//! by `just test`); promtool from `DM_PROMTOOL` when set, else from PATH.
//! The metric, label and function names of the rules' PromQL are read by a
//! real Prometheus's parser (`DM_PROMETHEUS`, tests/support/promql.rs).

mod support;

use std::{
    collections::{BTreeMap, BTreeSet},
    process::Command,
};

use domain_monitor::{
    metrics::dhc::{CanaryLabels, CanarySince, DnsLookupLabels},
    resource::dhc::{LookupOutcome, ProbeRecordType},
};
use serde::Deserialize;
use serde_json::Value;
use support::{
    prometheus::Prometheus,
    promql::Names,
    tools::{helm_binary, promtool_binary, repo, run},
};

/// Labels the rules may use: the operator's (README "Metrics, traces and
/// logs") and those Prometheus adds (`job`, `instance`, and `namespace` from
/// a ServiceMonitor).
const LABEL_NAMES: &[&str] = &[
    "namespace",
    "job",
    "instance",
    "checker",
    "result",
    "kind",
    "outcome",
    "reason",
    // The health gauges' (per domain in health mode).
    "name",
    "domain",
    "criticality",
    // DomainHealthChecks' series.
    "resolver",
    "le",
    "server_address",
    "server_port",
    "tls_client_server_name",
    "since",
];

/// The PromQL functions, aggregations and set operators the rules may use.
const PROMQL_WORDS: &[&str] = &[
    "rate",
    "increase",
    "max_over_time",
    "time",
    "sum",
    "max",
    "count",
    "histogram_quantile",
    "and",
    "or",
    "unless",
];

const SEVERITIES: &[&str] = &["critical", "warning", "info"];

const DEFAULT_RUNBOOK: &str = "https://github.com/domainmonitor/domain-monitor/blob/main/README.md";

// === running helm and promtool ===

/// The objects `helm template dm <chart> -n ops <extra…>` renders.
fn render(extra: &[&str]) -> Result<Vec<Value>, String> {
    let chart = repo().join("charts/domain-monitor");
    let yaml = run(Command::new(helm_binary())
        .args(["template", "dm"])
        .arg(&chart)
        .args(["--namespace", "ops"])
        .args(extra))?;
    Ok(serde_yaml::Deserializer::from_str(&yaml)
        .map(|doc| Value::deserialize(doc).expect("helm renders YAML"))
        .filter(|doc| !doc.is_null())
        .collect())
}

/// The one PrometheusRule the chart renders with `extra`.
fn prometheus_rule(extra: &[&str]) -> Value {
    let objects = render(extra).unwrap_or_else(|e| panic!("helm template {extra:?}:\n{e}"));
    let mut rules: Vec<Value> = objects
        .into_iter()
        .filter(|o| o["kind"] == "PrometheusRule")
        .collect();
    assert_eq!(rules.len(), 1, "one PrometheusRule with {extra:?}");
    rules.remove(0)
}

fn enabled() -> Value {
    prometheus_rule(&["--set", "prometheusRule.enabled=true"])
}

fn custom() -> Value {
    let values = repo().join("tests/data/alerts/custom.values.yaml");
    prometheus_rule(&["--values", values.to_str().unwrap()])
}

/// Every rule of every group.
fn rules_of(rule: &Value) -> Vec<&Value> {
    rule["spec"]["groups"]
        .as_array()
        .expect("spec.groups")
        .iter()
        .flat_map(|g| g["rules"].as_array().expect("a group's rules"))
        .collect()
}

fn alert_names(rule: &Value) -> BTreeSet<String> {
    rules_of(rule)
        .iter()
        .map(|r| r["alert"].as_str().expect("an alerting rule").to_owned())
        .collect()
}

/// A rendered rule file beside promtool's unit tests, in a directory of its
/// own (the unit tests name it `domain-monitor.rules.yaml`).
struct RuleFile {
    dir: tempfile::TempDir,
}

impl RuleFile {
    fn of(rule: &Value) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let spec = serde_yaml::to_string(&rule["spec"]).unwrap();
        std::fs::write(dir.path().join("domain-monitor.rules.yaml"), spec).unwrap();
        Self { dir }
    }

    fn promtool(&self, args: &[&str]) -> Result<String, String> {
        run(Command::new(promtool_binary())
            .args(args)
            .current_dir(self.dir.path()))
    }

    fn check(&self) -> Result<String, String> {
        self.promtool(&["check", "rules", "domain-monitor.rules.yaml"])
    }

    /// `promtool test rules` on `tests/data/alerts/<tests>`.
    fn test(&self, tests: &str) -> Result<String, String> {
        std::fs::copy(
            repo().join("tests/data/alerts").join(tests),
            self.dir.path().join(tests),
        )
        .unwrap();
        self.promtool(&["test", "rules", tests])
    }
}

/// Per alert, whether `tests` (a promtool unit-test file) expects it to fire
/// somewhere and to stay quiet somewhere.
fn coverage(tests: &str) -> BTreeMap<String, (bool, bool)> {
    let path = repo().join("tests/data/alerts").join(tests);
    let file: Value = serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut seen: BTreeMap<String, (bool, bool)> = BTreeMap::new();
    for group in file["tests"].as_array().expect("tests") {
        for case in group["alert_rule_test"].as_array().into_iter().flatten() {
            let alert = case["alertname"].as_str().unwrap().to_owned();
            let fires = case["exp_alerts"]
                .as_array()
                .is_some_and(|alerts| !alerts.is_empty());
            let entry = seen.entry(alert).or_default();
            if fires {
                entry.0 = true;
            } else {
                entry.1 = true;
            }
        }
    }
    seen
}

// === the PromQL of the rules ===

/// The metric and label names a PromQL expression uses, as Prometheus parses
/// it; a metric not of the operator, or a function or operator not in
/// [`PROMQL_WORDS`], is an error.
async fn names_in(
    prometheus: &Prometheus,
    promql: &str,
) -> Result<(BTreeSet<String>, BTreeSet<String>), String> {
    let Names {
        metrics,
        labels,
        functions,
        ..
    } = support::promql::names_in(prometheus, promql).await?;
    if let Some(word) = functions
        .iter()
        .find(|f| !PROMQL_WORDS.contains(&f.as_str()))
    {
        return Err(format!(
            "unknown word {word:?}: a PromQL function or operator to add to PROMQL_WORDS"
        ));
    }
    if let Some(word) = metrics.iter().find(|m| {
        !(m.starts_with("domain_monitor_") || m.starts_with("dns_lookup_duration_seconds"))
    }) {
        return Err(format!(
            "unknown word {word:?}: a metric not of the operator"
        ));
    }
    Ok((metrics, labels))
}

/// A Prometheus whose parser reads the rules' PromQL.
async fn prometheus() -> Prometheus {
    domain_monitor::net::ensure_crypto_provider();
    Prometheus::start().await
}

/// Every series name the operator exports to Prometheus.
fn exported_names() -> BTreeSet<String> {
    domain_monitor::metrics::prometheus_names()
        .into_iter()
        .collect()
}

// === the tests ===

#[test]
fn the_rule_is_off_by_default_and_carries_the_selector_labels() {
    let defaults = render(&[]).unwrap();
    assert!(
        defaults.iter().all(|o| o["kind"] != "PrometheusRule"),
        "no PrometheusRule unless prometheusRule.enabled"
    );

    let rule = prometheus_rule(&[
        "--set",
        "prometheusRule.enabled=true,prometheusRule.labels.release=kube-prometheus-stack",
    ]);
    assert_eq!(rule["apiVersion"], "monitoring.coreos.com/v1");
    let metadata = &rule["metadata"];
    assert_eq!(metadata["name"], "dm-domain-monitor");
    assert_eq!(metadata["namespace"], "ops");
    assert_eq!(
        metadata["labels"]["release"], "kube-prometheus-stack",
        "the label Prometheus selects rules by: {metadata}"
    );
    assert_eq!(metadata["labels"]["app.kubernetes.io/instance"], "dm");
    assert_eq!(
        metadata["labels"]["app.kubernetes.io/name"],
        "domain-monitor"
    );
    for group in rule["spec"]["groups"].as_array().unwrap() {
        assert!(
            group["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("domain-monitor.")),
            "{group}"
        );
        assert!(!group["rules"].as_array().unwrap().is_empty(), "{group}");
    }
}

#[test]
fn every_alert_says_how_bad_what_broke_and_what_to_do() {
    let rule = enabled();
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let alerts_section = readme
        .split_once("\n## Alerts\n")
        .map(|(_, rest)| rest.split("\n## ").next().unwrap())
        .expect("README has an \"## Alerts\" section");
    let mut names = BTreeSet::new();
    for r in rules_of(&rule) {
        let alert = r["alert"]
            .as_str()
            .unwrap_or_else(|| panic!("only alerting rules: {r}"));
        assert!(names.insert(alert), "{alert} twice");
        assert!(alert.starts_with("DomainMonitor"), "{alert}");
        let labels = &r["labels"];
        let severity = labels["severity"].as_str().unwrap_or_default();
        assert!(SEVERITIES.contains(&severity), "{alert}: severity {labels}");
        let symptom = labels["symptom"].as_str().unwrap_or_default();
        assert!(
            !symptom.is_empty()
                && symptom.len() <= 20
                && symptom
                    .split('-')
                    .all(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase())),
            "{alert}: symptom is a short word, {labels}"
        );
        let annotations = &r["annotations"];
        for key in ["summary", "description", "runbook"] {
            assert!(
                annotations[key].as_str().is_some_and(|t| t.len() > 20),
                "{alert}: no {key} annotation: {annotations}"
            );
        }
        assert_eq!(
            annotations["runbook_url"],
            format!("{DEFAULT_RUNBOOK}#{}", alert.to_lowercase()),
            "{alert}: the runbook is its section of the README"
        );
        assert!(
            alerts_section.contains(&format!("\n### {alert}\n")),
            "README \"Alerts\" has no \"### {alert}\" section (the runbook_url anchor)"
        );
        assert!(
            alerts_section.contains(&format!("`{severity}`"))
                && alerts_section.contains(&format!("`{symptom}`")),
            "README \"Alerts\" names {alert}'s severity and symptom"
        );
    }
    assert!(names.len() >= 7, "{names:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_alerts_use_only_metrics_the_operator_exports() {
    let prometheus = prometheus().await;
    let exported = exported_names();
    for r in rules_of(&enabled()) {
        let alert = r["alert"].as_str().unwrap();
        let expr = r["expr"].as_str().unwrap();
        let (metrics, labels) = names_in(&prometheus, expr)
            .await
            .unwrap_or_else(|e| panic!("{alert}: {e}\n{expr}"));
        assert!(!metrics.is_empty(), "{alert}: no metric in {expr}");
        for metric in &metrics {
            assert!(
                exported.contains(metric),
                "{alert}: {metric} is not a metric the operator exports:\n{expr}"
            );
        }
        for label in &labels {
            assert!(
                LABEL_NAMES.contains(&label.as_str()),
                "{alert}: unknown label {label}:\n{expr}"
            );
        }
        // One alert per installation (or per checker), not one per replica.
        assert!(
            expr.contains("by (namespace, job"),
            "{alert}: sums by namespace and job:\n{expr}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_alerts_name_the_domain_and_carry_its_criticality() {
    let prometheus = prometheus().await;
    let rule = enabled();
    let health: Vec<&Value> = rule["spec"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["name"] == "domain-monitor.health")
        .flat_map(|g| g["rules"].as_array().unwrap())
        .collect();
    assert!(health.len() >= 5, "the health alerts: {health:?}");
    for r in health {
        let alert = r["alert"].as_str().unwrap();
        let expr = r["expr"].as_str().unwrap();
        // Every aggregation keeps the domain's labels: one alert per domain,
        // with the criticality its series carries (not a fixed label).
        let groupings = expr.matches(" by (").count();
        assert!(groupings > 0, "{alert}: {expr}");
        assert_eq!(
            expr.matches("by (namespace, job, name, domain, criticality)")
                .count(),
            groupings,
            "{alert}: every aggregation is per domain:\n{expr}"
        );
        let (metrics, _) = names_in(&prometheus, expr).await.unwrap();
        assert!(
            metrics
                .iter()
                .all(|m| m.starts_with("domain_monitor_health_")),
            "{alert}: only health-mode series: {metrics:?}"
        );
        assert!(
            r["labels"].get("criticality").is_none(),
            "{alert}: criticality comes from the series, not the rule"
        );
    }
}

/// The `label="value"` and `label=~"a|b"` matchers of `promql`, as
/// (label, value) pairs (negative matchers are left out: they match
/// anything else), as Prometheus parses it.
async fn positive_matchers(prometheus: &Prometheus, promql: &str) -> Vec<(String, String)> {
    support::promql::names_in(prometheus, promql)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .positive_matchers()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_label_values_the_alerts_match_are_ones_the_operator_emits() {
    let prometheus = prometheus().await;
    // A fresh registry already holds every series an alert compares
    // (counters an alert watches start at zero).
    // Histograms start empty (OTLP has no empty histogram point): one
    // canary sample of each `since` stands for the checks that record them.
    let metrics = domain_monitor::metrics::Metrics::new();
    for since in [CanarySince::Publish, CanarySince::Authoritative] {
        let labels = CanaryLabels {
            namespace: "web",
            name: "shop",
            resolver: "a",
            since,
        };
        metrics
            .canary_delay
            .record(labels, std::time::Duration::from_secs(60));
    }
    // And one probe of each outcome for the lookup histogram, whose
    // outcomes the resolver alerts pick.
    for outcome in LookupOutcome::ALL {
        let labels = DnsLookupLabels {
            namespace: "web",
            name: "shop",
            question: "www.shop.example",
            record_type: ProbeRecordType::A,
            resolver: "a",
            outcome,
        };
        metrics
            .dns_lookup_duration
            .record(labels, std::time::Duration::from_millis(20));
    }
    let exposition = domain_monitor::metrics::prometheus::render(
        &metrics,
        &domain_monitor::metrics::Snapshot::default(),
    );
    let mut checked = 0;
    for r in rules_of(&enabled()) {
        let alert = r["alert"].as_str().unwrap();
        let expr = r["expr"].as_str().unwrap();
        for (label, value) in positive_matchers(&prometheus, expr).await {
            assert!(
                exposition.contains(&format!("{label}=\"{value}\"")),
                "{alert}: {label}=\"{value}\" is no series the operator emits:\n{expr}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 6, "only {checked} matchers found");
    assert_eq!(
        positive_matchers(
            &prometheus,
            r#"x{kind="notification",outcome=~"retry|rejected",result!="skipped"}"#
        )
        .await,
        [
            ("kind".to_owned(), "notification".to_owned()),
            ("outcome".to_owned(), "retry".to_owned()),
            ("outcome".to_owned(), "rejected".to_owned())
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_parsed_names_tell_metrics_labels_and_unknown_words_apart() {
    let prometheus = prometheus().await;
    let (metrics, labels) = names_in(
        &prometheus,
        r#"sum by (namespace, job) (rate(domain_monitor_a_total{kind=~"x|y", outcome!="z{w}"}[15m])) / max(domain_monitor_b) > 0.5"#,
    )
    .await
    .unwrap();
    assert_eq!(
        metrics,
        BTreeSet::from(["domain_monitor_a_total", "domain_monitor_b"].map(str::to_owned))
    );
    assert_eq!(
        labels,
        BTreeSet::from(["namespace", "job", "kind", "outcome"].map(str::to_owned))
    );
    assert!(names_in(&prometheus, "up == 0").await.is_err());
    assert!(
        names_in(&prometheus, "absent(domain_monitor_b)")
            .await
            .is_err()
    );
    assert!(
        names_in(&prometheus, "sum(rate(domain_monitor_b[5m])")
            .await
            .is_err()
    );
}

#[test]
fn promtool_accepts_the_rules_and_every_alert_fires_and_stays_quiet_in_its_tests() {
    let rule = enabled();
    let file = RuleFile::of(&rule);
    let checked = file
        .check()
        .unwrap_or_else(|e| panic!("promtool check rules:\n{e}"));
    let count = rules_of(&rule).len();
    assert!(
        checked.contains(&format!("SUCCESS: {count} rules found")),
        "{checked}"
    );
    file.test("default.test.yaml")
        .unwrap_or_else(|e| panic!("promtool test rules default.test.yaml:\n{e}"));

    let coverage = coverage("default.test.yaml");
    for alert in alert_names(&rule) {
        assert_eq!(
            coverage.get(&alert),
            Some(&(true, true)),
            "default.test.yaml: {alert} needs a case where it fires and one where it does not \
             (fires, quiet): {coverage:?}"
        );
    }
}

#[test]
fn custom_thresholds_change_what_fires() {
    let defaults = RuleFile::of(&enabled());
    let custom_rule = custom();
    let custom = RuleFile::of(&custom_rule);
    custom
        .check()
        .unwrap_or_else(|e| panic!("promtool check rules, custom values:\n{e}"));
    custom
        .test("custom.test.yaml")
        .unwrap_or_else(|e| panic!("promtool test rules custom.test.yaml:\n{e}"));

    // The same inputs fire differently under the other thresholds: each file
    // fails against the other rendering, on its expectations (not on a
    // broken file).
    for (file, rules, other) in [
        ("custom.test.yaml", &defaults, "the default values"),
        ("default.test.yaml", &custom, "custom.values.yaml"),
    ] {
        let failure = rules
            .test(file)
            .expect_err(&format!("{file} must fail with {other}"));
        assert!(
            failure.contains("alertname: DomainMonitor") && failure.contains("got:"),
            "{file} with {other} fails on its expectations:\n{failure}"
        );
    }
    // alertLabels reach every alert without replacing its own severity.
    for r in rules_of(&custom_rule) {
        assert_eq!(r["labels"]["team"], "domains", "{r}");
        assert_ne!(r["labels"]["severity"], "page", "{r}");
    }
}

#[test]
fn the_schema_rejects_thresholds_that_cannot_work() {
    for (set, error) in [
        (
            "prometheusRule.thresholds.checkErrorRatio=1.5",
            "at '/prometheusRule/thresholds/checkErrorRatio'",
        ),
        (
            "prometheusRule.thresholds.shardsUnownedMinutes=0",
            "at '/prometheusRule/thresholds/shardsUnownedMinutes'",
        ),
        (
            "prometheusRule.thresholds.dnssecSignatureExpiryDays=0",
            "at '/prometheusRule/thresholds/dnssecSignatureExpiryDays'",
        ),
        (
            "prometheusRule.thresholds.throttleMinutes=5",
            "additional properties 'throttleMinutes' not allowed",
        ),
        (
            r#"prometheusRule.runbookBaseUrl="https://wiki.example.com/dm#alerts""#,
            "at '/prometheusRule/runbookBaseUrl'",
        ),
    ] {
        // --set-json: --set would pass 1.5 as a string.
        let failure = render(&["--set-json", set])
            .map(|_| ())
            .expect_err(&format!("--set-json {set} must be rejected"));
        assert!(
            failure.contains("values don't meet the specifications of the schema")
                && failure.contains(error),
            "--set-json {set}: expected {error:?} in:\n{failure}"
        );
    }
}
