//! Logs, traces and error reports, set up once at start-up.
//!
//! Spans of reconciles and checks go to OTLP when a traces endpoint is set
//! (see [`crate::otel`]).
//!
//! Sentry is used only when `SENTRY_DSN` is set. Error-level log events
//! (failed reconciles, failed start-ups) and panics become Sentry events;
//! lower levels become breadcrumbs. Every event passes through [`redact`]
//! first, so the callback token and the DSN never leave the process.

use std::sync::Arc;

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

use crate::{
    config::{LogArgs, LogFormat, Secret},
    otel::Otel,
};

/// What to report to Sentry.
#[derive(Debug, Clone)]
pub struct SentrySettings {
    /// The DSN.
    pub dsn: Secret,
    /// Other secrets that must never appear in an event (the bearer token…).
    pub secrets: Vec<Secret>,
    /// This replica's name, sent as the server name.
    pub instance: String,
}

/// Keeps reporting alive; when dropped, flushes pending OTLP data and Sentry
/// events.
#[must_use = "dropping the guard stops error reporting"]
pub struct Telemetry {
    otel: Otel,
    _sentry: Option<sentry::ClientInitGuard>,
}

impl Telemetry {
    /// The OpenTelemetry exporters (inactive unless configured).
    pub fn otel(&self) -> &Otel {
        &self.otel
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        self.otel.shutdown();
    }
}

/// Installs the global `tracing` subscriber (text or JSON lines on stderr,
/// filtered by `RUST_LOG` / `--log-filter`), span export to OTLP when `otel`
/// has a tracer, and Sentry when configured.
pub fn init(args: &LogArgs, sentry_settings: Option<SentrySettings>, otel: Otel) -> Telemetry {
    // Sentry's transport builds a reqwest client, which needs rustls's
    // provider: without it the process panics before anything else runs.
    crate::net::ensure_crypto_provider();
    let guard = sentry_settings.map(|settings| sentry::init(client_options(&settings)));
    let sentry_layers = guard.as_ref().map(|_| sentry_layers());
    let span_export = otel
        .tracer()
        .map(|tracer| tracing_opentelemetry::layer().with_tracer(tracer));
    // The filter was validated when the configuration was parsed.
    let filter = EnvFilter::try_new(&args.log_filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry()
        .with(filter)
        .with(sentry_layers)
        .with(span_export);
    match args.log_format {
        LogFormat::Text => registry
            .with(fmt::layer().with_writer(std::io::stderr))
            .init(),
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_writer(std::io::stderr),
            )
            .init(),
    }
    Telemetry {
        otel,
        _sentry: guard,
    }
}

/// Error events become Sentry events; info and warnings become breadcrumbs.
fn sentry_layers<S>() -> impl tracing_subscriber::Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    use sentry::integrations::tracing::{BreadcrumbLayer, ErrorLayer};
    use tracing_subscriber::filter::LevelFilter;
    ErrorLayer::new()
        .with_filter(LevelFilter::ERROR)
        .and_then(BreadcrumbLayer::new().with_filter(LevelFilter::INFO))
}

/// The Sentry client options: the DSN, this replica's name, no personal data,
/// and [`redact`] before anything is sent.
pub fn client_options(settings: &SentrySettings) -> sentry::ClientOptions {
    let mut secrets: Vec<String> = settings
        .secrets
        .iter()
        .map(|s| s.expose().to_owned())
        .collect();
    secrets.push(settings.dsn.expose().to_owned());
    let secrets = Arc::new(secrets);
    let mut options = sentry::ClientOptions::default();
    options.dsn = settings.dsn.expose().parse().ok();
    options.release = sentry::release_name!();
    options.server_name = Some(settings.instance.clone().into());
    options.send_default_pii = false;
    options.before_send = Some(Arc::new(move |event| redact(event, &secrets)));
    options
}

/// Replaces every occurrence of a secret anywhere in the event (message,
/// exception, tracing fields in contexts, tags, extra, breadcrumbs) by
/// `<redacted>` (short secrets only as whole tokens: [`crate::config::redact`]). The event is scrubbed as a JSON tree so that no field is
/// forgotten; one that cannot be scrubbed is dropped rather than sent.
pub fn redact(
    event: sentry::protocol::Event<'static>,
    secrets: &[String],
) -> Option<sentry::protocol::Event<'static>> {
    let mut tree = serde_json::to_value(&event).ok()?;
    scrub(&mut tree, secrets);
    serde_json::from_value(tree).ok()
}

fn scrub(value: &mut serde_json::Value, secrets: &[String]) {
    match value {
        serde_json::Value::String(text) => {
            for secret in secrets {
                if text.contains(secret.as_str()) {
                    *text = crate::config::redact(text, secret);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(|v| scrub(v, secrets)),
        serde_json::Value::Object(map) => map.values_mut().for_each(|v| scrub(v, secrets)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_logs_become_sentry_events_without_secrets() {
        let settings = SentrySettings {
            dsn: Secret::new("https://publickey123@sentry.example/42"),
            secrets: vec![Secret::new("tok-SECRET-1")],
            instance: "replica-1".to_owned(),
        };
        let events = sentry::test::with_captured_events_options(
            || {
                let subscriber = tracing_subscriber::registry().with(sentry_layers());
                tracing::subscriber::with_default(subscriber, || {
                    tracing::info!("posting with bearer tok-SECRET-1 to the receiver");
                    tracing::warn!(dsn = "https://publickey123@sentry.example/42", "a warning");
                    tracing::error!(
                        error = "the receiver rejected tok-SECRET-1",
                        "reconcile failed"
                    );
                });
            },
            client_options(&settings),
        );
        assert_eq!(events.len(), 1, "only the error becomes an event");
        let event = &events[0];
        assert_eq!(event.server_name.as_deref(), Some("replica-1"));
        let json = serde_json::to_string(event).unwrap();
        assert!(json.contains("reconcile failed"), "{json}");
        assert!(json.contains("<redacted>"), "{json}");
        assert!(!json.contains("tok-SECRET-1"), "token leaked: {json}");
        assert!(!json.contains("publickey123"), "DSN key leaked: {json}");
        assert_eq!(
            event.breadcrumbs.values.len(),
            2,
            "info and warn are breadcrumbs"
        );
    }
}
