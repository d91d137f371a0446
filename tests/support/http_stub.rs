//! A tiny HTTP/1.1 server on loopback that serves canned answers per path and
//! counts requests, for checkers' edge cases that no real server produces on
//! demand (throttling, garbage, oversized bodies).
//!
//! It also records every request (method, target, headers, body), so it
//! doubles as the callback receiver and the user's domain API in controller
//! tests, and as a registrar's availability API.
//!
//! Each connection carries one request and is closed after the answer
//! (`Connection: close`). An answer set for a whole request target (path and
//! query, `/check?domain=a.com`) is served for that target only; one set for
//! a path serves it whatever the query. Requests without a canned answer get
//! the default answer ([`HttpStub::set_default`]), else `404` with an empty
//! body. An answer may also be computed from the request and how many
//! requests reached its path before ([`HttpStub::set_fn`]): a server that
//! fails every other time, echoes what it received, or treats `HEAD` apart.
//!
//! ```ignore
//! let stub = HttpStub::start().await;
//! stub.set("/rdap/domain/x.io", Reply::new(429).header("Retry-After", "120"));
//! let url = stub.url("/rdap/");
//! assert_eq!(stub.hits("/rdap/domain/x.io"), 1);
//! ```

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};

/// Largest request head read; more is answered with 431.
const MAX_HEAD: usize = 64 * 1024;

/// One canned answer.
#[derive(Debug, Clone)]
pub struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    content_length: bool,
    delay: std::time::Duration,
    hang_up: bool,
}

impl Reply {
    /// An answer with `status`, no extra headers, an empty body.
    pub fn new(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            content_length: true,
            delay: std::time::Duration::ZERO,
            hang_up: false,
        }
    }

    /// No answer at all: the connection is closed once the request is read
    /// (recorded with status 0).
    pub fn hang_up() -> Self {
        Self {
            hang_up: true,
            ..Self::new(0)
        }
    }

    /// An answer with a JSON body of the given media type.
    pub fn json(status: u16, media_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Self::new(status)
            .header("Content-Type", media_type)
            .body(body)
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sends no `Content-Length`: the body ends when the connection closes, so
    /// a client cannot tell its size in advance.
    pub fn without_content_length(mut self) -> Self {
        self.content_length = false;
        self
    }

    /// Answers only after `delay` (a slow or hanging server).
    pub fn delay(mut self, delay: std::time::Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Sets the body (`Content-Length` is added when sending).
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }
}

/// A request the stub received.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// `GET`, `POST`, …
    pub method: String,
    /// The request target: path and query.
    pub target: String,
    /// The request line and headers as sent, up to the blank line.
    pub head: String,
    /// Header names in lower case, with their values.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// The status the stub answered (or began to answer) with.
    pub status: u16,
    /// When the stub had read the whole request.
    pub received_at: std::time::Instant,
}

impl Recorded {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }

    /// The whole request as text: head and body (lossy UTF-8).
    pub fn text(&self) -> String {
        format!("{}{}", self.head, String::from_utf8_lossy(&self.body))
    }
}

/// Computes an answer from the request and how many requests reached its
/// path before it.
type Responder = dyn Fn(&Recorded, usize) -> Reply + Send + Sync;

#[derive(Default)]
struct State {
    replies: HashMap<String, Arc<Responder>>,
    default: Option<Arc<Responder>>,
    connections: usize,
    hits: HashMap<String, usize>,
    requests: HashMap<String, Vec<Recorded>>,
    /// Every request, oldest first.
    log: Vec<Recorded>,
}

/// A running stub; it stops when dropped.
pub struct HttpStub {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: JoinHandle<()>,
}

