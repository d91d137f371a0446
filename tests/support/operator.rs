//! The operator binary run as a real process against the test API server:
//! started with the tests' defaults or with a configuration of its own (the
//! benchmarks), read through its HTTP surface (`/ready`, `/status`,
//! `/metrics/prometheus`) and its log, measured through `/proc`.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use domain_monitor::resource::{Availability, MonitoredDomain};
use kube::Api;
use serde::de::DeserializeOwned;
use tokio::process::{Child, Command};

use super::cluster::kubeconfig_path;

/// The operator binary: Cargo's path for integration tests and benchmarks
/// (the build of the same profile), else the debug build.
pub fn binary() -> PathBuf {
    option_env!("CARGO_BIN_EXE_domain-monitor").map_or_else(
        || super::target_dir().join("debug/domain-monitor"),
        PathBuf::from,
    )
}

/// `binary run` with nothing of this process's environment but `PATH`:
/// `KUBECONFIG`, JSON logs and a free loopback `LISTEN_ADDR`.
fn run_command(binary: &Path, kubeconfig: &Path) -> Command {
    let mut command = Command::new(binary);
    command
        .arg("run")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("KUBECONFIG", kubeconfig)
        .env("LOG_FORMAT", "json")
        .env("LISTEN_ADDR", "127.0.0.1:0");
    command
}

