//! The route table and the handlers.
//!
//! [`ROUTES`] is the one list of endpoints: dispatch, the `http.route`
//! metric label, the 405 `Allow` header, the 404 listing and the token
//! check all read it, and a test holds the README's endpoint table to it.

use std::collections::BTreeMap;

use serde::Serialize;
use warp::{
    http::{HeaderValue, Method, StatusCode, header},
    reply::Response,
};

use super::{
    WebState, auth,
    body::{self, Counts, Shards},
};
use crate::{
    domain_name::DomainName,
    metrics::{instruments, labels::SyncTrigger, prometheus},
    resource::Availability,
};

/// Largest page of `/domains`.
pub const MAX_PAGE: usize = 1000;

/// Who may call an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone who reaches the port: probes, scrapers, dashboards. These
    /// answers name no watched domain.
    Open,
    /// The answer names watched domains (a drop-catcher's watchlist is
    /// competitive information): the bearer token unless `OPEN_WATCHLIST`
    /// is on.
    Watchlist,
    /// It changes something: always the bearer token.
    Token,
}

impl Access {
    /// The word the 404 listing and the README use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Watchlist => "watchlist",
            Self::Token => "token",
        }
    }
}

/// What answers a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// Liveness.
    Health,
    /// Readiness.
    Ready,
    /// Instance, uptime, shards, counts.
    Status,
    /// The watched domains, paged.
    Domains,
    /// One watched domain.
    Domain,
    /// JSON metrics.
    Metrics,
    /// The Prometheus text format.
    Prometheus,
    /// Metrics reset.
    MetricsReset,
    /// Domain list sync now.
    Refresh,
}

/// One endpoint.
#[derive(Debug)]
pub struct Route {
    /// The path; a final `{domain}` segment matches any one segment.
    pub path: &'static str,
    /// The methods it answers.
    pub methods: &'static [Method],
    /// Who may call it.
    pub access: Access,
    /// What it answers (the 404 listing and the README say the same).
    pub what: &'static str,
    /// The handler.
    pub endpoint: Endpoint,
}

/// Every endpoint of the surface.
pub static ROUTES: &[Route] = &[
    Route {
        path: "/health",
        methods: &[Method::GET],
        access: Access::Open,
        what: "liveness: the process serves",
        endpoint: Endpoint::Health,
    },
    Route {
        path: "/ready",
        methods: &[Method::GET],
        access: Access::Open,
        what: "readiness: the watch cache is synced and shards are held (or every shard is held by another replica)",
        endpoint: Endpoint::Ready,
    },
    Route {
        path: "/status",
        methods: &[Method::GET],
        access: Access::Open,
        what: "instance, version, uptime, shards, sync leadership, domain counts",
        endpoint: Endpoint::Status,
    },
    Route {
        path: "/domains",
        methods: &[Method::GET],
        access: Access::Watchlist,
        what: "the domains this replica watches; `availability=`, `limit=` (at most 1000), `offset=`",
        endpoint: Endpoint::Domains,
    },
    Route {
        path: "/domain/{domain}",
        methods: &[Method::GET],
        access: Access::Watchlist,
        what: "one domain with its full status (400 for an invalid name, 404 when not watched here)",
        endpoint: Endpoint::Domain,
    },
    Route {
        path: "/metrics",
        methods: &[Method::GET],
        access: Access::Open,
        what: "JSON metrics; filters `include_timers`, `include_counters`, `include_api`, `include_check_results`",
        endpoint: Endpoint::Metrics,
    },
    Route {
        path: "/metrics/prometheus",
        methods: &[Method::GET],
        access: Access::Open,
        what: "the same metrics in the Prometheus text format",
        endpoint: Endpoint::Prometheus,
    },
    Route {
        path: "/metrics/reset",
        methods: &[Method::GET, Method::POST],
        access: Access::Token,
        what: "reset the metrics",
        endpoint: Endpoint::MetricsReset,
    },
    Route {
        path: "/refresh",
        methods: &[Method::POST],
        access: Access::Token,
        what: "run the domain list sync now (on the replica holding the sync Lease)",
        endpoint: Endpoint::Refresh,
    },
];

/// The route `path` falls in, and the value of its `{domain}` segment.
pub fn find(path: &str) -> Option<(&'static Route, Option<&str>)> {
    ROUTES
        .iter()
        .find_map(|route| match route.path.strip_suffix("{domain}") {
            Some(prefix) => path
                .strip_prefix(prefix)
                .filter(|rest| !rest.is_empty() && !rest.contains('/'))
                .map(|rest| (route, Some(rest))),
            None => (route.path == path).then_some((route, None)),
        })
}

/// The `http.route` label of `path`: its route's template, or `other`.
pub fn route_name(path: &str) -> &'static str {
    find(path).map_or("other", |(route, _)| route.path)
}

