//! A real Kubernetes API server for integration tests.
//!
//! `just test` starts one `test-apiserver` (tests/cluster) for the whole run
//! and exports `DM_TEST_KUBECONFIG`. A test binary run on its own starts its
//! own server once, on first use. Either way each test gets a fresh namespace,
//! and the MonitoredDomain CRD is installed and established before it runs.
//! There is no skipping: without an API server the tests fail.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::OnceLock,
    time::Duration,
};

use domain_monitor::resource::{MonitoredDomain, MonitoredDomainSpec};
use k8s_openapi::{
    api::core::v1::Namespace,
    apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
};
use kube::{
    Api, Client, Config, CustomResourceExt, ResourceExt,
    api::{Patch, PatchParams, PostParams},
    config::{KubeConfigOptions, Kubeconfig},
    runtime::wait::{await_condition, conditions},
};

/// A started server, kept alive for the whole test process.
struct Server {
    kubeconfig: PathBuf,
    // Holding the child keeps its stdin pipe open; the harness exits when the
    // test process (and so the pipe) goes away.
    _child: Option<Child>,
}

static SERVER: OnceLock<Server> = OnceLock::new();

fn server() -> &'static Server {
    SERVER.get_or_init(|| {
        if let Some(path) = std::env::var_os("DM_TEST_KUBECONFIG") {
            return Server {
                kubeconfig: PathBuf::from(path),
                _child: None,
            };
        }
        start_own_server()
    })
}

fn apiserver_binary() -> PathBuf {
    let binary = std::env::var_os("DM_TEST_APISERVER")
        .map(PathBuf::from)
        // Where tests/cluster/build.sh puts it.
        .unwrap_or_else(|| super::target_dir().join("tools/test-apiserver"));
    assert!(
        binary.exists(),
        "no Kubernetes API server for the tests at {}: run `just test`, or build it with `bash tests/cluster/build.sh`",
        binary.display()
    );
    binary
}

fn start_own_server() -> Server {
    let dir = tempfile::Builder::new()
        .prefix("dm-test-cluster-")
        .tempdir()
        .expect("temp dir")
        .keep();
    let (child, kubeconfig) = spawn_server(&dir.join("kubeconfig"), &[], Stdio::inherit());
    Server {
        kubeconfig,
        _child: Some(child),
    }
}

/// Starts the harness with `extra` flags, its log going to `log`, and waits
/// until it announces its kubeconfig (it is ready then).
fn spawn_server(kubeconfig: &Path, extra: &[String], log: Stdio) -> (Child, PathBuf) {
    let binary = apiserver_binary();
    let mut child = Command::new(&binary)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .arg("--exit-on-stdin-close")
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
    let stdout = child.stdout.take().expect("piped stdout");
    let announced = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find_map(|line| line.strip_prefix("KUBECONFIG=").map(PathBuf::from));
    let kubeconfig = announced.unwrap_or_else(|| {
        panic!(
            "test-apiserver exited before it was ready (status {:?}); see its log above",
            child.try_wait()
        )
    });
    (child, kubeconfig)
}

/// An API server of one test's own, for tests that change what the whole
/// cluster sees (an operator watching every namespace, a chart's
/// ClusterRoles), and of each benchmark scenario. It starts empty (no CRD)
/// and stops when dropped (SIGTERM, and the drop waits for it to exit).
pub struct PrivateServer {
    kubeconfig: PathBuf,
    audit_log: Option<PathBuf>,
    child: Child,
    _dir: tempfile::TempDir,
}

impl PrivateServer {
    /// Starts a fresh server (about 3 s).
    pub fn start() -> Self {
        Self::start_with(&[], false, Stdio::inherit())
    }

    /// Starts a fresh server for a benchmark: without the namespace,
    /// garbage-collector and clusterrole-aggregation controllers (so that
    /// only the API server's own work is measured) and with its log
    /// discarded.
    pub fn start_bare() -> Self {
        Self::start_with(&["--controllers=false".to_owned()], false, Stdio::null())
    }

    /// Starts a fresh server with kube-apiserver's `--feature-gates`
    /// set to `gates` (e.g. `WatchList=false`, as Kubernetes 1.33 ships).
    #[allow(dead_code)]
    pub fn start_with_feature_gates(gates: &str) -> Self {
        Self::start_with(
            &[format!("--feature-gates={gates}")],
            false,
            Stdio::inherit(),
        )
    }

