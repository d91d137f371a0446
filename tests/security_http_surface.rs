//! The operations surface (the HTTP port) under abuse: mutating endpoints
//! accept only the exact token; oversized, malformed, smuggled and slow
//! requests are refused or cut off; the operator stays healthy, nothing is
//! synced, reset or lost, and SIGTERM still stops it cleanly.
//!
//! The scenario records its figures with [`support::chaos::record`] before it
//! asserts; `CHAOS_SCALE=full` (`just chaos`) runs it longer and larger.

mod support;

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use kube::api::PostParams;
use rand::{RngCore, SeedableRng, rngs::StdRng};
use serde_json::{Value, json};
use support::{
    chaos::{Figures, by_scale, record},
    cluster::{TestNamespace, names, pinned},
    operator::Operator,
    security::base64,
    world::{TOKEN, World},
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// How the surface met one hostile request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// It answered with this status.
    Status(u16),
    /// It closed the connection without an answer.
    Closed,
    /// Nothing within the patience.
    Silent,
}

/// A request body sent after the head.
#[derive(Debug, Clone, Copy)]
enum Body {
    None,
    /// This many bytes, as declared by the head's `Content-Length`.
    Sized(usize),
    /// This many bytes in 64 KiB chunks (`Transfer-Encoding: chunked`).
    Chunked(usize),
}

/// Sends `head` and `body` while reading the answer's status line.
async fn attack(addr: &str, head: Vec<u8>, body: Body, patience: Duration) -> Answer {
    let Ok(stream) = TcpStream::connect(addr).await else {
        return Answer::Closed;
    };
    let (mut reader, mut writer) = stream.into_split();
    let sender = tokio::spawn(async move {
        writer.write_all(&head).await?;
        let chunk = vec![b'A'; 64 * 1024];
        match body {
            Body::None => {}
            Body::Sized(mut left) => {
                while left > 0 {
                    let n = left.min(chunk.len());
                    writer.write_all(&chunk[..n]).await?;
                    left -= n;
                }
            }
            Body::Chunked(mut left) => {
                while left > 0 {
                    let n = left.min(chunk.len());
                    writer.write_all(format!("{n:x}\r\n").as_bytes()).await?;
                    writer.write_all(&chunk[..n]).await?;
                    writer.write_all(b"\r\n").await?;
                    left -= n;
                }
                writer.write_all(b"0\r\n\r\n").await?;
            }
        }
        // Keep the write half open until the test is done reading.
        std::future::pending::<()>().await;
        Ok::<_, std::io::Error>(())
    });
    let read = async {
        let mut answer = Vec::new();
        let mut buf = [0_u8; 1024];
        while !answer.windows(2).any(|w| w == b"\r\n") {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
        answer
    };
    let answer = tokio::time::timeout(patience, read).await;
    sender.abort();
    match answer {
        Err(_) => Answer::Silent,
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            text.strip_prefix("HTTP/1.")
                .and_then(|rest| rest.get(2..5))
                .and_then(|code| code.parse().ok())
                .map_or(Answer::Closed, Answer::Status)
        }
    }
}

/// A request head: `request_line`, then `headers`, then `Host` and
/// `Connection: close`.
fn head(request_line: &str, headers: &[String]) -> Vec<u8> {
    let mut text = format!("{request_line}\r\n");
    for header in headers {
        text.push_str(header);
        text.push_str("\r\n");
    }
    text.push_str("Host: operator\r\nConnection: close\r\n\r\n");
    text.into_bytes()
}

/// How a slow client misbehaves.
#[derive(Debug, Clone, Copy)]
enum Slow {
    /// Sends part of a head, then one more byte each second.
    Drip,
    /// Connects and sends nothing.
    Silent,
    /// Completes one keep-alive request, then sends nothing.
    IdleAfterRequest,
}

