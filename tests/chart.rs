//! The Helm chart, the plain manifests and the Grafana dashboard, checked the
//! way a user meets them: rendered by helm, applied to a real API server, and
//! the operator run with the chart's ServiceAccount token, environment and
//! Secret. helm comes from `DM_HELM` and promtool from `DM_PROMTOOL` (both set
//! by `just test`; promtool falls back to the one on PATH); the dashboard's
//! PromQL is read by a real Prometheus's parser (`DM_PROMETHEUS`,
//! tests/support/promql.rs).

mod support;

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use domain_monitor::{
    resource::dhc::{DomainHealthCheck, ProbeRecordType},
    resource::{Availability, MonitoredDomain, MonitoredDomainSpec},
};
use k8s_openapi::api::{
    apps::v1::Deployment, coordination::v1::Lease, core::v1::Secret, events::v1::Event,
};
use kube::{
    Api, Client, ResourceExt,
    api::{ListParams, PostParams},
};
use serde::Deserialize;
use serde_json::{Value, json};
use support::{
    cluster::{
        AuditedRequest, PrivateServer, TestNamespace, create_namespace, install_crd,
        kubeconfig_path,
    },
    dhc::{check as health_check, install_dhc_crd, record, resolver},
    operator::{Operator, availability, wait_for_availability},
    prometheus::Prometheus,
    promql::{GrafanaValues, Names, from_grafana, names_in},
    tools::{helm_binary, promtool_binary, repo, run},
    world::{TOKEN, World},
};

const PATIENCE: Duration = Duration::from_secs(60);

/// The label names of the operator's metrics, as Prometheus spells them,
/// plus `le` of histogram buckets and the `job`/`instance` that Prometheus
/// adds.
fn label_names() -> BTreeSet<String> {
    domain_monitor::metrics::INSTRUMENTS
        .iter()
        .flat_map(|i| i.prometheus_labels())
        .chain(["le", "job", "instance"].map(String::from))
        .collect()
}

// === running helm, kubectl and promtool ===

fn chart() -> String {
    repo().join("charts/domain-monitor").display().to_string()
}

fn helm(args: &[&str]) -> Result<String, String> {
    run(Command::new(helm_binary()).args(args))
}

/// `helm template <release> <chart> -n <namespace> <extra…>`.
fn template(release: &str, namespace: &str, extra: &[&str]) -> Result<String, String> {
    let chart = chart();
    let mut args = vec![
        "template",
        release,
        chart.as_str(),
        "--namespace",
        namespace,
    ];
    args.extend_from_slice(extra);
    helm(&args)
}

fn kubectl(kubeconfig: &Path, args: &[&str]) -> Result<String, String> {
    run(Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args))
}

/// The objects of a multi-document YAML stream.
fn documents(yaml: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(yaml)
        .map(|doc| Value::deserialize(doc).expect("valid YAML document"))
        .filter(|doc| !doc.is_null())
        .collect()
}

fn of_kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

fn one<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    match of_kind(docs, kind).as_slice() {
        [doc] => doc,
        other => panic!("expected one {kind}, found {}", other.len()),
    }
}

fn container(deployment: &Value) -> &Value {
    &deployment["spec"]["template"]["spec"]["containers"][0]
}

fn env_entry<'a>(deployment: &'a Value, name: &str) -> Option<&'a Value> {
    container(deployment)["env"]
        .as_array()
        .and_then(|env| env.iter().find(|e| e["name"] == name))
}

