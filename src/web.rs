//! The HTTP operations surface (SPEC.md §7), on warp:
//!
//! | endpoint | what |
//! |---|---|
//! | `GET /health` | liveness: the process serves |
//! | `GET /ready` | readiness: the watch cache is synced and shards are held (or, with more replicas than shards, every shard is held by another replica) |
//! | `GET /status` | instance, uptime, shards, domain counts |
//! | `GET /domains` | the domains this instance watches (`availability`, `limit`, `offset`) |
//! | `GET /domain/{domain}` | one domain (400 invalid, 404 unknown) |
//! | `POST /refresh` | run the domain list sync now (bearer token) |
//! | `GET /metrics` | JSON metrics; filters `include_timers`, `include_counters`, `include_api`, `include_check_results` |
//! | `GET /metrics/prometheus` | the same metrics in the Prometheus text format |
//! | `GET` or `POST /metrics/reset` | reset the metrics (bearer token) |
//!
//! Every error is JSON: `{"error": "..."}`.
//!
//! The surface faces whatever can reach the pod, so it bounds what a client
//! can hold: it speaks HTTP/1.1, a request head must arrive within
//! [`HEADER_READ_TIMEOUT`] of the connection opening or falling idle (slow
//! and silent clients are disconnected), no endpoint takes a body (a request that
//! announces more than [`MAX_BODY_BYTES`], or a chunked one, gets 413 before
//! anything runs), broken client connections are logged at debug level only
//! (at error level each would become a Sentry event), and on shutdown open
//! connections get [`SHUTDOWN_GRACE`] to finish, then are dropped.

