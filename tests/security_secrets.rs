//! Secrets never leak: the token, registrar keys, the domain API's
//! credentials and the Sentry key appear in no output of a running operator
//! (logs, events, statuses, endpoints, Sentry events, peers they are not
//! meant for), while every peer fails and echoes what it received.
//!
//! The scenario records its figures with [`support::chaos::record`] before it
//! asserts; `CHAOS_SCALE=full` (`just chaos`) runs it longer.

mod support;

use std::time::Duration;

use kube::{Api, api::ListParams, api::PostParams};
use serde_json::json;
use support::{
    chaos::{Figures, by_scale, record},
    cluster::{TestNamespace, pinned},
    http_stub::{HttpStub, Recorded, Reply},
    operator::Operator,
    security::{base64, random_hex},
    world::World,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// An error body that repeats the request line and every header, as
/// careless receivers do in their error pages.
fn echo_body(request: &Recorded) -> String {
    json!({"error": "request refused", "you_sent": request.head}).to_string()
}

/// A JSON answer with `status`.
fn json_reply(status: u16, body: String) -> Reply {
    Reply::json(status, "application/json", body)
}

/// A stub that answers every request with what `respond` computes from the
/// request and how many requests reached its path before.
async fn echo_server(
    respond: impl Fn(&Recorded, usize) -> Reply + Send + Sync + 'static,
) -> HttpStub {
    let stub = HttpStub::start().await;
    stub.set_default_fn(respond);
    stub
}

/// A named secret, and where it may legitimately appear.
struct SecretValue {
    name: &'static str,
    value: String,
    /// Outputs (by name prefix) that are this secret's rightful recipient.
    allowed_in: &'static [&'static str],
}

/// What one leak run collected.
struct LeakRun {
    provider: &'static str,
    secrets: Vec<SecretValue>,
    outputs: Vec<(String, String)>,
    callback_requests: usize,
    registrar_requests: usize,
    domain_api_requests: usize,
    sentry_envelopes: usize,
    echoed_token: bool,
}

impl LeakRun {
    /// `output: secret` for every secret found where it does not belong.
    fn leaks(&self) -> Vec<String> {
        let mut leaks = Vec::new();
        for (output, text) in &self.outputs {
            for secret in &self.secrets {
                let allowed = secret.allowed_in.iter().any(|p| output.starts_with(p));
                if !allowed && text.contains(&secret.value) {
                    leaks.push(format!("[{}] {output}: {}", self.provider, secret.name));
                }
            }
        }
        leaks
    }
}

/// Sends raw bytes to `addr` and returns what came back (empty when the
/// server closed without answering), within `patience`.
async fn raw_exchange(addr: &str, request: &[u8], patience: Duration) -> String {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.ok()?;
        let _ = stream.write_all(request).await;
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer).await;
        Some(String::from_utf8_lossy(&answer).into_owned())
    };
    tokio::time::timeout(patience, exchange)
        .await
        .ok()
        .flatten()
        .unwrap_or_default()
}

/// Every event of the namespace, in both Event APIs, as JSON.
async fn namespace_events(client: &kube::Client, namespace: &str) -> Vec<(String, String)> {
    let core: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(client.clone(), namespace);
    let events: Api<k8s_openapi::api::events::v1::Event> =
        Api::namespaced(client.clone(), namespace);
    let mut out = Vec::new();
    if let Ok(list) = core.list(&ListParams::default()).await {
        for event in list.items {
            out.push((
                format!(
                    "Event (core/v1) {}",
                    event.metadata.name.clone().unwrap_or_default()
                ),
                serde_json::to_string(&event).unwrap_or_default(),
            ));
        }
    }
    if let Ok(list) = events.list(&ListParams::default()).await {
        for event in list.items {
            out.push((
                format!(
                    "Event (events.k8s.io/v1) {}",
                    event.metadata.name.clone().unwrap_or_default()
                ),
                serde_json::to_string(&event).unwrap_or_default(),
            ));
        }
    }
    out
}