fn env_names(deployment: &Value) -> BTreeSet<String> {
    container(deployment)["env"]
        .as_array()
        .map(|env| {
            env.iter()
                .filter_map(|e| e["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn write_json(dir: &Path, name: &str, value: &Value) -> String {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_vec_pretty(value).unwrap()).unwrap();
    path.display().to_string()
}

// === the chart rendered ===

#[test]
fn the_chart_lints_and_renders_a_hardened_operator() {
    let chart = chart();
    let every_option = "serviceMonitor.enabled=true,podDisruptionBudget.enabled=true,\
networkPolicy.enabled=true,secrets.apiAuthToken=tok-3f9a,replicas=2";
    helm(&["lint", "--strict", &chart]).expect("helm lint with the default values");
    helm(&["lint", "--strict", &chart, "--set", every_option]).expect("helm lint, every option");

    let defaults = documents(&template("dm", "ops", &[]).unwrap());
    let kinds: BTreeSet<&str> = defaults.iter().filter_map(|d| d["kind"].as_str()).collect();
    assert_eq!(
        kinds,
        BTreeSet::from([
            "ClusterRole",
            "ClusterRoleBinding",
            "ConfigMap",
            "Deployment",
            "Role",
            "RoleBinding",
            "Service",
            "ServiceAccount"
        ]),
        "the default install: no Secret without secrets, optional objects off"
    );

    let docs = documents(&template("dm", "ops", &["--set", every_option]).unwrap());
    let deployment = one(&docs, "Deployment");
    let pod = &deployment["spec"]["template"]["spec"];
    let main = container(deployment);
    assert_eq!(deployment["spec"]["replicas"], 2);
    assert_eq!(main["args"], json!(["run"]));
    assert_eq!(
        main["ports"],
        json!([{"name": "http", "containerPort": 8000, "protocol": "TCP"}])
    );
    assert_eq!(
        main["livenessProbe"]["httpGet"],
        json!({"path": "/health", "port": "http"})
    );
    assert_eq!(
        main["readinessProbe"]["httpGet"],
        json!({"path": "/ready", "port": "http"})
    );
    assert_eq!(
        env_entry(deployment, "INSTANCE_ID").unwrap()["valueFrom"],
        json!({"fieldRef": {"fieldPath": "metadata.name"}})
    );
    assert_eq!(
        env_entry(deployment, "POD_NAMESPACE").unwrap()["valueFrom"],
        json!({"fieldRef": {"fieldPath": "metadata.namespace"}})
    );
    assert!(main["resources"]["requests"]["cpu"].is_string());
    assert!(main["resources"]["limits"]["memory"].is_string());
    let security = &main["securityContext"];
    assert_eq!(security["runAsNonRoot"], true);
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(security["allowPrivilegeEscalation"], false);
    assert_eq!(security["capabilities"]["drop"], json!(["ALL"]));
    assert_eq!(security["seccompProfile"]["type"], "RuntimeDefault");
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    assert_eq!(
        pod["serviceAccountName"],
        one(&docs, "ServiceAccount")["metadata"]["name"]
    );

    // The Service, the ServiceMonitor and the PodDisruptionBudget find the pods.
    let pod_labels = &deployment["spec"]["template"]["metadata"]["labels"];
    let selects_pods = |selector: &Value| {
        let selector = selector.as_object().expect("a label selector");
        !selector.is_empty() && selector.iter().all(|(k, v)| pod_labels[k] == *v)
    };
    let service = one(&docs, "Service");
    assert!(selects_pods(&service["spec"]["selector"]));
    assert_eq!(
        service["spec"]["ports"],
        json!([{"name": "http", "port": 8000, "targetPort": "http", "protocol": "TCP"}])
    );
    let monitor = one(&docs, "ServiceMonitor");
    assert_eq!(
        monitor["spec"]["endpoints"][0]["path"],
        "/metrics/prometheus"
    );
    assert_eq!(monitor["spec"]["endpoints"][0]["port"], "http");
    assert_eq!(
        monitor["spec"]["endpoints"][0]["honorLabels"], true,
        "the health gauges' namespace label (the resource's) is kept, not renamed exported_namespace"
    );
    let service_labels = &service["metadata"]["labels"];
    assert!(
        monitor["spec"]["selector"]["matchLabels"]
            .as_object()
            .unwrap()
            .iter()
            .all(|(k, v)| service_labels[k] == *v)
    );
    assert!(selects_pods(
        &one(&docs, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"]
    ));

    // The NetworkPolicy lets in the HTTP surface and out DNS, HTTP(S), WHOIS
    // and the API server.
    let policy = one(&docs, "NetworkPolicy");
    assert!(selects_pods(&policy["spec"]["podSelector"]["matchLabels"]));
    assert_eq!(
        policy["spec"]["ingress"][0]["ports"],
        json!([{"port": 8000, "protocol": "TCP"}])
    );
    let egress: BTreeSet<String> = policy["spec"]["egress"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|rule| rule["ports"].as_array().cloned().unwrap_or_default())
        .map(|p| format!("{}/{}", p["port"], p["protocol"].as_str().unwrap()))
        .collect();
    for port in [
        "53/UDP", "53/TCP", "80/TCP", "443/TCP", "43/TCP", "6443/TCP",
    ] {
        assert!(egress.contains(port), "egress to {port}: {egress:?}");
    }

    // The token goes into a Secret the container reads; the Deployment never holds it.
    let secret = one(&docs, "Secret");
    assert_eq!(secret["data"]["API_AUTH_TOKEN"], "dG9rLTNmOWE="); // base64 of tok-3f9a
    assert_eq!(
        env_entry(deployment, "API_AUTH_TOKEN").unwrap()["valueFrom"]["secretKeyRef"],
        json!({"name": secret["metadata"]["name"], "key": "API_AUTH_TOKEN"})
    );
    assert!(!deployment.to_string().contains("tok-3f9a"));
    assert!(
        deployment["spec"]["template"]["metadata"]["annotations"]["checksum/secret"].is_string(),
        "pods restart when the chart's Secret changes"
    );

    // The dashboard ships as a ConfigMap Grafana's sidecar picks up.
    let dashboard = docs
        .iter()
        .find(|d| {
            d["kind"] == "ConfigMap" && d["metadata"]["name"] == "dm-domain-monitor-dashboard"
        })
        .expect("the dashboard's ConfigMap");
    assert_eq!(dashboard["metadata"]["labels"]["grafana_dashboard"], "1");
    let shipped: Value =
        serde_json::from_str(dashboard["data"]["domain-monitor.json"].as_str().unwrap()).unwrap();
    assert_eq!(shipped, dashboard_json());
}

#[test]
fn the_schema_rejects_wrong_types_and_unknown_keys() {
    for (set, error) in [
        ("replicas=abc", "at '/replicas': got string, want integer"),
        ("bogus=1", "additional properties 'bogus' not allowed"),
        (
            "config.checkIntervall=1h",
            "at '/config': additional properties 'checkIntervall' not allowed",
        ),
        ("config.shards=many", "at '/config/shards'"),
        (
            "config.confidenceThreshold=1.5",
            "at '/config/confidenceThreshold'",
        ),
        ("config.dnsRateLimit=fast", "at '/config/dnsRateLimit'"),
        ("otel.endpoint=collector:4318", "at '/otel/endpoint'"),
        (
            "secrets.token=x",
            "at '/secrets': additional properties 'token'",
        ),
        (
            "securityContext.readOnlyRootFileSystem=false",
            "additional properties 'readOnlyRootFileSystem' not allowed",
        ),
    ] {
        let failure = template("dm", "ops", &["--set", set])
            .map(|_| ())
            .expect_err(&format!("--set {set} must be rejected"));
        assert!(
            failure.contains("values don't meet the specifications of the schema")
                && failure.contains(error),
            "--set {set}: expected {error:?} in:\n{failure}"
        );
    }
    // A bare number of seconds is a duration too.
    let docs = documents(&template("dm", "ops", &["--set", "config.checkInterval=300"]).unwrap());
    assert_eq!(
        env_entry(one(&docs, "Deployment"), "CHECK_INTERVAL").unwrap()["value"],
        "300"
    );
    // Settings that cannot work together fail at install time, saying why.
    let failure = template(
        "dm",
        "ops",
        &["--set", "config.apiCallbackUrl=https://cb.example/x"],
    )
    .expect_err("a callback URL without a token");
    assert!(failure.contains("secrets.apiAuthToken"), "{failure}");

    // Every object of the schema that lists its keys allows no others.
    fn closed(schema: &Value, path: &str, open: &mut Vec<String>) {
        if let Some(properties) = schema["properties"].as_object() {
            if schema["additionalProperties"] != false {
                open.push(path.to_owned());
            }
            for (key, child) in properties {
                closed(child, &format!("{path}.{key}"), open);
            }
        }
        if schema["items"].is_object() {
            closed(&schema["items"], &format!("{path}[]"), open);
        }
    }
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("charts/domain-monitor/values.schema.json")).unwrap(),
    )
    .unwrap();
    let mut open = Vec::new();
    closed(&schema, "", &mut open);
    assert!(
        open.is_empty(),
        "objects that accept unknown keys: {open:?}"
    );
}

/// The example of every `config` and `otel` value, from the schema.
fn schema_examples(section: &str) -> serde_json::Map<String, Value> {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("charts/domain-monitor/values.schema.json")).unwrap(),
    )
    .unwrap();
    schema["properties"][section]["properties"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(key, property)| {
            let example = property["examples"][0].clone();
            assert!(!example.is_null(), "{section}.{key} has no example");
            (key.clone(), example)
        })
        .collect()
}

#[test]
fn every_operator_setting_is_a_chart_value_the_operator_accepts() {
    // What the operator reads: the `[env: NAME]` of `domain-monitor run --help`.
    let help = run(Command::new(env!("CARGO_BIN_EXE_domain-monitor"))
        .args(["run", "--help"])
        .env_clear())
    .unwrap();
    let read: BTreeSet<String> = help
        .split("[env: ")
        .skip(1)
        .map(|rest| {
            rest.chars()
                .take_while(|c| c.is_ascii_uppercase() || *c == '_')
                .collect()
        })
        .collect();
    assert!(read.len() > 40, "{read:?}");

    let dir = tempfile::tempdir().unwrap();
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("charts/domain-monitor/values.schema.json")).unwrap(),
    )
    .unwrap();
    let reserved_lists = schema["properties"]["reservedNames"]["examples"][0].clone();
    let trust_anchors = schema["properties"]["dnssecTrustAnchors"]["examples"][0].clone();
    let ca_bundle = schema["properties"]["dhcCaBundle"]["examples"][0].clone();
    let values = json!({
        "config": schema_examples("config"),
        "otel": schema_examples("otel"),
        "reservedNames": reserved_lists,
        "dnssecTrustAnchors": trust_anchors,
        "dhcCaBundle": ca_bundle,
        "secrets": {
            "apiAuthToken": "tok",
            "sentryDsn": "https://key@sentry.example/1",
            "registrarApiKey": "key",
            "registrarApiSecret": "secret",
            "otelExporterOtlpHeaders": "api-key=abc",
        },
    });
    let values_file = write_json(dir.path(), "values.json", &values);
    let docs = documents(&template("dm", "ops", &["-f", &values_file]).unwrap());
    let deployment = one(&docs, "Deployment");
    let set: BTreeSet<String> = env_names(deployment);

    // LISTEN_ADDR stays 0.0.0.0:8000: the probes, the Service and the
    // NetworkPolicy use that port. WATCH_NAMESPACE is `watchNamespace`.
    let fixed = BTreeSet::from(["LISTEN_ADDR".to_owned(), "WATCH_NAMESPACE".to_owned()]);
    let missing: Vec<&String> = read
        .difference(&set)
        .filter(|v| !fixed.contains(*v))
        .collect();
    assert!(
        missing.is_empty(),
        "settings the chart cannot set (add them to values.yaml and values.schema.json): {missing:?}"
    );
    // The OpenTelemetry SDK reads these itself; they are no flags.
    let read_by_the_sdk = [
        "OTEL_EXPORTER_OTLP_HEADERS",
        "OTEL_EXPORTER_OTLP_TIMEOUT",
        "OTEL_RESOURCE_ATTRIBUTES",
        "OTEL_TRACES_SAMPLER",
        "OTEL_TRACES_SAMPLER_ARG",
    ];
    let unknown: Vec<&String> = set
        .iter()
        .filter(|v| !read.contains(*v) && !read_by_the_sdk.contains(&v.as_str()))
        .collect();
    assert!(
        unknown.is_empty(),
        "variables the operator does not read: {unknown:?}"
    );
    for otel in [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_HEADERS",
        "OTEL_SERVICE_NAME",
        "OTEL_METRIC_EXPORT_INTERVAL",
        "OTEL_TRACES_EXPORTER",
    ] {
        assert!(set.contains(otel), "{otel} is not set");
    }
    assert_eq!(
        env_entry(deployment, "OTEL_METRIC_EXPORT_INTERVAL").unwrap()["value"],
        "60000"
    );
    assert_eq!(
        env_entry(deployment, "RDAP_OVERRIDES").unwrap()["value"],
        "io=https://rdap.identitydigital.services/rdap/"
    );
    assert_eq!(
        env_entry(deployment, "DNS_RESOLVERS").unwrap()["value"],
        "10.0.0.10:53,10.0.0.11"
    );

    // The operator takes every example: it gets past its configuration and
    // stops only because there is no cluster (exit 1, not 2).
    let mut env: Vec<(String, String)> = container(deployment)["env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| {
            Some((
                e["name"].as_str()?.to_owned(),
                e["value"].as_str()?.to_owned(),
            ))
        })
        .collect();
    env.extend([
        ("API_AUTH_TOKEN".to_owned(), "tok".to_owned()),
        // The examples configure the generic registrar provider, which takes a key only.
        ("REGISTRAR_API_KEY".to_owned(), "key".to_owned()),
        ("INSTANCE_ID".to_owned(), "dm-5d9c7b8f4-x2k8q".to_owned()),
        ("POD_NAMESPACE".to_owned(), "ops".to_owned()),
        (
            "KUBECONFIG".to_owned(),
            "/nonexistent/kubeconfig".to_owned(),
        ),
    ]);
    // The reserved lists reach the pod through the chart's ConfigMap: the
    // files it mounts, with the ConfigMap's contents, stand in for the mount.
    let config_map = docs
        .iter()
        .find(|d| {
            d["kind"] == "ConfigMap" && d["metadata"]["name"] == "dm-domain-monitor-reserved-names"
        })
        .expect("a ConfigMap of the reserved lists");
    let lists = config_map["data"].as_object().unwrap();
    assert_eq!(Value::Object(lists.clone()), reserved_lists);
    let mounted = dir.path().join("reserved");
    std::fs::create_dir_all(&mounted).unwrap();
    for (file, text) in lists {
        std::fs::write(mounted.join(file), text.as_str().unwrap()).unwrap();
    }
    let volume_mounts = &container(deployment)["volumeMounts"];
    assert_eq!(
        volume_mounts[0]["mountPath"],
        "/etc/domain-monitor/reserved"
    );
    // So do the trust anchors.
    let anchors_map = docs
        .iter()
        .find(|d| {
            d["kind"] == "ConfigMap"
                && d["metadata"]["name"] == "dm-domain-monitor-dnssec-trust-anchors"
        })
        .expect("a ConfigMap of the DNSSEC trust anchors");
    assert_eq!(anchors_map["data"]["trust-anchors"], trust_anchors);
    let anchors_file = dir.path().join("trust-anchors");
    std::fs::write(
        &anchors_file,
        anchors_map["data"]["trust-anchors"].as_str().unwrap(),
    )
    .unwrap();
    assert_eq!(volume_mounts[1]["mountPath"], "/etc/domain-monitor/dnssec");
    // And the CA bundle of DomainHealthChecks.
    let ca_map = docs
        .iter()
        .find(|d| {
            d["kind"] == "ConfigMap" && d["metadata"]["name"] == "dm-domain-monitor-dhc-ca-bundle"
        })
        .expect("a ConfigMap of the DomainHealthCheck CA bundle");
    assert_eq!(ca_map["data"]["ca.pem"], ca_bundle);
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca_map["data"]["ca.pem"].as_str().unwrap()).unwrap();
    assert_eq!(volume_mounts[2]["mountPath"], "/etc/domain-monitor/dhc-ca");
    for (name, value) in &mut env {
        if name == "RESERVED_NAMES" {
            assert_eq!(value, "/etc/domain-monitor/reserved/premium.txt");
            *value = mounted.join("premium.txt").display().to_string();
        }
        if name == "DNSSEC_TRUST_ANCHORS" {
            assert_eq!(value, "/etc/domain-monitor/dnssec/trust-anchors");
            *value = anchors_file.display().to_string();
        }
        if name == "DHC_CA_BUNDLE" {
            assert_eq!(value, "/etc/domain-monitor/dhc-ca/ca.pem");
            *value = ca_file.display().to_string();
        }
    }
    let output = Command::new(env!("CARGO_BIN_EXE_domain-monitor"))
        .arg("run")
        .env_clear()
        .envs(env)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot connect to Kubernetes"), "{stderr}");
}

// === the plain manifests ===