/// Answers a request whose body was accepted.
pub async fn dispatch(
    state: &WebState,
    method: &Method,
    path: &str,
    query: &str,
    authorization: Option<&str>,
) -> Response {
    let Some((route, variable)) = find(path) else {
        return reply(
            StatusCode::NOT_FOUND,
            &body::NotFound {
                error: format!("no endpoint {path}"),
                endpoints: ROUTES
                    .iter()
                    .map(|r| body::EndpointInfo {
                        methods: r.methods.iter().map(Method::as_str).collect(),
                        path: r.path,
                        access: r.access.as_str(),
                        what: r.what,
                    })
                    .collect(),
            },
        );
    };
    if !route.methods.contains(method) {
        let allowed: Vec<&str> = route.methods.iter().map(Method::as_str).collect();
        let mut response = error(
            StatusCode::METHOD_NOT_ALLOWED,
            format!(
                "{method} is not allowed on {path}: use {}",
                allowed.join(" or ")
            ),
        );
        if let Ok(value) = HeaderValue::from_str(&allowed.join(", ")) {
            response.headers_mut().insert(header::ALLOW, value);
        }
        return response;
    }
    let needs_token = match route.access {
        Access::Open => false,
        Access::Watchlist => !state.open_watchlist,
        Access::Token => true,
    };
    if needs_token && let Err(refusal) = auth::check(state.token.as_ref(), authorization) {
        return refused(route, method, &refusal);
    }
    match route.endpoint {
        Endpoint::Health => reply(StatusCode::OK, &body::Health { status: "ok" }),
        Endpoint::Ready => ready(state),
        Endpoint::Status => reply(StatusCode::OK, &status(state)),
        Endpoint::Domains => domains(state, query),
        Endpoint::Domain => domain(state, variable.unwrap_or_default()).await,
        Endpoint::Metrics => metrics(state, query),
        Endpoint::Prometheus => {
            let text = prometheus::render(&state.metrics, &(state.snapshot)());
            let mut response = Response::new(text.into());
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(prometheus::CONTENT_TYPE),
            );
            response
        }
        Endpoint::MetricsReset => {
            state.metrics.reset();
            reply(StatusCode::OK, &body::Reset { reset: true })
        }
        Endpoint::Refresh => refresh(state).await,
    }
}

/// The answer to a request the token check refused: which header to send.
fn refused(route: &Route, method: &Method, refusal: &auth::Refusal) -> Response {
    let what = match route.access {
        Access::Watchlist => "names watched domains",
        _ => "changes the operator's state",
    };
    let message = match refusal {
        auth::Refusal::Missing => format!(
            "{method} {} {what}: send the header `Authorization: Bearer <API_AUTH_TOKEN>`",
            route.path
        ),
        auth::Refusal::Wrong => format!(
            "{method} {} {what}: the bearer token in `Authorization` is not API_AUTH_TOKEN",
            route.path
        ),
        auth::Refusal::NoTokenSet if route.access == Access::Watchlist => format!(
            "{method} {} {what} and API_AUTH_TOKEN is not set: set it and send `Authorization: Bearer <API_AUTH_TOKEN>`, or set OPEN_WATCHLIST=true to let anyone who reaches this port read the watchlist",
            route.path
        ),
        auth::Refusal::NoTokenSet => {
            "API_AUTH_TOKEN is not set: mutating endpoints are disabled".to_owned()
        }
    };
    let mut response = error(refusal.status(), message);
    if let Some(challenge) = refusal.challenge() {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(challenge),
        );
    }
    response
}

/// `body` as JSON with `status`.
pub fn reply(status: StatusCode, body: &impl Serialize) -> Response {
    let json =
        serde_json::to_vec(body).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}").into_bytes());
    let mut response = Response::new(json.into());
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// `{"error": message}` with `status`.
pub fn error(status: StatusCode, message: impl Into<String>) -> Response {
    reply(
        status,
        &body::ErrorBody {
            error: message.into(),
        },
    )
}

fn ready(state: &WebState) -> Response {
    let store_ready = state.domains.as_ref().is_some_and(|d| d.synced());
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
            &body::Ready {
                ready: true,
                shards,
                standby,
            },
        )
    }
}

fn counts(state: &WebState) -> Counts {
    state
        .domains
        .as_ref()
        .map(|d| d.counts())
        .unwrap_or_default()
        .into()
}

fn status(state: &WebState) -> body::Status {
    body::Status {
        instance: state.instance.clone(),
        version: env!("CARGO_PKG_VERSION"),
        uptime_seconds: state.metrics.uptime().as_secs(),
        shards: Shards {
            total: state.shards.total(),
            held: state.shards.held(),
            standby: Some(state.shards.standing_by()),
        },
        sync: state.sync.as_ref().map(|s| body::SyncState {
            leader: *s.leader.borrow(),
        }),
        domains: counts(state),
    }
}

