//! The chart's alert rules (README "Alerts"), checked the way Prometheus
//! meets them: the PrometheusRule rendered by helm, its spec written as a
//! rule file, and `promtool check rules` and `promtool test rules`
//! (tests/data/alerts/) run on exactly that. helm comes from `DM_HELM` (set
//! by `just test`); promtool from `DM_PROMTOOL` when set, else from PATH.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
    process::Command,
};

use domain_monitor::dhc::metrics::{CanaryLabels, CanarySince};
use serde::Deserialize;
use serde_json::Value;

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

/// The PromQL functions, aggregations and keywords the rules may use.
const PROMQL_WORDS: &[&str] = &[
    "rate",
    "increase",
    "max_over_time",
    "time",
    "sum",
    "max",
    "count",
    "histogram_quantile",
    "by",
    "and",
    "or",
    "unless",
];

/// Words after which a parenthesised list of labels follows.
const GROUPING: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

const SEVERITIES: &[&str] = &["critical", "warning", "info"];

const DEFAULT_RUNBOOK: &str = "https://github.com/domainmonitor/domain-monitor/blob/main/README.md";

// === running helm and promtool ===

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The helm binary `just test` installed (tests/tools/install-helm.sh).
fn helm_binary() -> PathBuf {
    let path = std::env::var_os("DM_HELM").map(PathBuf::from).unwrap_or_else(|| {
        panic!(
            "DM_HELM is not set: run `just test`, or `export DM_HELM=\"$(bash tests/tools/install-helm.sh | tail -n 1)\"`"
        )
    });
    assert!(
        path.is_file(),
        "DM_HELM={} does not exist: run `bash tests/tools/install-helm.sh`",
        path.display()
    );
    path
}

/// `DM_PROMTOOL` (the Prometheus 3 the tests build), else promtool on PATH.
fn promtool_binary() -> PathBuf {
    std::env::var_os("DM_PROMTOOL")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("promtool"))
}

/// Runs `command`: its stdout on success, else what it said (stderr, stdout).
fn run(command: &mut Command) -> Result<String, String> {
    let program = command.get_program().to_string_lossy().into_owned();
    let output = command.output().unwrap_or_else(|e| {
        panic!(
            "cannot run {program}: {e} (promtool: `apt-get install -y prometheus` or DM_PROMTOOL)"
        )
    });
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if output.status.success() {
        Ok(stdout)
    } else {
        Err(format!(
            "{program} failed ({}):\n{}{stdout}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

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

/// The metric and label names a PromQL expression uses; any other word that
/// is not in [`PROMQL_WORDS`] is an error.
fn names_in(promql: &str) -> Result<(BTreeSet<String>, BTreeSet<String>), String> {
    let chars: Vec<char> = promql.chars().collect();
    let (mut metrics, mut labels) = (BTreeSet::new(), BTreeSet::new());
    let (mut in_braces, mut in_label_list, mut after_grouping) = (false, false, false);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
        } else if c == '[' {
            // A range: `[15m]`.
            while i < chars.len() && chars[i] != ']' {
                i += 1;
            }
        } else if c == '{' || c == '}' {
            in_braces = c == '{';
            i += 1;
        } else if c == '(' {
            in_label_list = after_grouping;
            after_grouping = false;
            i += 1;
        } else if c == ')' {
            in_label_list = false;
            i += 1;
        } else if c.is_ascii_digit() || c == '.' {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || "_:".contains(chars[i])) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            if in_braces || in_label_list {
                labels.insert(word);
            } else if PROMQL_WORDS.contains(&word.as_str()) {
                after_grouping = GROUPING.contains(&word.as_str());
            } else if word.starts_with("domain_monitor_")
                || word.starts_with("dns_lookup_duration_seconds")
            {
                metrics.insert(word);
            } else {
                return Err(format!(
                    "unknown word {word:?}: a metric not of the operator, or a PromQL word to add to PROMQL_WORDS"
                ));
            }
        } else {
            i += 1;
        }
    }
    Ok((metrics, labels))
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

#[test]
fn the_alerts_use_only_metrics_the_operator_exports() {
    let exported = exported_names();
    for r in rules_of(&enabled()) {
        let alert = r["alert"].as_str().unwrap();
        let expr = r["expr"].as_str().unwrap();
        let (metrics, labels) = names_in(expr).unwrap_or_else(|e| panic!("{alert}: {e}\n{expr}"));
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

#[test]
fn health_alerts_name_the_domain_and_carry_its_criticality() {
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
        let (metrics, _) = names_in(expr).unwrap();
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
/// anything else).
fn positive_matchers(promql: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut rest = promql;
    while let Some(quote) = rest.find('"') {
        let (before, after) = rest.split_at(quote);
        let after = &after[1..];
        let end = after.find('"').unwrap_or(after.len());
        let value = &after[..end];
        rest = after.get(end + 1..).unwrap_or("");
        let operator = before.trim_end();
        let (label_part, regex) = if let Some(l) = operator.strip_suffix("=~") {
            (l, true)
        } else if let Some(l) = operator.strip_suffix('=') {
            if l.ends_with('!') {
                continue;
            }
            (l, false)
        } else {
            continue;
        };
        let label: String = label_part
            .trim_end()
            .chars()
            .rev()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let values: Vec<&str> = if regex {
            value.split('|').collect()
        } else {
            vec![value]
        };
        found.extend(values.into_iter().map(|v| (label.clone(), v.to_owned())));
    }
    found
}

#[test]
fn the_label_values_the_alerts_match_are_ones_the_operator_emits() {
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
    let exposition = domain_monitor::metrics::prometheus::render(
        &metrics,
        &domain_monitor::metrics::Snapshot::default(),
    );
    let mut checked = 0;
    for r in rules_of(&enabled()) {
        let alert = r["alert"].as_str().unwrap();
        let expr = r["expr"].as_str().unwrap();
        for (label, value) in positive_matchers(expr) {
            assert!(
                exposition.contains(&format!("{label}=\"{value}\"")),
                "{alert}: {label}=\"{value}\" is no series the operator emits:\n{expr}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 6, "only {checked} matchers found");
    assert_eq!(
        positive_matchers(r#"x{kind="notification",outcome=~"retry|rejected",result!="skipped"}"#),
        [
            ("kind".to_owned(), "notification".to_owned()),
            ("outcome".to_owned(), "retry".to_owned()),
            ("outcome".to_owned(), "rejected".to_owned())
        ]
    );
}

#[test]
fn the_name_scanner_tells_metrics_labels_and_unknown_words_apart() {
    let (metrics, labels) = names_in(
        r#"sum by (namespace, job) (rate(domain_monitor_a_total{kind=~"x|y", outcome!="z{w}"}[15m])) / max(domain_monitor_b) > 0.5"#,
    )
    .unwrap();
    assert_eq!(
        metrics,
        BTreeSet::from(["domain_monitor_a_total", "domain_monitor_b"].map(str::to_owned))
    );
    assert_eq!(
        labels,
        BTreeSet::from(["namespace", "job", "kind", "outcome"].map(str::to_owned))
    );
    assert!(names_in("up == 0").is_err());
    assert!(names_in("absent(domain_monitor_b)").is_err());
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