use std::{
    collections::BTreeMap,
    convert::Infallible,
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::watch;
use warp::{
    Filter,
    http::{Method, StatusCode},
    reply::Response,
};

use crate::{
    config::Secret,
    controller::{DomainSummary, DomainView},
    domain_name::DomainName,
    metrics::{
        Metrics, SnapshotSource, instruments,
        labels::{HttpMethod, HttpRequestLabels, SyncTrigger},
        prometheus,
    },
    resource::Availability,
    shard::coordinator::ShardHandle,
    sync::DomainSync,
};

/// Largest page of `/domains`.
const MAX_PAGE: usize = 1000;

/// Longest wait for a request head; slower clients (slowloris) are dropped.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest request body a client may announce. No endpoint reads one; a
/// small one (some clients send `{}` with a POST) is tolerated and ignored.
pub const MAX_BODY_BYTES: u64 = 64 * 1024;

/// How long requests in flight may finish once shutdown begins.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// The domain list sync as the web surface sees it.
pub struct SyncHandle {
    /// The sync itself.
    pub sync: Arc<DomainSync>,
    /// True while this replica holds the sync Lease.
    pub leader: watch::Receiver<bool>,
    /// The Leases of the operator's namespace, to name the sync Lease's
    /// holder to a caller that asked another replica.
    pub leases: kube::Api<k8s_openapi::api::coordination::v1::Lease>,
}

/// What the endpoints read.
pub struct WebState {
    /// This replica's name.
    pub instance: String,
    /// Bearer token of the mutating endpoints.
    pub token: Option<Secret>,
    /// The metrics registry.
    pub metrics: Arc<Metrics>,
    /// The shards held.
    pub shards: ShardHandle,
    /// The watched domains (none in a surface without a controller).
    pub domains: Option<DomainView>,
    /// The domain list sync, when `DOMAIN_API_URL` is set.
    pub sync: Option<SyncHandle>,
    /// Collected values (domain counts, shards, rate-limit waits).
    pub snapshot: SnapshotSource,
}

/// What a request says about its body.
#[derive(Debug, Clone, Copy)]
struct AnnouncedBody {
    /// `Content-Length`, if given.
    length: Option<u64>,
    /// Whether a `Transfer-Encoding` (a chunked body) was given.
    chunked: bool,
}

/// Serves the surface on `listener` until `shutdown` resolves.
///
/// warp's own server loop offers no header timeout and logs every broken
/// client connection at error level, so connections are served here with
/// hyper-util directly, as warp does, plus those limits.
pub async fn serve(
    state: Arc<WebState>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    use hyper_util::{
        rt::{TokioIo, TokioTimer},
        server::graceful::GracefulShutdown,
        service::TowerToHyperService,
    };
    use warp::hyper::server::conn::http1;

    let routes = warp::method()
        .and(warp::path::full())
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .and(warp::header::optional::<String>("authorization"))
        .and(warp::header::optional::<u64>("content-length"))
        .and(warp::header::optional::<String>("transfer-encoding"))
        .and_then(
            move |method: Method,
                  path: warp::path::FullPath,
                  query: String,
                  auth: Option<String>,
                  length: Option<u64>,
                  encoding: Option<String>| {
                let state = Arc::clone(&state);
                let body = AnnouncedBody {
                    length,
                    chunked: encoding.is_some(),
                };
                async move {
                    Ok::<_, Infallible>(
                        handle(
                            &state,
                            &method,
                            path.as_str(),
                            &query,
                            auth.as_deref(),
                            body,
                        )
                        .await,
                    )
                }
            },
        );
    let service = TowerToHyperService::new(warp::service(routes));
    // HTTP/1 only (probes and scrapers speak it): the header timeout runs
    // from the moment a connection opens or falls idle, which HTTP/2's
    // protocol detection would defeat (a client could stall before it).
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let graceful = GracefulShutdown::new();
    // Dropping the set aborts the connections still open.
    let mut connections = tokio::task::JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(err) => {
                        // Out of file descriptors, most likely: let some close.
                        tracing::warn!(error = %err, "HTTP surface cannot accept a connection");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let connection = builder.serve_connection(TokioIo::new(stream), service.clone());
                let connection = graceful.watch(connection);
                connections.spawn(async move {
                    if let Err(err) = connection.await {
                        tracing::debug!(error = %err, "HTTP client connection ended with an error");
                    }
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await;
}

/// Binds `addr`, so that a bad address fails start-up with a clear error.
pub async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await
}

async fn handle(
    state: &WebState,
    method: &Method,
    path: &str,
    query: &str,
    auth: Option<&str>,
    body: AnnouncedBody,
) -> Response {
    let started = Instant::now();
    let route = route_name(path);
    let response = if body.chunked || body.length.is_some_and(|n| n > MAX_BODY_BYTES) {
        // Refused before anything runs: the body is never read.
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "no endpoint takes a request body: send none (at most {MAX_BODY_BYTES} bytes are tolerated, not chunked)"
            ),
        )
    } else {
        dispatch(state, method, path, query, auth).await
    };
    state.metrics.http_server_duration.record(
        HttpRequestLabels {
            method: HttpMethod::of(method.as_str()),
            route,
            status: response.status().as_u16(),
        },
        started.elapsed(),
    );
    response
}

/// The path with variable parts replaced, for metrics.
fn route_name(path: &str) -> &'static str {
    match path {
        "/health" => "/health",
        "/ready" => "/ready",
        "/status" => "/status",
        "/domains" => "/domains",
        "/refresh" => "/refresh",
        "/metrics" => "/metrics",
        "/metrics/reset" => "/metrics/reset",
        "/metrics/prometheus" => "/metrics/prometheus",
        p if p.starts_with("/domain/") => "/domain/{domain}",
        _ => "other",
    }
}

