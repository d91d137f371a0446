//! Logs (and, in later steps, metrics and traces): set up once at start-up.

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

use crate::config::{LogArgs, LogFormat};

/// Installs the global `tracing` subscriber: text or JSON lines on stderr,
/// filtered by `RUST_LOG` / `--log-filter`.
pub fn init_logging(args: &LogArgs) {
    // The filter was validated when the configuration was parsed.
    let filter = EnvFilter::try_new(&args.log_filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter);
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
}
