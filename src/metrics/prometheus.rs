//! `GET /metrics/prometheus`: the registry in the Prometheus text exposition
//! format (version 0.0.4), encoded by the `prometheus-client` crate, under
//! the names and label names Prometheus derives from the OTLP metrics (dots
//! become underscores, units and `_total` become suffixes), so one dashboard
//! serves a scrape and an OTLP push alike.

use std::{borrow::Cow, time::Duration};

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet},
    metrics::{MetricType, counter::ConstCounter, gauge::ConstGauge},
    registry::{Registry, Unit},
};

use super::{Attributes, INSTRUMENTS, Instrument, Kind, Metrics, Snapshot};

/// The content type of [`render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Renders every metric: counters and histograms from `metrics`, collected
/// values from `snapshot`. Labels `job`/`instance` are left to the scraper.
pub fn render(metrics: &Metrics, snapshot: &Snapshot) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(View {
        families: families(metrics),
        snapshot: snapshot.clone(),
        uptime: metrics.uptime(),
    }));
    let mut out = String::new();
    // Writing to a String cannot fail, and the view writes nothing else.
    let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &registry);
    out
}

/// What one scrape encodes, read from the registry when the scrape began.
#[derive(Debug)]
struct View {
    families: Vec<(&'static Instrument, Series)>,
    snapshot: Snapshot,
    uptime: Duration,
}

#[derive(Debug)]
enum Series {
    Counter(Vec<(Attributes, u64)>),
    Histogram(Vec<(Attributes, super::Histogram)>),
}

fn families(metrics: &Metrics) -> Vec<(&'static Instrument, Series)> {
    let counters = metrics
        .counter_families()
        .into_iter()
        .map(|f| (f.instrument(), Series::Counter(sorted(f.collect()))));
    let timers = metrics
        .timer_families()
        .into_iter()
        .map(|f| (f.instrument(), Series::Histogram(sorted(f.collect()))));
    counters.chain(timers).collect()
}

fn sorted<T>(mut series: Vec<(Attributes, T)>) -> Vec<(Attributes, T)> {
    series.sort_by(|a, b| a.0.cmp(&b.0));
    series
}

/// Attribute names as Prometheus label names (dots become underscores).
fn label_set(attributes: &Attributes) -> Vec<(Cow<'static, str>, Cow<'static, str>)> {
    attributes
        .iter()
        .map(|(key, value)| {
            let key = if key.contains('.') {
                Cow::Owned(key.replace('.', "_"))
            } else {
                Cow::Borrowed(*key)
            };
            (key, value.clone())
        })
        .collect()
}

fn descriptor<'a>(
    encoder: &'a mut DescriptorEncoder<'_>,
    instrument: &Instrument,
    base: &'a str,
    unit: Option<&'a Unit>,
) -> Result<prometheus_client::encoding::MetricEncoder<'a>, std::fmt::Error> {
    let metric_type = match instrument.kind {
        Kind::Counter | Kind::ObservedCounter => MetricType::Counter,
        Kind::Histogram => MetricType::Histogram,
        Kind::Gauge => MetricType::Gauge,
    };
    encoder.encode_descriptor(base, instrument.description, unit, metric_type)
}

/// `value` as an integer, when it is one (and exactly representable).
fn whole(value: f64) -> Option<u64> {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    (value.fract() == 0.0 && (0.0..9_007_199_254_740_992.0).contains(&value))
        .then_some(value as u64)
}