fn params(query: &str) -> BTreeMap<String, String> {
    url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

/// A whole number query parameter, `default` when absent; the error says
/// what was wrong.
fn whole_number(
    params: &BTreeMap<String, String>,
    key: &str,
    default: usize,
) -> Result<usize, String> {
    match params.get(key) {
        None => Ok(default),
        Some(v) => v
            .parse::<usize>()
            .map_err(|_| format!("{key} must be a whole number, not {v:?}")),
    }
}

fn domains(state: &WebState, query: &str) -> Response {
    let params = params(query);
    let wanted = match params.get("availability") {
        None => None,
        Some(value) => match value.parse::<Availability>() {
            Ok(a) => Some(a),
            Err(unknown) => return error(StatusCode::BAD_REQUEST, unknown.to_string()),
        },
    };
    let limit = match whole_number(&params, "limit", 100) {
        Ok(limit) => limit.min(MAX_PAGE),
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    let offset = match whole_number(&params, "offset", 0) {
        Ok(offset) => offset,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    let page = state
        .domains
        .as_ref()
        .map(|d| d.page(wanted, offset, limit))
        .unwrap_or_default();
    reply(
        StatusCode::OK,
        &body::DomainList {
            total: page.total,
            offset,
            limit,
            items: page.items,
        },
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
        Some((summary, status)) => reply(StatusCode::OK, &body::DomainDetail { summary, status }),
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
    let api = body::ApiMetrics {
        calls: response_times
            .iter()
            .map(|(key, summary)| (key.clone(), summary.count))
            .collect(),
        response_times,
    };
    let check_results = body::CheckResults {
        results: counters
            .remove(instruments::CHECKS.json_key)
            .unwrap_or_default(),
        verdicts: counters
            .remove(instruments::VERDICTS.json_key)
            .unwrap_or_default(),
    };
    reply(
        StatusCode::OK,
        &body::Metrics {
            instance: state.instance.clone(),
            uptime_seconds: state.metrics.uptime().as_secs_f64(),
            domains: counts(state),
            shards: Shards {
                total: state.shards.total(),
                held: state.shards.held(),
                standby: None,
            },
            counters: include["include_counters"].then_some(counters),
            timers: include["include_timers"].then_some(timers),
            api: include["include_api"].then_some(api),
            check_results: include["include_check_results"].then_some(check_results),
        },
    )
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
            .get_opt(handle.lease)
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
            &body::NotSyncLeader {
                error: message,
                sync_leader: holder,
            },
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
    fn routes_are_named_without_their_variables() {
        assert_eq!(route_name("/domain/example.com"), "/domain/{domain}");
        assert_eq!(
            find("/domain/example.com").map(|(_, v)| v),
            Some(Some("example.com"))
        );
        assert_eq!(route_name("/domain/"), "other");
        assert_eq!(route_name("/domain/a/b"), "other");
        assert_eq!(route_name("/metrics/reset"), "/metrics/reset");
        assert_eq!(route_name("/nope"), "other");
    }

    #[test]
    fn every_route_is_listed_once_and_only_watchlist_routes_name_domains() {
        let paths: std::collections::BTreeSet<&str> = ROUTES.iter().map(|r| r.path).collect();
        assert_eq!(paths.len(), ROUTES.len(), "a path is listed twice");
        for route in ROUTES {
            let names_domains = matches!(route.endpoint, Endpoint::Domains | Endpoint::Domain);
            assert_eq!(
                route.access == Access::Watchlist,
                names_domains,
                "{}",
                route.path
            );
            let mutates = matches!(route.endpoint, Endpoint::MetricsReset | Endpoint::Refresh);
            assert_eq!(route.access == Access::Token, mutates, "{}", route.path);
        }
    }

    /// The README's endpoint table lists exactly these routes, methods and
    /// access words.
    #[test]
    fn the_readme_endpoint_table_is_the_route_table() {
        let readme = include_str!("../../README.md");
        let rows: std::collections::BTreeSet<String> = readme
            .lines()
            .filter(|l| l.starts_with("| `GET") || l.starts_with("| `POST"))
            .filter_map(|l| {
                let cells: Vec<&str> = l.split('|').map(str::trim).collect();
                // | `METHODS PATH` | access | what |
                Some(format!("{} {}", cells.get(1)?, cells.get(2)?))
            })
            .collect();
        let want: std::collections::BTreeSet<String> = ROUTES
            .iter()
            .map(|r| {
                let methods: Vec<&str> = r.methods.iter().map(Method::as_str).collect();
                format!("`{} {}` {}", methods.join(", "), r.path, r.access.as_str())
            })
            .collect();
        assert_eq!(rows, want);
    }
}
