//! A real Prometheus 3 on loopback (built by tests/prometheus/build.sh): its
//! OTLP receiver takes what an operator pushes, it scrapes the targets it is
//! given, and its HTTP API answers PromQL. Killed when dropped.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use serde_json::Value;
use tokio::process::{Child, Command};

/// One series of an instant query: its labels (`__name__` included when the
/// query keeps it) and its value.
#[derive(Debug, Clone)]
pub struct Sample {
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// A scrape job: Prometheus fetches `http://{target}{path}` every second.
#[derive(Debug, Clone)]
pub struct ScrapeJob {
    pub job: String,
    pub target: String,
    pub path: String,
}

/// A running Prometheus with its own storage in a temporary directory.
pub struct Prometheus {
    child: Child,
    dir: tempfile::TempDir,
    base: String,
    http: reqwest::Client,
}

/// The prometheus binary: `DM_PROMETHEUS` (set by `just test`), else where
/// tests/prometheus/build.sh puts it.
fn binary() -> PathBuf {
    let binary = std::env::var_os("DM_PROMETHEUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::var_os("CARGO_TARGET_DIR")
                .map_or_else(
                    || Path::new(env!("CARGO_MANIFEST_DIR")).join("target"),
                    PathBuf::from,
                )
                .join("tools/prometheus/prometheus")
        });
    assert!(
        binary.is_file(),
        "no Prometheus at {}: run `just test`, or build it with `bash tests/prometheus/build.sh`",
        binary.display()
    );
    binary
}

/// The configuration: one-second scrapes and rule evaluations, OTLP names
/// translated the way the operator's own Prometheus view writes them
/// (`UnderscoreEscapingWithSuffixes`: dots to underscores, unit and `_total`
/// suffixes), and `jobs`.
fn config(jobs: &[ScrapeJob]) -> String {
    let mut config = String::from(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
         otlp:\n  translation_strategy: UnderscoreEscapingWithSuffixes\n\
         scrape_configs:\n",
    );
    if jobs.is_empty() {
        config.push_str("  []\n");
    }
    for job in jobs {
        config.push_str(&format!(
            "  - job_name: {}\n    metrics_path: {}\n    static_configs:\n      - targets: [\"{}\"]\n",
            job.job, job.path, job.target
        ));
    }
    config
}

impl Prometheus {
    /// Starts Prometheus with its OTLP receiver and no scrape job, and waits
    /// until `/-/ready` answers (a few seconds at most).
    pub async fn start() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("dm-prometheus-")
            .tempdir()
            .expect("temp dir");
        let config_file = dir.path().join("prometheus.yml");
        std::fs::write(&config_file, config(&[])).expect("write prometheus.yml");
        let log = dir.path().join("prometheus.log");
        let file = std::fs::File::create(&log).expect("prometheus log file");
        let child = Command::new(binary())
            .arg(format!("--config.file={}", config_file.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .args([
                "--web.listen-address=127.0.0.1:0",
                "--web.enable-otlp-receiver",
                "--web.enable-lifecycle",
            ])
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file handle"))
            .stderr(file)
            .kill_on_drop(true)
            .spawn()
            .expect("start prometheus");
        let mut prometheus = Self {
            child,
            dir,
            base: String::new(),
            http: reqwest::Client::new(),
        };
        prometheus.base = format!("http://{}", prometheus.listen_address().await);
        prometheus.wait_ready().await;
        prometheus
    }

    /// The address it logged (`msg="Listening on" … address=127.0.0.1:PORT`).
    async fn listen_address(&mut self) -> String {
        for _ in 0..300 {
            let log = self.log();
            let address = log
                .lines()
                .filter(|line| line.contains("msg=\"Listening on\""))
                .flat_map(str::split_whitespace)
                .find_map(|field| field.strip_prefix("address="));
            if let Some(address) = address {
                return address.trim_matches('"').to_owned();
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("prometheus exited ({status}) during start-up:\n{log}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("prometheus never said where it listens:\n{}", self.log());
    }

    async fn wait_ready(&self) {
        for _ in 0..300 {
            let ready = self
                .http
                .get(format!("{}/-/ready", self.base))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("prometheus never became ready:\n{}", self.log());
    }

    /// What it logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Where an OTLP/HTTP exporter sends metrics
    /// (`OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`).
    pub fn otlp_metrics_url(&self) -> String {
        format!("{}/api/v1/otlp/v1/metrics", self.base)
    }

    /// Replaces the scrape jobs with `jobs` and reloads the configuration.
    pub async fn scrape(&self, jobs: &[ScrapeJob]) {
        std::fs::write(self.dir.path().join("prometheus.yml"), config(jobs))
            .expect("write prometheus.yml");
        let response = self
            .http
            .post(format!("{}/-/reload", self.base))
            .send()
            .await
            .expect("prometheus answers /-/reload");
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        assert!(
            status.is_success(),
            "reloading the configuration failed ({status}): {body}\n{}",
            self.log()
        );
    }

    /// GETs `path` with `params` and returns the API's `data`, failing on an
    /// error answer (with the query and Prometheus's message).
    async fn api(&self, path: &str, params: &[(&str, &str)]) -> Value {
        let mut url = url::Url::parse(&format!("{}{path}", self.base)).expect("API URL");
        url.query_pairs_mut().extend_pairs(params);
        let response = self
            .http
            .get(url)
            .send()
            .await
            .expect("prometheus answers its API");
        let status = response.status();
        let body: Value = response.json().await.expect("a JSON answer");
        assert!(
            status.is_success() && body["status"] == "success",
            "{path} {params:?} failed ({status}): {body}"
        );
        body["data"].clone()
    }

    /// Its own metrics (`GET /metrics`), in the Prometheus text format.
    pub async fn own_metrics(&self) -> String {
        self.http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .expect("prometheus answers /metrics")
            .text()
            .await
            .expect("its metrics")
    }

    /// How many OTLP metric export requests it answered, by HTTP status code
    /// (from its `prometheus_http_requests_total`).
    pub async fn otlp_requests_by_code(&self) -> BTreeMap<String, f64> {
        self.own_metrics()
            .await
            .lines()
            .filter(|line| {
                line.starts_with("prometheus_http_requests_total{")
                    && line.contains("handler=\"/api/v1/otlp/v1/metrics\"")
            })
            .filter_map(|line| {
                let code = line.split("code=\"").nth(1)?.split('"').next()?;
                let value = line.rsplit(' ').next()?.parse().ok()?;
                Some((code.to_owned(), value))
            })
            .collect()
    }

    /// Runs `promql` as an instant query now.
    pub async fn query(&self, promql: &str) -> Vec<Sample> {
        let data = self.api("/api/v1/query", &[("query", promql)]).await;
        assert_eq!(data["resultType"], "vector", "{promql}: {data}");
        data["result"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|series| Sample {
                labels: series["metric"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                    .collect(),
                value: series["value"][1]
                    .as_str()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(f64::NAN),
            })
            .collect()
    }

    /// The values of `label` on the series `selector` matches (what
    /// Grafana's `label_values(selector, label)` lists).
    pub async fn label_values(&self, label: &str, selector: &str) -> Vec<String> {
        let data = self
            .api(
                &format!("/api/v1/label/{label}/values"),
                &[("match[]", selector)],
            )
            .await;
        data.as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    }
}
