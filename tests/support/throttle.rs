//! A plain-HTTP front for the API server that answers status patches with
//! 429 (and `Retry-After: 1`) while told to, and forwards everything else —
//! watches included — to the real API server with the admin client.

use std::{
    convert::Infallible,
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
};

use http_body_util::BodyExt;
use hyper::{Request, Response, body::Incoming, service::service_fn};
use hyper_util::rt::TokioIo;
use kube::Client;

/// Counts of what the front saw.
#[derive(Debug, Default)]
pub struct Counts {
    /// Status patches answered with 429.
    pub throttled: AtomicU64,
    /// Status patches forwarded.
    pub forwarded: AtomicU64,
}

/// A running front; stops when dropped.
pub struct ThrottlingFront {
    addr: SocketAddr,
    throttling: Arc<AtomicBool>,
    counts: Arc<Counts>,
    task: tokio::task::JoinHandle<()>,
}

impl ThrottlingFront {
    /// Serves on a free loopback port, forwarding with `client`.
    pub async fn start(client: Client) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind front");
        let addr = listener.local_addr().expect("front address");
        let throttling = Arc::new(AtomicBool::new(false));
        let counts = Arc::new(Counts::default());
        let task = tokio::spawn({
            let throttling = Arc::clone(&throttling);
            let counts = Arc::clone(&counts);
            async move {
                while let Ok((stream, _)) = listener.accept().await {
                    let client = client.clone();
                    let throttling = Arc::clone(&throttling);
                    let counts = Arc::clone(&counts);
                    tokio::spawn(async move {
                        let service = service_fn(move |request: Request<Incoming>| {
                            let client = client.clone();
                            let throttling = Arc::clone(&throttling);
                            let counts = Arc::clone(&counts);
                            async move {
                                Ok::<_, Infallible>(
                                    forward(client, request, &throttling, &counts).await,
                                )
                            }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            }
        });
        Self {
            addr,
            throttling,
            counts,
            task,
        }
    }

    /// Starts or stops answering status patches with 429.
    pub fn throttle(&self, on: bool) {
        self.throttling.store(on, Ordering::SeqCst);
    }

    /// What the front saw.
    pub fn counts(&self) -> &Counts {
        &self.counts
    }

    /// A kubeconfig that talks to this front over plain HTTP, without
    /// credentials (the front forwards as the admin).
    pub fn kubeconfig(&self, dir: &Path) -> PathBuf {
        let path = dir.join(format!("kubeconfig-front-{}", self.addr.port()));
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: front\n  cluster:\n    server: http://{}\ncontexts:\n- name: front\n  context:\n    cluster: front\n    user: front\ncurrent-context: front\nusers:\n- name: front\n  user: {{}}\n",
            self.addr
        );
        std::fs::write(&path, text).expect("write front kubeconfig");
        path
    }
}

impl Drop for ThrottlingFront {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Reply = Response<http_body_util::combinators::UnsyncBoxBody<bytes::Bytes, kube::Error>>;

async fn forward(
    client: Client,
    request: Request<Incoming>,
    throttling: &AtomicBool,
    counts: &Counts,
) -> Reply {
    let status_patch =
        request.method() == http::Method::PATCH && request.uri().path().ends_with("/status");
    if status_patch && throttling.load(Ordering::SeqCst) {
        counts.throttled.fetch_add(1, Ordering::SeqCst);
        let body = br#"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"too many requests, please try again later","reason":"TooManyRequests","code":429}"#;
        return Response::builder()
            .status(429)
            .header("content-type", "application/json")
            .header("retry-after", "1")
            .body(full(body.to_vec()))
            .expect("429 reply");
    }
    if status_patch {
        counts.forwarded.fetch_add(1, Ordering::SeqCst);
    }
    let (parts, body) = request.into_parts();
    let bytes = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let mut upstream = http::Request::builder()
        .method(parts.method)
        .uri(parts.uri.path_and_query().map_or("/", |p| p.as_str()));
    for (name, value) in &parts.headers {
        if name != http::header::HOST && name != http::header::CONNECTION {
            upstream = upstream.header(name, value);
        }
    }
    let upstream = upstream
        .body(kube::client::Body::from(bytes.to_vec()))
        .expect("upstream request");
    match client.send(upstream).await {
        Ok(response) => {
            let (parts, body) = response.into_parts();
            Response::from_parts(parts, body.boxed_unsync())
        }
        Err(err) => Response::builder()
            .status(502)
            .body(full(err.to_string().into_bytes()))
            .expect("502 reply"),
    }
}

fn full(bytes: Vec<u8>) -> http_body_util::combinators::UnsyncBoxBody<bytes::Bytes, kube::Error> {
    http_body_util::Full::new(bytes::Bytes::from(bytes))
        .map_err(|never| match never {})
        .boxed_unsync()
}