/// A ValidatingAdmissionPolicy that refuses every MonitoredDomain status
/// write in one namespace: the operator's reconciles there fail.
struct StatusRefusal {
    client: kube::Client,
    name: String,
}

impl StatusRefusal {
    async fn install(client: &kube::Client, namespace: &str) -> Self {
        use k8s_openapi::api::admissionregistration::v1::{
            ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
        };
        let name = format!("refuse-status-{namespace}");
        let policy: ValidatingAdmissionPolicy = serde_json::from_value(json!({
            "metadata": {"name": name},
            "spec": {
                "failurePolicy": "Fail",
                "matchConstraints": {"resourceRules": [{
                    "apiGroups": ["domainmonitor.io"],
                    "apiVersions": ["*"],
                    "operations": ["CREATE", "UPDATE"],
                    "resources": ["monitoreddomains/status"],
                }]},
                "validations": [{"expression": "false", "message": "status writes refused by the test"}],
            },
        }))
        .expect("policy");
        let binding: ValidatingAdmissionPolicyBinding = serde_json::from_value(json!({
            "metadata": {"name": name},
            "spec": {
                "policyName": name,
                "validationActions": ["Deny"],
                "matchResources": {"namespaceSelector": {
                    "matchLabels": {"kubernetes.io/metadata.name": namespace},
                }},
            },
        }))
        .expect("binding");
        Api::<ValidatingAdmissionPolicy>::all(client.clone())
            .create(&PostParams::default(), &policy)
            .await
            .expect("create the admission policy");
        Api::<ValidatingAdmissionPolicyBinding>::all(client.clone())
            .create(&PostParams::default(), &binding)
            .await
            .expect("create the admission policy binding");
        Self {
            client: client.clone(),
            name,
        }
    }

    async fn remove(self) {
        use k8s_openapi::api::admissionregistration::v1::{
            ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
        };
        let params = kube::api::DeleteParams::default();
        let _ = Api::<ValidatingAdmissionPolicyBinding>::all(self.client.clone())
            .delete(&self.name, &params)
            .await;
        let _ = Api::<ValidatingAdmissionPolicy>::all(self.client)
            .delete(&self.name, &params)
            .await;
    }
}

