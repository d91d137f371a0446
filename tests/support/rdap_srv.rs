//! A real RDAP server for integration tests: ICANN's reference `rdap-srv`
//! 0.0.25, with objects made by its own `rdap-srv-data` tool.
//!
//! The binaries come from `<repo>/.tools/bin`, installed by
//! `tests/tools/install-rdap-srv.sh`; without them the tests fail (no skipping).
//!
//! How the server behaves, and what this module does about it:
//! - It serves what its data directory held at the last load. `touch update`
//!   adds or changes objects, `touch reload` reloads everything (the only way
//!   to delete one). It polls those two files once a second.
//! - A load that fails (a half-written or non-JSON file) ends its reload task
//!   for good, silently: later touches change nothing and nothing is logged. So objects are made in a staging directory and moved
//!   into the served directory with an atomic rename, one change at a time.
//! - `rdap-srv-data` cannot write expiration or deletion events (and its
//!   `--created` also sets "last changed"); they are added to the JSON file it
//!   wrote. `--registrar` and `--ns` only accept objects made before, so the
//!   registrar entity and name servers are made first.
//! - It logs its bound port only at debug level; port 0 plus that log line
//!   gives a free port without a race.
//! - Every change is awaited: the helpers poll the server until it answers the
//!   new state.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    process::Stdio,
    sync::{Arc, Mutex as StdMutex},
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
    sync::Mutex,
};

/// Longest wait for the server to start or to show a change.
const WAIT: Duration = Duration::from_secs(20);

/// A domain object to serve.
#[derive(Debug, Clone, Default)]
pub struct DomainSpec {
    /// The LDH name, e.g. `active.test`.
    pub name: String,
    /// RDAP statuses (`"active"`, `"pending delete"`, `"client hold"`, …).
    pub statuses: Vec<String>,
    /// Registrar full name (an entity with role `registrar` is made for it).
    pub registrar: Option<String>,
    /// Name servers (nameserver objects are made for them).
    pub nameservers: Vec<String>,
    /// Registration date, RFC 3339.
    pub created: Option<String>,
    /// Expiration date, RFC 3339.
    pub expires: Option<String>,
    /// Deletion date, RFC 3339.
    pub deletion: Option<String>,
}

impl DomainSpec {
    /// A domain with the given name and no other facts.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            ..Self::default()
        }
    }

    /// Adds an RDAP status.
    pub fn status(mut self, status: &str) -> Self {
        self.statuses.push(status.to_owned());
        self
    }

    /// Sets the registrar's full name.
    pub fn registrar(mut self, name: &str) -> Self {
        self.registrar = Some(name.to_owned());
        self
    }

    /// Adds a name server.
    pub fn nameserver(mut self, name: &str) -> Self {
        self.nameservers.push(name.to_owned());
        self
    }

    /// Sets the registration date (RFC 3339).
    pub fn created(mut self, date: &str) -> Self {
        self.created = Some(date.to_owned());
        self
    }

    /// Sets the expiration date (RFC 3339).
    pub fn expires(mut self, date: &str) -> Self {
        self.expires = Some(date.to_owned());
        self
    }

    /// Sets the deletion date (RFC 3339).
    pub fn deletion(mut self, date: &str) -> Self {
        self.deletion = Some(date.to_owned());
        self
    }
}

/// The command that installs the binaries.
pub const INSTALL_COMMAND: &str = "tests/tools/install-rdap-srv.sh";

/// Directory of `rdap-srv` and `rdap-srv-data`: `$DM_TOOLS_DIR/bin` when
/// set (the install script honours it too), else `<repo>/.tools/bin`.
pub fn bin_dir() -> PathBuf {
    std::env::var_os("DM_TOOLS_DIR")
        .filter(|dir| !dir.is_empty())
        .map_or_else(
            || Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools"),
            PathBuf::from,
        )
        .join("bin")
}

fn binary(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.is_file(),
        "{} is missing: run `{INSTALL_COMMAND}` (installs icann-rdap-srv 0.0.25 into .tools/, or $DM_TOOLS_DIR, ~5 min cold)",
        path.display()
    );
    path
}

/// A running `rdap-srv` on loopback; it is killed when dropped.
pub struct RdapSrv {
    _child: Child,
    dir: TempDir,
    base_url: String,
    log: Arc<StdMutex<Vec<String>>>,
    /// Serialises changes: one staging → served move and reload at a time.
    changes: Mutex<BTreeSet<String>>,
    http: reqwest::Client,
}

impl RdapSrv {
    /// Starts a server on `127.0.0.1` with a free port and an empty data set.
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir for rdap-srv");
        for sub in ["data", "staging", "tmp"] {
            std::fs::create_dir(dir.path().join(sub)).expect("rdap-srv sub dir");
        }
        let mut child = Command::new(binary("rdap-srv"))
            .env("RDAP_SRV_LISTEN_ADDR", "127.0.0.1")
            .env("RDAP_SRV_LISTEN_PORT", "0")
            .env("RDAP_SRV_STORAGE", "memory")
            .env("RDAP_SRV_DATA_DIR", dir.path().join("data"))
            .env("RDAP_SRV_AUTO_RELOAD", "true")
            // The bound port is only logged at debug level, by this module.
            .env("RDAP_SRV_LOG", "info,icann_rdap_srv::server=debug")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start rdap-srv");

