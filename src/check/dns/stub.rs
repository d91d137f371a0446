//! A stub resolver (RFC 1034 §5.3.1) on the wire engine: the addresses of a
//! name, asked of recursive resolvers, for the http probe and the RDAP
//! client.
//!
//! Why not hickory's resolver: it opens a fresh UDP socket for every query,
//! and a probe asks two (`A` and `AAAA`) for every connection it makes. At a
//! first pass over 10⁵ names those sockets (`socket`, `bind`, `epoll_ctl`,
//! `close` per query) cost more CPU than the probes themselves. Here the
//! queries share [`Upstream`]'s long-lived sockets, with their port
//! rotation and answer matching.
//!
//! - `A` and `AAAA` are asked together of the first resolver; a resolver
//!   that times out, fails (`SERVFAIL`, `REFUSED`, anything but `NOERROR` and
//!   `NXDOMAIN`) or cannot be reached is passed over for the next one.
//! - `NXDOMAIN` from either answer: the name does not exist
//!   ([`LookupError::NoSuchName`]). `NOERROR` without an address in either:
//!   [`LookupError::NoAddress`]. The addresses are those of the asked type
//!   in the answer sections, whatever their owner (a resolver answers an
//!   alias with the `CNAME` chain and the target's records).
//! - One answer arriving and the other not in time is enough: the addresses
//!   it has are returned.
//! - Addresses found are kept for [`RECENT_FOR`] (at most [`RECENT_MAX`]
//!   names), so that the HTTPS and the HTTP attempt of one probe ask once.
//!   Nothing is cached for longer: answers about monitored names must be
//!   fresh.
use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    sync::{Arc, Mutex},
    time::Duration,
};

use hickory_resolver::proto::{
    op::{Message, ResponseCode},
    rr::{Name, RData, RecordType},
};
use tokio::time::Instant;

use super::engine::{QueryError, Upstream};

/// How long the addresses of a name are reused (the two connection attempts
/// of one probe).
pub const RECENT_FOR: Duration = Duration::from_secs(5);
/// Names whose addresses are kept at most; older ones are forgotten first.
pub const RECENT_MAX: usize = 4096;

/// Why a name has no addresses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    /// A resolver answered `NXDOMAIN` (RFC 1035 §4.1.1, RCODE 3).
    #[error("no such name (NXDOMAIN)")]
    NoSuchName,
    /// The name exists but has neither `A` nor `AAAA` records.
    #[error("the name has no A or AAAA record")]
    NoAddress,
    /// No resolver gave a usable answer, and at least one answered with an
    /// error code (`SERVFAIL`, `REFUSED`…): each one's failure, in order.
    /// A recursive resolver's `SERVFAIL` usually means the name's own
    /// servers are broken, so this may say something about the name.
    #[error("{0}")]
    Failed(String),
    /// No resolver answered at all: every query timed out or could not be
    /// sent (each one's failure, in order). This says nothing about the
    /// name, only that the resolvers asked are down or out of reach.
    #[error("{0}")]
    Unanswered(String),
}

/// Asks recursive resolvers for the addresses of names. Cheap to share
/// behind an `Arc`; sockets open on the first lookup.
#[derive(Debug)]
pub struct StubResolver {
    resolvers: Vec<Upstream>,
    timeout: Duration,
    recent: Mutex<Recent>,
}

/// Names and the addresses found for them, with when.
type Recent = HashMap<Box<str>, (Instant, Arc<[IpAddr]>)>;

impl StubResolver {
    /// A resolver asking `resolvers` in order (each an address and port of
    /// a recursive resolver), waiting at most `timeout` for each.
    pub fn new(resolvers: &[SocketAddr], timeout: Duration) -> Self {
        Self {
            resolvers: resolvers.iter().copied().map(Upstream::recursive).collect(),
            timeout,
            recent: Mutex::new(HashMap::new()),
        }
    }

    /// The `A` and `AAAA` addresses of `host` (without a trailing dot; it is
    /// asked fully qualified, never with a search domain), IPv4 first.
    ///
    /// # Errors
    /// [`LookupError`]: no such name, no address, or no resolver answered.
    pub async fn lookup_ip(&self, host: &str) -> Result<Arc<[IpAddr]>, LookupError> {
        let now = Instant::now();
        if let Some(addrs) = self.recent(host, now) {
            return Ok(addrs);
        }
        let name = Name::from_ascii(host)
            .map(|mut name| {
                name.set_fqdn(true);
                name
            })
            .map_err(|e| LookupError::Failed(format!("not a host name: {e}")))?;
        let mut failures = Vec::new();
        let mut any_answered = false;
        for resolver in &self.resolvers {
            let deadline = Instant::now() + self.timeout;
            let (v4, v6) = tokio::join!(
                resolver.query(&name, RecordType::A, deadline),
                resolver.query(&name, RecordType::AAAA, deadline),
            );
            match combine(&v4, &v6) {
                Ok(addrs) => {
                    let addrs: Arc<[IpAddr]> = addrs.into();
                    self.remember(host, Arc::clone(&addrs), now);
                    return Ok(addrs);
                }
                Err(Answer::Final(error)) => return Err(error),
                Err(Answer::TryNext { reason, answered }) => {
                    any_answered |= answered;
                    failures.push(format!("{}: {reason}", resolver.server()));
                }
            }
        }
        if failures.is_empty() {
            return Err(LookupError::Failed("no resolver configured".to_owned()));
        }
        let failures = failures.join("; ");
        Err(if any_answered {
            LookupError::Failed(failures)
        } else {
            LookupError::Unanswered(failures)
        })
    }