/// Runs one slow client; true when the server closed the connection (or
/// answered the partial request) within `hold`.
async fn slow_client(addr: String, mode: Slow, hold: Duration) -> bool {
    let Ok(mut stream) = TcpStream::connect(&addr).await else {
        return true;
    };
    let mut buf = [0_u8; 1024];
    let opening: &[u8] = match mode {
        Slow::Drip => b"GET /health HTTP/1.1\r\nHost: operator\r\n",
        Slow::Silent => b"",
        Slow::IdleAfterRequest => b"GET /health HTTP/1.1\r\nHost: operator\r\n\r\n",
    };
    if stream.write_all(opening).await.is_err() {
        return true;
    }
    if matches!(mode, Slow::IdleAfterRequest) {
        // The answer to the complete request; the connection stays open.
        let mut answer = Vec::new();
        while !answer.ends_with(b"}") {
            match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => answer.extend_from_slice(&buf[..n]),
                _ => return true,
            }
        }
    }
    let deadline = tokio::time::Instant::now() + hold;
    let mut drip = b"X-Slow: still coming".iter().cycle();
    loop {
        tokio::select! {
            read = stream.read(&mut buf) => {
                // Any answer (408, 400) or a close ends the slow request.
                let _ = read;
                return true;
            }
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        if matches!(mode, Slow::Drip)
            && let Some(byte) = drip.next()
            && stream.write_all(&[*byte]).await.is_err()
        {
            return true;
        }
    }
}

/// How often `GET /status` was answered 200, by the surface's own count.
async fn status_calls(http: &reqwest::Client, base: &str) -> u64 {
    let body = metrics_json(http, &format!("{base}/metrics?include_api=true")).await;
    body["api"]["calls"]["GET /status 200"]
        .as_u64()
        .unwrap_or(0)
}

/// Sum of the check-result counters: they only grow unless reset.
async fn checks_counted(http: &reqwest::Client, base: &str) -> u64 {
    let body = metrics_json(http, &format!("{base}/metrics")).await;
    body["check_results"]["results"]
        .as_object()
        .map_or(0, |results| {
            results.values().filter_map(Value::as_u64).sum()
        })
}

/// The JSON `/metrics` body at `url`.
async fn metrics_json(http: &reqwest::Client, url: &str) -> Value {
    http.get(url)
        .send()
        .await
        .expect("GET /metrics")
        .json()
        .await
        .expect("JSON metrics")
}