    /// Starts a fresh server that writes an audit log of every request a
    /// service account makes (see [`Self::audited_requests`]).
    pub fn start_audited() -> Self {
        Self::start_with(&[], true, Stdio::inherit())
    }

    fn start_with(flags: &[String], audit: bool, log: Stdio) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("dm-test-private-cluster-")
            .tempdir()
            .expect("temp dir");
        let audit_log = audit.then(|| dir.path().join("audit.jsonl"));
        let extra: Vec<String> = audit_log
            .iter()
            .map(|log| format!("--audit-log={}", log.display()))
            .chain(flags.iter().cloned())
            .collect();
        let (child, kubeconfig) = spawn_server(&dir.path().join("kubeconfig"), &extra, log);
        Self {
            kubeconfig,
            audit_log,
            child,
            _dir: dir,
        }
    }

    /// The server's process id (for its CPU time).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The API requests service accounts have made so far, in order, from
    /// the audit log (a server from [`Self::start_audited`] only). The log
    /// is written before each response is sent.
    pub fn audited_requests(&self) -> Vec<AuditedRequest> {
        let log = self.audit_log.as_ref().expect("an audited server");
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let mut seen = std::collections::HashSet::new();
        text.lines()
            .filter_map(|line| {
                let event: serde_json::Value = serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("audit log line {line}: {e}"));
                // A watch is logged when its response starts and again when
                // it ends: one request.
                if !seen.insert(event["auditID"].as_str()?.to_owned()) {
                    return None;
                }
                AuditedRequest::from_event(&event)
            })
            .collect()
    }

    /// Its admin kubeconfig.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// An admin client for it.
    pub async fn client(&self) -> Client {
        client_for(&self.kubeconfig).await
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        stop_child(&mut self.child);
    }
}

/// SIGTERM (the harness stops etcd and the API server cleanly) and waits
/// for the process to exit.
fn stop_child(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

/// One resource request of a service account, as the audit log tells it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AuditedRequest {
    /// `system:serviceaccount:NAMESPACE:NAME`.
    pub user: String,
    pub verb: String,
    /// API group, `""` for the core group.
    pub group: String,
    /// `resource` or `resource/subresource`, as RBAC rules name it.
    pub resource: String,
    pub namespace: Option<String>,
    pub name: Option<String>,
    /// Whether RBAC allowed it.
    pub allowed: bool,
}

impl AuditedRequest {
    /// A resource request from an audit event (`None` for non-resource URLs
    /// such as discovery).
    fn from_event(event: &serde_json::Value) -> Option<Self> {
        let object = event.get("objectRef")?;
        let text = |v: &serde_json::Value| v.as_str().map(str::to_owned);
        let mut resource = text(&object["resource"])?;
        if let Some(sub) = object["subresource"].as_str() {
            resource = format!("{resource}/{sub}");
        }
        Some(Self {
            user: text(&event["user"]["username"])?,
            verb: text(&event["verb"])?,
            group: text(&object["apiGroup"]).unwrap_or_default(),
            resource,
            namespace: text(&object["namespace"]),
            name: text(&object["name"]),
            allowed: event["annotations"]["authorization.k8s.io/decision"] == "allow",
        })
    }
}

/// An API server of a test's own that can be stopped and started again as
/// the same cluster (same data directory, port, token and certificates).
pub struct RestartableServer {
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
    kubeconfig: PathBuf,
}

impl RestartableServer {
    /// Starts a new cluster in a fresh directory.
    pub fn start() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("dm-restartable-cluster-")
            .tempdir()
            .expect("temp dir")
            .keep();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let mut server = Self {
            kubeconfig: dir.join("kubeconfig"),
            dir,
            port,
            child: None,
        };
        server.start_again();
        server
    }

    /// Its kubeconfig (unchanged across restarts).
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// An admin client.
    pub async fn client(&self) -> Client {
        client_for(&self.kubeconfig).await
    }

    /// Stops the server (SIGTERM) and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop_child(&mut child);
        }
    }

    /// Starts it again on the same data, port and token.
    pub fn start_again(&mut self) {
        let extra = [
            format!("--data-dir={}", self.dir.join("data").display()),
            format!("--port={}", self.port),
            "--token=chaos-admin-token".to_owned(),
        ];
        let (child, kubeconfig) = spawn_server(&self.kubeconfig, &extra, Stdio::inherit());
        self.kubeconfig = kubeconfig;
        self.child = Some(child);
    }
}

