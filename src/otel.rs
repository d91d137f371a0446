//! OpenTelemetry export: the metrics of [`crate::metrics`] and traces of
//! reconciles and checks, pushed over OTLP/HTTP (protobuf) when an endpoint
//! is configured with the standard `OTEL_*` variables.
//!
//! The periodic reader and the batch span processor run on their own threads
//! with the blocking reqwest client (the periodic reader does not support the
//! async one), so a slow or dead receiver never stalls a check.

use std::collections::HashMap;

use opentelemetry::{
    Key, KeyValue,
    metrics::{AsyncInstrument, Counter, Histogram, Meter, MeterProvider as _},
    trace::TracerProvider as _,
};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::{
    Resource,
    metrics::{PeriodicReader, SdkMeterProvider, Temporality},
    trace::{SdkTracerProvider, Tracer},
};

use crate::{
    config::OtelArgs,
    metrics::{self, Attributes, Instrument, Kind, Metrics, SnapshotSource},
};

/// The instrumentation scope of everything exported.
const SCOPE: &str = "domain-monitor";

/// Why export could not start.
#[derive(Debug, thiserror::Error)]
pub enum OtelError {
    /// The exporter could not be built.
    #[error("cannot build the OTLP {signal} exporter: {source}")]
    Exporter {
        /// `metrics` or `traces`.
        signal: &'static str,
        /// The SDK's error.
        source: opentelemetry_otlp::ExporterBuildError,
    },
}

/// The running exporters; [`Otel::shutdown`] flushes them.
#[derive(Debug, Default)]
pub struct Otel {
    meter_provider: Option<SdkMeterProvider>,
    tracer_provider: Option<SdkTracerProvider>,
}

impl Otel {
    /// Starts the exporters `args` asks for (none when no endpoint is set).
    /// `instance` becomes `service.instance.id`.
    pub fn start(args: &OtelArgs, instance: &str) -> Result<Self, OtelError> {
        let metrics_endpoint = args.metrics_endpoint();
        let traces_endpoint = args.traces_endpoint();
        if metrics_endpoint.is_none() && traces_endpoint.is_none() {
            return Ok(Self::default());
        }
        crate::net::ensure_crypto_provider();
        let resource = resource(args, instance);
        let meter_provider = match metrics_endpoint {
            Some(endpoint) => {
                // Cumulative, whatever OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE
                // says: Prometheus's OTLP receiver refuses delta sums and
                // histograms (HTTP 500) unless a feature flag converts them.
                let exporter = opentelemetry_otlp::MetricExporter::builder()
                    .with_http()
                    .with_temporality(Temporality::Cumulative)
                    .with_protocol(Protocol::HttpBinary)
                    .with_endpoint(endpoint.as_str())
                    .build()
                    .map_err(|source| OtelError::Exporter {
                        signal: "metrics",
                        source,
                    })?;
                let reader = PeriodicReader::builder(exporter)
                    .with_interval(args.metric_export_interval)
                    .build();
                Some(
                    SdkMeterProvider::builder()
                        .with_resource(resource.clone())
                        .with_reader(reader)
                        .build(),
                )
            }
            None => None,
        };
        let tracer_provider = match traces_endpoint {
            Some(endpoint) => {
                let exporter = opentelemetry_otlp::SpanExporter::builder()
                    .with_http()
                    .with_protocol(Protocol::HttpBinary)
                    .with_endpoint(endpoint.as_str())
                    .build()
                    .map_err(|source| OtelError::Exporter {
                        signal: "traces",
                        source,
                    })?;
                Some(
                    SdkTracerProvider::builder()
                        .with_resource(resource)
                        .with_batch_exporter(exporter)
                        .build(),
                )
            }
            None => None,
        };
        Ok(Self {
            meter_provider,
            tracer_provider,
        })
    }

    /// The meter, when metrics are exported.
    pub fn meter(&self) -> Option<Meter> {
        self.meter_provider.as_ref().map(|p| p.meter(SCOPE))
    }

    /// The tracer, when traces are exported.
    pub fn tracer(&self) -> Option<Tracer> {
        self.tracer_provider.as_ref().map(|p| p.tracer(SCOPE))
    }