/// Mutating endpoints accept only the exact token; bodies, huge headers,
/// malformed requests, odd paths and methods are refused with a 4xx or a
/// closed connection; slow clients are disconnected; afterwards the operator
/// is healthy, nothing was synced, reset or lost, and SIGTERM still stops it
/// cleanly with unfinished requests open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_surface_hardening() {
    domain_monitor::net::ensure_crypto_provider();
    let ns = TestNamespace::new("surface").await;
    let world = World::start().await;
    world.register("taken.test", "active").await;
    world.unregistered("free.test");
    world.set_domain_list(&json!({"domains": ["taken.test", "free.test"]}));
    let api = ns.domains();
    world.unregistered("pinned.test");
    api.create(
        &PostParams::default(),
        &pinned("pinned", "pinned.test", true),
    )
    .await
    .expect("create");
    let mut env = world.operator_env();
    // One sync at start-up, then none unless someone asks: a sync run by an
    // attack shows in the domain API's hit count.
    env.push(("DOMAIN_API_REFRESH_INTERVAL".to_owned(), "1h".to_owned()));
    let mut operator = Operator::start(&ns.name, "surface", &env);
    let base = operator.base_url().await;
    let addr = base.trim_start_matches("http://").to_owned();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");

    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let ready = http
            .get(format!("{base}/ready"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200);
        if ready && names(&api).await.len() == 3 && checks_counted(&http, &base).await > 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never ready:\n{}",
            operator.log()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let resources_before = names(&api).await;
    let syncs_before = world.api.hits("/domains");
    // Counted by the surface itself: a reset of the metrics zeroes it.
    for _ in 0..100 {
        http.get(format!("{base}/status"))
            .send()
            .await
            .expect("GET /status");
    }
    let checks_before = status_calls(&http, &base).await;

    let patience = Duration::from_secs(10);
    let body_size = by_scale(10, 50) * 1024 * 1024;
    let mut attacks: Vec<(String, Vec<u8>, Body)> = Vec::new();
    // Tokens: missing, empty, wrong, a prefix, longer, altered, elsewhere.
    let prefix = &TOKEN[..TOKEN.len() - 1];
    let altered = format!("{prefix}{}", if TOKEN.ends_with('a') { 'b' } else { 'a' });
    let token_headers: Vec<(&str, Vec<String>)> = vec![
        ("no Authorization", vec![]),
        ("empty bearer", vec!["Authorization: Bearer".to_owned()]),
        (
            "bearer and a space",
            vec!["Authorization: Bearer ".to_owned()],
        ),
        (
            "wrong token",
            vec!["Authorization: Bearer wrong-token".to_owned()],
        ),
        (
            "prefix of the token",
            vec![format!("Authorization: Bearer {prefix}")],
        ),
        (
            "token plus a character",
            vec![format!("Authorization: Bearer {TOKEN}0")],
        ),
        (
            "token twice",
            vec![format!("Authorization: Bearer {TOKEN}{TOKEN}")],
        ),
        (
            "last character changed",
            vec![format!("Authorization: Bearer {altered}")],
        ),
        (
            "token upper-cased",
            vec![format!("Authorization: Bearer {}", TOKEN.to_uppercase())],
        ),
        (
            "token without scheme",
            vec![format!("Authorization: {TOKEN}")],
        ),
        (
            "token as Basic",
            vec![format!(
                "Authorization: Basic {}",
                base64(format!("x:{TOKEN}").as_bytes())
            )],
        ),
        (
            "token in another header",
            vec![format!("X-Api-Key: {TOKEN}")],
        ),
        (
            "non-ASCII token",
            vec!["Authorization: Bearer t\u{e9}st".to_owned()],
        ),
    ];
    for (method, path) in [
        ("POST", "/refresh"),
        ("GET", "/metrics/reset"),
        ("POST", "/metrics/reset"),
    ] {
        for (label, headers) in &token_headers {
            attacks.push((
                format!("{method} {path}: {label}"),
                head(&format!("{method} {path} HTTP/1.1"), headers),
                Body::None,
            ));
        }
        for query in ["token", "access_token"] {
            attacks.push((
                format!("{method} {path}: token in ?{query}="),
                head(&format!("{method} {path}?{query}={TOKEN} HTTP/1.1"), &[]),
                Body::None,
            ));
        }
    }
    // Bodies nobody reads, with and without the token.
    let bearer = format!("Authorization: Bearer {TOKEN}");
    for (label, auth) in [("with the token", Some(&bearer)), ("without a token", None)] {
        for path in ["/refresh", "/metrics/reset"] {
            let mut headers: Vec<String> = auth.into_iter().cloned().collect();
            headers.push(format!("Content-Length: {body_size}"));
            attacks.push((
                format!("POST {path} {label}: {} MiB body", body_size >> 20),
                head(&format!("POST {path} HTTP/1.1"), &headers),
                Body::Sized(body_size),
            ));
            let mut headers: Vec<String> = auth.into_iter().cloned().collect();
            headers.push("Transfer-Encoding: chunked".to_owned());
            attacks.push((
                format!("POST {path} {label}: {} MiB chunked body", body_size >> 20),
                head(&format!("POST {path} HTTP/1.1"), &headers),
                Body::Chunked(body_size),
            ));
        }
    }
    // Oversized headers.
    let big = "A".repeat(1024 * 1024);
    attacks.push((
        "1 MiB header".to_owned(),
        head("GET /health HTTP/1.1", &[format!("X-Big: {big}")]),
        Body::None,
    ));
    attacks.push((
        "1 MiB Authorization on /refresh".to_owned(),
        head(
            "POST /refresh HTTP/1.1",
            &[format!("Authorization: Bearer {big}")],
        ),
        Body::None,
    ));
    attacks.push((
        "10000 headers".to_owned(),
        head(
            "GET /health HTTP/1.1",
            &(0..10_000)
                .map(|i| format!("X-H{i}: v"))
                .collect::<Vec<_>>(),
        ),
        Body::None,
    ));
    // Malformed request lines and framing.
    let mut noise = vec![0_u8; 4096];
    StdRng::seed_from_u64(10).fill_bytes(&mut noise);
    let raw: Vec<(&str, Vec<u8>)> = vec![
        ("method only", b"GET\r\n\r\n".to_vec()),
        ("HTTP/9.9", b"GET /health HTTP/9.9\r\nHost: x\r\n\r\n".to_vec()),
        ("garbage line", b"GARBAGE\r\n\r\n".to_vec()),
        ("TLS hello on plain HTTP", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n".to_vec()),
        ("NUL in the path", b"GET /health\x00 HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()),
        ("no method", b" / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()),
        ("random bytes", noise.clone()),
        ("negative length", b"POST /refresh HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n".to_vec()),
        (
            "two lengths (smuggling)",
            b"POST /refresh HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!".to_vec(),
        ),
        (
            "chunked and a length (smuggling)",
            format!("POST /refresh HTTP/1.1\r\nHost: x\r\n{bearer}\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\nGET /metrics/reset HTTP/1.1\r\nHost: x\r\n\r\n").into_bytes(),
        ),
        ("header without a colon", b"GET /health HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n".to_vec()),
        ("bare LF line endings", b"GET /nowhere HTTP/1.1\nHost: x\n\n".to_vec()),
    ];
    for (label, bytes) in raw {
        attacks.push((format!("malformed: {label}"), bytes, Body::None));
    }
    // Paths and methods.
    for path in [
        "/domain/%zz".to_owned(),
        "/domain/%ff%fe%00".to_owned(),
        "/domain/..%2f..%2fetc%2fpasswd".to_owned(),
        format!("/domain/{}", "a".repeat(100_000)),
        format!("/{}", "a/".repeat(50_000)),
        format!("/domain/{}.test", "%41".repeat(30_000)),
    ] {
        let label = format!(
            "GET {}… ({} bytes)",
            &path[..path.len().min(24)],
            path.len()
        );
        attacks.push((
            label,
            head(&format!("GET {path} HTTP/1.1"), &[]),
            Body::None,
        ));
    }
    for line in [
        "FOO /health HTTP/1.1",
        "BREW /refresh HTTP/1.1",
        "TRACE /status HTTP/1.1",
        "DELETE /domains HTTP/1.1",
        "OPTIONS * HTTP/1.1",
        "CONNECT 169.254.169.254:80 HTTP/1.1",
        "PATCH /metrics/reset HTTP/1.1",
    ] {
        attacks.push((
            line.to_owned(),
            head(line, std::slice::from_ref(&bearer)),
            Body::None,
        ));
    }
    let long_method = format!("{} /health HTTP/1.1", "X".repeat(10_000));
    attacks.push((
        "10 KB method".to_owned(),
        head(&long_method, &[]),
        Body::None,
    ));

    let mut results: Vec<(String, Answer)> = Vec::new();
    for (label, bytes, body) in attacks {
        let answer = attack(&addr, bytes, body, patience).await;
        results.push((label, answer));
    }
    // Anything but a refusal (4xx) or a hang-up is a failure; so is a
    // server that goes silent.
    let accepted: Vec<String> = results
        .iter()
        .filter(|(_, a)| !matches!(a, Answer::Status(400..=499) | Answer::Closed))
        .map(|(label, a)| format!("{label}: {a:?}"))
        .collect();
    let refused_4xx = results
        .iter()
        .filter(|(_, a)| matches!(a, Answer::Status(400..=499)))
        .count();
    let closed = results.iter().filter(|(_, a)| *a == Answer::Closed).count();

    // Slowloris: partial requests dripping a byte a second.
    let slow_count = by_scale(50, 300);
    // Long enough for the header timeout, with room to spare on a busy machine.
    let hold = domain_monitor::web::HEADER_READ_TIMEOUT
        + by_scale(Duration::from_secs(8), Duration::from_secs(30));
    let modes = [Slow::Drip, Slow::Silent, Slow::IdleAfterRequest];
    let slow: Vec<_> = (0..slow_count)
        .map(|i| tokio::spawn(slow_client(addr.clone(), modes[i % modes.len()], hold)))
        .collect();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let health_during = http
        .get(format!("{base}/health"))
        .send()
        .await
        .is_ok_and(|r| r.status() == 200);
    let mut slow_closed = 0;
    for task in slow {
        if task.await.unwrap_or(false) {
            slow_closed += 1;
        }
    }

    // Afterwards: alive, nothing changed, nothing reset, nothing synced.
    let health_after = http
        .get(format!("{base}/health"))
        .send()
        .await
        .is_ok_and(|r| r.status() == 200);
    let ready_after = http
        .get(format!("{base}/ready"))
        .send()
        .await
        .is_ok_and(|r| r.status() == 200);
    let resources_after = names(&api).await;
    let resources_lost = resources_before
        .iter()
        .filter(|n| !resources_after.contains(n))
        .count() as u64;
    let syncs_triggered = world.api.hits("/domains") - syncs_before;
    let checks_after = status_calls(&http, &base).await;
    let metrics_reset = checks_after < checks_before;
    let running = operator.is_running();

    // A clean stop is not held up by clients that never finish a request.
    let idle: Vec<TcpStream> =
        futures::future::join_all((0..10).map(|_| TcpStream::connect(addr.clone())))
            .await
            .into_iter()
            .filter_map(Result::ok)
            .collect();
    let mut partial = Vec::new();
    for mut stream in idle {
        let _ = stream.write_all(b"GET /health HTTP/1.1\r\nHost: op").await;
        partial.push(stream);
    }
    let stopping = Instant::now();
    operator.terminate();
    let exit = operator.wait_exit(Duration::from_secs(30)).await;
    let stop_seconds = stopping.elapsed().as_secs_f64();
    drop(partial);
    // Broken client connections are the clients' problem: at error level
    // each would page someone through Sentry.
    let client_errors_logged = operator
        .log()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|event| event["level"] == "ERROR")
        .count();

    let mut figures = Figures {
        resources_lost,
        ..Figures::default()
    };
    figures.note("requests", json!(results.len()));
    figures.note("refused_4xx", json!(refused_4xx));
    figures.note("closed", json!(closed));
    figures.note("accepted", json!(accepted));
    figures.note(
        "answers",
        json!(
            results
                .iter()
                .map(|(l, a)| (l.clone(), format!("{a:?}")))
                .collect::<BTreeMap<_, _>>()
        ),
    );
    figures.note("slowloris_connections", json!(slow_count));
    figures.note("slowloris_closed_by_server", json!(slow_closed));
    figures.note("error_logs_during_attacks", json!(client_errors_logged));
    figures.note("health_during_slowloris", json!(health_during));
    figures.note("health_after", json!(health_after));
    figures.note("ready_after", json!(ready_after));
    figures.note("syncs_triggered", json!(syncs_triggered));
    figures.note("metrics_reset", json!(metrics_reset));
    figures.note("exit_code_on_sigterm", json!(exit));
    figures.note("stop_seconds_with_partial_requests", json!(stop_seconds));
    let passed = accepted.is_empty()
        && slow_closed == slow_count
        && client_errors_logged == 0
        && health_during
        && health_after
        && ready_after
        && resources_lost == 0
        && syncs_triggered == 0
        && !metrics_reset
        && running
        && exit == Some(0);
    record(
        "http_surface_hardening",
        "wrong/prefix/longer/misplaced tokens on mutating endpoints, 10 MiB bodies (sized and chunked), 1 MiB headers, 10000 headers, malformed request lines and smuggling, bad percent-encoding, 100 KB paths, unknown methods, slowloris clients, SIGTERM with partial requests open",
        &figures,
        passed,
    );

    assert!(accepted.is_empty(), "not refused:\n{}", accepted.join("\n"));
    assert_eq!(
        slow_closed, slow_count,
        "slow clients still connected after {hold:?}"
    );
    assert!(health_during, "/health did not answer during the slowloris");
    assert_eq!(
        client_errors_logged,
        0,
        "hostile clients produced error logs:\n{}",
        operator.log()
    );
    assert!(
        health_after && ready_after,
        "the operator is not healthy afterwards:\n{}",
        operator.log()
    );
    assert_eq!(resources_lost, 0);
    assert_eq!(syncs_triggered, 0, "an attack ran the domain list sync");
    assert!(
        !metrics_reset,
        "an attack reset the metrics ({checks_before} → {checks_after})"
    );
    assert!(running, "the operator died:\n{}", operator.log());
    assert_eq!(
        exit,
        Some(0),
        "SIGTERM with partial requests open did not stop the operator cleanly"
    );
}