impl Drop for RestartableServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The kubeconfig of the test API server (for kubectl and the operator).
pub fn kubeconfig_path() -> PathBuf {
    server().kubeconfig.clone()
}

/// A client for the test API server. Each test builds its own: a client is
/// tied to the runtime it was made in.
pub async fn client() -> Client {
    client_for(&kubeconfig_path()).await
}

/// The client configuration of the API server (and user) of `kubeconfig`.
async fn config_for(kubeconfig: &Path) -> Config {
    let kubeconfig = Kubeconfig::read_from(kubeconfig).expect("readable kubeconfig");
    Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("valid kubeconfig")
}

/// A client for the API server (and user) of `kubeconfig`.
pub async fn client_for(kubeconfig: &Path) -> Client {
    Client::try_from(config_for(kubeconfig).await).expect("client")
}

/// The operator status writer's client
/// ([`domain_monitor::controller::writer::client`]: HTTP/2 where the server
/// offers it) for the API server of `kubeconfig`.
pub async fn writer_client_for(kubeconfig: &Path) -> Client {
    domain_monitor::controller::writer::client(&config_for(kubeconfig).await)
        .expect("writer client")
}

/// A test's own slice of the cluster: a client and a fresh namespace with the
/// CRD installed.
pub struct TestNamespace {
    /// Admin client.
    pub client: Client,
    /// The namespace created for this test.
    pub name: String,
}

impl TestNamespace {
    /// Creates a namespace named after `test` (plus a random suffix) and makes
    /// sure the MonitoredDomain CRD is established.
    pub async fn new(test: &str) -> Self {
        let client = client().await;
        install_crd(&client).await;
        let name = format!(
            "{}-{:08x}",
            test.replace('_', "-").chars().take(40).collect::<String>(),
            rand_suffix()
        );
        create_namespace(&client, &name).await;
        Self { client, name }
    }

    /// The MonitoredDomains of this namespace.
    pub fn domains(&self) -> Api<MonitoredDomain> {
        Api::namespaced(self.client.clone(), &self.name)
    }
}

/// Creates the namespace `name`.
pub async fn create_namespace(client: &Client, name: &str) {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let namespace: Namespace =
        serde_json::from_value(serde_json::json!({"metadata": {"name": name}}))
            .expect("a namespace");
    namespaces
        .create(&PostParams::default(), &namespace)
        .await
        .unwrap_or_else(|e| panic!("create namespace {name}: {e}"));
}

/// Applies the MonitoredDomain CRD (idempotent) and waits until the API
/// server serves it.
pub async fn install_crd(client: &Client) {
    apply_crd(client, MonitoredDomain::crd()).await;
}

/// Applies `crd` (idempotent, server-side apply) and waits until the API
/// server serves it (30 s at most).
pub async fn apply_crd(client: &Client, crd: CustomResourceDefinition) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.patch(
        &crd.name_any(),
        &PatchParams::apply("domain-monitor-tests").force(),
        &Patch::Apply(&crd),
    )
    .await
    .unwrap_or_else(|e| panic!("apply the CRD {}: {e}", crd.name_any()));
    tokio::time::timeout(
        Duration::from_secs(30),
        await_condition(crds, &crd.name_any(), conditions::is_crd_established()),
    )
    .await
    .expect("CRD established within 30s")
    .expect("watch CRD");
}

fn rand_suffix() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    hasher.finish() as u32
}

/// The names of every `MonitoredDomain` `api` lists, sorted.
pub async fn names(api: &kube::Api<MonitoredDomain>) -> Vec<String> {
    let mut names: Vec<String> = api
        .list(&kube::api::ListParams::default())
        .await
        .expect("list")
        .items
        .iter()
        .map(kube::ResourceExt::name_any)
        .collect();
    names.sort();
    names
}

/// A MonitoredDomain named `name` for `domain`, as a user pins one by hand
/// (no check interval, health off).
pub fn pinned(name: &str, domain: &str, priority: bool) -> MonitoredDomain {
    MonitoredDomain::new(
        name,
        MonitoredDomainSpec {
            domain: domain.to_owned(),
            priority,
            check_interval: None,
            health: None,
        },
    )
}
