//! The http checker against a real nsd (names resolve through it) and a
//! local HTTP server on 127.0.0.1 that counts connections and requests.

mod support;

use std::{
    net::SocketAddr,
    num::NonZeroU32,
    sync::{Arc, Mutex},
    time::Duration,
};

use domain_monitor::{
    check::{
        CheckKind, CheckOutcome, Checker, Strength,
        http::{HttpChecker, Settings},
    },
    config::RateLimit,
    domain_name::DomainName,
    ratelimit::ServerBudgets,
};
use support::nsd::Nsd;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};

fn settings(nsd: &Nsd, web: &WebServer, allow_private: bool) -> Settings {
    Settings {
        dns_servers: vec![nsd.addr()],
        timeout: Duration::from_secs(3),
        allow_private,
        rate_limit: RateLimit {
            count: NonZeroU32::new(1000).unwrap(),
            per: Duration::from_secs(1),
        },
        http_port: web.addr.port(),
        https_port: closed_port(),
    }
}

/// A port nothing listens on: HTTPS probes fail fast with "connection refused".
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn domain(name: &str) -> DomainName {
    DomainName::parse(name).unwrap()
}

#[tokio::test]
async fn any_http_answer_is_weakly_registered() {
    let nsd = Nsd::standard();
    let web = WebServer::start(Reply::Status(404)).await;
    let checker = HttpChecker::new(settings(&nsd, &web, true)).unwrap();
    let report = checker.check(&domain("web.test")).await;
    assert_eq!(report.kind, CheckKind::Http);
    assert_eq!(report.outcome, CheckOutcome::Registered, "{report:?}");
    assert_eq!(report.strength, Strength::Weak);
    assert_eq!(
        report.detail,
        format!("HTTP 404 from http://web.test:{}/", web.addr.port())
    );
    assert_eq!(web.requests(), vec!["HEAD"]);
}

#[tokio::test]
async fn private_addresses_are_refused_without_contact() {
    let nsd = Nsd::standard();
    let web = WebServer::start(Reply::Status(200)).await;
    let checker = HttpChecker::new(settings(&nsd, &web, false)).unwrap();
    let report = checker.check(&domain("web.test")).await;
    assert_eq!(report.outcome, CheckOutcome::Inconclusive, "{report:?}");
    assert!(
        report.detail.contains("127.0.0.1") && report.detail.contains("loopback"),
        "{}",
        report.detail
    );
    assert_eq!(web.connections(), 0, "the server must not be contacted");
}

#[tokio::test]
async fn a_head_refused_or_broken_by_the_server_falls_back_to_get() {
    let nsd = Nsd::standard();
    for (case, reply) in [
        ("405 to HEAD", Reply::NoHead),
        ("hang-up on HEAD", Reply::HangUpOnHead),
    ] {
        let web = WebServer::start(reply).await;
        let checker = HttpChecker::new(settings(&nsd, &web, true)).unwrap();
        let report = checker.check(&domain("web.test")).await;
        assert_eq!(
            report.outcome,
            CheckOutcome::Registered,
            "{case}: {report:?}"
        );
        assert!(
            report.detail.starts_with("HTTP 200 "),
            "{case}: {}",
            report.detail
        );
        assert_eq!(web.requests(), vec!["HEAD", "GET"], "{case}");
    }
}

#[tokio::test]
async fn redirects_are_answers_and_are_not_followed() {
    let nsd = Nsd::standard();
    let elsewhere = WebServer::start(Reply::Status(200)).await;
    let web = WebServer::start(Reply::Redirect(format!(
        "http://127.0.0.1:{}/admin",
        elsewhere.addr.port()
    )))
    .await;
    let checker = HttpChecker::new(settings(&nsd, &web, true)).unwrap();
    let report = checker.check(&domain("redirect.test")).await;
    assert_eq!(report.outcome, CheckOutcome::Registered, "{report:?}");
    assert!(report.detail.starts_with("HTTP 302 "), "{}", report.detail);
    assert_eq!(elsewhere.connections(), 0, "the redirect was followed");
}

