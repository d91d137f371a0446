//! A tiny HTTP/1.1 registrar API on 127.0.0.1 (a free port) for tests.
//!
//! It answers canned JSON per request target (path and query), records each
//! request's target and headers, and closes every connection after one
//! answer. Unknown targets get a 404.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};

/// One canned answer.
#[derive(Debug, Clone)]
pub struct StubResponse {
    /// HTTP status.
    pub status: u16,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// JSON body.
    pub body: String,
    /// Wait before answering.
    pub delay: Duration,
}

impl StubResponse {
    /// A JSON answer with `status`.
    pub fn json(status: u16, body: serde_json::Value) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: body.to_string(),
            delay: Duration::ZERO,
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Answers only after `delay`.
    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// A request the stub received.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// Path and query.
    pub target: String,
    /// Headers, names in lower case.
    pub headers: Vec<(String, String)>,
}

impl RecordedRequest {
    /// The value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A running stub; stops when dropped.
pub struct RegistrarStub {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<RecordedRequest>>>,
    task: JoinHandle<()>,
}

impl RegistrarStub {
    /// Starts a stub answering `routes` (request target → answer).
    pub async fn start<T: Into<String>>(
        routes: impl IntoIterator<Item = (T, StubResponse)>,
    ) -> Self {
        let routes: Arc<HashMap<String, StubResponse>> =
            Arc::new(routes.into_iter().map(|(t, r)| (t.into(), r)).collect());
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port for the registrar stub");
        let addr = listener.local_addr().expect("local address");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let task = tokio::spawn({
            let requests = requests.clone();
            async move {
                while let Ok((stream, _)) = listener.accept().await {
                    let routes = routes.clone();
                    let requests = requests.clone();
                    tokio::spawn(async move {
                        let _ = serve(stream, &routes, &requests).await;
                    });
                }
            }
        });
        Self {
            addr,
            requests,
            task,
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Requests received so far.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.requests.lock().expect("requests lock").clone()
    }
}

impl Drop for RegistrarStub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(
    mut stream: TcpStream,
    routes: &HashMap<String, StubResponse>,
    requests: &Mutex<Vec<RecordedRequest>>,
) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut byte = [0_u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 16 * 1024 {
        if stream.read(&mut byte).await? == 0 {
            return Ok(());
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    let mut lines = head.split("\r\n");
    let target = lines
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .unwrap_or_default()
        .to_owned();
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    requests
        .lock()
        .expect("requests lock")
        .push(RecordedRequest {
            target: target.clone(),
            headers,
        });
    let response = routes.get(&target).cloned().unwrap_or_else(|| {
        StubResponse::json(
            404,
            serde_json::json!({"code": "NOT_FOUND", "message": target}),
        )
    });
    tokio::time::sleep(response.delay).await;
    let mut out = format!(
        "HTTP/1.1 {} Stub\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        response.status,
        response.body.len()
    );
    for (name, value) in &response.headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(&response.body);
    stream.write_all(out.as_bytes()).await?;
    stream.shutdown().await
}