impl HttpStub {
    /// Starts a stub on `127.0.0.1` with a free port, inside the current
    /// tokio runtime.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the HTTP stub on loopback");
        let addr = listener.local_addr().expect("stub address");
        let state = Arc::new(Mutex::new(State::default()));
        let task = tokio::spawn(serve(vec![listener], Arc::clone(&state)));
        Self { addr, state, task }
    }

    /// Starts a stub on every local address (IPv6 `[::]` and IPv4
    /// `0.0.0.0`) of one free port, so that any loopback address
    /// (`127.0.0.2`, `::1`, `::ffff:127.0.0.1`) reaches it. [`Self::addr`]
    /// is `127.0.0.1:<port>`.
    pub async fn start_on_every_address() -> Self {
        let v6 = TcpListener::bind("[::]:0")
            .await
            .expect("bind the HTTP stub on [::]");
        let port = v6.local_addr().expect("stub address").port();
        // Dual-stack sockets take IPv4 too; otherwise bind IPv4 separately.
        let v4 = TcpListener::bind(("0.0.0.0", port)).await.ok();
        let state = Arc::new(Mutex::new(State::default()));
        let listeners = std::iter::once(v6).chain(v4).collect();
        let task = tokio::spawn(serve(listeners, Arc::clone(&state)));
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        Self { addr, state, task }
    }

    /// The stub's socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Serves `reply` for `path` from now on (replacing any earlier one);
    /// `path` with a query (`/check?domain=a.com`) matches that target only.
    pub fn set(&self, path: &str, reply: Reply) {
        self.set_fn(path, move |_, _| reply.clone());
    }

    /// Answers requests for `path` (matched as in [`Self::set`]) with what
    /// `respond` computes from the request and how many requests reached
    /// the path before it.
    pub fn set_fn(
        &self,
        path: &str,
        respond: impl Fn(&Recorded, usize) -> Reply + Send + Sync + 'static,
    ) {
        self.lock()
            .replies
            .insert(path.to_owned(), Arc::new(respond));
    }

    /// Serves `reply` for every request without an answer of its own
    /// (instead of `404`).
    pub fn set_default(&self, reply: Reply) {
        self.set_default_fn(move |_, _| reply.clone());
    }

    /// Answers every request without an answer of its own with what
    /// `respond` computes, as in [`Self::set_fn`].
    pub fn set_default_fn(
        &self,
        respond: impl Fn(&Recorded, usize) -> Reply + Send + Sync + 'static,
    ) {
        self.lock().default = Some(Arc::new(respond));
    }

    /// How many connections were accepted so far, whether or not they
    /// carried a request.
    pub fn connections(&self) -> usize {
        self.lock().connections
    }

    /// How many requests reached `path` so far.
    pub fn hits(&self, path: &str) -> usize {
        self.lock().hits.get(path).copied().unwrap_or(0)
    }

    /// Every request that reached `path` so far, oldest first.
    pub fn requests(&self, path: &str) -> Vec<Recorded> {
        self.lock().requests.get(path).cloned().unwrap_or_default()
    }

    /// Every request so far, whatever its path, oldest first.
    pub fn all_requests(&self) -> Vec<Recorded> {
        self.lock().log.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for HttpStub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(listeners: Vec<TcpListener>, state: Arc<Mutex<State>>) {
    let accept = |listener: TcpListener| {
        let state = Arc::clone(&state);
        async move {
            while let Ok((stream, _)) = listener.accept().await {
                state.lock().unwrap_or_else(|e| e.into_inner()).connections += 1;
                tokio::spawn(answer(stream, Arc::clone(&state)));
            }
        }
    };
    futures::future::join_all(listeners.into_iter().map(accept)).await;
}

async fn answer(mut stream: TcpStream, state: Arc<Mutex<State>>) {
    let Some((path, recorded)) = read_request(&mut stream).await else {
        let _ = write_reply(&mut stream, &Reply::new(431)).await;
        return;
    };
    let reply = {
        let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
        let hits = state.hits.entry(path.clone()).or_default();
        let earlier = *hits;
        *hits += 1;
        let reply = state
            .replies
            .get(&recorded.target)
            .or_else(|| state.replies.get(&path))
            .or(state.default.as_ref())
            .map_or_else(|| Reply::new(404), |respond| respond(&recorded, earlier));
        let mut recorded = recorded;
        recorded.status = reply.status;
        state.log.push(recorded.clone());
        state
            .requests
            .entry(path.clone())
            .or_default()
            .push(recorded);
        reply
    };
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    if reply.hang_up {
        return;
    }
    // The client may hang up early (e.g. on an oversized body): nothing to do.
    let _ = write_reply(&mut stream, &reply).await;
}

/// Reads one request and returns its path (without the query string) and
/// what was sent.
async fn read_request(stream: &mut TcpStream) -> Option<(String, Recorded)> {
    let mut data = Vec::new();
    let mut buf = [0_u8; 4096];
    let head_end = loop {
        if let Some(at) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = stream.read(&mut buf).await.ok()?;
        if n == 0 || data.len() + n > MAX_HEAD {
            return None;
        }
        data.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
    let mut lines = head.lines();
    let mut request_line = lines.next()?.split_whitespace();
    let method = request_line.next()?.to_owned();
    let target = request_line.next()?;
    let path = target.split('?').next().unwrap_or(target).to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = data[head_end..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut buf).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&buf[..n]);
    }
    Some((
        path,
        Recorded {
            method,
            target: target.to_owned(),
            head,
            headers,
            body,
            status: 0,
            received_at: std::time::Instant::now(),
        },
    ))
}

async fn write_reply(stream: &mut TcpStream, reply: &Reply) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {} Stub\r\n", reply.status);
    for (name, value) in &reply.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if reply.content_length {
        head.push_str(&format!("Content-Length: {}\r\n", reply.body.len()));
    }
    head.push_str("Connection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(&reply.body).await?;
    stream.shutdown().await
}
