//! The HTTP operations surface (SPEC.md §7), on warp:
//!
//! | endpoint | what |
//! |---|---|
//! | `GET /health` | liveness: the process serves |
//! | `GET /ready` | readiness: the watch cache is synced and shards are held |
//! | `GET /status` | instance, uptime, shards, domain counts |
//! | `GET /domains` | the domains this instance watches (`availability`, `limit`, `offset`) |
//! | `GET /domain/{domain}` | one domain (400 invalid, 404 unknown) |
//! | `POST /refresh` | run the domain list sync now (bearer token) |
//! | `GET /metrics` | JSON metrics; filters `include_timers`, `include_counters`, `include_api`, `include_check_results` |
//! | `GET /metrics/prometheus` | the same metrics in the Prometheus text format |
//! | `GET` or `POST /metrics/reset` | reset the metrics (bearer token) |
//!
//! Every error is JSON: `{"error": "..."}`.

use std::{
    collections::BTreeMap,
    convert::Infallible,
    net::SocketAddr,
    sync::{Arc, RwLock},
    time::Instant,
};

use kube::{ResourceExt, runtime::reflector::Store};
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
    domain_name::DomainName,
    metrics::{Metrics, SnapshotSource, names, prometheus},
    resource::{Availability, MonitoredDomain},
    shard::coordinator::ShardHandle,
    sync::DomainSync,
};

/// Largest page of `/domains`.
const MAX_PAGE: usize = 1000;

/// The domain list sync as the web surface sees it.
pub struct SyncHandle {
    /// The sync itself.
    pub sync: Arc<DomainSync>,
    /// True while this replica holds the sync Lease.
    pub leader: watch::Receiver<bool>,
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
    /// The current watch cache (replaced when the shard set changes).
    pub store: Arc<RwLock<Option<Store<MonitoredDomain>>>>,
    /// The domain list sync, when `DOMAIN_API_URL` is set.
    pub sync: Option<SyncHandle>,
    /// Collected values (domain counts, shards, rate-limit waits).
    pub snapshot: SnapshotSource,
}