        let log = Arc::new(StdMutex::new(Vec::new()));
        let (addr_tx, addr_rx) = tokio::sync::oneshot::channel();
        let mut addr_tx = Some(addr_tx);
        let stdout = child.stdout.take().expect("rdap-srv stdout");
        let stderr = child.stderr.take().expect("rdap-srv stderr");
        let out_log = Arc::clone(&log);
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(addr) = listening_address(&line)
                    && let Some(tx) = addr_tx.take()
                {
                    let _ = tx.send(addr);
                }
                out_log.lock().unwrap().push(line);
            }
        });
        let err_log = Arc::clone(&log);
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                err_log.lock().unwrap().push(line);
            }
        });

        let addr = match tokio::time::timeout(WAIT, addr_rx).await {
            Ok(Ok(addr)) => addr,
            _ => panic!(
                "rdap-srv did not report its address within {WAIT:?}; output:\n{}",
                log.lock().unwrap().join("\n")
            ),
        };
        let srv = Self {
            _child: child,
            dir,
            base_url: format!("http://{addr}/rdap"),
            log,
            changes: Mutex::new(BTreeSet::new()),
            http: {
                // reqwest is built without a default TLS provider.
                domain_monitor::net::ensure_crypto_provider();
                reqwest::Client::new()
            },
        };
        // Ready when it answers anything over HTTP.
        srv.wait_for("ready.invalid", "the server to answer", |status, _| {
            status.is_some()
        })
        .await;
        srv
    }

    /// `http://127.0.0.1:<port>/rdap/`, the base URL to give an RDAP client.
    pub fn base_url(&self) -> url::Url {
        url::Url::parse(&format!("{}/", self.base_url)).expect("rdap-srv base URL")
    }

    /// Serves `spec` (adds it, or replaces the domain's earlier object) and
    /// waits until the server answers it with the spec's statuses.
    pub async fn add_domain(&self, spec: &DomainSpec) {
        let mut made = self.changes.lock().await;
        let mut args = vec!["domain".to_owned(), "--ldh".to_owned(), spec.name.clone()];
        if let Some(registrar) = &spec.registrar {
            let handle = format!("REG-{}", handle_part(registrar));
            if made.insert(format!("entity:{handle}")) {
                self.data_tool(&["entity", "--handle", &handle, "--full-name", registrar])
                    .await;
            }
            args.extend(["--registrar".to_owned(), handle]);
        }
        for ns in &spec.nameservers {
            if made.insert(format!("ns:{ns}")) {
                self.data_tool(&["nameserver", "--ldh", ns]).await;
            }
            args.extend(["--ns".to_owned(), ns.clone()]);
        }
        for status in &spec.statuses {
            args.extend(["--status".to_owned(), status.clone()]);
        }
        if let Some(created) = &spec.created {
            args.extend(["--created".to_owned(), created.clone()]);
        }
        let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
        self.data_tool(&arg_refs).await;
        self.add_events(spec);
        self.publish_staging();
        touch(&self.dir.path().join("data/update"));

        let staged = self.staged_domain(&spec.name);
        let what = format!("{} to be served", spec.name);
        self.wait_for(&spec.name, &what, |status, body| {
            status == Some(200) && same_registration(&staged, body)
        })
        .await;
        drop(made);
    }

    /// Stops serving the domain `name` and waits until the server answers 404
    /// for it (a full reload, so this takes a second or two).
    pub async fn remove_domain(&self, name: &str) {
        let _made = self.changes.lock().await;
        let mut removed = false;
        for sub in ["staging", "data"] {
            for path in json_files(&self.dir.path().join(sub)) {
                if domain_name_of(&path).as_deref() == Some(name) {
                    std::fs::remove_file(&path).expect("remove the domain's file");
                    removed = true;
                }
            }
        }
        assert!(removed, "rdap-srv serves no domain {name}");
        touch(&self.dir.path().join("data/reload"));
        self.wait_for(name, &format!("{name} to be gone"), |status, _| {
            status == Some(404)
        })
        .await;
    }

    /// Serves one domain object per name in `names` from an rdap-srv
    /// template file named `stem` (replacing that template's earlier names),
    /// which loads thousands of domains at once. `domain` is the object the
    /// names share (its `ldhName` is replaced per name). Triggers a full
    /// reload and, when `names` is not empty, waits until the first name is
    /// served; a caller that removed names waits for them with
    /// [`RdapSrv::wait_gone`].
    pub async fn serve_template(&self, stem: &str, domain: &Value, names: &[String]) {
        let _made = self.changes.lock().await;
        let template = json!({
            "domain": {"object": domain},
            "ids": names.iter().map(|n| json!({"ldhName": n})).collect::<Vec<_>>(),
        });
        let file_name = format!("{stem}.template");
        let temp = self.dir.path().join("tmp").join(&file_name);
        std::fs::write(&temp, template.to_string()).expect("write the template");
        std::fs::rename(&temp, self.dir.path().join("data").join(&file_name))
            .expect("move the template into the data dir");
        touch(&self.dir.path().join("data/reload"));
        if let Some(first) = names.first() {
            self.wait_for(first, &format!("{first} to be served"), |status, _| {
                status == Some(200)
            })
            .await;
        }
    }

    /// Waits until the server answers 404 for `name`.
    pub async fn wait_gone(&self, name: &str) {
        self.wait_for(name, &format!("{name} to be gone"), |status, _| {
            status == Some(404)
        })
        .await;
    }

    /// GETs `domain/<name>`: the status code and body, or `None` when the
    /// server did not answer.
    pub async fn get_domain(&self, name: &str) -> (Option<u16>, String) {
        let url = format!("{}/domain/{name}", self.base_url);
        match self.http.get(&url).send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                (Some(status), response.text().await.unwrap_or_default())
            }
            Err(_) => (None, String::new()),
        }
    }

    /// The server's output so far, for failure messages.
    pub fn output(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Polls `domain/<name>` until `done` accepts the answer.
    async fn wait_for(&self, name: &str, what: &str, done: impl Fn(Option<u16>, &str) -> bool) {
        let deadline = Instant::now() + WAIT;
        loop {
            let (status, body) = self.get_domain(name).await;
            if done(status, &body) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {WAIT:?} waiting for {what}; last answer {status:?} {body}\nrdap-srv output:\n{}",
                self.output()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn data_tool(&self, args: &[&str]) {
        let output = Command::new(binary("rdap-srv-data"))
            .arg("--data-dir")
            .arg(self.dir.path().join("staging"))
            .args(&args[..1])
            .args(["--base-url", &self.base_url])
            .args(&args[1..])
            .env("NO_COLOR", "1")
            .output()
            .await
            .expect("run rdap-srv-data");
        assert!(
            output.status.success(),
            "rdap-srv-data {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Adds the expiration and deletion events `rdap-srv-data` cannot write.
    fn add_events(&self, spec: &DomainSpec) {
        let extra: Vec<Value> = [("expiration", &spec.expires), ("deletion", &spec.deletion)]
            .into_iter()
            .filter_map(|(action, date)| {
                date.as_ref()
                    .map(|d| json!({"eventAction": action, "eventDate": d}))
            })
            .collect();
        if extra.is_empty() {
            return;
        }
        let path = self.staged_domain_file(&spec.name);
        let mut object = self.staged_domain(&spec.name);
        let events = object
            .as_object_mut()
            .expect("domain file is an object")
            .entry("events")
            .or_insert_with(|| json!([]));
        events
            .as_array_mut()
            .expect("events is an array")
            .extend(extra);
        std::fs::write(&path, object.to_string()).expect("write domain file");
    }

    fn staged_domain_file(&self, name: &str) -> PathBuf {
        json_files(&self.dir.path().join("staging"))
            .into_iter()
            .find(|p| domain_name_of(p).as_deref() == Some(name))
            .expect("rdap-srv-data wrote the domain file")
    }

    fn staged_domain(&self, name: &str) -> Value {
        let text =
            std::fs::read_to_string(self.staged_domain_file(name)).expect("read domain file");
        serde_json::from_str(&text).expect("domain file is JSON")
    }

    /// Copies changed staging files into the served directory, each by an
    /// atomic rename so a load never sees a half-written file.
    fn publish_staging(&self) {
        let data = self.dir.path().join("data");
        let tmp = self.dir.path().join("tmp");
        for source in json_files(&self.dir.path().join("staging")) {
            let file_name = source.file_name().expect("file name");
            let contents = std::fs::read(&source).expect("read staged file");
            let target = data.join(file_name);
            if std::fs::read(&target).ok().as_deref() == Some(contents.as_slice()) {
                continue;
            }
            let temp = tmp.join(file_name);
            std::fs::write(&temp, &contents).expect("write temp file");
            std::fs::rename(&temp, &target).expect("move file into the data dir");
        }
    }
}

/// `listening on 127.0.0.1:34567` in the server's debug log.
fn listening_address(line: &str) -> Option<std::net::SocketAddr> {
    let rest = line.split("listening on ").nth(1)?;
    rest.split_whitespace().next()?.parse().ok()
}

fn handle_part(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '-'
            }
        })
        .collect()
}

fn touch(path: &Path) {
    std::fs::write(path, b"").expect("touch a reload trigger file");
}

fn json_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .expect("list data dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect()
}

/// The `ldhName` of a domain object file, if it is one.
fn domain_name_of(path: &Path) -> Option<String> {
    let value: Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    (value.get("objectClassName")?.as_str()? == "domain")
        .then(|| value.get("ldhName")?.as_str().map(str::to_ascii_lowercase))?
}

/// True when the served `body` carries the staged object's registration data
/// (statuses, events, name servers, entities): the change is visible.
fn same_registration(staged: &Value, body: &str) -> bool {
    let Ok(served) = serde_json::from_str::<Value>(body) else {
        return false;
    };
    ["status", "events", "nameservers", "entities"]
        .iter()
        .all(|key| served.get(key) == staged.get(key))
}