impl Collector for View {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let seconds = Unit::Seconds;
        for instrument in INSTRUMENTS {
            let base = instrument.prometheus_base();
            let unit = (instrument.unit == "s").then_some(&seconds);
            let series = self
                .families
                .iter()
                .find(|(i, _)| i.name == instrument.name);
            match series {
                Some((_, Series::Counter(series))) => {
                    let mut metric = descriptor(&mut encoder, instrument, &base, unit)?;
                    for (attributes, value) in series {
                        let labels = label_set(attributes);
                        ConstCounter::new(*value).encode(metric.encode_family(&labels)?)?;
                    }
                }
                Some((_, Series::Histogram(series))) => {
                    let mut metric = descriptor(&mut encoder, instrument, &base, unit)?;
                    for (attributes, histogram) in series {
                        let labels = label_set(attributes);
                        let buckets: Vec<(f64, u64)> = histogram
                            .bounds
                            .iter()
                            .copied()
                            .chain([f64::INFINITY])
                            .zip(histogram.buckets.iter().copied())
                            .collect();
                        metric
                            .encode_family(&labels)?
                            .encode_histogram::<NoLabelSet>(
                                histogram.sum_seconds,
                                histogram.count,
                                &buckets,
                                None,
                            )?;
                    }
                }
                None => {
                    let collected = super::collected(instrument, &self.snapshot, self.uptime);
                    let mut metric = descriptor(&mut encoder, instrument, &base, unit)?;
                    for (attributes, value) in collected {
                        let labels = label_set(&attributes);
                        let family = metric.encode_family(&labels)?;
                        // Counts are written as integers (`3`, not `3.0`).
                        match (instrument.kind, whole(value)) {
                            (Kind::ObservedCounter, Some(n)) => {
                                ConstCounter::new(n).encode(family)?;
                            }
                            (Kind::ObservedCounter, None) => {
                                ConstCounter::new(value).encode(family)?
                            }
                            (_, Some(n)) => ConstGauge::new(n).encode(family)?,
                            (_, None) => ConstGauge::new(value).encode(family)?,
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        check::CheckKind,
        metrics::labels::{CheckLabels, CheckerLabels, HttpMethod, HttpRequestLabels},
        resource::{Availability, CheckOutcome},
    };

    #[test]
    fn counters_and_histograms_render_with_labels_and_cumulative_buckets() {
        let metrics = Metrics::new();
        metrics.checks.add(
            CheckLabels {
                checker: CheckKind::Dns,
                result: CheckOutcome::Registered,
            },
            3,
        );
        metrics.http_server_duration.record(
            HttpRequestLabels {
                method: HttpMethod::Get,
                route: "/domain/{domain}",
                status: 404,
            },
            Duration::from_millis(7),
        );
        let rdap = CheckerLabels {
            checker: CheckKind::Rdap,
        };
        metrics
            .check_duration
            .record(rdap, Duration::from_millis(3));
        metrics
            .check_duration
            .record(rdap, Duration::from_millis(40));
        let snapshot = Snapshot {
            domains: vec![(Availability::PendingDelete, 2)],
            ..Snapshot::default()
        };
        let text = render(&metrics, &snapshot);
        assert!(
            text.contains("# TYPE domain_monitor_checks_total counter\n"),
            "{text}"
        );
        assert!(
            text.contains("domain_monitor_checks_total{checker=\"dns\",result=\"registered\"} 3\n"),
            "{text}"
        );
        assert!(text.contains(
            "http_server_request_duration_seconds_count{http_request_method=\"GET\",http_route=\"/domain/{domain}\",http_response_status_code=\"404\"} 1\n"
        ), "{text}");
        assert!(
            text.contains(
                "domain_monitor_check_duration_seconds_bucket{checker=\"rdap\",le=\"0.0025\"} 0\n"
            ),
            "{text}"
        );
        assert!(text.contains(
            "domain_monitor_check_duration_seconds_bucket{checker=\"rdap\",le=\"0.005\"} 1\n"
        ));
        assert!(text.contains(
            "domain_monitor_check_duration_seconds_bucket{checker=\"rdap\",le=\"0.05\"} 2\n"
        ));
        assert!(text.contains(
            "domain_monitor_check_duration_seconds_bucket{checker=\"rdap\",le=\"+Inf\"} 2\n"
        ));
        assert!(
            text.contains("domain_monitor_check_duration_seconds_sum{checker=\"rdap\"} 0.043\n"),
            "{text}"
        );
        assert!(text.contains("domain_monitor_check_duration_seconds_count{checker=\"rdap\"} 2\n"));
        assert!(
            text.contains("domain_monitor_domains{availability=\"PendingDelete\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("# TYPE domain_monitor_uptime_seconds gauge\n"));
        // Absent, not zero, when no notification is pending.
        assert!(!text.contains("\ndomain_monitor_notifications_pending_age_seconds "));
        // Every exported name is declared, as Prometheus derives it.
        for instrument in INSTRUMENTS {
            let name = instrument.prometheus_name();
            assert!(text.contains(&format!("# TYPE {name} ")), "{name}\n{text}");
        }
    }

    #[test]
    fn each_histogram_has_the_buckets_of_what_it_measures() {
        use crate::{
            metrics::dhc::{DnsLookupLabels, PropagationLabels},
            resource::dhc::{LookupOutcome, ProbeRecordType},
        };
        let metrics = Metrics::new();
        let propagation = PropagationLabels {
            namespace: "web",
            name: "shop",
            resolver: "a",
        };
        // A change that took 40 minutes, and one that took 2 hours: past
        // the operator's own 30 s bound, inside the delays' own.
        for minutes in [40, 120] {
            metrics
                .propagation_duration
                .record(propagation, Duration::from_secs(minutes * 60));
        }
        let lookup = DnsLookupLabels {
            namespace: "web",
            name: "shop",
            question: "www.shop.example",
            record_type: ProbeRecordType::A,
            resolver: "a",
            outcome: LookupOutcome::NOERROR,
        };
        metrics
            .dns_lookup_duration
            .record(lookup, Duration::from_micros(300));
        let text = render(&metrics, &Snapshot::default());
        let series = r#"domain_monitor_dhc_propagation_duration_seconds_bucket{namespace="web",name="shop",resolver="a""#;
        for (le, count) in [
            ("30", 0),
            ("1800", 0),
            ("3600", 1),
            ("7200", 2),
            ("+Inf", 2),
        ] {
            assert!(
                text.contains(&format!("{series},le=\"{le}\"}} {count}\n")),
                "le={le}: {count}\n{text}"
            );
        }
        assert!(
            text.contains(r#"dns_lookup_duration_seconds_bucket{namespace="web",name="shop",dns_question_name="www.shop.example",dns_question_type="A",resolver="a",outcome="noerror",le="0.0005"} 1"#),
            "{text}"
        );
        // The operator's own latencies keep theirs.
        assert_eq!(
            super::super::instruments::CHECK_DURATION.buckets,
            &super::super::BUCKETS
        );
        for instrument in INSTRUMENTS.iter().filter(|i| i.kind == Kind::Histogram) {
            assert!(
                instrument.buckets.windows(2).all(|w| w[0] < w[1]),
                "{}: ascending bounds",
                instrument.name
            );
        }
    }
}