/// Runs one operator with every secret set and every peer failing, provokes
/// errors, and collects every output it produced.
async fn leak_run(world: &World, provider: &'static str, patience: Duration) -> LeakRun {
    let ns = TestNamespace::new(&format!("leak-{provider}")).await;
    let token = format!("tok{}", random_hex(24));
    let registrar_key = format!("rk{}", random_hex(24));
    let registrar_extra = format!("rx{}", random_hex(24));
    let domain_api_password = format!("dp{}", random_hex(24));
    let sentry_key = random_hex(32);

    // The callback receiver and the registrar API refuse, echoing the request.
    let callbacks = echo_server(|request, n| {
        json_reply(if n % 2 == 0 { 500 } else { 401 }, echo_body(request))
    })
    .await;
    let registrar = echo_server(|request, n| {
        let body = json!({
            "code": "UNAUTHORIZED",
            "message": format!("bad credentials in {}", request.head),
        });
        json_reply(if n % 2 == 0 { 401 } else { 500 }, body.to_string())
    })
    .await;
    // The domain API lists two names once, then fails.
    let domain_api = echo_server(|request, n| {
        if n == 0 {
            json_reply(
                200,
                json!({"domains": ["listed.test", "taken.test"]}).to_string(),
            )
        } else {
            json_reply(500, echo_body(request))
        }
    })
    .await;
    let sentry = HttpStub::start().await;
    sentry.set(
        "/api/1/envelope/",
        Reply::json(200, "application/json", "{}"),
    );

    let api = ns.domains();
    for md in [
        pinned("free", "free.test", true),
        pinned("taken-pinned", "taken.test", false),
    ] {
        api.create(&PostParams::default(), &md)
            .await
            .expect("create");
    }

    let domain_api_url = format!(
        "http://sync-user:{domain_api_password}@{}/domains",
        domain_api.addr()
    );
    let mut env = world.checker_env();
    env.extend([
        ("API_CALLBACK_URL".to_owned(), callbacks.url("/callback")),
        ("API_AUTH_TOKEN".to_owned(), token.clone()),
        ("PER_CHECK_CALLBACKS".to_owned(), "all".to_owned()),
        ("DOMAIN_API_URL".to_owned(), domain_api_url),
        (
            "SENTRY_DSN".to_owned(),
            format!("http://{sentry_key}@{}/1", sentry.addr()),
        ),
        ("REGISTRAR_PROVIDER".to_owned(), provider.to_owned()),
        ("REGISTRAR_API_KEY".to_owned(), registrar_key.clone()),
        ("REGISTRAR_RATE_LIMIT".to_owned(), "50/s".to_owned()),
        ("REGISTRAR_TIMEOUT".to_owned(), "2s".to_owned()),
    ]);
    let extra_name = if provider == "generic" {
        // The generic provider's URL template may carry a key in its query.
        env.push((
            "REGISTRAR_API_URL".to_owned(),
            registrar.url(&format!(
                "/v1/available/{{domain}}?api_key={registrar_extra}"
            )),
        ));
        "API key in REGISTRAR_API_URL"
    } else {
        env.push(("REGISTRAR_API_URL".to_owned(), registrar.url("/gd")));
        env.push(("REGISTRAR_API_SECRET".to_owned(), registrar_extra.clone()));
        "REGISTRAR_API_SECRET"
    };
    let mut operator = Operator::start(&ns.name, &format!("leak-{provider}"), &env);
    let base = operator.base_url().await;
    let addr = base.trim_start_matches("http://").to_owned();
    let http = reqwest::Client::new();

    // Errors everywhere: the receiver refuses notifications and per-check
    // results, the registrar refuses, the domain API fails on the next sync
    // (run now through /refresh), malformed requests hit the HTTP surface.
    let deadline = tokio::time::Instant::now() + patience;
    let mut outputs: Vec<(String, String)> = Vec::new();
    let mut refreshed = false;
    loop {
        let notified = api
            .get("free")
            .await
            .ok()
            .and_then(|md| md.status)
            .and_then(|s| s.notification)
            .is_some_and(|n| n.last_error.is_some());
        if !refreshed && domain_api.hits("/domains") >= 1 {
            let response = http
                .post(format!("{base}/refresh"))
                .bearer_auth(&token)
                .send()
                .await
                .expect("POST /refresh");
            let status = response.status();
            outputs.push((
                format!("HTTP POST /refresh with the token ({status})"),
                response.text().await.unwrap_or_default(),
            ));
            refreshed = true;
        }
        // The full scale also waits for a scheduled sync to fail (10 s).
        let done = notified
            && refreshed
            && registrar.all_requests().len() >= 2
            && domain_api.hits("/domains") >= by_scale(2, 3);
        if done {
            break;
        }
        if tokio::time::Instant::now() > deadline {
            panic!(
                "[{provider}] errors not all provoked within {patience:?}: notified {notified}, refreshed {refreshed}, notification {:?}, registrar {} requests, domain API {}\n{}",
                api.get("free")
                    .await
                    .ok()
                    .and_then(|md| md.status)
                    .and_then(|s| s.notification),
                registrar.all_requests().len(),
                domain_api.hits("/domains"),
                operator.log()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // A malformed request carrying the token.
    let garbage =
        format!("GET /health HTTP/1.1\r\nAuthorization: Bearer {token}\r\nBad Header\r\n\r\n");
    let answer = raw_exchange(&addr, garbage.as_bytes(), Duration::from_secs(2)).await;
    outputs.push(("HTTP malformed request".to_owned(), answer));

    // Error-level logs become Sentry events, with the earlier logs as
    // breadcrumbs: refuse the status writes for a while, and reconciles fail.
    let refusal = StatusRefusal::install(&ns.client, &ns.name).await;
    let mut spec_changes = 0;
    while sentry.requests("/api/1/envelope/").is_empty() {
        if tokio::time::Instant::now() > deadline {
            refusal.remove().await;
            panic!(
                "[{provider}] no Sentry event within {patience:?}\n{}",
                operator.log()
            );
        }
        // A spec change makes the operator write status (observedGeneration).
        spec_changes += 1;
        let patch = json!({"spec": {"checkInterval": format!("{}s", 60 + spec_changes)}});
        let _ = api
            .patch(
                "free",
                &kube::api::PatchParams::default(),
                &kube::api::Patch::Merge(&patch),
            )
            .await;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    refusal.remove().await;

    // The HTTP surface, errors included.
    let gets = [
        "/health",
        "/ready",
        "/status",
        "/domains",
        "/domain/free.test",
        "/domain/taken.test",
        "/domain/listed.test",
        "/domain/%zz",
        "/domain/not..valid",
        "/metrics",
        "/metrics/prometheus",
        "/metrics?include_timers=maybe",
        "/nowhere",
    ];
    // Without the token (the watchlist answers 401) and with it (every
    // domain's full status, which must not carry a secret either).
    for (path, with_token) in gets.iter().flat_map(|p| [(p, false), (p, true)]) {
        let mut request = http.get(format!("{base}{path}"));
        if with_token {
            request = request.bearer_auth(&token);
        }
        let response = request.send().await.expect("GET");
        let status = response.status();
        if with_token && (*path == "/domains" || *path == "/domain/free.test") {
            assert_eq!(status, 200, "[{provider}] GET {path} with the token");
        }
        outputs.push((
            format!(
                "HTTP GET {path} ({status}{})",
                if with_token { ", with the token" } else { "" }
            ),
            response.text().await.unwrap_or_default(),
        ));
    }
    for (label, auth) in [("no token", None), ("a wrong token", Some("wrong"))] {
        let mut request = http.post(format!("{base}/refresh"));
        if let Some(auth) = auth {
            request = request.bearer_auth(auth);
        }
        let response = request.send().await.expect("POST /refresh");
        let status = response.status();
        outputs.push((
            format!("HTTP POST /refresh with {label} ({status})"),
            response.text().await.unwrap_or_default(),
        ));
    }
    let response = http
        .put(format!("{base}/status"))
        .send()
        .await
        .expect("PUT");
    outputs.push((
        format!("HTTP PUT /status ({})", response.status()),
        response.text().await.unwrap_or_default(),
    ));

    // Resources and events while the operator still runs.
    for md in api.list(&ListParams::default()).await.expect("list").items {
        outputs.push((
            format!("MonitoredDomain {}", kube::ResourceExt::name_any(&md)),
            serde_json::to_string(&md).unwrap_or_default(),
        ));
    }
    outputs.extend(namespace_events(&ns.client, &ns.name).await);

    // A clean stop flushes Sentry; then the logs and what each peer received.
    operator.terminate();
    let exit = operator.wait_exit(Duration::from_secs(30)).await;
    assert!(
        exit.is_some(),
        "[{provider}] the operator did not stop on SIGTERM:\n{}",
        operator.log()
    );
    outputs.push((
        "operator log (stdout and stderr)".to_owned(),
        operator.log(),
    ));
    let envelopes = sentry.requests("/api/1/envelope/");
    outputs.push((
        "Sentry envelopes".to_owned(),
        envelopes
            .iter()
            .map(|r| String::from_utf8_lossy(&r.body).into_owned())
            .collect::<Vec<_>>()
            .join("\n"),
    ));
    let callback_requests = callbacks.all_requests();
    let echoed_token = callback_requests.iter().any(|r| r.head.contains(&token));
    for (peer, server) in [
        ("requests to the callback receiver", &callbacks),
        ("requests to the registrar API", &registrar),
        ("requests to the domain API", &domain_api),
    ] {
        outputs.push((
            peer.to_owned(),
            server
                .all_requests()
                .iter()
                .map(Recorded::text)
                .collect::<Vec<_>>()
                .join("\n"),
        ));
    }
    outputs.push((
        "queries to the WHOIS server".to_owned(),
        world.whois.queries().join("\n"),
    ));

    let secrets = vec![
        SecretValue {
            name: "API_AUTH_TOKEN",
            value: token,
            allowed_in: &["requests to the callback receiver"],
        },
        SecretValue {
            name: "REGISTRAR_API_KEY",
            value: registrar_key,
            allowed_in: &["requests to the registrar API"],
        },
        SecretValue {
            name: extra_name,
            value: registrar_extra,
            allowed_in: &["requests to the registrar API"],
        },
        SecretValue {
            name: "DOMAIN_API_URL password",
            value: domain_api_password.clone(),
            allowed_in: &[],
        },
        SecretValue {
            name: "DOMAIN_API_URL credentials as Basic authorization",
            value: base64(format!("sync-user:{domain_api_password}").as_bytes()),
            allowed_in: &["requests to the domain API"],
        },
        SecretValue {
            name: "SENTRY_DSN public key",
            value: sentry_key,
            allowed_in: &[],
        },
    ];
    LeakRun {
        provider,
        secrets,
        outputs,
        callback_requests: callback_requests.len(),
        registrar_requests: registrar.all_requests().len(),
        domain_api_requests: domain_api.hits("/domains"),
        sentry_envelopes: envelopes.len(),
        echoed_token,
    }
}

/// No secret reaches any output: logs, events, statuses, every endpoint,
/// error bodies, Sentry events, or a peer it is not meant for. The peers do
/// their worst: the receiver and the registrar answer 401/500 with the
/// request (Authorization header included) echoed in the body, the domain
/// API fails, and reconciles fail so that logs become Sentry events. The
/// Sentry stub's envelopes are scanned by body: the `X-Sentry-Auth` header
/// carries the public key to its own server by design.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_leak() {
    domain_monitor::net::ensure_crypto_provider();
    let world = World::start().await;
    world.register("taken.test", "active").await;
    world.unregistered("free.test");
    world.unregistered("listed.test");
    let patience = by_scale(Duration::from_secs(90), Duration::from_secs(180));
    // Both registrar shapes, side by side in their own namespaces.
    let (generic, godaddy) = tokio::join!(
        leak_run(&world, "generic", patience),
        leak_run(&world, "godaddy", patience)
    );
    let runs = [generic, godaddy];
    let leaks: Vec<String> = runs.iter().flat_map(LeakRun::leaks).collect();
    let outputs: usize = runs.iter().map(|r| r.outputs.len()).sum();
    let scanned_bytes: usize = runs
        .iter()
        .flat_map(|r| r.outputs.iter().map(|(_, text)| text.len()))
        .sum();
    let exercised = runs.iter().all(|r| {
        r.echoed_token
            && r.sentry_envelopes > 0
            && r.registrar_requests >= 2
            && r.callback_requests >= 2
    });

    let mut figures = Figures::default();
    figures.note("leaks", json!(leaks.len()));
    figures.note("leaked", json!(leaks));
    figures.note("outputs_scanned", json!(outputs));
    figures.note("bytes_scanned", json!(scanned_bytes));
    figures.note("secrets_per_run", json!(runs[0].secrets.len()));
    for run in &runs {
        figures.extra.insert(
            format!("{}_peers", run.provider),
            json!({
                "callback_requests": run.callback_requests,
                "registrar_requests": run.registrar_requests,
                "domain_api_requests": run.domain_api_requests,
                "sentry_envelopes": run.sentry_envelopes,
                "receiver_echoed_the_token": run.echoed_token,
            }),
        );
    }
    let passed = leaks.is_empty() && exercised;
    record(
        "secrets_never_leak",
        "token, registrar key/secret, URL-embedded API key, domain API password and Sentry key set; receiver and registrar answer 401/500 echoing the request; domain API fails; malformed requests; every log, event, status, endpoint and Sentry envelope scanned",
        &figures,
        passed,
    );

    assert!(
        exercised,
        "the leak opportunities were not all exercised: {:?}",
        figures.extra
    );
    assert!(leaks.is_empty(), "secrets leaked:\n{}", leaks.join("\n"));
}