#[tokio::test]
async fn nxdomain_is_weakly_available() {
    let nsd = Nsd::standard();
    let web = WebServer::start(Reply::Status(200)).await;
    let checker = HttpChecker::new(settings(&nsd, &web, true)).unwrap();
    let report = checker.check(&domain("unregistered.test")).await;
    assert_eq!(report.outcome, CheckOutcome::Available, "{report:?}");
    assert_eq!(report.strength, Strength::Weak);
    assert!(report.detail.starts_with("no address"), "{}", report.detail);
    assert_eq!(web.connections(), 0);
}

#[tokio::test]
async fn nothing_listening_is_inconclusive() {
    let nsd = Nsd::standard();
    let web = WebServer::start(Reply::Status(200)).await;
    let mut settings = settings(&nsd, &web, true);
    settings.http_port = closed_port();
    let checker = HttpChecker::new(settings).unwrap();
    let report = checker.check(&domain("web.test")).await;
    assert_eq!(report.outcome, CheckOutcome::Inconclusive, "{report:?}");
    assert!(report.error.is_some());
}

#[tokio::test]
async fn a_host_backing_off_is_not_contacted() {
    let nsd = Nsd::standard();
    let web = WebServer::start(Reply::Status(200)).await;
    let settings = settings(&nsd, &web, true);
    let budgets = Arc::new(ServerBudgets::new("web host", settings.rate_limit));
    budgets.back_off("web.test", Some(Duration::from_secs(30)));
    let checker = HttpChecker::with_budgets(settings, budgets).unwrap();
    let report = checker.check(&domain("web.test")).await;
    assert_eq!(report.outcome, CheckOutcome::RateLimited, "{report:?}");
    assert_eq!(web.connections(), 0);
}

// === a local web server ===

#[derive(Debug, Clone)]
enum Reply {
    /// This status to every request.
    Status(u16),
    /// 405 to HEAD, 200 to GET.
    NoHead,
    /// 302 to this location.
    Redirect(String),
    /// Hang up on HEAD without a word, 200 to GET.
    HangUpOnHead,
}

struct WebServer {
    addr: SocketAddr,
    state: Arc<Mutex<Seen>>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Default)]
struct Seen {
    connections: usize,
    methods: Vec<String>,
}

impl Drop for WebServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl WebServer {
    async fn start(reply: Reply) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(Seen::default()));
        let seen = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                seen.lock().unwrap().connections += 1;
                let seen = seen.clone();
                let reply = reply.clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buffer = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buffer).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buffer[..n]),
                        }
                    }
                    let text = String::from_utf8_lossy(&head);
                    let method = text.split(' ').next().unwrap_or_default().to_owned();
                    seen.lock().unwrap().methods.push(method.clone());
                    if matches!(reply, Reply::HangUpOnHead) && method == "HEAD" {
                        return;
                    }
                    let (status, extra) = match &reply {
                        Reply::Status(code) => (format!("{code} Whatever"), String::new()),
                        Reply::NoHead if method == "HEAD" => {
                            ("405 Method Not Allowed".to_owned(), String::new())
                        }
                        Reply::NoHead | Reply::HangUpOnHead => ("200 OK".to_owned(), String::new()),
                        Reply::Redirect(location) => {
                            ("302 Found".to_owned(), format!("Location: {location}\r\n"))
                        }
                    };
                    let response = format!(
                        "HTTP/1.1 {status}\r\n{extra}Content-Length: 0\r\nConnection: close\r\n\r\n"
                    );
                    let _ = stream.write_all(response.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        Self { addr, state, task }
    }

    fn connections(&self) -> usize {
        self.state.lock().unwrap().connections
    }

    fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().methods.clone()
    }
}