    /// Asks the resolvers in order for `name record_type` with DO=1 and
    /// CD=1 ([`Upstream::query_dnssec`]): the records with their RRSIGs,
    /// unvalidated. The first `NOERROR` or `NXDOMAIN` answer is returned;
    /// a resolver that fails or does not answer is passed over. Nothing is
    /// kept.
    ///
    /// # Errors
    /// Each resolver's failure, in order, when none answered usefully.
    pub async fn ask_dnssec(
        &self,
        name: &Name,
        record_type: RecordType,
    ) -> Result<Message, String> {
        let mut failures = Vec::new();
        for resolver in &self.resolvers {
            let deadline = Instant::now() + self.timeout;
            match resolver.query_dnssec(name, record_type, deadline).await {
                Ok(message)
                    if matches!(
                        message.metadata.response_code,
                        ResponseCode::NoError | ResponseCode::NXDomain
                    ) =>
                {
                    return Ok(message);
                }
                Ok(message) => failures.push(format!(
                    "{}: {}",
                    resolver.server(),
                    message.metadata.response_code
                )),
                Err(e) => failures.push(format!("{}: {e}", resolver.server())),
            }
        }
        if failures.is_empty() {
            failures.push("no resolver configured".to_owned());
        }
        Err(failures.join("; "))
    }

    fn recent(&self, host: &str, now: Instant) -> Option<Arc<[IpAddr]>> {
        let recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        recent
            .get(host)
            .filter(|(at, _)| now.saturating_duration_since(*at) < RECENT_FOR)
            .map(|(_, addrs)| Arc::clone(addrs))
    }

    fn remember(&self, host: &str, addrs: Arc<[IpAddr]>, now: Instant) {
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        if recent.len() >= RECENT_MAX {
            recent.retain(|_, (at, _)| now.saturating_duration_since(*at) < RECENT_FOR);
            if recent.len() >= RECENT_MAX {
                recent.clear();
            }
        }
        recent.insert(host.into(), (now, addrs));
    }

