//! The binary's command line: CRD output and start-up configuration errors.

use std::process::{Command, Output};

fn domain_monitor(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_domain-monitor"));
    command.env_clear().args(args);
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("binary runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn crd_subcommand_prints_the_committed_crd() {
    let output = domain_monitor(&["crd"], &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/crds/monitoreddomain.yaml"
    ))
    .unwrap();
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        committed,
        "crds/monitoreddomain.yaml drifted from `domain-monitor crd`: run `just crd`"
    );
}

#[test]
fn crd_subcommand_prints_the_committed_domain_health_check_crd() {
    let output = domain_monitor(&["crd", "--kind", "domain-health-check"], &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/crds/domainhealthcheck.yaml"
    ))
    .unwrap();
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        committed,
        "crds/domainhealthcheck.yaml drifted from `domain-monitor crd --kind domain-health-check`: run `just crd`"
    );
}

#[test]
fn bad_values_name_the_variable_the_value_and_what_is_expected() {
    // (variable, value, the part of the value the message quotes, expectation)
    let cases = [
        (
            "DOMAIN_API_REFRESH_INTERVAL",
            "soon",
            "soon",
            "duration such as",
        ),
        (
            "DOMAIN_API_REFRESH_INTERVAL",
            "5",
            "5",
            "at least 10 seconds",
        ),
        (
            "API_CALLBACK_URL",
            "callback.example/hook",
            "callback.example/hook",
            "http:// or https:// URL",
        ),
        ("CONFIDENCE_THRESHOLD", "1.5", "1.5", "from 0.0 to 1.0"),
        ("WHOIS_RATE_LIMIT", "lots", "lots", "requests per period"),
        (
            "DNS_RESOLVERS",
            "127.0.0.1:53,nameserver",
            "nameserver",
            "IP addresses",
        ),
        ("RDAP_OVERRIDES", "io", "io", "tld=url"),
        ("LOG_FORMAT", "xml", "xml", "one of text, json"),
        ("MAX_CONCURRENT_CHECKS", "0", "0", "not in 1..="),
        (
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            "grpc",
            "grpc",
            "expected http/protobuf",
        ),
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "collector:4318",
            "collector:4318",
            "http:// or https:// URL",
        ),
        ("OTEL_METRIC_EXPORT_INTERVAL", "1m", "1m", "milliseconds"),
        (
            "OTEL_TRACES_EXPORTER",
            "jaeger",
            "jaeger",
            "one of otlp, none",
        ),
    ];
    for (variable, value, shown, expected) in cases {
        let output = domain_monitor(&["run"], &[(variable, value)]);
        let message = stderr(&output);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{variable}={value}: {message}"
        );
        assert!(message.contains(variable), "{variable}: {message}");
        assert!(
            message.contains(&format!("= {shown:?}")),
            "{variable}: {message}"
        );
        assert!(message.contains(expected), "{variable}: {message}");
    }
}

#[test]
fn flags_are_named_too() {
    let output = domain_monitor(&["run", "--check-interval", "often"], &[]);
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        message.contains("CHECK_INTERVAL (flag --check-interval)"),
        "{message}"
    );
}

#[test]
fn secrets_are_redacted_in_errors() {
    let secret_dsn = "not-a-dsn-but-secret-s3cr3t";
    let output = domain_monitor(&["run"], &[("SENTRY_DSN", secret_dsn)]);
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(2));
    assert!(message.contains("SENTRY_DSN"), "{message}");
    assert!(message.contains("<redacted>"), "{message}");
    assert!(!message.contains("s3cr3t"), "secret leaked: {message}");
}

#[test]
fn inconsistent_settings_are_explained() {
    let output = domain_monitor(
        &["run"],
        &[("API_CALLBACK_URL", "https://hooks.example/domains")],
    );
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(2));
    assert!(message.contains("API_AUTH_TOKEN is not"), "{message}");

    let output = domain_monitor(
        &["run"],
        &[("PRIORITY_CHECK_INTERVAL", "2h"), ("CHECK_INTERVAL", "1h")],
    );
    assert!(stderr(&output).contains("PRIORITY_CHECK_INTERVAL (2h) is longer"));
}

#[test]
fn run_without_a_cluster_says_how_to_connect() {
    let output = domain_monitor(&["run"], &[("KUBECONFIG", "/nonexistent/kubeconfig")]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("cannot connect to Kubernetes"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn run_with_sentry_starts_like_without() {
    let output = domain_monitor(
        &["run"],
        &[
            ("KUBECONFIG", "/nonexistent/kubeconfig"),
            ("SENTRY_DSN", "http://publickey@127.0.0.1:9/1"),
        ],
    );
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("cannot connect to Kubernetes"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn the_chart_ships_the_same_crd() {
    let root = env!("CARGO_MANIFEST_DIR");
    for file in ["monitoreddomain.yaml", "domainhealthcheck.yaml"] {
        let committed = std::fs::read_to_string(format!("{root}/crds/{file}")).unwrap();
        let chart =
            std::fs::read_to_string(format!("{root}/charts/domain-monitor/crds/{file}")).unwrap();
        assert_eq!(
            chart, committed,
            "the chart's {file} is stale: run `just crd`"
        );
    }
}
