//! `GET /metrics/prometheus`: the exported metrics in the Prometheus text
//! exposition format (version 0.0.4), under the names Prometheus derives from
//! the OTLP metrics, so one dashboard serves a scrape and an OTLP push alike.

use std::fmt::Write;

use super::{INSTRUMENTS, Instrument, Kind, Metrics, Snapshot};

/// The content type of [`render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Renders every metric: counters and histograms from `metrics`, collected
/// values from `snapshot`. Labels `service_instance_id`/`instance` are left
/// to the scraper.
pub fn render(metrics: &Metrics, snapshot: &Snapshot) -> String {
    let counters = metrics.counters();
    let histograms = metrics.histograms();
    let mut out = String::new();
    for instrument in INSTRUMENTS {
        let name = instrument.prometheus_name();
        header(&mut out, instrument, &name);
        match instrument.kind {
            Kind::Counter => {
                for (label, value) in counters.get(instrument.key).into_iter().flatten() {
                    sample(&mut out, &name, &instrument.attributes_of(label), *value);
                }
            }
            Kind::Histogram => {
                for (label, histogram) in histograms.get(instrument.key).into_iter().flatten() {
                    let attributes = instrument.attributes_of(label);
                    let mut cumulative = 0;
                    for (i, count) in histogram.buckets.iter().enumerate() {
                        cumulative += count;
                        let le = super::BUCKETS
                            .get(i)
                            .map_or_else(|| "+Inf".to_owned(), f64::to_string);
                        let mut with_le = attributes.clone();
                        with_le.push(("le", &le));
                        sample(&mut out, &format!("{name}_bucket"), &with_le, cumulative);
                    }
                    sample(
                        &mut out,
                        &format!("{name}_sum"),
                        &attributes,
                        histogram.sum_seconds,
                    );
                    sample(
                        &mut out,
                        &format!("{name}_count"),
                        &attributes,
                        histogram.count,
                    );
                }
            }
            Kind::Gauge | Kind::ObservedCounter => {
                for (attributes, value) in super::collected(instrument, snapshot, metrics.uptime())
                {
                    let labels: Vec<(&str, &str)> =
                        attributes.iter().map(|(k, v)| (*k, v.as_str())).collect();
                    sample(&mut out, &name, &labels, value);
                }
            }
        }
    }
    out
}

fn header(out: &mut String, instrument: &Instrument, name: &str) {
    let kind = match instrument.kind {
        Kind::Counter | Kind::ObservedCounter => "counter",
        Kind::Histogram => "histogram",
        Kind::Gauge => "gauge",
    };
    // Writing to a String cannot fail.
    let _ = writeln!(out, "# HELP {name} {}", instrument.description);
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (key, value)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{key}=\"{}\"", escape(value));
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

/// Label values escape backslash, double quote and line feed.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::metrics::names;

    #[test]
    fn counters_and_histograms_render_with_attributes_and_cumulative_buckets() {
        let metrics = Metrics::new();
        metrics.count(names::CHECK_RESULTS, "dns/registered", 3);
        metrics.count(names::API_CALLS, "GET /domain/{domain} 404", 1);
        metrics.time(names::CHECK_DURATION, "rdap", Duration::from_millis(3));
        metrics.time(names::CHECK_DURATION, "rdap", Duration::from_millis(40));
        let text = render(&metrics, &Snapshot::default());
        assert!(text.contains("# TYPE domain_monitor_checks_total counter\n"));
        assert!(
            text.contains("domain_monitor_checks_total{checker=\"dns\",result=\"registered\"} 3\n")
        );
        assert!(text.contains(
            "domain_monitor_http_server_requests_total{method=\"GET\",route=\"/domain/{domain}\",status=\"404\"} 1\n"
        ));
        assert!(text.contains(
            "domain_monitor_check_duration_seconds_bucket{checker=\"rdap\",le=\"0.0025\"} 0\n"
        ));
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
            text.contains("domain_monitor_check_duration_seconds_sum{checker=\"rdap\"} 0.043\n")
        );
        assert!(text.contains("domain_monitor_check_duration_seconds_count{checker=\"rdap\"} 2\n"));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
