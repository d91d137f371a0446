//! The operator binary run as a real process against the test API server.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use domain_monitor::resource::{Availability, MonitoredDomain};
use kube::Api;
use tokio::process::{Child, Command};

use super::cluster::kubeconfig_path;

/// The operator binary: Cargo's path for integration tests, else the debug build.
fn binary() -> PathBuf {
    option_env!("CARGO_BIN_EXE_domain-monitor").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/debug/domain-monitor"),
        PathBuf::from,
    )
}

/// A running `domain-monitor run`; killed when dropped.
pub struct Operator {
    child: Child,
    log: PathBuf,
}

impl Operator {
    /// Starts the operator watching `namespace` only, with `env` on top of
    /// test-friendly defaults (short intervals, debug logs to a file).
    pub fn start(namespace: &str, instance: &str, env: &[(String, String)]) -> Self {
        Self::start_with_kubeconfig(namespace, instance, env, &kubeconfig_path())
    }

    /// Like [`Operator::start`], talking to the API server through `kubeconfig`.
    pub fn start_with_kubeconfig(
        namespace: &str,
        instance: &str,
        env: &[(String, String)],
        kubeconfig: &std::path::Path,
    ) -> Self {
        let log = std::env::temp_dir().join(format!("dm-operator-{namespace}-{instance}.log"));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("operator log file");
        let mut command = Command::new(binary());
        command
            .arg("run")
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("KUBECONFIG", kubeconfig)
            .env("LOG_FORMAT", "json")
            .env("WATCH_NAMESPACE", namespace)
            .env("POD_NAMESPACE", namespace)
            .env("INSTANCE_ID", instance)
            .env("LISTEN_ADDR", "127.0.0.1:0")
            .env("RUST_LOG", "info,domain_monitor=debug")
            .env("CHECK_INTERVAL", "3s")
            .env("PRIORITY_CHECK_INTERVAL", "2s")
            .env("DROP_WINDOW_INTERVAL", "1s")
            .env("DOMAIN_API_REFRESH_INTERVAL", "10s")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        Self::spawn(command, file, log)
    }

    /// Starts the operator with `env` as its whole configuration, the way a
    /// Deployment runs it: none of the test defaults of [`Operator::start`],
    /// only `KUBECONFIG`, `PATH`, JSON logs and a free loopback `LISTEN_ADDR`
    /// (`env` may override the last two). The log starts empty.
    pub fn start_with_env(name: &str, env: &[(String, String)], kubeconfig: &Path) -> Self {
        let log = std::env::temp_dir().join(format!("dm-operator-{name}.log"));
        let file = std::fs::File::create(&log).expect("operator log file");
        let mut command = Command::new(binary());
        command
            .arg("run")
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("KUBECONFIG", kubeconfig)
            .env("LOG_FORMAT", "json")
            .env("LISTEN_ADDR", "127.0.0.1:0")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        Self::spawn(command, file, log)
    }

    /// Runs `command` with its output appended to `file` (the log at `log`).
    fn spawn(mut command: Command, file: std::fs::File, log: PathBuf) -> Self {
        command
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file handle"))
            .stderr(file)
            .kill_on_drop(true);
        let child = command.spawn().expect("start the operator");
        Self { child, log }
    }

    /// SIGKILL: no clean shutdown, no lease release.
    pub async fn kill(mut self) {
        let _ = self.child.kill().await;
    }

    /// What the operator logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The JSON log lines whose message is `message`.
    pub fn events(&self, message: &str) -> Vec<serde_json::Value> {
        self.log()
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|event| event["message"] == message)
            .collect()
    }

    /// The HTTP surface's base URL, once the operator logged it.
    pub async fn base_url(&self) -> String {
        for _ in 0..200 {
            if let Some(addr) = self
                .events("HTTP surface listening (/health, /ready, /status, /domains, /metrics)")
                .first()
                .and_then(|e| e["addr"].as_str().map(str::to_owned))
            {
                return format!("http://{addr}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "the operator never reported its HTTP address:\n{}",
            self.log()
        );
    }

    /// SIGTERM: a clean shutdown (leases released).
    pub fn terminate(&self) {
        self.signal("TERM");
    }

    /// Sends `signal` (`STOP`, `CONT`…) to the process.
    pub fn signal(&self, signal: &str) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args([format!("-{signal}"), pid.to_string()])
                .status();
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits up to `patience` for the process to exit; returns its exit code.
    pub async fn wait_exit(&mut self, patience: Duration) -> Option<i32> {
        tokio::time::timeout(patience, self.child.wait())
            .await
            .ok()
            .and_then(Result::ok)
            .and_then(|status| status.code())
    }
}

/// The availability in `name`'s status, if it exists and has one. The API
/// server must answer: a failed read is never taken for "no status".
pub async fn availability(api: &Api<MonitoredDomain>, name: &str) -> Option<Availability> {
    api.get_opt(name)
        .await
        .unwrap_or_else(|e| panic!("cannot read MonitoredDomain {name}: {e}"))
        .and_then(|md| md.status)
        .map(|s| s.availability)
}

/// Waits up to a minute for `name` to become `want`, failing with the
/// operator's log.
pub async fn wait_for_availability(
    api: &Api<MonitoredDomain>,
    name: &str,
    want: Availability,
    operator: &Operator,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let now = availability(api, name).await;
        if now == Some(want) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name} never became {want:?} (now {now:?}); operator log:\n{}",
            operator.log()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Waits (≤ 60 s) until `name`'s status shows its registrar: the
/// registration facts, which the deep lane fetches after the first cheap
/// check.
#[allow(dead_code)]
pub async fn wait_for_registration_facts(
    api: &Api<MonitoredDomain>,
    name: &str,
    operator: &Operator,
) -> domain_monitor::resource::Registration {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let registration = api
            .get(name)
            .await
            .ok()
            .and_then(|md| md.status)
            .and_then(|s| s.registration);
        if let Some(registration) = registration.filter(|r| r.registrar.is_some()) {
            return registration;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name} never showed its registration facts; operator log:\n{}",
            operator.log()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