async fn dispatch(
    state: &WebState,
    method: &Method,
    path: &str,
    query: &str,
    auth: Option<&str>,
) -> Response {
    let get = method == Method::GET;
    let post = method == Method::POST;
    match path {
        "/health" if get => reply(StatusCode::OK, &json!({"status": "ok"})),
        "/ready" if get => ready(state),
        "/status" if get => reply(StatusCode::OK, &status(state)),
        "/domains" if get => domains(state, query),
        "/metrics" if get => metrics(state, query),
        "/metrics/prometheus" if get => {
            let text = prometheus::render(&state.metrics, &(state.snapshot)());
            let mut response = Response::new(text.into());
            response.headers_mut().insert(
                warp::http::header::CONTENT_TYPE,
                warp::http::HeaderValue::from_static(prometheus::CONTENT_TYPE),
            );
            response
        }
        "/metrics/reset" if get || post => match authorize(state, auth) {
            Err(err) => err.response(),
            Ok(()) => {
                state.metrics.reset();
                reply(StatusCode::OK, &json!({"reset": true}))
            }
        },
        "/refresh" if post => match authorize(state, auth) {
            Err(err) => err.response(),
            Ok(()) => refresh(state).await,
        },
        p if p.starts_with("/domain/") && get => domain(state, &p["/domain/".len()..]).await,
        "/health"
        | "/ready"
        | "/status"
        | "/domains"
        | "/metrics"
        | "/metrics/reset"
        | "/metrics/prometheus"
        | "/refresh" => error(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{method} is not allowed on {path}"),
        ),
        _ => error(StatusCode::NOT_FOUND, format!("no endpoint {path}")),
    }
}

fn reply(status: StatusCode, body: &impl Serialize) -> Response {
    let json =
        serde_json::to_vec(body).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}").into_bytes());
    let mut response = Response::new(json.into());
    *response.status_mut() = status;
    response.headers_mut().insert(
        warp::http::header::CONTENT_TYPE,
        warp::http::HeaderValue::from_static("application/json"),
    );
    response
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    reply(status, &json!({"error": message.into()}))
}

/// An error answer, kept small until it becomes a response.
struct ApiError(StatusCode, String);

impl ApiError {
    fn response(self) -> Response {
        error(self.0, self.1)
    }
}

/// Checks `Authorization: Bearer <API_AUTH_TOKEN>` in constant time.
fn authorize(state: &WebState, auth: Option<&str>) -> Result<(), ApiError> {
    let Some(token) = &state.token else {
        return Err(ApiError(
            StatusCode::FORBIDDEN,
            "API_AUTH_TOKEN is not set: mutating endpoints are disabled".to_owned(),
        ));
    };
    let given = auth
        .and_then(|a| a.strip_prefix("Bearer "))
        .unwrap_or_default();
    if constant_time_eq(given.as_bytes(), token.expose().as_bytes()) {
        Ok(())
    } else {
        Err(ApiError(
            StatusCode::UNAUTHORIZED,
            "a valid bearer token is required".to_owned(),
        ))
    }
}

/// Compares without stopping at the first difference, so response times say
/// nothing about how much of a guessed token was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0_u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

fn ready(state: &WebState) -> Response {
    let store_ready = state.domains.as_ref().is_some_and(DomainView::synced);
    let shards = state.shards.held();
    // A standby watches nothing (the watch covers held shards only).
    let standby = shards.is_empty() && state.shards.standing_by();
    if shards.is_empty() && !standby {
        error(StatusCode::SERVICE_UNAVAILABLE, "no shard held yet")
    } else if !store_ready && !standby {
        error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the watch cache is not synced yet",
        )
    } else {
        reply(
            StatusCode::OK,
            &json!({"ready": true, "shards": shards, "standby": standby}),
        )
    }
}

/// `{"total", "priority", "by_availability"}` of the watched domains.
fn domain_counts(state: &WebState) -> Value {
    let counts = state
        .domains
        .as_ref()
        .map(DomainView::counts)
        .unwrap_or_default();
    let by_availability: BTreeMap<&str, u64> = counts
        .by_availability
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(a, n)| (a.as_str(), n))
        .collect();
    json!({
        "total": by_availability.values().sum::<u64>(),
        "priority": counts.priority,
        "by_availability": by_availability,
    })
}

fn status(state: &WebState) -> Value {
    json!({
        "instance": state.instance,
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": state.metrics.uptime().as_secs(),
        "shards": {
            "total": state.shards.total(),
            "held": state.shards.held(),
            "standby": state.shards.standing_by(),
        },
        "sync": state.sync.as_ref().map(|s| json!({"leader": *s.leader.borrow()})),
        "domains": domain_counts(state),
    })
}