#[test]
fn the_plain_manifests_are_the_chart_with_default_values_and_apply() {
    let dir = tempfile::tempdir().unwrap();
    let fresh = dir.path().join("domain-monitor.yaml");
    run(Command::new("bash")
        .arg(repo().join("scripts/manifests.sh"))
        .arg(&fresh)
        .env("DM_HELM", helm_binary()))
    .unwrap();
    let committed = repo().join("manifests/domain-monitor.yaml");
    assert!(
        std::fs::read_to_string(&committed).unwrap() == std::fs::read_to_string(&fresh).unwrap(),
        "manifests/domain-monitor.yaml is stale: run `just manifests` and commit the result"
    );
    let docs = documents(&std::fs::read_to_string(&committed).unwrap());
    assert_eq!(docs[0]["kind"], "Namespace");
    let crds: Vec<&Value> = of_kind(&docs, "CustomResourceDefinition")
        .into_iter()
        .map(|crd| &crd["metadata"]["name"])
        .collect();
    assert_eq!(
        crds,
        [
            "domainhealthchecks.domainmonitor.io",
            "monitoreddomains.domainmonitor.io"
        ]
    );

    // The API server takes every object (server-side dry run: nothing is
    // stored; the namespace must exist for the objects in it).
    let admin = kubeconfig_path();
    let _ = kubectl(&admin, &["create", "namespace", "domain-monitor"]);
    let dry_run = kubectl(
        &admin,
        &[
            "apply",
            "--dry-run=server",
            "-f",
            committed.to_str().unwrap(),
        ],
    )
    .expect("the API server accepts the manifests");
    assert_eq!(
        dry_run.matches("(server dry run)").count(),
        docs.len(),
        "{dry_run}"
    );
    let stored = kubectl(&admin, &["-n", "domain-monitor", "get", "deployments"]);
    assert!(
        stored.is_err() || !stored.unwrap().contains("domain-monitor"),
        "a dry run stores nothing"
    );
    let _ = kubectl(
        &admin,
        &["delete", "namespace", "domain-monitor", "--wait=false"],
    );
}

// === the dashboard ===

fn dashboard_json() -> Value {
    let path = repo().join("charts/domain-monitor/dashboards/domain-monitor.json");
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// Every panel with its title, rows' nested panels included.
fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut all = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        all.push(panel);
        if let Some(nested) = panel["panels"].as_array() {
            all.extend(nested);
        }
    }
    all
}

/// Grafana's variables in the dashboard's queries, over every job.
const DASHBOARD_VALUES: GrafanaValues<'static> = GrafanaValues {
    rate_interval: "5m",
    interval: "1m",
    range: "1h",
    job: ".*",
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_queries_are_valid_promql_over_the_operators_metrics() {
    let dashboard = dashboard_json();
    let variables = dashboard["templating"]["list"].as_array().unwrap();
    let variable = |name: &str| {
        variables
            .iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("no ${name} variable"))
    };
    assert_eq!(variable("datasource")["type"], "datasource");
    assert_eq!(variable("datasource")["query"], "prometheus");

    // Every query, panel by panel, plus the variables' label_values queries.
    let mut queries = dashboard_queries(&dashboard);
    for name in ["job", "instance"] {
        let query = variable(name)["query"]["query"].as_str().unwrap();
        let selector = query
            .strip_prefix("label_values(")
            .and_then(|q| q.rsplit_once(','))
            .map(|(selector, _)| selector)
            .unwrap_or_else(|| panic!("${name}: {query}"));
        queries.push((
            format!("${name}"),
            from_grafana(selector, &DASHBOARD_VALUES),
        ));
    }

    // promtool parses them all and rejects a bad one; they use only the
    // operator's metrics and their labels, as Prometheus's own parser reads them.
    let dir = tempfile::tempdir().unwrap();
    let broken = write_json(
        dir.path(),
        "broken.yaml",
        &json!({"groups": [{"name": "dashboard", "rules": [{"record": "dashboard:query_0", "expr": "sum(rate(x[5m])"}]}]}),
    );
    assert!(
        run(Command::new(promtool_binary()).args(["check", "rules", &broken])).is_err(),
        "promtool rejects invalid PromQL"
    );
    domain_monitor::net::ensure_crypto_provider();
    let prometheus = Prometheus::start().await;
    let used = assert_queries_are_promql_over_the_operators_metrics(&prometheus, &queries).await;

    // The top row answers the first questions; the shard and API server rows follow.
    let top_row: Vec<String> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .skip(1)
        .take_while(|p| p["type"] != "row")
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .filter_map(|t| t["expr"].as_str().map(str::to_owned))
        .collect();
    for wanted in [
        "sum by (availability) (domain_monitor_domains",
        "domain_monitor_transitions_total",
        "sum by (checker, result) (rate(domain_monitor_checks_total",
        "histogram_quantile(0.95, sum by (checker, le) (rate(domain_monitor_check_duration_seconds_bucket",
        "domain_monitor_callbacks_total",
        "domain_monitor_ratelimit_waits_total",
    ] {
        assert!(
            top_row.iter().any(|q| q.contains(wanted)),
            "the top row has no panel with {wanted}"
        );
    }
    let rows: Vec<&str> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["type"] == "row")
        .filter_map(|p| p["title"].as_str())
        .collect();
    // Domain owners' panels live in their own dashboard (the last test of
    // this file), which this one links to; none of them is copied here.
    assert_eq!(
        dashboard["links"][0]["tags"],
        json!(["domain-monitor"]),
        "a link to the other domain-monitor dashboards"
    );
    for metric in &used {
        assert!(
            ![
                "domain_monitor_health_",
                "domain_monitor_dhc_",
                "dns_lookup_"
            ]
            .iter()
            .any(|owners| metric.starts_with(owners)),
            "{metric} belongs on the domain owners' dashboard: {rows:?}"
        );
    }
    assert!(rows.iter().any(|r| r.contains("Shards")), "{rows:?}");
    assert!(rows.iter().any(|r| r.contains("API server")), "{rows:?}");
    assert!(used.contains("domain_monitor_shards_held"));
    assert!(used.contains("domain_monitor_status_writes_total"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_promql_names_tell_metrics_from_labels_and_functions() {
    domain_monitor::net::ensure_crypto_provider();
    let prometheus = Prometheus::start().await;
    let names = names_in(
        &prometheus,
        r#"histogram_quantile(0.95, sum by (checker, le) (rate(a_bucket{job=~".*", x!="y{z}"}[5m]))) / on (instance) group_left b"#,
    )
    .await
    .unwrap();
    assert_eq!(
        names.metrics,
        BTreeSet::from(["a_bucket".to_owned(), "b".to_owned()])
    );
    assert_eq!(
        names.labels,
        BTreeSet::from(["checker", "le", "job", "x", "instance"].map(str::to_owned))
    );
    assert_eq!(
        names.functions,
        BTreeSet::from(["histogram_quantile", "sum", "rate"].map(str::to_owned))
    );
    let error = names_in(&prometheus, "sum(rate(x[5m])").await.unwrap_err();
    assert!(error.contains("unclosed left parenthesis"), "{error}");
}

// === the chart in a cluster, with the operator ===

/// Values for the chart watching `namespace` with every feature on (domain
/// list sync, callbacks) and the test world's servers.
fn chart_values(world: &World, namespace: &str) -> Value {
    json!({
        "watchNamespace": namespace,
        "config": {
            "domainApiUrl": world.api.url("/domains"),
            "syncAllowMassDelete": true,
            "apiCallbackUrl": world.api.url("/callback"),
            "perCheckCallbacks": "off",
            "shards": 4,
            "dnsResolvers": world.nsd.addrs().iter().map(ToString::to_string).collect::<Vec<_>>(),
            "dnsTimeout": "1s",
            "httpTimeout": "1s",
            "rdapOverrides": {"test": world.rdap.base_url().to_string()},
            "rdapTimeout": "3s",
            "whoisOverrides": {"test": world.whois.host_port().to_string()},
            "whoisTimeout": "3s",
            "whoisRateLimit": "50/s",
        },
        "secrets": {"apiAuthToken": TOKEN},
    })
}

fn pinned(name: &str, domain: &str) -> MonitoredDomain {
    MonitoredDomain::new(
        name,
        MonitoredDomainSpec {
            domain: domain.to_owned(),
            priority: false,
            check_interval: None,
            health: None,
        },
    )
}

/// A kubeconfig for `namespace/service_account`, with a token from the
/// TokenRequest API, next to the admin one's server and CA.
fn service_account_kubeconfig(
    admin: &Path,
    namespace: &str,
    service_account: &str,
    dir: &Path,
) -> PathBuf {
    let token = kubectl(
        admin,
        &[
            "-n",
            namespace,
            "create",
            "token",
            service_account,
            "--duration=1h",
        ],
    )
    .expect("a ServiceAccount token");
    let admin_config: Value =
        serde_yaml::from_str(&std::fs::read_to_string(admin).unwrap()).unwrap();
    let cluster = &admin_config["clusters"][0]["cluster"];
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "test", "cluster": {
            "server": cluster["server"],
            "certificate-authority-data": cluster["certificate-authority-data"],
        }}],
        "users": [{"name": service_account, "user": {"token": token.trim()}}],
        "contexts": [{"name": "operator", "context": {
            "cluster": "test", "user": service_account, "namespace": namespace,
        }}],
        "current-context": "operator",
    });
    PathBuf::from(write_json(
        dir,
        &format!("{service_account}.kubeconfig"),
        &config,
    ))
}

/// The environment a pod of `deployment` gets: values as they are, its name
/// and namespace from the downward API, secrets read from the cluster.
async fn pod_env(
    client: &Client,
    deployment: &Value,
    pod: &str,
    namespace: &str,
) -> Vec<(String, String)> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let mut env = Vec::new();
    for entry in container(deployment)["env"].as_array().unwrap() {
        let name = entry["name"].as_str().unwrap().to_owned();
        if let Some(value) = entry["value"].as_str() {
            env.push((name, value.to_owned()));
        } else if let Some(path) = entry["valueFrom"]["fieldRef"]["fieldPath"].as_str() {
            let value = match path {
                "metadata.name" => pod,
                "metadata.namespace" => namespace,
                other => panic!("{name}: unexpected fieldRef {other}"),
            };
            env.push((name, value.to_owned()));
        } else if let Some(reference) = entry["valueFrom"]["secretKeyRef"].as_object() {
            let secret = secrets
                .get(reference["name"].as_str().unwrap())
                .await
                .unwrap_or_else(|e| panic!("{name}: the Secret {reference:?}: {e}"));
            let key = reference["key"].as_str().unwrap();
            match secret.data.unwrap_or_default().get(key) {
                Some(bytes) => env.push((name, String::from_utf8(bytes.0.clone()).unwrap())),
                None => assert_eq!(reference.get("optional"), Some(&json!(true)), "{name}"),
            }
        } else {
            panic!("{name}: unexpected env entry {entry}");
        }
    }
    env
}

