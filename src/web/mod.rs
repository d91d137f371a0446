//! The HTTP operations surface, on warp.
//!
//! - [`routes`] holds the one route table (path, methods, who may call it,
//!   what it answers) and the handlers;
//! - [`body`] the JSON answers, one type each;
//! - [`auth`] the bearer token check;
//! - [`view`] the [`DomainsView`] trait through which the surface reads the
//!   watched domains (the controller implements it).
//!
//! Who may read what: `/health`, `/ready`, `/status` and the metrics name no
//! watched domain and are open (health mode's per-domain series are the only
//! metrics with domain names: their owners asked for them); `/domains` and
//! `/domain/{domain}` name the watchlist and need `Authorization: Bearer
//! <API_AUTH_TOKEN>` unless `OPEN_WATCHLIST` is on; `/refresh` and
//! `/metrics/reset` always need it. Every error is JSON: `{"error": "..."}`.
//!
//! The surface faces whatever can reach the pod, so it bounds what a client
//! can hold: it speaks HTTP/1.1, a request head must arrive within
//! [`HEADER_READ_TIMEOUT`] of the connection opening or falling idle (slow
//! and silent clients are disconnected), no endpoint takes a body (a request that
//! announces more than [`MAX_BODY_BYTES`], or a chunked one, gets 413 before
//! anything runs), broken client connections are logged at debug level only
//! (at error level each would become a Sentry event), and on shutdown open
//! connections get [`SHUTDOWN_GRACE`] to finish, then are dropped.

pub mod auth;
pub mod body;
pub mod routes;
pub mod view;

use std::{
    convert::Infallible,
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::sync::watch;
use warp::{
    Filter,
    http::{Method, StatusCode},
    reply::Response,
};

pub use view::{DomainCounts, DomainPage, DomainSummary, DomainsView};

use crate::{
    config::Secret,
    metrics::{
        Metrics, SnapshotSource,
        labels::{HttpMethod, HttpRequestLabels},
    },
    shard::coordinator::ShardHandle,
    sync::DomainSync,
};

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
    /// The sync Lease's name.
    pub lease: &'static str,
}

/// What the endpoints read.
pub struct WebState {
    /// This replica's name.
    pub instance: String,
    /// The bearer token (`API_AUTH_TOKEN`) of the mutating endpoints, and
    /// of the ones that name watched domains unless `open_watchlist`.
    pub token: Option<Secret>,
    /// Whether `/domains` and `/domain/{domain}` answer without the token
    /// (`OPEN_WATCHLIST`).
    pub open_watchlist: bool,
    /// The metrics registry.
    pub metrics: Arc<Metrics>,
    /// The shards held.
    pub shards: ShardHandle,
    /// The watched domains (none in a surface without a controller).
    pub domains: Option<Arc<dyn DomainsView>>,
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
    let route = routes::route_name(path);
    let response = if body.chunked || body.length.is_some_and(|n| n > MAX_BODY_BYTES) {
        // Refused before anything runs: the body is never read.
        routes::error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "no endpoint takes a request body: send none (at most {MAX_BODY_BYTES} bytes are tolerated, not chunked)"
            ),
        )
    } else {
        routes::dispatch(state, method, path, query, auth).await
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

#[cfg(test)]
mod tests {
    use super::*;

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
            open_watchlist: false,
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
            availability: crate::resource::Availability::Available,
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
}