/// A running `domain-monitor run`; killed (SIGKILL) when dropped.
pub struct Operator {
    child: Child,
    log: PathBuf,
    /// `http://LISTEN_ADDR` when the configuration named a port.
    base: Option<String>,
    http: reqwest::Client,
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
        kubeconfig: &Path,
    ) -> Self {
        let log = std::env::temp_dir().join(format!("dm-operator-{namespace}-{instance}.log"));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("operator log file");
        let mut command = run_command(&binary(), kubeconfig);
        command
            .env("WATCH_NAMESPACE", namespace)
            .env("POD_NAMESPACE", namespace)
            .env("INSTANCE_ID", instance)
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
        Self::start_binary(&binary(), log, env, kubeconfig)
    }

    /// [`Operator::start_with_env`] with another build of the operator
    /// (`binary`) and its log at `log` (emptied first).
    pub fn start_binary(
        binary: &Path,
        log: PathBuf,
        env: &[(String, String)],
        kubeconfig: &Path,
    ) -> Self {
        let file = std::fs::File::create(&log).expect("operator log file");
        let mut command = run_command(binary, kubeconfig);
        command.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        Self::spawn(command, file, log)
    }

    /// Runs `command` with its output appended to `file` (the log at `log`).
    fn spawn(mut command: Command, file: std::fs::File, log: PathBuf) -> Self {
        // The last LISTEN_ADDR given wins, as with `Command::env`.
        let listen = command
            .as_std()
            .get_envs()
            .filter(|(key, _)| *key == "LISTEN_ADDR")
            .filter_map(|(_, value)| value?.to_str()?.parse::<std::net::SocketAddr>().ok())
            .last();
        command
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file handle"))
            .stderr(file)
            .kill_on_drop(true);
        let child = command.spawn().expect("start the operator");
        domain_monitor::net::ensure_crypto_provider();
        Self {
            child,
            log,
            base: listen
                .filter(|addr| addr.port() != 0)
                .map(|addr| format!("http://{addr}")),
            http: reqwest::Client::new(),
        }
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

    /// The HTTP surface's base URL: `LISTEN_ADDR`'s when the configuration
    /// named a port, else the address the operator logged (once it did).
    pub async fn base_url(&self) -> String {
        if let Some(base) = &self.base {
            return base.clone();
        }
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

    /// `GET path` on the HTTP surface (10 s at most); `None` when it does
    /// not answer.
    pub async fn get(&self, path: &str) -> Option<String> {
        let response = self
            .http
            .get(format!("{}{path}", self.base_url().await))
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .ok()?;
        response.text().await.ok()
    }

    /// Waits until `/ready` says so; panics with the operator's log when it
    /// exits first (a configuration error, say) or after `patience`.
    pub async fn ready(&mut self, patience: Duration) {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            if let Some(body) = self.get("/ready").await
                && body.contains("\"ready\":true")
            {
                return;
            }
            assert!(
                self.is_running(),
                "the operator exited; its log:\n{}",
                self.log()
            );
            assert!(
                tokio::time::Instant::now() < deadline,
                "the operator was not ready after {patience:?}; its log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// `GET /status` as JSON, once the operator answers (a minute at most).
    pub async fn status(&self) -> serde_json::Value {
        for _ in 0..600 {
            if let Some(body) = self.get("/status").await
                && let Ok(value) = serde_json::from_str(&body)
            {
                return value;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "the operator's /status did not answer; its log:\n{}",
            self.log()
        );
    }

    /// `GET /metrics/prometheus` (the text exposition format), once the
    /// operator answers (10 s at most).
    pub async fn metrics(&self) -> String {
        for _ in 0..100 {
            if let Some(body) = self.get("/metrics/prometheus").await {
                return body;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the operator's /metrics/prometheus did not answer");
    }

    /// The process id (0 once it was reaped).
    pub fn pid(&self) -> u32 {
        self.child.id().unwrap_or(0)
    }

    /// Resident memory now and at its peak (`VmRSS`, `VmHWM` of
    /// proc(5)), in bytes; zeros once the process is gone.
    pub fn memory(&self) -> (u64, u64) {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<u64>().ok())
                .map_or(0, |kib| kib * 1024)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// CPU time (user + system) so far, in seconds.
    pub fn cpu_seconds(&self) -> f64 {
        cpu_seconds(self.pid())
    }

    /// SIGTERM, then waits for the exit (15 s at most, then SIGKILL): a
    /// clean shutdown that releases the shard Leases.
    pub async fn stop(mut self) {
        self.terminate();
        if self.wait_exit(Duration::from_secs(15)).await.is_none() && self.is_running() {
            let _ = self.child.kill().await;
        }
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

/// Polls the resource `name` of `api` every 250 ms until `done` holds and
/// returns it; panics after `patience` naming `what` was awaited, with the
/// resource as it last was and `operator`'s log.
pub async fn wait_for_resource<K>(
    api: &Api<K>,
    name: &str,
    patience: Duration,
    what: &str,
    operator: &Operator,
    done: impl Fn(&K) -> bool,
) -> K
where
    K: Clone + DeserializeOwned + std::fmt::Debug,
{
    let done = &done;
    super::poll(
        patience,
        Duration::from_millis(250),
        move || async move {
            let object = api
                .get(name)
                .await
                .unwrap_or_else(|e| panic!("get {name}: {e}"));
            if done(&object) {
                Ok(object)
            } else {
                Err(object)
            }
        },
        |object| {
            format!(
                "{name}: no {what} within {patience:?}; last seen {object:#?}\noperator log:\n{}",
                operator.log()
            )
        },
    )
    .await
}

/// Waits up to a minute for `name` to become `want`, failing with the
/// operator's log.
pub async fn wait_for_availability(
    api: &Api<MonitoredDomain>,
    name: &str,
    want: Availability,
    operator: &Operator,
) {
    super::poll(
        Duration::from_secs(60),
        Duration::from_millis(250),
        move || async move {
            let now = availability(api, name).await;
            if now == Some(want) { Ok(()) } else { Err(now) }
        },
        |now| {
            format!(
                "{name} never became {want:?} (now {now:?}); operator log:\n{}",
                operator.log()
            )
        },
    )
    .await;
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
    super::poll(
        Duration::from_secs(60),
        Duration::from_millis(250),
        move || async move {
            api.get(name)
                .await
                .ok()
                .and_then(|md| md.status)
                .and_then(|s| s.registration)
                .filter(|r| r.registrar.is_some())
                .ok_or(())
        },
        |()| {
            format!(
                "{name} never showed its registration facts; operator log:\n{}",
                operator.log()
            )
        },
    )
    .await
}

/// CPU time (user + system) of process `pid` so far, in seconds.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name, which is in parentheses: utime and
    // stime are fields 14 and 15 of proc(5), 12th and 13th after it; in
    // clock ticks (100 per second on Linux).
    let rest = stat.rsplit(')').next().unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// The sum of a metric's samples in a Prometheus text exposition,
/// optionally only those whose labels contain `labels` (e.g.
/// `checker="rdap"`).
pub fn metric_sum(text: &str, name: &str, labels: Option<&str>) -> f64 {
    text.lines()
        .filter(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter(|line| labels.is_none_or(|l| line.contains(l)))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A metric's samples summed by the value of one label (e.g. `reason`).
pub fn metric_by_label(text: &str, name: &str, label: &str) -> BTreeMap<String, f64> {
    let key = format!("{label}=\"");
    let mut by = BTreeMap::new();
    for line in text.lines().filter(|line| {
        line.strip_prefix(name)
            .is_some_and(|rest| rest.starts_with('{'))
    }) {
        let Some(value) = line.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()) else {
            continue;
        };
        let Some(start) = line.find(&key).map(|i| i + key.len()) else {
            continue;
        };
        let word = line[start..].split('"').next().unwrap_or_default();
        *by.entry(word.to_owned()).or_insert(0.0) += value;
    }
    by
}