    /// Names whose addresses are kept now (for tests and metrics).
    pub fn recent_len(&self) -> usize {
        self.recent.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// What one resolver's two answers mean.
enum Answer {
    /// The lookup is over: no such name, or no address.
    Final(LookupError),
    /// This resolver could not say; ask the next.
    TryNext {
        /// Why, for the error.
        reason: String,
        /// It sent an answer (with an error code), rather than none.
        answered: bool,
    },
}

/// The addresses in the `A` and `AAAA` answers, or what they say instead.
fn combine(
    v4: &Result<Message, QueryError>,
    v6: &Result<Message, QueryError>,
) -> Result<Vec<IpAddr>, Answer> {
    let mut addrs = Vec::new();
    let mut failures = Vec::new();
    let mut answered = 0;
    let mut replied = false;
    for answer in [v4, v6] {
        match answer {
            Ok(message) => {
                replied = true;
                match message.metadata.response_code {
                    ResponseCode::NXDomain => return Err(Answer::Final(LookupError::NoSuchName)),
                    ResponseCode::NoError => {
                        answered += 1;
                        addrs.extend(message.answers.iter().filter_map(
                            |record| match &record.data {
                                RData::A(a) => Some(IpAddr::V4(a.0)),
                                RData::AAAA(aaaa) => Some(IpAddr::V6(aaaa.0)),
                                _ => None,
                            },
                        ));
                    }
                    code => failures.push(format!("{code}")),
                }
            }
            Err(error) => failures.push(error.to_string()),
        }
    }
    if !addrs.is_empty() {
        addrs.dedup();
        return Ok(addrs);
    }
    if answered == 2 {
        return Err(Answer::Final(LookupError::NoAddress));
    }
    failures.dedup();
    Err(Answer::TryNext {
        reason: failures.join(", "),
        answered: replied,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_resolver::proto::{
        op::{MessageType, OpCode, Query},
        rr::{
            Record,
            rdata::{A, AAAA, CNAME},
        },
    };

    fn answer(code: ResponseCode, record_type: RecordType, records: Vec<Record>) -> Message {
        let mut message = Message::new(1, MessageType::Response, OpCode::Query);
        message.metadata.response_code = code;
        message.add_query(Query::query(
            Name::from_ascii("www.example.com.").unwrap(),
            record_type,
        ));
        message.add_answers(records);
        message
    }

    fn record(name: &str, data: RData) -> Record {
        Record::from_rdata(Name::from_ascii(name).unwrap(), 300, data)
    }

    #[test]
    fn addresses_come_from_both_answers_through_an_alias() {
        let v4 = answer(
            ResponseCode::NoError,
            RecordType::A,
            vec![
                record(
                    "www.example.com.",
                    RData::CNAME(CNAME(Name::from_ascii("edge.example.net.").unwrap())),
                ),
                record("edge.example.net.", RData::A(A::new(192, 0, 2, 7))),
            ],
        );
        let v6 = answer(
            ResponseCode::NoError,
            RecordType::AAAA,
            vec![record(
                "edge.example.net.",
                RData::AAAA(AAAA::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 7)),
            )],
        );
        let addrs = combine(&Ok(v4.clone()), &Ok(v6)).ok().unwrap();
        assert_eq!(
            addrs,
            [
                "192.0.2.7".parse::<IpAddr>().unwrap(),
                "2001:db8::7".parse().unwrap()
            ]
        );
        // The other answer late: what arrived is enough.
        let addrs = combine(&Ok(v4), &Err(QueryError::Timeout)).ok().unwrap();
        assert_eq!(addrs, ["192.0.2.7".parse::<IpAddr>().unwrap()]);
    }

    #[test]
    fn nxdomain_and_empty_answers_end_the_lookup_but_failures_ask_the_next_resolver() {
        let nx = answer(ResponseCode::NXDomain, RecordType::A, Vec::new());
        let empty = answer(ResponseCode::NoError, RecordType::AAAA, Vec::new());
        let servfail = answer(ResponseCode::ServFail, RecordType::A, Vec::new());
        assert!(matches!(
            combine(&Ok(nx), &Err(QueryError::Timeout)),
            Err(Answer::Final(LookupError::NoSuchName))
        ));
        let no_address = answer(ResponseCode::NoError, RecordType::A, Vec::new());
        assert!(matches!(
            combine(&Ok(no_address), &Ok(empty.clone())),
            Err(Answer::Final(LookupError::NoAddress))
        ));
        match combine(&Ok(servfail), &Ok(empty)) {
            Err(Answer::TryNext { reason, answered }) => {
                assert!(reason.contains("Server Failure"), "{reason}");
                assert!(answered, "a SERVFAIL is an answer");
            }
            _ => panic!("a SERVFAIL is not the resolver's last word"),
        }
        match combine(&Err(QueryError::Timeout), &Err(QueryError::Timeout)) {
            Err(Answer::TryNext { reason, answered }) => {
                assert_eq!(reason, "no answer (timed out)");
                assert!(!answered, "a timeout is no answer");
            }
            _ => panic!("a timeout is not the resolver's last word"),
        }
    }

    #[tokio::test]
    async fn the_addresses_of_a_name_are_kept_briefly_and_within_a_bound() {
        let resolver = StubResolver::new(&[], Duration::from_millis(10));
        let now = Instant::now();
        let addrs: Arc<[IpAddr]> = vec!["192.0.2.1".parse().unwrap()].into();
        resolver.remember("a.example", Arc::clone(&addrs), now);
        assert_eq!(
            resolver.lookup_ip("a.example").await,
            Ok(Arc::clone(&addrs))
        );
        assert_eq!(
            resolver.recent("a.example", now + RECENT_FOR),
            None,
            "forgotten after RECENT_FOR"
        );
        for i in 0..RECENT_MAX + 10 {
            resolver.remember(&format!("n{i}.example"), Arc::clone(&addrs), now);
        }
        assert!(resolver.recent_len() <= RECENT_MAX);
        // No resolver: the failure says so.
        assert_eq!(
            resolver.lookup_ip("b.example").await,
            Err(LookupError::Failed("no resolver configured".to_owned()))
        );
    }

    #[tokio::test]
    async fn resolvers_that_never_answer_say_nothing_about_the_name() {
        // Two sockets that read queries and never answer.
        let silent = [
            tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap(),
            tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap(),
        ];
        let addrs: Vec<SocketAddr> = silent.iter().map(|s| s.local_addr().unwrap()).collect();
        let resolver = StubResolver::new(&addrs, Duration::from_millis(50));
        match resolver.lookup_ip("ns2.example.test").await {
            Err(LookupError::Unanswered(why)) => {
                for addr in &addrs {
                    assert!(why.contains(&addr.to_string()), "{why}");
                }
            }
            other => panic!("silent resolvers are not a verdict on the name: {other:?}"),
        }
    }
}
