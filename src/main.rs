//! The `domain-monitor` binary: parses the configuration and hands over to the
//! library. It decides nothing itself.

use std::{process::ExitCode, sync::Arc};

use domain_monitor::{
    check_command,
    config::{CheckerArgs, Cli, Command, CrdKind, RunArgs},
    controller,
    layered::LayeredChecker,
    otel::Otel,
    resource, telemetry,
};

#[cfg(all(feature = "jemalloc", feature = "mimalloc"))]
compile_error!("the features `jemalloc` and `mimalloc` each choose the allocator: enable one");

/// jemalloc instead of the system allocator (feature `jemalloc`).
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// mimalloc instead of the system allocator (feature `mimalloc`).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = match Cli::from_env_and_args() {
        Ok(cli) => cli,
        Err(err) => {
            eprintln!("domain-monitor: {err}");
            return ExitCode::from(2);
        }
    };
    let sentry = match &cli.command {
        Command::Run(args) => sentry_settings(args),
        _ => None,
    };
    let otel = match &cli.command {
        Command::Run(args) => match Otel::start(&args.otel, &args.instance_id) {
            Ok(otel) => otel,
            Err(err) => {
                eprintln!("domain-monitor: {err}");
                return ExitCode::FAILURE;
            }
        },
        _ => Otel::default(),
    };
    let telemetry = telemetry::init(&cli.log, sentry, otel);
    match cli.command {
        Command::Crd(args) => {
            let rendered = match args.kind {
                CrdKind::MonitoredDomain => resource::crd_yaml(),
                CrdKind::DomainHealthCheck => resource::dhc::crd_yaml(),
            };
            match rendered {
                Ok(yaml) => {
                    print!("{yaml}");
                    ExitCode::SUCCESS
                }
                Err(err) => {
                    eprintln!("domain-monitor: cannot render the CRD: {err}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Run(args) => {
            let checker = match build_checker(&args.checks) {
                Ok(checker) => checker,
                Err(code) => return code,
            };
            let meter = telemetry.otel().meter();
            match controller::run(*args, Arc::new(checker), meter).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) => {
                    tracing::error!(error = %err, "operator failed");
                    eprintln!("domain-monitor: {err}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Check(args) => {
            let checker = match build_checker(&args.checks) {
                Ok(checker) => checker,
                Err(code) => return code,
            };
            let health = args
                .health
                .then(|| check_command::HealthCheck::from_args(&args, &checker));
            let lines = check_command::check_all(&checker, &args.domains, health.as_ref()).await;
            print!("{}", check_command::render(&lines, args.output));
            if check_command::all_settled(&lines) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// Sentry settings when `SENTRY_DSN` is set, with every secret to scrub.
fn sentry_settings(args: &RunArgs) -> Option<telemetry::SentrySettings> {
    let dsn = args.sentry_dsn.clone()?;
    let secrets = [
        &args.api_auth_token,
        &args.checks.registrar_api_key,
        &args.checks.registrar_api_secret,
    ]
    .into_iter()
    .flatten()
    .cloned()
    .collect();
    Some(telemetry::SentrySettings {
        dsn,
        secrets,
        instance: args.instance_id.clone(),
    })
}

/// Builds every configured checker; a bad combination of settings is a
/// configuration error (exit code 2).
fn build_checker(args: &CheckerArgs) -> Result<LayeredChecker, ExitCode> {
    LayeredChecker::from_args(args).map_err(|err| {
        eprintln!("domain-monitor: {err}");
        ExitCode::from(2)
    })
}