/// Serves the surface on `listener` until `shutdown` resolves.
pub async fn serve(
    state: Arc<WebState>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let routes = warp::method()
        .and(warp::path::full())
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .and(warp::header::optional::<String>("authorization"))
        .and_then(
            move |method: Method,
                  path: warp::path::FullPath,
                  query: String,
                  auth: Option<String>| {
                let state = Arc::clone(&state);
                async move {
                    Ok::<_, Infallible>(
                        handle(&state, &method, path.as_str(), &query, auth.as_deref()).await,
                    )
                }
            },
        );
    warp::serve(routes)
        .incoming(listener)
        .graceful(shutdown)
        .run()
        .await;
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
) -> Response {
    let started = Instant::now();
    let route = route_name(path);
    let response = dispatch(state, method, path, query, auth).await;
    let status = response.status().as_u16();
    state
        .metrics
        .count(names::API_CALLS, format!("{method} {route} {status}"), 1);
    state.metrics.time(
        names::API_DURATION,
        format!("{method} {route}"),
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
        p if p.starts_with("/domain/") && get => domain(state, &p["/domain/".len()..]),
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

fn cached(state: &WebState) -> Option<Vec<Arc<MonitoredDomain>>> {
    let store = state.store.read().unwrap_or_else(|e| e.into_inner());
    store.as_ref().map(Store::state)
}

fn ready(state: &WebState) -> Response {
    let store_ready = {
        let store = state.store.read().unwrap_or_else(|e| e.into_inner());
        store.as_ref().is_some_and(|s| {
            futures::FutureExt::now_or_never(s.wait_until_ready()).is_some_and(|r| r.is_ok())
        })
    };
    let shards = state.shards.held();
    if shards.is_empty() {
        error(StatusCode::SERVICE_UNAVAILABLE, "no shard held yet")
    } else if !store_ready {
        error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the watch cache is not synced yet",
        )
    } else {
        reply(StatusCode::OK, &json!({"ready": true, "shards": shards}))
    }
}

fn availability_name(md: &MonitoredDomain) -> String {
    let availability = md
        .status
        .as_ref()
        .map_or(Availability::Unknown, |s| s.availability);
    format!("{availability:?}")
}

/// `{"total", "priority", "by_availability"}` of the watched domains.
fn domain_counts(domains: &[Arc<MonitoredDomain>]) -> Value {
    let mut by_availability: BTreeMap<String, usize> = BTreeMap::new();
    for md in domains {
        *by_availability.entry(availability_name(md)).or_default() += 1;
    }
    json!({
        "total": domains.len(),
        "priority": domains.iter().filter(|md| md.spec.priority).count(),
        "by_availability": by_availability,
    })
}

fn status(state: &WebState) -> Value {
    json!({
        "instance": state.instance,
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": state.metrics.uptime().as_secs(),
        "shards": {"total": state.shards.total(), "held": state.shards.held()},
        "sync": state.sync.as_ref().map(|s| json!({"leader": *s.leader.borrow()})),
        "domains": domain_counts(&cached(state).unwrap_or_default()),
    })
}

fn summary(md: &MonitoredDomain) -> Value {
    let status = md.status.as_ref();
    json!({
        "name": md.name_any(),
        "namespace": md.namespace(),
        "domain": status.and_then(|s| s.domain.clone()).unwrap_or_else(|| md.spec.domain.clone()),
        "priority": md.spec.priority,
        "availability": availability_name(md),
        "confidence": status.and_then(|s| s.confidence),
        "last_checked_at": status.and_then(|s| s.last_checked_at.as_ref()).map(|t| t.0.to_string()),
        "next_check_at": status.and_then(|s| s.next_check_at.as_ref()).map(|t| t.0.to_string()),
        "expires_at": status.and_then(|s| s.registration.as_ref()).and_then(|r| r.expires_at.as_ref()).map(|t| t.0.to_string()),
        "predicted_drop_at": status.and_then(|s| s.predicted_drop_at.as_ref()).map(|t| t.0.to_string()),
        "shard": md.labels().get(crate::shard::SHARD_LABEL),
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
            Ok(a) => Some(format!("{a:?}")),
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
    let mut all: Vec<Arc<MonitoredDomain>> = cached(state)
        .unwrap_or_default()
        .into_iter()
        .filter(|md| wanted.as_ref().is_none_or(|w| *w == availability_name(md)))
        .collect();
    all.sort_by_key(|md| (md.namespace(), md.name_any()));
    let items: Vec<Value> = all
        .iter()
        .skip(offset)
        .take(limit)
        .map(|md| summary(md))
        .collect();
    reply(
        StatusCode::OK,
        &json!({"total": all.len(), "offset": offset, "limit": limit, "items": items}),
    )
}

fn domain(state: &WebState, raw: &str) -> Response {
    let decoded = url::form_urlencoded::parse(format!("d={raw}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    let name = match DomainName::parse(&decoded) {
        Ok(name) => name,
        Err(err) => return error(StatusCode::BAD_REQUEST, err.to_string()),
    };
    let found = cached(state)
        .unwrap_or_default()
        .into_iter()
        .find(|md| DomainName::parse(&md.spec.domain).is_ok_and(|d| d == name));
    match found {
        Some(md) => {
            let mut body = summary(&md);
            body["status"] = serde_json::to_value(&md.status).unwrap_or(Value::Null);
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
    let api = json!({
        "calls": counters.remove(names::API_CALLS).unwrap_or_default(),
        "response_times": timers.remove(names::API_DURATION).unwrap_or_default(),
    });
    let check_results = json!({
        "results": counters.remove(names::CHECK_RESULTS).unwrap_or_default(),
        "verdicts": counters.remove(names::VERDICTS).unwrap_or_default(),
    });
    let mut body = json!({
        "instance": state.instance,
        "uptime_seconds": state.metrics.uptime().as_secs_f64(),
        "domains": domain_counts(&cached(state).unwrap_or_default()),
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
        return error(
            StatusCode::CONFLICT,
            "this replica does not hold the sync lease; ask the replica that does (GET /status shows \"sync\": {\"leader\": true})",
        );
    }
    match handle.sync.run_once("refresh").await {
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

    #[test]
    fn routes_are_named_without_their_variables() {
        assert_eq!(route_name("/domain/example.com"), "/domain/{domain}");
        assert_eq!(route_name("/nope"), "other");
    }
}
