//! The `domain-monitor` binary: parses the configuration and hands over to the
//! library. It decides nothing itself.

use std::process::ExitCode;

use domain_monitor::{
    config::{Cli, Command},
    controller, resource, telemetry,
};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = match Cli::from_env_and_args() {
        Ok(cli) => cli,
        Err(err) => {
            eprintln!("domain-monitor: {err}");
            return ExitCode::from(2);
        }
    };
    telemetry::init_logging(&cli.log);
    match cli.command {
        Command::Crd => match resource::crd_yaml() {
            Ok(yaml) => {
                print!("{yaml}");
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("domain-monitor: cannot render the CRD: {err}");
                ExitCode::FAILURE
            }
        },
        Command::Run(args) => match controller::run(
            *args,
            std::sync::Arc::new(domain_monitor::check::layered::LayeredChecker::new(
                vec![],
                Default::default(),
            )),
        )
        .await
        {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                tracing::error!(error = %err, "operator failed");
                eprintln!("domain-monitor: {err}");
                ExitCode::FAILURE
            }
        },
        Command::Check(_args) => {
            eprintln!("domain-monitor: `check` is not wired to the checkers yet");
            ExitCode::FAILURE
        }
    }
}
