//! A real WHOIS server on 127.0.0.1 (a free port) for integration tests.
//!
//! It reads one query line per connection and replays the canned [`Reply`]
//! for it; it can also misbehave the ways real servers do (close without an
//! answer, reset mid-answer, drip slower than any timeout, send too much or
//! binary junk). It counts connections and records queries, so tests can
//! prove that a backed-off server was not contacted.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use domain_monitor::config::HostPort;
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};

/// The key of [`WhoisServer::set_default`]'s reply (no query line holds a NUL).
const ANY_QUERY: &str = "\0any";

/// What the server does with a query.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Writes these bytes, then closes.
    Answer(Vec<u8>),
    /// Closes without writing anything.
    Close,
    /// Writes these bytes, then resets the connection (RST, not FIN).
    ResetAfter(Vec<u8>),
    /// Writes one byte per `every`, then closes.
    Drip {
        /// The bytes.
        bytes: Vec<u8>,
        /// Pause between bytes.
        every: Duration,
    },
}

impl Reply {
    /// A text answer.
    pub fn text(text: impl Into<String>) -> Self {
        Self::Answer(text.into().into_bytes())
    }
}

/// A running server; stops when dropped.
pub struct WhoisServer {
    addr: SocketAddr,
    replies: Arc<Mutex<HashMap<String, Reply>>>,
    connections: Arc<AtomicUsize>,
    queries: Arc<Mutex<Vec<String>>>,
    task: JoinHandle<()>,
}

impl WhoisServer {
    /// Starts a server answering `replies` (query line without CRLF → reply);
    /// other queries get a `% unknown query` line.
    pub async fn start<Q: Into<String>>(replies: impl IntoIterator<Item = (Q, Reply)>) -> Self {
        let replies: Arc<Mutex<HashMap<String, Reply>>> = Arc::new(Mutex::new(
            replies.into_iter().map(|(q, r)| (q.into(), r)).collect(),
        ));
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port for the WHOIS test server");
        let addr = listener.local_addr().expect("local address");
        let connections = Arc::new(AtomicUsize::new(0));
        let queries = Arc::new(Mutex::new(Vec::new()));
        let task = tokio::spawn({
            let connections = connections.clone();
            let queries = queries.clone();
            let replies = replies.clone();
            async move {
                while let Ok((stream, _)) = listener.accept().await {
                    connections.fetch_add(1, Ordering::SeqCst);
                    let replies = replies.clone();
                    let queries = queries.clone();
                    tokio::spawn(async move {
                        // Errors are the client hanging up (e.g. on a cap): fine.
                        let _ = serve(stream, &replies, &queries).await;
                    });
                }
            }
        });
        Self {
            addr,
            replies,
            connections,
            queries,
            task,
        }
    }

    /// An IANA-style referral server: `tld → refer: <server>`; `None` answers
    /// a TLD record without a WHOIS server.
    pub async fn referral(tlds: &[(&str, Option<HostPort>)]) -> Self {
        let replies = tlds.iter().map(|(tld, server)| {
            let refer = server
                .as_ref()
                .map(|s| format!("refer:        {s}\n\n"))
                .unwrap_or_default();
            let whois = server.as_ref().map(ToString::to_string).unwrap_or_default();
            let text = format!(
                "% IANA WHOIS server\n% for more information on IANA, visit http://www.iana.org\n\
                 % This query returned 1 object\n\n{refer}domain:       {}\n\n\
                 organisation: Example Registry\n\nwhois:        {whois}\n\nstatus:       ACTIVE\n",
                tld.to_ascii_uppercase()
            );
            ((*tld).to_owned(), Reply::text(text))
        });
        Self::start(replies).await
    }

    /// The server's address as `host:port`.
    pub fn host_port(&self) -> HostPort {
        HostPort {
            host: self.addr.ip().to_string(),
            port: self.addr.port(),
        }
    }

    /// Answers `query` with `reply` from now on (e.g. a record removed when a
    /// domain drops).
    pub fn set(&self, query: &str, reply: Reply) {
        self.replies
            .lock()
            .expect("replies lock")
            .insert(query.to_owned(), reply);
    }

    /// Answers every query that has no reply of its own with `reply`
    /// from now on (a server whose one answer a test swaps between checks).
    pub fn set_default(&self, reply: Reply) {
        self.set(ANY_QUERY, reply);
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// Query lines received so far, in order.
    pub fn queries(&self) -> Vec<String> {
        self.queries.lock().expect("queries lock").clone()
    }
}

impl Drop for WhoisServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(
    stream: TcpStream,
    replies: &Mutex<HashMap<String, Reply>>,
    queries: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).await?;
    let query = line.trim_end_matches(['\r', '\n']).to_owned();
    queries.lock().expect("queries lock").push(query.clone());
    let mut stream = reader.into_inner();
    let reply = {
        let replies = replies.lock().expect("replies lock");
        replies
            .get(&query)
            .or_else(|| replies.get(ANY_QUERY))
            .cloned()
            .unwrap_or_else(|| Reply::text(format!("% unknown query {query:?}\n")))
    };
    match reply {
        Reply::Answer(bytes) => {
            stream.write_all(&bytes).await?;
            stream.shutdown().await?;
        }
        Reply::Close => stream.shutdown().await?,
        Reply::ResetAfter(bytes) => {
            stream.write_all(&bytes).await?;
            stream.flush().await?;
            // Zero linger turns the close into a RST.
            stream.set_zero_linger()?;
            drop(stream);
        }
        Reply::Drip { bytes, every } => {
            for byte in bytes {
                stream.write_all(&[byte]).await?;
                tokio::time::sleep(every).await;
            }
            stream.shutdown().await?;
        }
    }
    Ok(())
}