fn params(query: &str) -> BTreeMap<String, String> {
    url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

fn domains(state: &WebState, query: &str) -> Response {
    let params = params(query);
    let wanted = match params.get("availability") {
        None => None,
        Some(value) => match serde_json::from_value::<Availability>(Value::String(value.clone())) {
            Ok(a) => Some(a),
            Err(_) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "unknown availability {value:?}: use Unknown, Registered, Available, Expiring, PendingDelete, Reserved, Invalid or Error"
                    ),
                );
            }
        },
    };
    let number = |key: &str, default: usize| match params.get(key) {
        None => Ok(default),
        Some(v) => v.parse::<usize>().map_err(|_| {
            ApiError(
                StatusCode::BAD_REQUEST,
                format!("{key} must be a whole number, not {v:?}"),
            )
        }),
    };
    let limit = match number("limit", 100) {
        Ok(limit) => limit.min(MAX_PAGE),
        Err(err) => return err.response(),
    };
    let offset = match number("offset", 0) {
        Ok(offset) => offset,
        Err(err) => return err.response(),
    };
    let all = state
        .domains
        .as_ref()
        .map(|d| d.summaries(wanted))
        .unwrap_or_default();
    let items: Vec<&DomainSummary> = all.iter().skip(offset).take(limit).collect();
    reply(
        StatusCode::OK,
        &json!({"total": all.len(), "offset": offset, "limit": limit, "items": items}),
    )
}

async fn domain(state: &WebState, raw: &str) -> Response {
    let decoded = url::form_urlencoded::parse(format!("d={raw}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    let name = match DomainName::parse(&decoded) {
        Ok(name) => name,
        Err(err) => return error(StatusCode::BAD_REQUEST, err.to_string()),
    };
    let found = match &state.domains {
        Some(domains) => domains.find(&name).await,
        None => None,
    };
    match found {
        Some((summary, status)) => {
            let mut body = serde_json::to_value(&summary).unwrap_or(Value::Null);
            body["status"] = status;
            reply(StatusCode::OK, &body)
        }
        None => error(
            StatusCode::NOT_FOUND,
            format!(
                "{name} is not watched by this instance ({})",
                state.instance
            ),
        ),
    }
}

fn metrics(state: &WebState, query: &str) -> Response {
    let mut include = BTreeMap::from([
        ("include_timers", true),
        ("include_counters", true),
        ("include_api", true),
        ("include_check_results", true),
    ]);
    for (key, value) in params(query) {
        let Some(flag) = include.get_mut(key.as_str()) else {
            return error(StatusCode::BAD_REQUEST, format!("unknown filter {key:?}"));
        };
        *flag = match value.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => true,
            "false" | "0" | "no" => false,
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("{key} must be true or false, not {value:?}"),
                );
            }
        };
    }
    let mut counters = state.metrics.counters();
    let mut timers = state.metrics.timers();
    // Requests are one histogram: its counts are the calls.
    let response_times = timers
        .remove(instruments::HTTP_SERVER_DURATION.json_key)
        .unwrap_or_default();
    let calls: BTreeMap<&String, u64> = response_times
        .iter()
        .map(|(key, summary)| (key, summary.count))
        .collect();
    let api = json!({
        "calls": calls,
        "response_times": response_times,
    });
    let check_results = json!({
        "results": counters.remove(instruments::CHECKS.json_key).unwrap_or_default(),
        "verdicts": counters.remove(instruments::VERDICTS.json_key).unwrap_or_default(),
    });
    let mut body = json!({
        "instance": state.instance,
        "uptime_seconds": state.metrics.uptime().as_secs_f64(),
        "domains": domain_counts(state),
        "shards": {"total": state.shards.total(), "held": state.shards.held()},
    });
    if include["include_counters"] {
        body["counters"] = json!(counters);
    }
    if include["include_timers"] {
        body["timers"] = json!(timers);
    }
    if include["include_api"] {
        body["api"] = api;
    }
    if include["include_check_results"] {
        body["check_results"] = check_results;
    }
    reply(StatusCode::OK, &body)
}