    /// Exports what is pending and stops the exporters. Blocks until the
    /// receiver answered or the export timeout passed.
    pub fn shutdown(&self) {
        if let Some(provider) = &self.meter_provider
            && let Err(err) = provider.shutdown()
        {
            eprintln!("domain-monitor: flushing OTLP metrics failed: {err}");
        }
        if let Some(provider) = &self.tracer_provider
            && let Err(err) = provider.shutdown()
        {
            eprintln!("domain-monitor: flushing OTLP traces failed: {err}");
        }
    }
}

/// `service.name` (`OTEL_SERVICE_NAME`, else one from
/// `OTEL_RESOURCE_ATTRIBUTES`, else `domain-monitor`), `service.instance.id`
/// and `service.version`, on top of what the SDK reads from the environment.
fn resource(args: &OtelArgs, instance: &str) -> Resource {
    let from_env = Resource::builder().build();
    let named_by_env = from_env
        .get(&Key::from_static_str("service.name"))
        .is_some_and(|name| !name.as_str().starts_with("unknown_service"));
    let mut builder = Resource::builder()
        .with_attribute(KeyValue::new("service.instance.id", instance.to_owned()))
        .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")));
    match &args.service_name {
        Some(name) => builder = builder.with_service_name(name.clone()),
        None if !named_by_env => builder = builder.with_service_name(SCOPE),
        None => {}
    }
    builder.build()
}

/// Registers every instrument of [`metrics::INSTRUMENTS`] on `meter`: counters
/// and histograms are fed by `metrics` from now on, collected values are read
/// from `snapshot` at every export.
pub fn instrument(meter: &Meter, metrics: &Metrics, snapshot: SnapshotSource) {
    let mut counters = HashMap::new();
    let mut histograms = HashMap::new();
    for instrument in metrics::INSTRUMENTS {
        match instrument.kind {
            Kind::Counter => {
                let counter = meter
                    .u64_counter(instrument.name)
                    .with_unit(instrument.unit)
                    .with_description(instrument.description)
                    .build();
                counters.insert(instrument.name, counter);
            }
            Kind::Histogram => {
                let histogram = meter
                    .f64_histogram(instrument.name)
                    .with_unit(instrument.unit)
                    .with_description(instrument.description)
                    .with_boundaries(instrument.buckets.to_vec())
                    .build();
                histograms.insert(instrument.name, histogram);
            }
            Kind::Gauge => {
                meter
                    .f64_observable_gauge(instrument.name)
                    .with_unit(instrument.unit)
                    .with_description(instrument.description)
                    .with_callback(observe(instrument, &snapshot, metrics.started()))
                    .build();
            }
            Kind::ObservedCounter => {
                meter
                    .f64_observable_counter(instrument.name)
                    .with_unit(instrument.unit)
                    .with_description(instrument.description)
                    .with_callback(observe(instrument, &snapshot, metrics.started()))
                    .build();
            }
        }
    }
    metrics.export_to(Box::new(OtelExport {
        counters,
        histograms,
    }));
}

/// The callback of a collected instrument: reads a snapshot at every export.
fn observe(
    instrument: &'static Instrument,
    snapshot: &SnapshotSource,
    started: std::time::Instant,
) -> impl Fn(&dyn AsyncInstrument<f64>) + Send + Sync + 'static {
    let snapshot = SnapshotSource::clone(snapshot);
    move |observer| {
        for (attributes, value) in metrics::collected(instrument, &snapshot(), started.elapsed()) {
            observer.observe(value, &key_values(&attributes));
        }
    }
}

fn key_values(attributes: &Attributes) -> Vec<KeyValue> {
    attributes
        .iter()
        .map(|(key, value)| KeyValue::new(*key, value.clone()))
        .collect()
}

/// Feeds the OpenTelemetry counters and histograms.
struct OtelExport {
    counters: HashMap<&'static str, Counter<u64>>,
    histograms: HashMap<&'static str, Histogram<f64>>,
}

impl metrics::Export for OtelExport {
    fn count(&self, instrument: &'static Instrument, attributes: &Attributes, by: u64) {
        if let Some(counter) = self.counters.get(instrument.name) {
            counter.add(by, &key_values(attributes));
        }
    }

    fn time(&self, instrument: &'static Instrument, attributes: &Attributes, seconds: f64) {
        if let Some(histogram) = self.histograms.get(instrument.name) {
            histogram.record(seconds, &key_values(attributes));
        }
    }
}
