//! OTLP export of a running operator: a receiver on loopback decodes the
//! protobuf requests it sends and finds the metrics and spans.

mod support;

use std::{collections::BTreeMap, time::Duration};

use opentelemetry_proto::tonic::{
    collector::{metrics::v1::ExportMetricsServiceRequest, trace::v1::ExportTraceServiceRequest},
    common::v1::{AnyValue, KeyValue, any_value::Value},
    metrics::v1::{Metric, metric::Data, number_data_point},
};
use prost::Message;
use serde_json::json;
use support::{
    cluster::TestNamespace,
    http_stub::{HttpStub, Reply},
    operator::Operator,
    world::World,
};

fn text(value: Option<&AnyValue>) -> String {
    match value.and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::IntValue(i)) => i.to_string(),
        other => format!("{other:?}"),
    }
}

fn attributes(attributes: &[KeyValue]) -> BTreeMap<String, String> {
    attributes
        .iter()
        .map(|kv| (kv.key.clone(), text(kv.value.as_ref())))
        .collect()
}

/// Every data point of `metric`: its attributes and value.
fn points(metric: &Metric) -> Vec<(BTreeMap<String, String>, f64)> {
    let number = |v: &Option<number_data_point::Value>| match v {
        Some(number_data_point::Value::AsInt(i)) => *i as f64,
        Some(number_data_point::Value::AsDouble(d)) => *d,
        None => f64::NAN,
    };
    match &metric.data {
        Some(Data::Sum(sum)) => sum
            .data_points
            .iter()
            .map(|p| (attributes(&p.attributes), number(&p.value)))
            .collect(),
        Some(Data::Gauge(gauge)) => gauge
            .data_points
            .iter()
            .map(|p| (attributes(&p.attributes), number(&p.value)))
            .collect(),
        Some(Data::Histogram(histogram)) => histogram
            .data_points
            .iter()
            .map(|p| (attributes(&p.attributes), p.count as f64))
            .collect(),
        other => panic!("unexpected data in {}: {other:?}", metric.name),
    }
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_and_spans_reach_the_otlp_receiver_with_their_resource_and_are_flushed_at_exit() {
    domain_monitor::net::ensure_crypto_provider();
    let ns = TestNamespace::new("otlp").await;
    let world = World::start().await;
    world.register("taken.test", "active").await;
    world.unregistered("free.test");
    world.set_domain_list(&json!({"domains": ["taken.test", "free.test"]}));
    let receiver = HttpStub::start().await;
    receiver.set("/v1/metrics", Reply::new(200));
    receiver.set("/v1/traces", Reply::new(200));
    let mut env = world.operator_env();
    env.extend([
        ("OTEL_EXPORTER_OTLP_ENDPOINT".into(), receiver.url("/")),
        // Longer than the test: what arrives was flushed at shutdown.
        ("OTEL_METRIC_EXPORT_INTERVAL".into(), "3600000".into()),
    ]);
    let mut operator = Operator::start(&ns.name, "otlp-0", &env);
    let domains = ns.domains();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let list = domains.list(&Default::default()).await.expect("list");
        let decided = list
            .items
            .iter()
            .filter(|md| {
                md.status.as_ref().is_some_and(|s| {
                    s.availability != domain_monitor::resource::Availability::Unknown
                })
            })
            .count();
        if decided == 2 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "domains never decided:\n{}",
            operator.log()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(
        receiver.hits("/v1/metrics"),
        0,
        "nothing is exported before the interval"
    );
    operator.terminate();
    assert_eq!(
        operator.wait_exit(Duration::from_secs(30)).await,
        Some(0),
        "{}",
        operator.log()
    );

    // Metrics: one request flushed at shutdown, protobuf, with the resource.
    let requests = receiver.requests("/v1/metrics");
    assert_eq!(requests.len(), 1, "{}", operator.log());
    assert_eq!(
        requests[0].header("content-type"),
        Some("application/x-protobuf")
    );
    let export = ExportMetricsServiceRequest::decode(requests[0].body.as_slice())
        .expect("an OTLP ExportMetricsServiceRequest");
    let resource = &export.resource_metrics[0];
    let resource_attributes = attributes(&resource.resource.as_ref().unwrap().attributes);
    assert_eq!(resource_attributes["service.name"], "domain-monitor");
    assert_eq!(resource_attributes["service.instance.id"], "otlp-0");
    assert_eq!(
        resource_attributes["service.version"],
        env!("CARGO_PKG_VERSION")
    );
    let metrics: BTreeMap<String, &Metric> = resource
        .scope_metrics
        .iter()
        .flat_map(|scope| &scope.metrics)
        .map(|m| (m.name.clone(), m))
        .collect();

    let checks = metrics["domain_monitor.checks"];
    assert_eq!(checks.unit, "{check}");
    assert!(checks.description.starts_with("Checks run, by checker"));
    let check_points = points(checks);
    let dns_registered = check_points
        .iter()
        .find(|(a, _)| *a == labels(&[("checker", "dns"), ("result", "registered")]))
        .map(|(_, v)| *v);
    assert!(
        dns_registered >= Some(1.0),
        "DNS saw taken.test registered: {check_points:?}"
    );
    let durations = metrics["domain_monitor.check.duration"];
    assert_eq!(durations.unit, "s");
    let Some(Data::Histogram(histogram)) = &durations.data else {
        panic!("check durations are a histogram");
    };
    let dns = histogram
        .data_points
        .iter()
        .find(|p| attributes(&p.attributes) == labels(&[("checker", "dns")]))
        .expect("DNS check durations");
    assert!(dns.count >= 2);
    assert_eq!(
        dns.explicit_bounds,
        domain_monitor::metrics::BUCKETS.to_vec()
    );

    let by_availability: BTreeMap<String, f64> = points(metrics["domain_monitor.domains"])
        .into_iter()
        .map(|(a, v)| (a["availability"].clone(), v))
        .collect();
    assert_eq!(by_availability["Registered"], 1.0, "{by_availability:?}");
    assert_eq!(by_availability["Available"], 1.0, "{by_availability:?}");
    assert_eq!(by_availability["PendingDelete"], 0.0, "{by_availability:?}");
    assert_eq!(points(metrics["domain_monitor.shards.count"])[0].1, 16.0);
    // Flushed after the shards were released on the way out.
    assert_eq!(points(metrics["domain_monitor.shards.held"])[0].1, 0.0);
    let verdicts = points(metrics["domain_monitor.verdicts"]);
    assert!(
        verdicts
            .iter()
            .any(|(a, v)| a["availability"] == "Available" && *v >= 1.0),
        "{verdicts:?}"
    );
    let sync_runs = points(metrics["domain_monitor.sync.runs"]);
    assert!(
        sync_runs
            .iter()
            .any(|(a, v)| a["outcome"] == "ok" && *v >= 1.0),
        "{sync_runs:?}"
    );
    // Every instrument the operator defines was exported, except the ones
    // nothing has recorded yet.
    for instrument in domain_monitor::metrics::INSTRUMENTS {
        if let Some(metric) = metrics.get(instrument.name) {
            assert_eq!(metric.unit, instrument.unit, "{}", instrument.name);
            assert_eq!(
                metric.description, instrument.description,
                "{}",
                instrument.name
            );
        }
    }

    // Traces: reconciles with the domain, checks inside them.
    let spans: Vec<_> = receiver
        .requests("/v1/traces")
        .iter()
        .flat_map(|r| {
            ExportTraceServiceRequest::decode(r.body.as_slice())
                .expect("an OTLP ExportTraceServiceRequest")
                .resource_spans
        })
        .flat_map(|rs| rs.scope_spans)
        .flat_map(|ss| ss.spans)
        .collect();
    let reconcile = spans
        .iter()
        .find(|s| s.name == "reconcile" && attributes(&s.attributes)["domain"] == "free.test")
        .unwrap_or_else(|| panic!("a reconcile span for free.test in {} spans", spans.len()));
    // The verdict is on the reconcile's span: free.test ends Available.
    let verdicts: Vec<BTreeMap<String, String>> = spans
        .iter()
        .filter(|s| s.name == "reconcile" && attributes(&s.attributes)["domain"] == "free.test")
        .map(|s| attributes(&s.attributes))
        .collect();
    assert!(
        verdicts.iter().any(
            |a| a.get("availability").map(String::as_str) == Some("Available")
                && a.contains_key("confidence")
        ),
        "{verdicts:?}"
    );
    let check = spans
        .iter()
        .find(|s| {
            s.name == "check"
                && s.trace_id == reconcile.trace_id
                && attributes(&s.attributes)["checker"] == "rdap"
        })
        .expect("an RDAP check span in the reconcile's trace");
    assert_eq!(attributes(&check.attributes)["result"], "available");
}
