//! The HTTP operations surface of a running operator, over real HTTP.

mod support;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{
    cluster::TestNamespace,
    operator::Operator,
    world::{TOKEN, World},
};

/// A client that sends `Authorization: Bearer <token>` with every request.
fn token_client(token: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {token}").parse().unwrap(),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap()
}

async fn get(client: &reqwest::Client, url: &str) -> (StatusCode, Value) {
    let response = client.get(url).send().await.expect("request");
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(content_type, "application/json", "{url}");
    (status, response.json().await.expect("JSON body"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_answers_json_with_the_right_status() {
    domain_monitor::net::ensure_crypto_provider();
    let ns = TestNamespace::new("web").await;
    let world = World::start().await;
    world.register("taken.test", "active").await;
    world.unregistered("free.test");
    world.set_domain_list(
        &json!({"domains": ["taken.test", {"domain": "free.test", "priority": true}]}),
    );
    let operator = Operator::start(&ns.name, "web", &world.operator_env());
    let base = operator.base_url().await;
    let http = reqwest::Client::new();
    // The endpoints that name watched domains need the token (see
    // `the_watchlist_needs_the_token_unless_opened`).
    let reader = token_client(TOKEN);

    let (status, body) = get(&http, &format!("{base}/health")).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"status": "ok"})));

    // Ready once the shards are held and both domains are checked.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (_, status_body) = get(&http, &format!("{base}/status")).await;
        let (ready, _) = get(&http, &format!("{base}/ready")).await;
        let counts = &status_body["domains"]["by_availability"];
        if ready == StatusCode::OK && counts["Registered"] == 1 && counts["Available"] == 1 {
            assert_eq!(status_body["instance"], "web");
            assert_eq!(status_body["domains"]["total"], 2);
            assert_eq!(status_body["domains"]["priority"], 1);
            assert_eq!(status_body["shards"]["total"], 16);
            assert_eq!(status_body["shards"]["held"].as_array().unwrap().len(), 16);
            assert_eq!(status_body["sync"]["leader"], true);
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{status_body}\n{}",
            operator.log()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    let (status, body) = get(&reader, &format!("{base}/domains")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["total"], 2);
    let (_, body) = get(
        &reader,
        &format!("{base}/domains?availability=Available&limit=10"),
    )
    .await;
    assert_eq!(body["total"], 1);
    assert_eq!(body["items"][0]["domain"], "free.test");
    assert_eq!(body["items"][0]["priority"], true);
    let (_, body) = get(&reader, &format!("{base}/domains?limit=1&offset=1")).await;
    assert_eq!(body["items"].as_array().unwrap().len(), 1);
    let (status, body) = get(&reader, &format!("{base}/domains?availability=Gone")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("unknown availability")
    );
    let (status, _) = get(&reader, &format!("{base}/domains?limit=many")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // The registration facts follow the first (cheap) check.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let (status, body) = loop {
        let (status, body) = get(&reader, &format!("{base}/domain/Taken.TEST")).await;
        if !body["status"]["registration"]["registrar"].is_null()
            || tokio::time::Instant::now() > deadline
        {
            break (status, body);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["availability"], "Registered");
    assert_eq!(
        body["status"]["registration"]["registrar"],
        "Demo Registrar Inc."
    );
    let (status, _) = get(&reader, &format!("{base}/domain/unknown.test")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = get(&reader, &format!("{base}/domain/exa%20mple.test")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().contains("white space"));

    let (status, body) = get(&http, &format!("{base}/metrics")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["uptime_seconds"].as_f64().unwrap() > 0.0);
    assert!(
        body["check_results"]["results"]["dns/registered"]
            .as_u64()
            .unwrap()
            >= 1
    );
    assert!(
        body["check_results"]["verdicts"]["Available"]
            .as_u64()
            .unwrap()
            >= 1
    );
    assert!(
        body["timers"]["check_duration"]["dns"]["count"]
            .as_u64()
            .unwrap()
            >= 2
    );
    assert!(body["api"]["calls"]["GET /status 200"].as_u64().unwrap() >= 1);
    assert!(body["counters"]["sync_runs"]["ok"].as_u64().unwrap() >= 1);
    let (_, body) = get(
        &http,
        &format!("{base}/metrics?include_timers=false&include_api=0"),
    )
    .await;
    assert!(body.get("timers").is_none() && body.get("api").is_none());
    assert!(body.get("counters").is_some() && body.get("check_results").is_some());
    let (status, body) = get(&http, &format!("{base}/metrics?include_timers=maybe")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().contains("true or false"));
    let (status, _) = get(&http, &format!("{base}/metrics?include_everything=true")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // The same metrics for a Prometheus scrape, under the names Prometheus
    // derives from the OTLP metrics.
    let response = http
        .get(format!("{base}/metrics/prometheus"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = response.text().await.unwrap();
    for line in [
        "# TYPE domain_monitor_checks_total counter",
        "domain_monitor_domains{availability=\"Registered\"} 1",
        "domain_monitor_domains{availability=\"Available\"} 1",
        "domain_monitor_domains{availability=\"PendingDelete\"} 0",
        "domain_monitor_domains_priority 1",
        "domain_monitor_shards_count 16",
        "# TYPE domain_monitor_check_duration_seconds histogram",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "{line:?} missing in\n{text}"
        );
    }
    let series = |prefix: &str| text.lines().filter(|l| l.starts_with(prefix)).count();
    assert_eq!(series("domain_monitor_sync_runs_total{outcome=\"ok\"} "), 1);
    assert_eq!(
        series("domain_monitor_checks_total{checker=\"dns\",result=\"registered\"} "),
        1
    );
    assert!(series("domain_monitor_check_duration_seconds_bucket{checker=\"dns\",le=") == 15);

    // Mutating endpoints need the bearer token.
    for (method, path) in [
        ("POST", "/refresh"),
        ("GET", "/metrics/reset"),
        ("POST", "/metrics/reset"),
    ] {
        let url = format!("{base}{path}");
        let request = |token: Option<&str>| {
            let mut request = http.request(method.parse().unwrap(), &url);
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            request
        };
        let missing = request(None).send().await.unwrap();
        assert_eq!(
            missing.status(),
            StatusCode::UNAUTHORIZED,
            "{method} {path}"
        );
        let wrong = request(Some("not-the-token")).send().await.unwrap();
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED, "{method} {path}");
        let right = request(Some(TOKEN)).send().await.unwrap();
        assert_eq!(right.status(), StatusCode::OK, "{method} {path}");
        let body: Value = right.json().await.unwrap();
        if path == "/refresh" {
            assert_eq!(body["listed"], 2);
            assert_eq!(body["unchanged"], 2);
        } else {
            assert_eq!(body["reset"], true);
        }
    }
    let (_, body) = get(&http, &format!("{base}/metrics?include_api=false")).await;
    assert!(
        body["check_results"]["results"].as_object().unwrap().len() <= 5,
        "counters were reset: {body}"
    );

    let (status, body) = get(&http, &format!("{base}/nowhere")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["error"].is_string());
    let put = http.put(format!("{base}/status")).send().await.unwrap();
    assert_eq!(put.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(
        !operator.log().contains(TOKEN),
        "the token never appears in logs"
    );
}

/// `(status, WWW-Authenticate, body)` of `method path` sent with `token`.
async fn call(
    base: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
) -> (StatusCode, Option<String>, String) {
    let mut request =
        reqwest::Client::new().request(method.parse().unwrap(), format!("{base}{path}"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (status, challenge, response.text().await.unwrap())
}

/// The endpoints that name watched domains.
const WATCHLIST: [(&str, &str); 2] = [("GET", "/domains"), ("GET", "/domain/taken.test")];
/// The endpoints anyone may read: they name no watched domain.
const OPEN: [(&str, &str); 5] = [
    ("GET", "/health"),
    ("GET", "/ready"),
    ("GET", "/status"),
    ("GET", "/metrics"),
    ("GET", "/metrics/prometheus"),
];
/// The endpoints that change something.
const MUTATING: [(&str, &str); 3] = [
    ("POST", "/refresh"),
    ("GET", "/metrics/reset"),
    ("POST", "/metrics/reset"),
];

/// Waits until `base` is ready and watches `taken.test` (read with `token`).
async fn wait_until_watched(base: &str, token: Option<&str>, operator: &Operator) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (ready, _, _) = call(base, "GET", "/ready", None).await;
        let (status, _, body) = call(base, "GET", "/domain/taken.test", token).await;
        if ready == StatusCode::OK && status == StatusCode::OK {
            assert!(body.contains("\"domain\":\"taken.test\""), "{body}");
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "ready {ready}, /domain/taken.test {status} {body}\n{}",
            operator.log()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watchlist_needs_the_token_unless_opened() {
    domain_monitor::net::ensure_crypto_provider();
    let world = World::start().await;
    world.register("taken.test", "active").await;
    world.set_domain_list(&json!({"domains": ["taken.test"]}));

    // Three operators: the default (token set, watchlist closed), one with
    // OPEN_WATCHLIST=true, one without any API_AUTH_TOKEN.
    let closed_ns = TestNamespace::new("web-closed").await;
    let closed = Operator::start(&closed_ns.name, "closed", &world.operator_env());
    let open_ns = TestNamespace::new("web-open").await;
    let mut open_env = world.operator_env();
    open_env.push(("OPEN_WATCHLIST".into(), "true".into()));
    let open = Operator::start(&open_ns.name, "open", &open_env);
    let tokenless_ns = TestNamespace::new("web-tokenless").await;
    let tokenless_env: Vec<(String, String)> = world
        .operator_env()
        .into_iter()
        .filter(|(k, _)| k != "API_AUTH_TOKEN" && k != "API_CALLBACK_URL")
        .collect();
    let tokenless = Operator::start(&tokenless_ns.name, "tokenless", &tokenless_env);

    // --- the default: the watchlist needs the token ---
    let base = closed.base_url().await;
    wait_until_watched(&base, Some(TOKEN), &closed).await;
    for (method, path) in WATCHLIST {
        let (status, challenge, body) = call(&base, method, path, None).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{path} without a token: {body}"
        );
        assert_eq!(
            challenge.as_deref(),
            Some("Bearer realm=\"domain-monitor\""),
            "{path}"
        );
        assert!(
            body.contains("Authorization: Bearer <API_AUTH_TOKEN>"),
            "{path}: the 401 names the header to send: {body}"
        );
        assert!(!body.contains("taken.test"), "{path}: {body}");

        let (status, challenge, body) = call(&base, method, path, Some("not-the-token")).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{path} with a wrong token"
        );
        assert!(
            challenge.is_some_and(|c| c.starts_with("Bearer ") && c.contains("invalid_token")),
            "{path}"
        );
        assert!(!body.contains("taken.test"), "{path}: {body}");

        let (status, _, body) = call(&base, method, path, Some(TOKEN)).await;
        assert_eq!(status, StatusCode::OK, "{path} with the token: {body}");
        assert!(body.contains("taken.test"), "{path}: {body}");
    }
    // A token is not needed to read the rest, and a wrong one is ignored;
    // none of it names a watched domain.
    for (method, path) in OPEN {
        for token in [None, Some("not-the-token"), Some(TOKEN)] {
            let (status, challenge, body) = call(&base, method, path, token).await;
            assert_eq!(status, StatusCode::OK, "{path} with {token:?}: {body}");
            assert_eq!(challenge, None, "{path}");
            assert!(
                !body.contains("taken.test"),
                "{path} names a domain: {body}"
            );
        }
    }
    for (method, path) in MUTATING {
        let (status, challenge, _) = call(&base, method, path, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}");
        assert!(challenge.is_some_and(|c| c.starts_with("Bearer")));
        let (status, _, _) = call(&base, method, path, Some("not-the-token")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}");
        let (status, _, body) = call(&base, method, path, Some(TOKEN)).await;
        assert_eq!(status, StatusCode::OK, "{method} {path}: {body}");
    }
    // An unknown path lists the endpoints; a known one with another method
    // says which methods it takes.
    let (status, _, body) = call(&base, "GET", "/nowhere", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let listing: Value = serde_json::from_str(&body).unwrap();
    let paths: Vec<&str> = listing["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert!(
        paths.contains(&"/domain/{domain}") && paths.contains(&"/health"),
        "{body}"
    );
    let response = reqwest::Client::new()
        .delete(format!("{base}/metrics/reset"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()["allow"], "GET, POST");

    // --- OPEN_WATCHLIST=true: anyone may read it; mutations still need the token ---
    let base = open.base_url().await;
    wait_until_watched(&base, None, &open).await;
    for (method, path) in WATCHLIST {
        for token in [None, Some("not-the-token"), Some(TOKEN)] {
            let (status, _, body) = call(&base, method, path, token).await;
            assert_eq!(status, StatusCode::OK, "{path} with {token:?}: {body}");
            assert!(body.contains("taken.test"), "{path}: {body}");
        }
    }
    for (method, path) in MUTATING {
        let (status, _, _) = call(&base, method, path, None).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{method} {path} stays closed"
        );
    }

    // --- no API_AUTH_TOKEN: the watchlist is closed to everyone, and the
    // answer says how to open it ---
    let base = tokenless.base_url().await;
    for (method, path) in WATCHLIST {
        for token in [None, Some(TOKEN)] {
            let (status, _, body) = call(&base, method, path, token).await;
            assert_eq!(
                status,
                StatusCode::FORBIDDEN,
                "{path} with {token:?}: {body}"
            );
            assert!(
                body.contains("API_AUTH_TOKEN is not set") && body.contains("OPEN_WATCHLIST=true"),
                "{path}: {body}"
            );
        }
    }
    let (status, _, _) = call(&base, "GET", "/health", None).await;
    assert_eq!(status, StatusCode::OK);
    for operator in [&closed, &open, &tokenless] {
        assert!(
            !operator.log().contains(TOKEN),
            "the token never appears in logs"
        );
    }
}