fn override_env(env: &mut Vec<(String, String)>, overrides: Vec<(String, String)>) {
    for (name, value) in overrides {
        env.retain(|(n, _)| *n != name);
        env.push((name, value));
    }
}

/// Waits for the event `reason` about `regarding` in `namespace`, written by
/// the operator replica `instance`.
async fn wait_for_event(
    client: &Client,
    namespace: &str,
    reason: &str,
    regarding: &str,
    instance: &str,
) {
    let events: Api<Event> = Api::namespaced(client.clone(), namespace);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let found = events
            .list(&ListParams::default())
            .await
            .expect("list events")
            .items
            .into_iter()
            .any(|e| {
                e.reason.as_deref() == Some(reason)
                    && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(regarding)
                    && e.reporting_controller.as_deref() == Some("domain-monitor")
                    && e.reporting_instance.as_deref() == Some(instance)
            });
        if found {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {reason} event about {namespace}/{regarding}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Lease name → holder.
async fn lease_holders(client: &Client, namespace: &str) -> BTreeMap<String, Option<String>> {
    let leases: Api<Lease> = Api::namespaced(client.clone(), namespace);
    leases
        .list(&ListParams::default())
        .await
        .expect("list leases")
        .items
        .into_iter()
        .map(|l| {
            let holder = l.spec.as_ref().and_then(|s| s.holder_identity.clone());
            (l.name_any(), holder)
        })
        .collect()
}

async fn wait_for_leases(client: &Client, namespace: &str, want: &[String], holder: &str) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let leases = lease_holders(client, namespace).await;
        if want
            .iter()
            .all(|name| leases.get(name).and_then(Option::as_deref) == Some(holder))
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{holder} never held {want:?}: {leases:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Stops `operator` (it must exit 0 on SIGTERM) and returns every request
/// the API server audited from `namespace`'s ServiceAccount, asserting that
/// none of them was refused.
async fn stop_and_audit(
    operator: &mut Operator,
    server: &PrivateServer,
    namespace: &str,
) -> Vec<AuditedRequest> {
    operator.terminate();
    assert_eq!(
        operator.wait_exit(Duration::from_secs(20)).await,
        Some(0),
        "{}",
        operator.log()
    );
    let user = service_account_user(namespace);
    let requests: Vec<AuditedRequest> = server
        .audited_requests()
        .into_iter()
        .filter(|r| r.user == user)
        .collect();
    let refused: Vec<&AuditedRequest> = requests.iter().filter(|r| !r.allowed).collect();
    assert!(refused.is_empty(), "refused requests: {refused:#?}");
    requests
}

/// The operator's rights as the API server answers `kubectl auth can-i` for
/// `kubeconfig`'s user: each of `allowed` granted; each of `denied` and
/// everything [`forbidden`] in `home` and `other` refused; and `refused`, a
/// kubectl command, failing with Forbidden.
fn assert_operator_rights(
    kubeconfig: &Path,
    allowed: Vec<String>,
    denied: Vec<String>,
    (home, other): (&str, &str),
    refused: &[&str],
) {
    let mut rights: Vec<(String, bool)> = allowed.into_iter().map(|q| (q, true)).collect();
    rights.extend(forbidden(home, other));
    rights.extend(denied.into_iter().map(|q| (q, false)));
    let questions: Vec<(&str, bool)> = rights.iter().map(|(q, a)| (q.as_str(), *a)).collect();
    assert_rights(kubeconfig, &questions);
    let answer = kubectl(kubeconfig, refused)
        .expect_err(&format!("kubectl {} is denied", refused.join(" ")));
    assert!(answer.contains("Forbidden"), "{answer}");
}

/// Asks the API server (SelfSubjectAccessReview, as the kubeconfig's user)
/// about each `kubectl auth can-i` question and reports every wrong answer.
fn assert_rights(kubeconfig: &Path, expectations: &[(&str, bool)]) {
    let wrong: Vec<String> = expectations
        .iter()
        .filter_map(|(question, expected)| {
            let output = Command::new("kubectl")
                .arg("--kubeconfig")
                .arg(kubeconfig)
                .args(["auth", "can-i"])
                .args(question.split_whitespace())
                .output()
                .expect("kubectl");
            let answer = String::from_utf8_lossy(&output.stdout).trim().to_owned();
            let allowed = match answer.as_str() {
                "yes" => true,
                "no" => false,
                _ => panic!(
                    "kubectl auth can-i {question}: {answer} {}",
                    String::from_utf8_lossy(&output.stderr)
                ),
            };
            (allowed != *expected).then(|| format!("can-i {question}: {answer}"))
        })
        .collect();
    assert!(wrong.is_empty(), "wrong rights:\n{}", wrong.join("\n"));
}

/// The `kubectl auth can-i` questions of what the operator must not do, in
/// its own namespace `home` and another one, `other`.
fn forbidden(home: &str, other: &str) -> Vec<(String, bool)> {
    [
        "get monitoreddomains.domainmonitor.io -n {home}".to_owned(),
        "update monitoreddomains.domainmonitor.io -n {home}".to_owned(),
        "deletecollection monitoreddomains.domainmonitor.io -n {home}".to_owned(),
        "create monitoreddomains.domainmonitor.io -n {other}".to_owned(),
        "delete monitoreddomains.domainmonitor.io -n {other}".to_owned(),
        "update monitoreddomains.domainmonitor.io --subresource=status -n {other}".to_owned(),
        "create leases.coordination.k8s.io -n {other}".to_owned(),
        "get leases.coordination.k8s.io -n {other}".to_owned(),
        "watch leases.coordination.k8s.io -n {home}".to_owned(),
        "create events -n {home}".to_owned(),
        "get events.events.k8s.io -n {home}".to_owned(),
        "patch events.events.k8s.io -n {home}".to_owned(),
        "get secrets -n {home}".to_owned(),
        "list secrets -n {other}".to_owned(),
        "get configmaps -n {home}".to_owned(),
        "create pods -n {home}".to_owned(),
        "list pods -n {home}".to_owned(),
        "delete deployments.apps -n {home}".to_owned(),
        "delete namespaces".to_owned(),
        "create clusterrolebindings.rbac.authorization.k8s.io".to_owned(),
        "create customresourcedefinitions.apiextensions.k8s.io".to_owned(),
    ]
    .into_iter()
    .map(|q| (q.replace("{home}", home).replace("{other}", other), false))
    .collect()
}

async fn deployment_json(client: &Client, namespace: &str, name: &str) -> Value {
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), namespace);
    serde_json::to_value(deployments.get(name).await.expect("the Deployment")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rendered_chart_applies_and_runs_the_operator_with_only_its_rights() {
    let ns = TestNamespace::new("chart-one-namespace").await;
    let world = World::start().await;
    world.register("taken.test", "active").await;
    world.register("listed.test", "active").await;
    world.set_domain_list(&json!({"domains": ["listed.test"]}));

    // The chart for one namespace, with the domain list sync, a chart-made
    // Secret and the optional policies.
    let dir = tempfile::tempdir().unwrap();
    let mut values = chart_values(&world, &ns.name);
    values["networkPolicy"] = json!({"enabled": true});
    values["podDisruptionBudget"] = json!({"enabled": true});
    let values_file = write_json(dir.path(), "values.json", &values);
    let rendered = template("chart-a", &ns.name, &["-f", &values_file]).unwrap();
    let docs = documents(&rendered);
    assert!(
        of_kind(&docs, "ClusterRole").is_empty() && of_kind(&docs, "ClusterRoleBinding").is_empty(),
        "watching one namespace needs no cluster-wide rights"
    );
    let rendered_file = dir.path().join("rendered.yaml");
    std::fs::write(&rendered_file, &rendered).unwrap();
    let rendered_file = rendered_file.to_str().unwrap();

    let admin = kubeconfig_path();
    let dry_run = kubectl(&admin, &["apply", "--dry-run=server", "-f", rendered_file])
        .expect("the API server accepts every object");
    assert_eq!(
        dry_run.matches("(server dry run)").count(),
        docs.len(),
        "{dry_run}"
    );
    assert!(
        kubectl(
            &admin,
            &[
                "-n",
                &ns.name,
                "get",
                "serviceaccount",
                "chart-a-domain-monitor"
            ]
        )
        .is_err(),
        "a dry run stores nothing"
    );
    kubectl(&admin, &["apply", "-f", rendered_file]).expect("kubectl apply");

    // The operator as the chart runs it: its ServiceAccount, its environment, its Secret.
    let pod = "chart-a-domain-monitor-6b8f9c7d5-q4x7z";
    let operator_kubeconfig =
        service_account_kubeconfig(&admin, &ns.name, "chart-a-domain-monitor", dir.path());
    let env = pod_env(&ns.client, one(&docs, "Deployment"), pod, &ns.name).await;
    assert!(env.contains(&("API_AUTH_TOKEN".to_owned(), TOKEN.to_owned())));
    let api = ns.domains();
    api.create(&PostParams::default(), &pinned("taken", "taken.test"))
        .await
        .unwrap();
    api.create(&PostParams::default(), &pinned("odd", "under_score.test"))
        .await
        .unwrap();
    let operator =
        Operator::start_with_env(&format!("chart-{}", ns.name), &env, &operator_kubeconfig);

    wait_for_availability(&api, "taken", Availability::Registered, &operator).await;
    wait_for_availability(&api, "odd", Availability::Invalid, &operator).await;
    wait_for_availability(&api, "listed.test", Availability::Registered, &operator).await;
    wait_for_event(&ns.client, &ns.name, "InvalidDomain", "odd", pod).await;
    let mut held: Vec<String> = (0..4)
        .map(|s| format!("domain-monitor-shard-{s}"))
        .collect();
    held.push("domain-monitor-sync".to_owned());
    wait_for_leases(&ns.client, &ns.name, &held, pod).await;
    assert!(
        lease_holders(&ns.client, &ns.name)
            .await
            .contains_key(&format!("domain-monitor-member-{pod}"))
    );

    // The token from the chart's Secret opens POST /refresh; the sync deletes
    // a domain no longer listed.
    world.set_domain_list(&json!({"domains": []}));
    domain_monitor::net::ensure_crypto_provider();
    let refresh = reqwest::Client::new()
        .post(format!("{}/refresh", operator.base_url().await))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    let summary: Value = refresh.json().await.unwrap();
    assert_eq!(summary["deleted"], 1, "{summary}");
    assert!(api.get_opt("listed.test").await.unwrap().is_none());

    // Its rights: what it uses, in its namespace only.
    let other = "default";
    let allowed = [
        "list monitoreddomains.domainmonitor.io",
        "watch monitoreddomains.domainmonitor.io",
        "patch monitoreddomains.domainmonitor.io",
        "create monitoreddomains.domainmonitor.io",
        "delete monitoreddomains.domainmonitor.io",
        "patch monitoreddomains.domainmonitor.io --subresource=status",
        "create events.events.k8s.io",
        "get leases.coordination.k8s.io",
        "list leases.coordination.k8s.io",
        "create leases.coordination.k8s.io",
        "update leases.coordination.k8s.io",
        "patch leases.coordination.k8s.io",
        "delete leases.coordination.k8s.io",
    ]
    .iter()
    .map(|q| format!("{q} -n {}", ns.name))
    .collect();
    let denied = vec![
        "list monitoreddomains.domainmonitor.io --all-namespaces".to_owned(),
        format!("watch monitoreddomains.domainmonitor.io -n {other}"),
        format!("create events.events.k8s.io -n {other}"),
    ];
    assert_operator_rights(
        &operator_kubeconfig,
        allowed,
        denied,
        (&ns.name, other),
        &["-n", &ns.name, "get", "secrets"],
    );

    // A clean stop releases the shards and removes the member Lease.
    operator.terminate();
    let mut operator = operator;
    assert_eq!(
        operator.wait_exit(Duration::from_secs(20)).await,
        Some(0),
        "{}",
        operator.log()
    );
    let leases = lease_holders(&ns.client, &ns.name).await;
    assert!(
        !leases.contains_key(&format!("domain-monitor-member-{pod}")),
        "{leases:?}"
    );
    assert!(
        leases.iter().all(|(_, holder)| holder.is_none()),
        "every Lease released: {leases:?}"
    );
}

/// The `sh` blocks of the README's "Install with Helm" section, up to its
/// first subsection.
fn readme_install_commands() -> Vec<String> {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let section = readme
        .split_once("\n## Install with Helm\n")
        .expect("README has an \"Install with Helm\" section")
        .1;
    let end = ["\n## ", "\n### "]
        .iter()
        .filter_map(|heading| section.find(heading))
        .min()
        .unwrap_or(section.len());
    let section = &section[..end];
    section
        .split("```sh\n")
        .skip(1)
        .map(|block| block.split("```").next().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_install_works_on_a_fresh_cluster_with_least_privilege() {
    let server = tokio::task::spawn_blocking(PrivateServer::start)
        .await
        .unwrap();
    let admin = server.kubeconfig().to_owned();
    let commands = readme_install_commands();
    assert!(
        commands.len() >= 2
            && commands[0].contains("helm install domain-monitor charts/domain-monitor"),
        "{commands:?}"
    );
    let helm_dir = helm_binary().parent().unwrap().to_owned();
    let path = format!(
        "{}:{}",
        helm_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut said = String::new();
    for block in &commands {
        let out = run(Command::new("bash")
            .args(["-euo", "pipefail", "-c", block])
            .current_dir(repo())
            .env("KUBECONFIG", &admin)
            .env("PATH", &path))
        .unwrap_or_else(|e| panic!("the README's commands fail:\n{block}\n{e}"));
        said.push_str(&out);
    }
    // The install notes say how to reach the HTTP surface.
    assert!(
        said.contains("kubectl -n domain-monitor port-forward svc/domain-monitor 8000:8000")
            && said.contains("localhost:8000/status")
            && said.contains("localhost:8000/metrics"),
        "{said}"
    );

    // The chart brought the CRD; a team applies domains in its own namespace.
    let client = server.client().await;
    create_namespace(&client, "team-a").await;
    let team: Api<MonitoredDomain> = Api::namespaced(client.clone(), "team-a");
    team.create(&PostParams::default(), &pinned("taken", "taken.test"))
        .await
        .expect("the CRD is installed");
    team.create(&PostParams::default(), &pinned("odd", "under_score.test"))
        .await
        .unwrap();
    let world = World::start().await;
    world.register("taken.test", "active").await;
    world.register("listed.test", "active").await;
    world.set_domain_list(&json!({"domains": ["listed.test"]}));

    // The operator with the installed Deployment's environment and Secret;
    // only the servers it talks to are the test world's.
    let pod = "domain-monitor-5d9c7b8f4-x2k8q";
    let deployment = deployment_json(&client, "domain-monitor", "domain-monitor").await;
    let mut env = pod_env(&client, &deployment, pod, "domain-monitor").await;
    let value = |name: &str| env.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    assert_eq!(
        value("API_AUTH_TOKEN").map(|t| t.len()),
        Some(64),
        "the token from the README's Secret"
    );
    assert_eq!(
        value("API_CALLBACK_URL").as_deref(),
        Some("https://api.example.com/domain-callback")
    );
    assert_eq!(value("WATCH_NAMESPACE"), None, "every namespace is watched");
    let mut overrides = world.checker_env();
    overrides.extend([
        ("DOMAIN_API_URL".to_owned(), world.api.url("/domains")),
        ("API_CALLBACK_URL".to_owned(), world.api.url("/callback")),
        ("PER_CHECK_CALLBACKS".to_owned(), "off".to_owned()),
    ]);
    override_env(&mut env, overrides);
    let dir = tempfile::tempdir().unwrap();
    let operator_kubeconfig =
        service_account_kubeconfig(&admin, "domain-monitor", "domain-monitor", dir.path());
    let operator = Operator::start_with_env("chart-readme-install", &env, &operator_kubeconfig);

    wait_for_availability(&team, "taken", Availability::Registered, &operator).await;
    wait_for_availability(&team, "odd", Availability::Invalid, &operator).await;
    wait_for_event(&client, "team-a", "InvalidDomain", "odd", pod).await;
    let synced: Api<MonitoredDomain> = Api::namespaced(client.clone(), "domain-monitor");
    wait_for_availability(&synced, "listed.test", Availability::Registered, &operator).await;
    let mut held: Vec<String> = (0..16)
        .map(|s| format!("domain-monitor-shard-{s}"))
        .collect();
    held.push("domain-monitor-sync".to_owned());
    wait_for_leases(&client, "domain-monitor", &held, pod).await;
    assert!(
        lease_holders(&client, "team-a").await.is_empty(),
        "Leases stay home"
    );

    let allowed = [
        "list monitoreddomains.domainmonitor.io --all-namespaces",
        "watch monitoreddomains.domainmonitor.io --all-namespaces",
        "patch monitoreddomains.domainmonitor.io -n team-a",
        "patch monitoreddomains.domainmonitor.io --subresource=status -n team-a",
        "create events.events.k8s.io -n team-a",
        "create monitoreddomains.domainmonitor.io -n domain-monitor",
        "delete monitoreddomains.domainmonitor.io -n domain-monitor",
        "get leases.coordination.k8s.io -n domain-monitor",
        "list leases.coordination.k8s.io -n domain-monitor",
        "create leases.coordination.k8s.io -n domain-monitor",
        "update leases.coordination.k8s.io -n domain-monitor",
        "patch leases.coordination.k8s.io -n domain-monitor",
        "delete leases.coordination.k8s.io -n domain-monitor",
    ]
    .iter()
    .map(|q| (*q).to_owned())
    .collect();
    assert_operator_rights(
        &operator_kubeconfig,
        allowed,
        Vec::new(),
        ("domain-monitor", "team-a"),
        &["delete", "namespace", "team-a"],
    );
    drop(operator);
    drop(server);
}

// === least privilege: every right used, each rule needed ===

/// A (group, resource, verb) an RBAC rule grants or a request needs.
type Right = (String, String, String);

fn strings(list: &Value) -> Vec<String> {
    list.as_array()
        .expect("a list")
        .iter()
        .map(|v| v.as_str().expect("a string").to_owned())
        .collect()
}

/// What one RBAC rule grants, spelled out; wildcards are refused.
fn rule_rights(rule: &Value) -> BTreeSet<Right> {
    let mut rights = BTreeSet::new();
    for group in strings(&rule["apiGroups"]) {
        for resource in strings(&rule["resources"]) {
            for verb in strings(&rule["verbs"]) {
                assert!(
                    ![&group, &resource, &verb].contains(&&"*".to_owned()),
                    "a wildcard in {rule}"
                );
                rights.insert((group.clone(), resource.clone(), verb));
            }
        }
    }
    rights
}

fn request_right(request: &AuditedRequest) -> Right {
    (
        request.group.clone(),
        request.resource.clone(),
        request.verb.clone(),
    )
}

fn service_account_user(namespace: &str) -> String {
    format!("system:serviceaccount:{namespace}:{RBAC_RELEASE}-domain-monitor")
}

const RBAC_RELEASE: &str = "rbac";

/// The chart rendered for `namespace` with [`chart_values`] and
/// DomainHealthChecks on (`config.domainHealthChecks`, which adds their
/// rules), as objects.
fn rendered_for(world: &World, namespace: &str, dir: &Path) -> Vec<Value> {
    let mut values = chart_values(world, namespace);
    values["config"]["domainHealthChecks"] = json!(true);
    let values = write_json(dir, &format!("{namespace}-values.json"), &values);
    documents(&template(RBAC_RELEASE, namespace, &["-f", &values]).unwrap())
}

/// The DomainHealthCheck of every RBAC namespace: `www.taken.test A` at a
/// resolver nobody runs. Its first round writes a status whatever the
/// answers, so writing it needs the status rule, and seeing it the
/// list/watch rule.
const HEALTH_CHECK: &str = "taken-resolvers";

/// Waits until the operator wrote [`HEALTH_CHECK`]'s status.
async fn wait_for_health_check_status(client: &Client, namespace: &str, operator: &Operator) {
    let checks: Api<DomainHealthCheck> = Api::namespaced(client.clone(), namespace);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while checks.get(HEALTH_CHECK).await.unwrap().status.is_none() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no status of the DomainHealthCheck in {namespace}; operator log:\n{}",
            operator.log()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Creates `namespace` and applies `objects` (the chart) to it, with three
/// domains: `taken` (registered), `odd` (invalid) and `free` (available),
/// and the DomainHealthCheck [`HEALTH_CHECK`].
/// Returns the operator's environment and a kubeconfig with its
/// ServiceAccount's token.
async fn install_for_rbac(
    server: &PrivateServer,
    namespace: &str,
    objects: &[Value],
    dir: &Path,
) -> (Vec<(String, String)>, PathBuf) {
    let client = server.client().await;
    create_namespace(&client, namespace).await;
    let list = json!({"apiVersion": "v1", "kind": "List", "items": objects});
    let file = write_json(dir, &format!("{namespace}-objects.json"), &list);
    kubectl(server.kubeconfig(), &["apply", "-f", &file]).expect("kubectl apply");
    let domains: Api<MonitoredDomain> = Api::namespaced(client.clone(), namespace);
    for (name, domain) in [
        ("taken", "taken.test"),
        ("odd", "under_score.test"),
        ("free", "free.test"),
    ] {
        domains
            .create(&PostParams::default(), &pinned(name, domain))
            .await
            .unwrap();
    }
    let checks: Api<DomainHealthCheck> = Api::namespaced(client.clone(), namespace);
    // The default interval (1m): the first round comes as soon as the
    // replica holds the check's shard, not an interval later.
    let check = health_check(
        HEALTH_CHECK,
        "taken.test",
        vec![record("www", ProbeRecordType::A, &[])],
        vec![resolver("nobody", "127.0.0.1:9")],
    );
    checks.create(&PostParams::default(), &check).await.unwrap();
    let kubeconfig = service_account_kubeconfig(
        server.kubeconfig(),
        namespace,
        &format!("{RBAC_RELEASE}-domain-monitor"),
        dir,
    );
    let env = pod_env(&client, one(objects, "Deployment"), namespace, namespace).await;
    (env, kubeconfig)
}

/// An audited API server of the test's own with the CRD, an admin client,
/// and a world with a registered `taken.test` and `listed.test` (the domain
/// list), and a free `free.test`.
async fn rbac_setup() -> (PrivateServer, Client, World) {
    let server = tokio::task::spawn_blocking(PrivateServer::start_audited)
        .await
        .unwrap();
    let client = server.client().await;
    install_crd(&client).await;
    install_dhc_crd(&client).await;
    let world = World::start().await;
    world.register("taken.test", "active").await;
    world.register("listed.test", "active").await;
    world.unregistered("free.test");
    world.set_domain_list(&json!({"domains": ["listed.test"]}));
    (server, client, world)
}

/// The operator, run with the chart's Roles (DomainHealthChecks on) under a
/// ServiceAccount token and taken through everything it does (checks, an
/// invalid domain, an available one with its notification, the domain list
/// sync creating and deleting, shards taken, renewed and released, a
/// DomainHealthCheck watched and its status written), asks the API server for
/// exactly the rights the chart grants: none is left unused, none is
/// refused. The API server's audit log says what it asked for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_uses_every_right_the_chart_grants_and_asks_for_no_other() {
    let (server, client, world) = rbac_setup().await;
    let dir = tempfile::tempdir().unwrap();
    let ns = "rbac-audit";
    let objects = rendered_for(&world, ns, dir.path());
    let granted: BTreeSet<Right> = of_kind(&objects, "Role")
        .into_iter()
        .flat_map(|role| role["rules"].as_array().unwrap())
        .flat_map(rule_rights)
        .collect();
    let (env, kubeconfig) = install_for_rbac(&server, ns, &objects, dir.path()).await;
    let mut operator = Operator::start_with_env("rbac-audit", &env, &kubeconfig);

    let domains: Api<MonitoredDomain> = Api::namespaced(client.clone(), ns);
    wait_for_availability(&domains, "taken", Availability::Registered, &operator).await;
    wait_for_availability(&domains, "odd", Availability::Invalid, &operator).await;
    wait_for_availability(&domains, "free", Availability::Available, &operator).await;
    wait_for_availability(&domains, "listed.test", Availability::Registered, &operator).await;
    wait_for_event(&client, ns, "InvalidDomain", "odd", ns).await;
    wait_for_event(&client, ns, "NotificationDelivered", "free", ns).await;
    wait_for_health_check_status(&client, ns, &operator).await;
    let mut held: Vec<String> = (0..4)
        .map(|s| format!("domain-monitor-shard-{s}"))
        .collect();
    held.push("domain-monitor-sync".to_owned());
    wait_for_leases(&client, ns, &held, ns).await;
    // Shards are renewed every retry period (2 s).
    tokio::time::sleep(Duration::from_secs(5)).await;
    world.set_domain_list(&json!({"domains": []}));
    domain_monitor::net::ensure_crypto_provider();
    let summary: Value = reqwest::Client::new()
        .post(format!("{}/refresh", operator.base_url().await))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(summary["deleted"], 1, "{summary}");
    let requests = stop_and_audit(&mut operator, &server, ns).await;
    let elsewhere: Vec<&AuditedRequest> = requests
        .iter()
        .filter(|r| r.namespace.as_deref() != Some(ns))
        .collect();
    assert!(elsewhere.is_empty(), "outside {ns}: {elsewhere:#?}");
    let used: BTreeSet<Right> = requests.iter().map(request_right).collect();
    for (resource, verb) in [
        ("domainhealthchecks", "list"),
        ("domainhealthchecks", "watch"),
        ("domainhealthchecks/status", "patch"),
    ] {
        let right = (
            "domainmonitor.io".to_owned(),
            resource.to_owned(),
            verb.to_owned(),
        );
        assert!(
            granted.contains(&right),
            "{right:?} not granted: {granted:?}"
        );
    }
    let unused: Vec<&Right> = granted.difference(&used).collect();
    let ungranted: Vec<&Right> = used.difference(&granted).collect();
    assert!(
        unused.is_empty() && ungranted.is_empty(),
        "granted but never used: {unused:?}\nused but not granted: {ungranted:?}\n\
         ({} requests)",
        requests.len()
    );
}

/// One run of the operator with one rule of the chart's Roles taken out.
struct WithoutRule {
    namespace: String,
    /// What the removed rule granted.
    rights: BTreeSet<Right>,
    operator: Operator,
}

/// What the removed rule was for, by what it granted.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Duty {
    /// list/watch/patch MonitoredDomains: the controller sees none.
    SeeDomains,
    /// patch the status subresource.
    WriteStatus,
    /// create events.
    RecordEvents,
    /// the Leases of shards and of the sync.
    HoldLeases,
    /// create/delete MonitoredDomains for the domain list sync.
    SyncDomains,
    /// list/watch DomainHealthChecks: none is probed.
    SeeHealthChecks,
    /// patch the DomainHealthChecks' status subresource.
    WriteHealthCheckStatus,
}

fn duty(rights: &BTreeSet<Right>) -> Duty {
    let has =
        |resource: &str, verb: &str| rights.iter().any(|(_, r, v)| r == resource && v == verb);
    if has("monitoreddomains", "watch") {
        Duty::SeeDomains
    } else if has("monitoreddomains/status", "patch") {
        Duty::WriteStatus
    } else if has("events", "create") {
        Duty::RecordEvents
    } else if has("leases", "create") {
        Duty::HoldLeases
    } else if has("monitoreddomains", "create") {
        Duty::SyncDomains
    } else if has("domainhealthchecks", "watch") {
        Duty::SeeHealthChecks
    } else if has("domainhealthchecks/status", "patch") {
        Duty::WriteHealthCheckStatus
    } else {
        panic!("a new rule {rights:?}: say here what breaks without it")
    }
}

/// Each rule of the chart's Roles is needed: with any one of them taken out,
/// the API server refuses the operator requests of exactly that rule, and
/// something a user relies on stops happening. The runs, one namespace and
/// ServiceAccount each, go on side by side, so that what the others get done
/// shows the time in which a missing status or event would have come.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_any_one_rule_of_the_chart_the_operator_fails_at_its_job() {
    let (server, client, world) = rbac_setup().await;
    let dir = tempfile::tempdir().unwrap();

    let rules: Vec<(usize, usize)> = {
        let objects = rendered_for(&world, "rbac-rules", dir.path());
        let roles = of_kind(&objects, "Role");
        assert_eq!(roles.len(), 2, "the watch Role and the home Role");
        roles
            .iter()
            .enumerate()
            .flat_map(|(r, role)| (0..role["rules"].as_array().unwrap().len()).map(move |i| (r, i)))
            .collect()
    };
    assert_eq!(rules.len(), 7, "{rules:?}");
    let mut runs = Vec::new();
    for (n, (role_index, rule_index)) in rules.into_iter().enumerate() {
        let namespace = format!("rbac-without-{n}");
        let mut objects = rendered_for(&world, &namespace, dir.path());
        let role = objects
            .iter_mut()
            .filter(|o| o["kind"] == "Role")
            .nth(role_index)
            .unwrap();
        let removed = role["rules"].as_array_mut().unwrap().remove(rule_index);
        let (env, kubeconfig) = install_for_rbac(&server, &namespace, &objects, dir.path()).await;
        let operator = Operator::start_with_env(&namespace, &env, &kubeconfig);
        runs.push(WithoutRule {
            namespace,
            rights: rule_rights(&removed),
            operator,
        });
    }
    let duties: Vec<Duty> = runs.iter().map(|run| duty(&run.rights)).collect();
    for must in [
        Duty::SeeDomains,
        Duty::WriteStatus,
        Duty::RecordEvents,
        Duty::HoldLeases,
        Duty::SyncDomains,
        Duty::SeeHealthChecks,
        Duty::WriteHealthCheckStatus,
    ] {
        assert!(duties.contains(&must), "no rule for {must:?}: {duties:?}");
    }

    // What still works in each run, and the refusals, come first.
    for (run, duty) in runs.iter().zip(&duties) {
        let api: Api<MonitoredDomain> = Api::namespaced(client.clone(), &run.namespace);
        match duty {
            Duty::RecordEvents => {
                wait_for_availability(&api, "odd", Availability::Invalid, &run.operator).await;
                wait_for_availability(&api, "free", Availability::Available, &run.operator).await;
            }
            Duty::SyncDomains | Duty::SeeHealthChecks | Duty::WriteHealthCheckStatus => {
                wait_for_availability(&api, "taken", Availability::Registered, &run.operator).await;
            }
            Duty::SeeDomains | Duty::WriteStatus | Duty::HoldLeases => {}
        }
    }
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let refusals = loop {
        let requests = server.audited_requests();
        let refusals: Vec<Vec<AuditedRequest>> = runs
            .iter()
            .map(|run| {
                let user = service_account_user(&run.namespace);
                requests
                    .iter()
                    .filter(|r| r.user == user && !r.allowed)
                    .cloned()
                    .collect()
            })
            .collect();
        if refusals.iter().all(|r| !r.is_empty()) || tokio::time::Instant::now() > deadline {
            break refusals;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    // The sync's first run is over in every namespace by now (the sync run
    // itself has been refused); give the slowest check a moment more.
    tokio::time::sleep(Duration::from_secs(3)).await;

    let mut exits = Vec::new();
    for run in &mut runs {
        exits.push(run.operator.wait_exit(Duration::from_millis(200)).await);
    }

    for (((run, duty), refused), exit) in runs.iter().zip(&duties).zip(&refusals).zip(exits) {
        let context = || {
            format!(
                "without {:?} ({duty:?}) in {}; operator log:\n{}",
                run.rights,
                run.namespace,
                run.operator.log()
            )
        };
        assert!(!refused.is_empty(), "nothing refused {}", context());
        // The operator says what it was refused, at WARN or ERROR.
        let said = run.operator.log();
        let explained = refused.iter().any(|r| {
            let refusal = format!(r#"cannot {} resource \"{}\""#, r.verb, r.resource);
            said.lines().any(|line| {
                (line.contains(r#""level":"WARN""#) || line.contains(r#""level":"ERROR""#))
                    && line.contains(&refusal)
            })
        });
        assert!(explained, "the refusal is not logged {}", context());
        let other: Vec<&AuditedRequest> = refused
            .iter()
            .filter(|r| !run.rights.contains(&request_right(r)))
            .collect();
        assert!(
            other.is_empty(),
            "refused beyond the rule: {other:#?} {}",
            context()
        );

        let api: Api<MonitoredDomain> = Api::namespaced(client.clone(), &run.namespace);
        let events: Api<Event> = Api::namespaced(client.clone(), &run.namespace);
        let leases: Api<Lease> = Api::namespaced(client.clone(), &run.namespace);
        // The operator's events only: the API server records its own (e.g.
        // `ClusterIPNotAllocated` while it repairs the chart's Service).
        let event_count = events
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .iter()
            .filter(|e| e.reporting_controller.as_deref() == Some("domain-monitor"))
            .count();
        let lease_count = leases
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .len();
        match duty {
            Duty::SeeDomains | Duty::HoldLeases => {
                assert_eq!(
                    exit,
                    Some(1),
                    "it cannot work at all and stops {}",
                    context()
                );
            }
            Duty::WriteStatus
            | Duty::RecordEvents
            | Duty::SyncDomains
            | Duty::SeeHealthChecks
            | Duty::WriteHealthCheckStatus => {
                assert_eq!(exit, None, "it keeps working {}", context());
            }
        }
        match duty {
            Duty::SeeDomains | Duty::WriteStatus => {
                for name in ["taken", "odd", "free"] {
                    assert_eq!(availability(&api, name).await, None, "{name} {}", context());
                }
                assert_eq!(
                    event_count,
                    0,
                    "events {:?} {}",
                    events
                        .list(&ListParams::default())
                        .await
                        .unwrap()
                        .items
                        .iter()
                        .map(|e| (e.reason.clone(), e.note.clone()))
                        .collect::<Vec<_>>(),
                    context()
                );
            }
            Duty::HoldLeases => {
                assert_eq!(lease_count, 0, "{}", context());
                for name in ["taken", "odd", "free"] {
                    assert_eq!(availability(&api, name).await, None, "{name} {}", context());
                }
            }
            Duty::RecordEvents => {
                assert_eq!(
                    event_count,
                    0,
                    "no InvalidDomain, BecameAvailable… {}",
                    context()
                );
            }
            Duty::SyncDomains => {
                assert!(
                    api.get_opt("listed.test").await.unwrap().is_none(),
                    "{}",
                    context()
                );
            }
            Duty::SeeHealthChecks | Duty::WriteHealthCheckStatus => {
                let checks: Api<DomainHealthCheck> =
                    Api::namespaced(client.clone(), &run.namespace);
                let check = checks.get(HEALTH_CHECK).await.unwrap();
                assert_eq!(
                    check.status,
                    None,
                    "no DomainHealthCheck status {}",
                    context()
                );
                // The domains' own work goes on.
                assert_eq!(
                    availability(&api, "taken").await,
                    Some(Availability::Registered),
                    "{}",
                    context()
                );
            }
        }
    }
    drop(runs);
}

/// With `config.domainHealthChecks: true` the chart grants list/watch on
/// DomainHealthChecks and patch on their status, and the operator, probing
/// a check by `domain` and one by `domainRef`, uses exactly those rights on
/// them and is refused nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn domain_health_checks_get_exactly_the_rights_they_use() {
    let (server, client, world) = rbac_setup().await;
    support::dhc::install_dhc_crd(&client).await;
    let dir = tempfile::tempdir().unwrap();
    let ns = "rbac-dhc";
    let mut values = chart_values(&world, ns);
    values["config"]["domainHealthChecks"] = json!(true);
    values["config"]["dhcResolvers"] = json!({"tld": world.nsd.addrs()[0].to_string()});
    let values = write_json(dir.path(), "dhc-values.json", &values);
    let objects = documents(&template(RBAC_RELEASE, ns, &["-f", &values]).unwrap());
    let is_dhc = |(_, resource, _): &Right| resource.starts_with("domainhealthchecks");
    let granted: BTreeSet<Right> = of_kind(&objects, "Role")
        .into_iter()
        .flat_map(|role| role["rules"].as_array().unwrap())
        .flat_map(rule_rights)
        .filter(is_dhc)
        .collect();
    let right = |resource: &str, verb: &str| {
        (
            "domainmonitor.io".to_owned(),
            resource.to_owned(),
            verb.to_owned(),
        )
    };
    assert_eq!(
        granted,
        BTreeSet::from([
            right("domainhealthchecks", "list"),
            right("domainhealthchecks", "watch"),
            right("domainhealthchecks/status", "patch"),
        ])
    );
    let (env, kubeconfig) = install_for_rbac(&server, ns, &objects, dir.path()).await;
    assert!(
        env.iter()
            .any(|(k, v)| k == "DOMAIN_HEALTH_CHECKS" && v == "true"),
        "{env:?}"
    );
    let checks: Api<domain_monitor::resource::dhc::DomainHealthCheck> =
        Api::namespaced(client.clone(), ns);
    let records = vec![support::dhc::record(
        "@",
        domain_monitor::resource::dhc::ProbeRecordType::NS,
        &[],
    )];
    let by_name = support::dhc::check("by-name", "taken.test", records.clone(), Vec::new());
    let mut by_ref = support::dhc::check("by-ref", "taken.test", records, Vec::new());
    by_ref.spec.domain = None;
    by_ref.spec.domain_ref = Some("taken".to_owned());
    for mut check in [by_name, by_ref] {
        check.spec.interval = Some("10s".to_owned());
        checks.create(&PostParams::default(), &check).await.unwrap();
    }
    let mut operator = Operator::start_with_env("rbac-dhc", &env, &kubeconfig);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    for name in ["by-name", "by-ref"] {
        loop {
            let check = checks.get(name).await.unwrap();
            let domain = check.status.as_ref().and_then(|s| s.domain.clone());
            if domain.as_deref() == Some("taken.test") {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{name}: no status with the domain: {:#?}\n{}",
                check.status,
                operator.log()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    let requests = stop_and_audit(&mut operator, &server, ns).await;
    let used: BTreeSet<Right> = requests.iter().map(request_right).filter(is_dhc).collect();
    assert_eq!(used, granted, "rights used on DomainHealthChecks");
}

// === the NetworkPolicy's ingress ===

/// With `networkPolicy.enabled`, only pods of the release namespace, the
/// monitoring pods and the peers given reach port 8000 (the HTTP surface and
/// the metrics), and the policy applies to the operator's pods.
#[test]
fn the_network_policy_admits_the_release_namespace_and_the_monitoring_pods() {
    let ingress_of = |values: Value| -> (Value, Value) {
        let dir = tempfile::tempdir().unwrap();
        let values_file = write_json(dir.path(), "values.json", &values);
        let docs = documents(&template("dm", "ops", &["-f", &values_file]).unwrap());
        let policy = one(&docs, "NetworkPolicy").clone();
        let deployment = one(&docs, "Deployment");
        let pod_labels = deployment["spec"]["template"]["metadata"]["labels"].clone();
        let selector = policy["spec"]["podSelector"]["matchLabels"]
            .as_object()
            .expect("the policy selects pods by label")
            .clone();
        assert!(
            !selector.is_empty() && selector.iter().all(|(k, v)| pod_labels[k] == *v),
            "the policy applies to the operator's pods: {selector:?} / {pod_labels}"
        );
        let http_port = container(deployment)["ports"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "http")
            .expect("the http container port")["containerPort"]
            .clone();
        let rules = policy["spec"]["ingress"].as_array().unwrap().clone();
        assert_eq!(rules.len(), 1, "one ingress rule: {rules:?}");
        assert_eq!(
            rules[0]["ports"],
            json!([{"port": http_port, "protocol": "TCP"}]),
            "the surface's port only"
        );
        (rules[0]["from"].clone(), http_port)
    };

    // The defaults: the release namespace and every pod of `monitoring`.
    let (from, port) = ingress_of(json!({"networkPolicy": {"enabled": true}}));
    assert_eq!(port, 8000);
    assert_eq!(
        from,
        json!([
            {"podSelector": {}},
            {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
                "podSelector": {}
            }
        ])
    );

    // A named Prometheus in its own namespace, and a further peer.
    let prometheus = json!({"matchLabels": {"app.kubernetes.io/name": "prometheus"}});
    let (from, _) = ingress_of(json!({"networkPolicy": {
        "enabled": true,
        "monitoring": {"namespace": "observability", "podSelector": prometheus},
        "ingressFrom": [{"ipBlock": {"cidr": "10.20.0.0/16"}}],
    }}));
    assert_eq!(
        from,
        json!([
            {"podSelector": {}},
            {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "observability"}},
                "podSelector": prometheus
            },
            {"ipBlock": {"cidr": "10.20.0.0/16"}}
        ])
    );

    // No monitoring namespace: the release namespace only (never anyone:
    // an empty `from` would admit every source).
    let (from, _) = ingress_of(json!({"networkPolicy": {
        "enabled": true,
        "monitoring": {"namespace": ""},
    }}));
    assert_eq!(from, json!([{"podSelector": {}}]));

    // The schema refuses a misspelt monitoring key.
    let dir = tempfile::tempdir().unwrap();
    let values_file = write_json(
        dir.path(),
        "values.json",
        &json!({"networkPolicy": {"enabled": true, "monitoring": {"namespaces": "x"}}}),
    );
    let refused = template("dm", "ops", &["-f", &values_file]).unwrap_err();
    assert!(refused.contains("namespaces"), "{refused}");
}

// === the domain owners' dashboard ===

/// Every panel query of `dashboard` as `(panel title, PromQL)`; each panel
/// queries through the templated `${datasource}`.
fn dashboard_queries(dashboard: &Value) -> Vec<(String, String)> {
    panels(dashboard)
        .into_iter()
        .filter(|p| p["type"] != "row")
        .flat_map(|panel| {
            let title = panel["title"].as_str().unwrap_or("untitled").to_owned();
            assert_eq!(
                panel["datasource"]["uid"], "${datasource}",
                "panel {title:?} uses the templated data source"
            );
            let targets = panel["targets"].as_array().cloned().unwrap_or_default();
            assert!(!targets.is_empty(), "panel {title:?} has no query");
            targets.into_iter().map(move |t| {
                assert_eq!(t["datasource"]["uid"], "${datasource}", "{title}");
                (
                    title.clone(),
                    from_grafana(t["expr"].as_str().unwrap(), &DASHBOARD_VALUES),
                )
            })
        })
        .collect()
}

/// promtool parses every `(title, query)` as a recording rule, and each uses
/// at least one metric, only metrics the operator exports (histograms as
/// `_bucket`/`_sum`/`_count`) and only their labels, as Prometheus's own
/// parser names them; `_bucket` series only through `histogram_quantile` by
/// `le`. Returns the metrics used.
async fn assert_queries_are_promql_over_the_operators_metrics(
    prometheus: &Prometheus,
    queries: &[(String, String)],
) -> BTreeSet<String> {
    let dir = tempfile::tempdir().unwrap();
    let rules = json!({"groups": [{"name": "dashboard", "rules": queries.iter().enumerate()
        .map(|(n, (_, expr))| json!({"record": format!("dashboard:query_{n}"), "expr": expr}))
        .collect::<Vec<_>>()}]});
    let file = write_json(dir.path(), "rules.yaml", &rules);
    let checked = run(Command::new(promtool_binary()).args(["check", "rules", &file]))
        .unwrap_or_else(|e| {
            panic!("dashboard queries:\n{e}\n(promtool: `export DM_PROMTOOL=\"$(bash tests/prometheus/build.sh | tail -n 1)/promtool\"`)")
        });
    assert!(
        checked.contains(&format!("SUCCESS: {} rules found", queries.len())),
        "{checked}"
    );
    let known: BTreeSet<String> = domain_monitor::metrics::prometheus_names()
        .into_iter()
        .collect();
    let label_names = label_names();
    let mut used = BTreeSet::new();
    for (title, promql) in queries {
        let Names {
            metrics, labels, ..
        } = names_in(prometheus, promql)
            .await
            .unwrap_or_else(|e| panic!("{title}: {e}"));
        assert!(!metrics.is_empty(), "{title}: no metric in {promql}");
        for metric in &metrics {
            assert!(
                known.contains(metric),
                "{title}: {metric} is not a metric the operator exports ({promql})"
            );
        }
        for label in &labels {
            assert!(
                label_names.contains(label),
                "{title}: unknown label {label} in {promql}"
            );
        }
        if promql.contains("_bucket") {
            assert!(
                promql.contains("histogram_quantile(") && labels.contains("le"),
                "{title}: buckets are only useful through histogram_quantile by le: {promql}"
            );
        }
        used.extend(metrics);
    }
    used
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_domain_owners_dashboard_ships_beside_the_main_one_and_opens_on_domain_health() {
    // Its own ConfigMap, labelled for Grafana's sidecar like the main one,
    // holding the file as it is; dashboard.domainHealth.enabled=false (or
    // the dashboards off) leaves it out.
    let path = repo().join("charts/domain-monitor/dashboards/domain-health.json");
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
    let configmaps = |extra: &[&str]| -> BTreeMap<String, Value> {
        of_kind(
            &documents(&template("dm", "ops", extra).unwrap()),
            "ConfigMap",
        )
        .into_iter()
        .filter(|c| c["metadata"]["labels"]["grafana_dashboard"] == "1")
        .map(|c| {
            (
                c["metadata"]["name"].as_str().unwrap().to_owned(),
                c.clone(),
            )
        })
        .collect()
    };
    let shipped = configmaps(&["--set", "dashboard.labels.grafana_folder=dns"]);
    assert_eq!(
        shipped.keys().collect::<Vec<_>>(),
        [
            "dm-domain-monitor-dashboard",
            "dm-domain-monitor-dashboard-domain-health"
        ]
    );
    let owners = &shipped["dm-domain-monitor-dashboard-domain-health"];
    assert_eq!(owners["metadata"]["labels"]["grafana_folder"], "dns");
    let in_configmap: Value =
        serde_json::from_str(owners["data"]["domain-health.json"].as_str().unwrap()).unwrap();
    assert_eq!(in_configmap, dashboard);
    assert_eq!(
        configmaps(&["--set", "dashboard.domainHealth.enabled=false"])
            .keys()
            .collect::<Vec<_>>(),
        ["dm-domain-monitor-dashboard"]
    );
    assert!(configmaps(&["--set", "dashboard.enabled=false"]).is_empty());
    assert_ne!(dashboard["uid"], dashboard_json()["uid"]);

    domain_monitor::net::ensure_crypto_provider();
    let prometheus = Prometheus::start().await;
    let used = assert_queries_are_promql_over_the_operators_metrics(
        &prometheus,
        &dashboard_queries(&dashboard),
    )
    .await;

    // The top row: resolver success rate, p95 lookup latency, propagation
    // convergence, certificate expiry countdown, registry and name-server
    // status, in that order, before any other row.
    let all = dashboard["panels"].as_array().unwrap();
    assert_eq!(all[0]["type"], "row");
    assert_eq!(all[0]["title"], "Domain health at a glance");
    let top: Vec<(&str, Vec<&str>)> = all[1..]
        .iter()
        .take_while(|p| p["type"] != "row")
        .map(|p| {
            let exprs = p["targets"].as_array().unwrap();
            (
                p["title"].as_str().unwrap(),
                exprs.iter().filter_map(|t| t["expr"].as_str()).collect(),
            )
        })
        .collect();
    let wanted: [(&str, &[&str]); 6] = [
        (
            "Resolver success rate",
            &[
                // Per check (resolver names are per check), and 0 % rather
                // than no bar for a resolver without one success.
                r#"(sum by (namespace, name, resolver) (rate(dns_lookup_duration_seconds_count{job=~"$job", instance=~"$instance", outcome=~"noerror|nxdomain"}[$__rate_interval])) or 0 * sum by (namespace, name, resolver) (rate(dns_lookup_duration_seconds_count{job=~"$job", instance=~"$instance"}[$__rate_interval])))"#,
            ],
        ),
        (
            "p95 lookup latency",
            &[
                // Answered probes only: a dead resolver has no latency.
                r#"histogram_quantile(0.95, sum by (namespace, name, resolver, le) (rate(dns_lookup_duration_seconds_bucket{job=~"$job", instance=~"$instance", outcome=~"noerror|nxdomain"}"#,
            ],
        ),
        (
            "Propagation convergence",
            &[
                "domain_monitor_dhc_propagation_duration_seconds_bucket",
                "domain_monitor_dhc_propagation_pending_since_seconds",
            ],
        ),
        (
            "Certificate expiry countdown",
            &[
                "domain_monitor_dhc_certificate_expiry_seconds",
                "domain_monitor_dhc_certificate_expiry_warning_seconds",
            ],
        ),
        (
            "Registry status",
            &[
                "domain_monitor_health_expiry_seconds",
                "domain_monitor_health_locked",
            ],
        ),
        (
            "Name-server status",
            &[
                "domain_monitor_health_delegation_drift",
                "domain_monitor_health_dnssec_valid",
            ],
        ),
    ];
    assert_eq!(top.len(), wanted.len(), "{top:#?}");
    for ((title, exprs), (want_title, want_exprs)) in top.iter().zip(wanted) {
        assert!(
            title.starts_with(want_title),
            "{title:?}, wanted {want_title:?}"
        );
        for want in want_exprs {
            assert!(
                exprs.iter().any(|e| e.contains(want)),
                "{title}: no {want} in {exprs:?}"
            );
        }
    }

    // The detail rows follow, each with panels of its own metrics.
    let rows: Vec<&str> = all[1..]
        .iter()
        .filter(|p| p["type"] == "row")
        .filter_map(|p| p["title"].as_str())
        .collect();
    for row in [
        "Resolvers",
        "Records",
        "Propagation",
        "Certificates",
        "Registration",
    ] {
        assert!(
            rows.iter().any(|r| r.starts_with(row)),
            "no {row} row: {rows:?}"
        );
    }
    for metric in [
        "dns_lookup_duration_seconds_count",
        "dns_lookup_duration_seconds_bucket",
        "domain_monitor_dhc_propagation_duration_seconds_bucket",
        "domain_monitor_dhc_canary_delay_seconds_sum",
        "domain_monitor_dhc_canary_delay_seconds_count",
        "domain_monitor_dhc_certificate_expiry_seconds",
        "domain_monitor_health_dnssec_signature_expiry_seconds",
        "domain_monitor_health_registration_changes_total",
    ] {
        assert!(used.contains(metric), "no panel uses {metric}: {used:?}");
    }
}