async fn refresh(state: &WebState) -> Response {
    let Some(handle) = &state.sync else {
        return error(
            StatusCode::CONFLICT,
            "DOMAIN_API_URL is not set: there is no domain list to sync",
        );
    };
    if !*handle.leader.borrow() {
        // Behind a Service, a caller cannot pick the replica: say which one.
        let holder = handle
            .leases
            .get_opt(crate::controller::SYNC_LEASE)
            .await
            .ok()
            .flatten()
            .and_then(|lease| lease.spec?.holder_identity)
            .filter(|holder| !holder.is_empty());
        let message = match &holder {
            Some(holder) => format!(
                "this replica ({}) does not hold the sync lease; {holder} does: POST /refresh there (e.g. kubectl port-forward pod/{holder} 8000)",
                state.instance
            ),
            None => "this replica does not hold the sync lease, and no replica holds it right now; try again in a few seconds".to_owned(),
        };
        return reply(
            StatusCode::CONFLICT,
            &json!({"error": message, "sync_leader": holder}),
        );
    }
    match handle.sync.run_once(SyncTrigger::Refresh).await {
        Ok(summary) => reply(StatusCode::OK, &summary),
        Err(err) => error(StatusCode::BAD_GATEWAY, err.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_comparison_is_exact() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(!constant_time_eq(b"", b"x"));
    }

    /// Serves a surface with token `t` on a free port; returns its address,
    /// its metrics, the shutdown trigger and the server task.
    async fn surface() -> (
        SocketAddr,
        Arc<Metrics>,
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    ) {
        let metrics = Arc::new(Metrics::new());
        let state = Arc::new(WebState {
            instance: "test".to_owned(),
            token: Some(Secret::new("t")),
            metrics: Arc::clone(&metrics),
            shards: ShardHandle::all(1),
            domains: None,
            sync: None,
            snapshot: Arc::new(crate::metrics::Snapshot::default),
        });
        let listener = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(state, listener, async {
            let _ = stopped.await;
        }));
        (addr, metrics, stop, server)
    }

    /// Sends `request` and returns the status line of the answer.
    async fn status_line(addr: SocketAddr, request: &str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = vec![0_u8; 1024];
        let n = stream.read(&mut answer).await.unwrap();
        String::from_utf8_lossy(&answer[..n])
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned()
    }

    #[tokio::test]
    async fn bodies_are_refused_before_anything_runs() {
        let (addr, metrics, _stop, _server) = surface().await;
        let available = crate::metrics::labels::AvailabilityLabels {
            availability: Availability::Available,
        };
        metrics.verdicts.inc(available);
        for framing in [
            format!("Content-Length: {}", MAX_BODY_BYTES + 1),
            "Transfer-Encoding: chunked".to_owned(),
        ] {
            let request = format!(
                "POST /metrics/reset HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\n{framing}\r\n\r\n"
            );
            assert_eq!(
                status_line(addr, &request).await,
                "HTTP/1.1 413 Payload Too Large",
                "{framing}"
            );
        }
        assert_eq!(metrics.verdicts.get(&available), 1, "not reset");
        let small = "POST /metrics/reset HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\nContent-Length: 2\r\n\r\n{}";
        assert_eq!(status_line(addr, small).await, "HTTP/1.1 200 OK");
    }

    #[tokio::test]
    async fn shutdown_does_not_wait_for_unfinished_requests() {
        use tokio::io::AsyncWriteExt;
        let (addr, _metrics, stop, server) = surface().await;
        let mut partial = tokio::net::TcpStream::connect(addr).await.unwrap();
        partial
            .write_all(b"GET /health HTTP/1.1\r\nHo")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        stop.send(()).unwrap();
        tokio::time::timeout(SHUTDOWN_GRACE + Duration::from_secs(3), server)
            .await
            .expect("the surface stops though a request never finished")
            .unwrap();
    }

    #[test]
    fn routes_are_named_without_their_variables() {
        assert_eq!(route_name("/domain/example.com"), "/domain/{domain}");
        assert_eq!(route_name("/nope"), "other");
    }
}
