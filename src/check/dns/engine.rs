//! The DNS client engine of the dns checker: queries to one server over a few
//! long-lived UDP sockets, answers matched to their queries by ID and
//! question, TCP when an answer is truncated.
//!
//! Why not hickory's client: it opens a fresh UDP socket per query (port
//! randomisation the expensive way), and wraps each query in channels,
//! boxed streams and its own timer. At the query rates of a first pass over
//! 10⁵ names that machinery, not the server, was the limit. hickory-proto
//! still encodes and decodes every message here.
//!
//! Shape, per [`Upstream`] (one server address):
//! - [`SOCKETS_PER_SERVER`] channels, each a UDP socket opened on first use
//!   on a random ephemeral port; queries are spread over them in turn.
//! - Each channel's socket is replaced by a freshly bound one (another
//!   random port) after [`PortRotation::queries`] queries or
//!   [`PortRotation::lifetime`], whichever comes first, so that no port is
//!   used for hours (RFC 5452 §4.5 and §9.2). The old socket keeps
//!   receiving until its last query in flight is answered or timed out,
//!   then closes.
//! - Per socket, one receiver task reads every datagram into one reused
//!   buffer, matches it to the query in flight with the same 16-bit ID
//!   (random, RFC 5452 §9.2, unique among the channel's queries in flight),
//!   sent from the same socket, the same source address and the same
//!   question (RFC 5452 §9.1), and wakes that query. Anything else is
//!   dropped and counted in [`Stats`], never handed to another query.
//! - Per channel, one timer task: a heap of deadlines, so a query without an
//!   answer ends with [`QueryError::Timeout`] at its deadline without a
//!   timer of its own.
//! - At most [`IN_FLIGHT_PER_SOCKET`] queries are in flight per channel, the
//!   rest wait their turn (like dnsperf's `-q`): a burst never overflows the
//!   server's receive buffer, and the 16-bit ID space stays sparse.
//! - An answer with TC=1 is asked again over TCP, with the two-byte length
//!   prefix of RFC 1035 §4.2.2 and RFC 7766 §8, one connection per
//!   truncated query (truncation is rare for `NS` referrals).
//!
//! Queries go out without EDNS (a referral's NS set fits the 512 bytes of
//! RFC 1035 §4.2.1; a larger answer comes with TC=1 and is asked again over
//! TCP) and without recursion (RD=0: the servers asked are authoritative), except
//! towards recursive resolvers ([`Upstream::recursive`], the stub resolver
//! of the http probe, [`super::stub`]). DNSSEC queries
//! ([`Upstream::query_dnssec`]) carry an EDNS OPT record (RFC 6891) with
//! the DO bit (RFC 3225) and a UDP payload of [`DNSSEC_UDP_PAYLOAD_BYTES`],
//! and, towards recursive resolvers, CD=1 (RFC 4035 §3.2.2: the answer
//! unvalidated, so that we judge the signatures ourselves).

use std::{
    cmp::Reverse,
    collections::{BinaryHeap, HashMap},
    future::poll_fn,
    io,
    net::{Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::{
        Arc, Mutex, MutexGuard, OnceLock,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    },
    task::{Poll, Waker},
    time::Duration,
};

use hickory_resolver::proto::{
    op::{Edns, Message, MessageType, OpCode, Query},
    rr::{Name, RecordType},
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpStream, UdpSocket},
    sync::{Notify, Semaphore},
    time::Instant,
};

/// UDP sockets per server (the machine's cores, between 1 and 4): one
/// driver task each, so receiving and decoding spread over the cores.
pub static SOCKETS_PER_SERVER: std::sync::LazyLock<usize> = std::sync::LazyLock::new(|| {
    std::thread::available_parallelism().map_or(2, |n| n.get().clamp(1, 4))
});
/// Queries in flight per socket at most; later ones wait for a free slot.
pub const IN_FLIGHT_PER_SOCKET: usize = 256;
/// The receive buffer of each driver: larger than any UDP answer a server
/// may send without EDNS (512 bytes), with room for broken ones.
const DATAGRAM_BUFFER_BYTES: usize = 4096;
/// Kernel receive buffer asked for each socket (best effort: the kernel caps
/// it at `net.core.rmem_max`), so a burst of answers is not dropped while
/// the driver waits for a core.
const SOCKET_RECEIVE_BUFFER_BYTES: usize = 1 << 20;
/// The driver wakes for expired queries at most this late, so that it wakes
/// in batches rather than once per deadline.
const TIMER_SLACK: Duration = Duration::from_millis(5);
/// Datagrams a driver reads in a row before it looks at its timer again.
const DRAIN_BATCH: usize = 64;
/// The UDP payload size advertised with the DO bit, in bytes: the 1232 of
/// DNS Flag Day 2020 (no IP fragmentation on common paths); bigger answers
/// come with TC=1 and are asked again over TCP.
pub const DNSSEC_UDP_PAYLOAD_BYTES: u16 = 1232;
/// DNS header length (RFC 1035 §4.1.1), in bytes.
const HEADER_BYTES: usize = 12;

/// When a channel replaces its UDP socket by a freshly bound one on another
/// random port (RFC 5452 §4.5: a resolver should not use one source port
/// for long; §9.2: ports are part of what a spoofer must guess).
///
/// A socket is replaced after `queries` queries were sent from it, or once
/// it is `lifetime` old and another query is sent, whichever comes first.
/// Answers to the queries in flight on the old socket are still received
/// on it; it closes when the last of them is answered or timed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRotation {
    /// Queries sent from one socket at most (at least 1).
    pub queries: u64,
    /// Age after which a socket is replaced at its next query.
    pub lifetime: Duration,
}

/// The rotation of [`Upstream::new`]: at 100k queries per second over two
/// sockets, a fresh port about every tenth of a second per socket; a
/// quiet server's sockets are replaced at least every minute.
pub const DEFAULT_PORT_ROTATION: PortRotation = PortRotation {
    queries: 10_000,
    lifetime: Duration::from_secs(60),
};

/// Why a query got no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// No matching answer arrived before the deadline.
    #[error("no answer (timed out)")]
    Timeout,
    /// The query could not be encoded (a name too long for the wire, say).
    #[error("cannot encode the query for {name}: {reason}")]
    Encode {
        /// The name asked.
        name: String,
        /// What hickory-proto said.
        reason: String,
    },
    /// No UDP socket could be opened towards the server.
    #[error("cannot open a UDP socket towards {server}: {reason}")]
    Socket {
        /// The server.
        server: SocketAddr,
        /// What the system said.
        reason: String,
    },
    /// The query could not be sent.
    #[error("cannot send the query to {server}: {source}")]
    Send {
        /// The server.
        server: SocketAddr,
        /// What the system said.
        #[source]
        source: io::Error,
    },
    /// The UDP answer was truncated (TC=1) and the TCP retry failed.
    #[error("answer truncated, and the TCP retry failed: {reason}")]
    TcpFallback {
        /// Why the TCP exchange failed.
        reason: String,
    },
}

/// What the sockets of one server dropped or retried since it was first
/// asked. Every count is of datagrams (or queries, for the last two).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Answers whose ID matched no query in flight: spoofed, duplicated, or
    /// late (their query had timed out).
    pub unmatched: u64,
    /// Answers from another address than the server's.
    pub wrong_source: u64,
    /// Answers whose ID matched a query in flight but whose question did not.
    pub wrong_question: u64,
    /// Datagrams that are not well-formed DNS responses.
    pub malformed: u64,
    /// Queries that timed out.
    pub timeouts: u64,
    /// Queries asked again over TCP because the UDP answer was truncated.
    pub tcp_fallbacks: u64,
}

impl std::ops::AddAssign for Stats {
    fn add_assign(&mut self, other: Self) {
        self.unmatched += other.unmatched;
        self.wrong_source += other.wrong_source;
        self.wrong_question += other.wrong_question;
        self.malformed += other.malformed;
        self.timeouts += other.timeouts;
        self.tcp_fallbacks += other.tcp_fallbacks;
    }
}

#[derive(Debug, Default)]
struct Counters {
    unmatched: AtomicU64,
    wrong_source: AtomicU64,
    wrong_question: AtomicU64,
    malformed: AtomicU64,
    timeouts: AtomicU64,
    tcp_fallbacks: AtomicU64,
}

fn count(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

// === impl Upstream ===

/// A socket opened on first use, or why it could not be.
type Opened = Result<Arc<Channel>, String>;

/// One DNS server and the sockets that reach it, shared by every query to it.
///
/// Cheap to create: sockets are opened on the first query (inside the tokio
/// runtime that then also runs their drivers) and closed when the
/// `Upstream` is dropped.
#[derive(Debug)]
pub struct Upstream {
    server: SocketAddr,
    channels: Box<[OnceLock<Opened>]>,
    next_channel: AtomicUsize,
    counters: Arc<Counters>,
    rotation: PortRotation,
    /// RD in every query: `false` towards authoritative servers, `true`
    /// towards recursive resolvers ([`Upstream::recursive`]).
    recursion_desired: bool,
}

impl Upstream {
    /// The engine for `server` (an IPv4 or IPv6 address and port), its
    /// ports rotated as [`DEFAULT_PORT_ROTATION`] says.
    pub fn new(server: SocketAddr) -> Self {
        Self::with_rotation(server, DEFAULT_PORT_ROTATION)
    }

    /// The engine for `server`, its ports rotated as `rotation` says (a
    /// `queries` of 0 counts as 1).
    pub fn with_rotation(server: SocketAddr, rotation: PortRotation) -> Self {
        Self {
            server,
            channels: (0..*SOCKETS_PER_SERVER).map(|_| OnceLock::new()).collect(),
            next_channel: AtomicUsize::new(0),
            counters: Arc::default(),
            rotation: PortRotation {
                queries: rotation.queries.max(1),
                ..rotation
            },
            recursion_desired: false,
        }
    }

    /// The engine for a recursive resolver at `server`: like
    /// [`Upstream::new`], but every query asks for recursion (RD=1,
    /// RFC 1035 §4.1.1), as a stub resolver does (RFC 1034 §5.3.1).
    pub fn recursive(server: SocketAddr) -> Self {
        let mut upstream = Self::new(server);
        upstream.recursion_desired = true;
        upstream
    }

    /// The server's address.
    pub fn server(&self) -> SocketAddr {
        self.server
    }

    /// What the sockets dropped and retried so far.
    pub fn stats(&self) -> Stats {
        let c = &*self.counters;
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        Stats {
            unmatched: load(&c.unmatched),
            wrong_source: load(&c.wrong_source),
            wrong_question: load(&c.wrong_question),
            malformed: load(&c.malformed),
            timeouts: load(&c.timeouts),
            tcp_fallbacks: load(&c.tcp_fallbacks),
        }
    }

    /// Asks `name record_type` (class IN, RD=0) and returns the server's
    /// answer, over UDP, or over TCP when the UDP answer is truncated.
    ///
    /// The answer is whatever the server said, any response code included;
    /// [`QueryError::Timeout`] when nothing matching arrived by `deadline`.
    /// Must run inside a tokio runtime (with time and I/O enabled).
    pub async fn query(
        &self,
        name: &Name,
        record_type: RecordType,
        deadline: Instant,
    ) -> Result<Message, QueryError> {
        self.exchange(name, record_type, false, deadline).await
    }

    /// Like [`Upstream::query`], with the DO bit set in an EDNS OPT record
    /// (RFC 3225, payload [`DNSSEC_UDP_PAYLOAD_BYTES`]), so that a signed
    /// zone's answer carries its RRSIG records (RFC 4035 §3.1.1); towards a
    /// recursive resolver also CD=1 (RFC 4035 §3.2.2), so that bogus data
    /// is handed over rather than turned into SERVFAIL.
    ///
    /// # Errors
    /// As [`Upstream::query`].
    pub async fn query_dnssec(
        &self,
        name: &Name,
        record_type: RecordType,
        deadline: Instant,
    ) -> Result<Message, QueryError> {
        self.exchange(name, record_type, true, deadline).await
    }

    async fn exchange(
        &self,
        name: &Name,
        record_type: RecordType,
        dnssec: bool,
        deadline: Instant,
    ) -> Result<Message, QueryError> {
        let encode_failed = |reason: String| QueryError::Encode {
            name: name.to_string(),
            reason,
        };
        let mut packet =
            encode(name, record_type, self.recursion_desired, dnssec).map_err(encode_failed)?;
        let question = question_digest(&packet)
            .ok_or_else(|| encode_failed("no question in the encoded query".to_owned()))?;
        let channel = self.channel()?;
        let answer = channel.exchange(&mut packet, question, deadline).await;
        if matches!(answer, Err(QueryError::Timeout)) {
            count(&self.counters.timeouts);
        }
        let answer = answer?;
        if !answer.metadata.truncation {
            return Ok(answer);
        }
        count(&self.counters.tcp_fallbacks);
        exchange_tcp(self.server, &packet, question, deadline).await
    }

    /// The next socket in turn, opened (and its driver started) on first use.
    fn channel(&self) -> Result<&Arc<Channel>, QueryError> {
        let turn = self.next_channel.fetch_add(1, Ordering::Relaxed) % self.channels.len();
        self.channels[turn]
            .get_or_init(|| Channel::open(self.server, self.counters.clone(), self.rotation))
            .as_ref()
            .map_err(|reason| QueryError::Socket {
                server: self.server,
                reason: reason.clone(),
            })
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        for channel in self.channels.iter().filter_map(|c| c.get()?.as_ref().ok()) {
            channel.close();
        }
    }
}

// === impl Channel ===

/// A UDP socket (and, after a rotation, the older ones still draining), its
/// queries in flight, its receivers and its timer.
#[derive(Debug)]
struct Channel {
    server: SocketAddr,
    slots: Semaphore,
    table: Mutex<Table>,
    /// Wakes the timer task: an earlier deadline to arm, or shutdown.
    wake_driver: Notify,
    closed: AtomicBool,
    counters: Arc<Counters>,
    rotation: PortRotation,
}

/// One bound UDP socket of a channel.
#[derive(Debug)]
struct Port {
    socket: UdpSocket,
    /// Tells the channel's sockets apart (0 for the first, then 1, 2…).
    generation: u64,
    /// Set when the socket was replaced and its last query left: its
    /// receiver ends and the socket closes.
    drained: AtomicBool,
    /// Wakes the receiver: drained, or the channel closed.
    wake: Notify,
}

/// The queries in flight on one channel.
#[derive(Debug)]
struct Table {
    pending: HashMap<u16, Pending>,
    /// Deadlines of queries, earliest first. Entries of answered queries
    /// stay until they expire or the heap is compacted.
    deadlines: BinaryHeap<Reverse<(Instant, u64, u16)>>,
    next_seq: u64,
    /// The instant the driver's timer is armed for.
    timer_at: Option<Instant>,
    /// The sockets with queries in flight, and how many; the last one is
    /// the one new queries are sent from.
    ports: Vec<(Arc<Port>, usize)>,
    /// Queries sent from the last socket so far.
    sent_on_current: u64,
    /// When the last socket was bound.
    current_since: Instant,
}

#[derive(Debug)]
struct Pending {
    /// Tells this query from an earlier one that used the same ID.
    seq: u64,
    question: u64,
    /// The socket it was sent from, the only one its answer may come to.
    generation: u64,
    state: State,
}

#[derive(Debug)]
enum State {
    Waiting(Option<Waker>),
    Answered(Box<Message>),
    TimedOut,
}

impl Channel {
    fn open(server: SocketAddr, counters: Arc<Counters>, rotation: PortRotation) -> Opened {
        let port = Port::bind(server, 0).map_err(|e| e.to_string())?;
        let channel = Arc::new(Self {
            server,
            slots: Semaphore::new(IN_FLIGHT_PER_SOCKET),
            table: Mutex::new(Table {
                pending: HashMap::new(),
                deadlines: BinaryHeap::new(),
                next_seq: 0,
                timer_at: None,
                ports: vec![(port.clone(), 0)],
                sent_on_current: 0,
                current_since: Instant::now(),
            }),
            wake_driver: Notify::new(),
            closed: AtomicBool::new(false),
            counters,
            rotation,
        });
        tokio::spawn(receive(channel.clone(), port));
        tokio::spawn(drive(channel.clone()));
        Ok(channel)
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stops the timer and every receiver; their sockets close.
    fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.wake_driver.notify_one();
        for (port, _) in &self.table().ports {
            port.wake.notify_one();
        }
    }

    /// Sends `packet` (its ID is chosen here) and waits for the matching answer.
    async fn exchange(
        self: &Arc<Self>,
        packet: &mut [u8],
        question: u64,
        deadline: Instant,
    ) -> Result<Message, QueryError> {
        let _slot = match self.slots.try_acquire() {
            Ok(slot) => slot,
            Err(_) => match tokio::time::timeout_at(deadline, self.slots.acquire()).await {
                Ok(Ok(slot)) => slot,
                Ok(Err(_)) | Err(_) => return Err(QueryError::Timeout),
            },
        };
        let mut registration = self.register(question, deadline);
        packet[..2].copy_from_slice(&registration.id.to_be_bytes());
        registration
            .port
            .socket
            .send_to(packet, self.server)
            .await
            .map_err(|source| QueryError::Send {
                server: self.server,
                source,
            })?;
        poll_fn(|cx| {
            let mut table = self.table();
            let Some(pending) = table
                .pending
                .get_mut(&registration.id)
                .filter(|p| p.seq == registration.seq)
            else {
                return Poll::Ready(Err(QueryError::Timeout));
            };
            if let State::Waiting(waker) = &mut pending.state {
                match waker {
                    Some(waker) if waker.will_wake(cx.waker()) => {}
                    _ => *waker = Some(cx.waker().clone()),
                }
                return Poll::Pending;
            }
            let done = table.remove(registration.id);
            drop(table);
            registration.removed = true;
            Poll::Ready(match done {
                Some(State::Answered(message)) => Ok(*message),
                _ => Err(QueryError::Timeout),
            })
        })
        .await
    }

    /// Enters a query in the table under a random ID no other query in
    /// flight on this channel has, on the socket it is to be sent from
    /// (a fresh one when the current one is due for rotation).
    fn register(self: &Arc<Self>, question: u64, deadline: Instant) -> Registration {
        let (id, seq, port, earlier) = {
            let mut table = self.table();
            self.rotate_if_due(&mut table);
            let Table {
                pending,
                deadlines,
                next_seq,
                timer_at,
                ports,
                sent_on_current,
                ..
            } = &mut *table;
            let seq = *next_seq;
            *next_seq += 1;
            let id = loop {
                let id = rand::random::<u16>();
                if !pending.contains_key(&id) {
                    break id;
                }
            };
            let (port, in_flight) = ports.last_mut().expect("a channel always has a socket");
            *in_flight += 1;
            *sent_on_current += 1;
            let port = port.clone();
            pending.insert(
                id,
                Pending {
                    seq,
                    question,
                    generation: port.generation,
                    state: State::Waiting(None),
                },
            );
            if deadlines.len() > 2 * pending.len() + 64 {
                deadlines.retain(|Reverse((_, s, i))| pending.get(i).is_some_and(|p| p.seq == *s));
            }
            deadlines.push(Reverse((deadline, seq, id)));
            let earlier = timer_at.is_none_or(|at| deadline < at);
            if earlier {
                *timer_at = Some(deadline);
            }
            (id, seq, port, earlier)
        };
        if earlier {
            self.wake_driver.notify_one();
        }
        Registration {
            channel: self.clone(),
            port,
            id,
            seq,
            removed: false,
        }
    }

    /// Binds a fresh socket for the next queries when the current one has
    /// sent its share or is too old; the old one drains. When no socket can
    /// be bound the current one is kept for another round.
    fn rotate_if_due(self: &Arc<Self>, table: &mut Table) {
        let rotation = self.rotation;
        if table.sent_on_current < rotation.queries
            && table.current_since.elapsed() < rotation.lifetime
        {
            return;
        }
        table.sent_on_current = 0;
        table.current_since = Instant::now();
        let generation = table.ports.last().map_or(0, |(p, _)| p.generation + 1);
        let Ok(fresh) = Port::bind(self.server, generation) else {
            return;
        };
        // The socket replaced may have nothing in flight: it closes now.
        if let Some((old, 0)) = table.ports.last() {
            old.retire();
            table.ports.pop();
        }
        table.ports.push((fresh.clone(), 0));
        tokio::spawn(receive(self.clone(), fresh));
    }

    /// Hands a datagram received on the socket of `generation` to the
    /// query it answers, or drops and counts it.
    fn deliver(&self, datagram: &[u8], from: SocketAddr, generation: u64) {
        let counters = &*self.counters;
        if from != self.server {
            return count(&counters.wrong_source);
        }
        let is_response =
            datagram.len() >= HEADER_BYTES && datagram[2] & 0x80 != 0 && datagram[4..6] == [0, 1];
        let Some(question) = is_response.then(|| question_digest(datagram)).flatten() else {
            return count(&counters.malformed);
        };
        let id = u16::from_be_bytes([datagram[0], datagram[1]]);
        // Decoded before the table is locked, so that queries registering
        // meanwhile do not wait for it.
        let Ok(message) = Message::from_vec(datagram) else {
            return count(&counters.malformed);
        };
        let waker = {
            let mut table = self.table();
            let Some(pending) = table.pending.get_mut(&id) else {
                drop(table);
                return count(&counters.unmatched);
            };
            // An answer on another socket than its query's is not one the
            // server sent to that query.
            if pending.generation != generation {
                drop(table);
                return count(&counters.unmatched);
            }
            if pending.question != question {
                drop(table);
                return count(&counters.wrong_question);
            }
            if !matches!(pending.state, State::Waiting(_)) {
                drop(table);
                return count(&counters.unmatched);
            }
            match std::mem::replace(&mut pending.state, State::Answered(Box::new(message))) {
                State::Waiting(waker) => waker,
                State::Answered(_) | State::TimedOut => None,
            }
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Ends every query whose deadline is before `now`; returns when the
    /// timer must fire next.
    fn expire(&self, now: Instant) -> Option<Instant> {
        let mut wakers = Vec::new();
        let next = {
            let mut table = self.table();
            let Table {
                pending, deadlines, ..
            } = &mut *table;
            while let Some(Reverse((deadline, seq, id))) = deadlines.peek().copied() {
                if deadline > now {
                    break;
                }
                deadlines.pop();
                if let Some(p) = pending.get_mut(&id).filter(|p| p.seq == seq)
                    && let State::Waiting(waker) = std::mem::replace(&mut p.state, State::TimedOut)
                {
                    wakers.extend(waker);
                }
            }
            table.arm()
        };
        for waker in wakers {
            waker.wake();
        }
        next
    }
}

impl Table {
    /// Records and returns when the driver's timer must fire next.
    fn arm(&mut self) -> Option<Instant> {
        self.timer_at = self.deadlines.peek().map(|Reverse((at, _, _))| *at);
        self.timer_at
    }

    /// Takes the query `id` out of the table; a replaced socket whose last
    /// query this was closes.
    fn remove(&mut self, id: u16) -> Option<State> {
        let pending = self.pending.remove(&id)?;
        let last = self.ports.len() - 1;
        if let Some(at) = self
            .ports
            .iter()
            .position(|(p, _)| p.generation == pending.generation)
        {
            let in_flight = &mut self.ports[at].1;
            *in_flight -= 1;
            if *in_flight == 0 && at != last {
                self.ports.remove(at).0.retire();
            }
        }
        Some(pending.state)
    }
}

impl Port {
    fn bind(server: SocketAddr, generation: u64) -> io::Result<Arc<Self>> {
        let socket = bind_for(server).and_then(UdpSocket::from_std)?;
        Ok(Arc::new(Self {
            socket,
            generation,
            drained: AtomicBool::new(false),
            wake: Notify::new(),
        }))
    }

    /// Ends the socket's receiver (it has no query in flight any more).
    fn retire(&self) {
        self.drained.store(true, Ordering::Release);
        self.wake.notify_one();
    }
}

/// A query's place in the table: leaving it (answered, timed out, or the
/// query future dropped) frees the ID; an answer arriving later is dropped.
struct Registration {
    channel: Arc<Channel>,
    /// The socket the query is sent from.
    port: Arc<Port>,
    id: u16,
    seq: u64,
    /// Already taken out of the table (by the query itself).
    removed: bool,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if self.removed {
            return;
        }
        let mut table = self.channel.table();
        if table
            .pending
            .get(&self.id)
            .is_some_and(|p| p.seq == self.seq)
        {
            table.remove(self.id);
        }
    }
}

/// The channel's timer, until the [`Upstream`] is dropped.
async fn drive(channel: Arc<Channel>) {
    let timer = tokio::time::sleep_until(Instant::now());
    tokio::pin!(timer);
    let mut armed: Option<Instant> = None;
    let notified = channel.wake_driver.notified();
    tokio::pin!(notified);
    while !channel.closed.load(Ordering::Acquire) {
        let next = tokio::select! {
            biased;
            () = &mut notified => {
                notified.set(channel.wake_driver.notified());
                channel.table().arm()
            }
            () = &mut timer, if armed.is_some() => channel.expire(Instant::now()),
        };
        armed = next;
        if let Some(at) = next {
            timer.as_mut().reset(at + TIMER_SLACK);
        }
    }
}

/// The receive loop of one of the channel's sockets, until it is drained
/// after a rotation or the [`Upstream`] is dropped.
async fn receive(channel: Arc<Channel>, port: Arc<Port>) {
    let mut buffer = vec![0u8; DATAGRAM_BUFFER_BYTES];
    let woken = port.wake.notified();
    tokio::pin!(woken);
    while !channel.closed.load(Ordering::Acquire) && !port.drained.load(Ordering::Acquire) {
        tokio::select! {
            biased;
            () = &mut woken => woken.set(port.wake.notified()),
            received = port.socket.recv_from(&mut buffer) => {
                // Errors are ICMP reports of earlier sends (or a full
                // buffer): the queries concerned time out.
                if let Ok((len, from)) = received {
                    channel.deliver(&buffer[..len], from, port.generation);
                }
                // What else has arrived is read before the flags are
                // looked at again, in bounded batches.
                for _ in 0..DRAIN_BATCH {
                    match port.socket.try_recv_from(&mut buffer) {
                        Ok((len, from)) => channel.deliver(&buffer[..len], from, port.generation),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(_) => {}
                    }
                }
            }
        }
    }
}

// === the wire ===

/// A UDP socket on a random ephemeral port of the server's address family
/// (the kernel picks it: RFC 5452 §9.2 source port randomisation).
fn bind_for(server: SocketAddr) -> io::Result<std::net::UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(
        Domain::for_address(server),
        Type::DGRAM,
        Some(Protocol::UDP),
    )?;
    // Best effort: a smaller buffer only means drops under bursts.
    let _ = socket.set_recv_buffer_size(SOCKET_RECEIVE_BUFFER_BYTES);
    socket.set_nonblocking(true)?;
    let local = if server.is_ipv4() {
        SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0))
    } else {
        SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0))
    };
    socket.bind(&local.into())?;
    Ok(socket.into())
}

/// A query message for `name record_type` with ID 0 (set per send), RD as
/// `recursion_desired` says; with `dnssec`, an OPT record with DO=1 and,
/// when recursion is desired, CD=1.
fn encode(
    name: &Name,
    record_type: RecordType,
    recursion_desired: bool,
    dnssec: bool,
) -> Result<Vec<u8>, String> {
    let mut message = Message::new(0, MessageType::Query, OpCode::Query);
    message.metadata.recursion_desired = recursion_desired;
    message.add_query(Query::query(name.clone(), record_type));
    if dnssec {
        let mut edns = Edns::new();
        edns.set_dnssec_ok(true)
            .set_max_payload(DNSSEC_UDP_PAYLOAD_BYTES);
        message.set_edns(edns);
        message.metadata.checking_disabled = recursion_desired;
    }
    message.to_vec().map_err(|e| e.to_string())
}

/// A digest of the question section of a message with exactly one
/// question: the name's wire form in lower case (names compare without
/// case, RFC 4343), its type and class. `None` when the section is not
/// there or uses compression (a question name has nothing to point back to).
fn question_digest(message: &[u8]) -> Option<u64> {
    const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut at = HEADER_BYTES;
    loop {
        let length = usize::from(*message.get(at)?);
        if length & 0xC0 != 0 {
            return None;
        }
        at += 1 + length;
        if length == 0 {
            break;
        }
    }
    let section = message.get(HEADER_BYTES..at + 4)?;
    let name_end = at - HEADER_BYTES;
    Some(
        section
            .iter()
            .enumerate()
            .fold(FNV_OFFSET, |hash, (i, byte)| {
                // Length bytes are below 64, never ASCII letters.
                let byte = if i < name_end {
                    byte.to_ascii_lowercase()
                } else {
                    *byte
                };
                (hash ^ u64::from(byte)).wrapping_mul(FNV_PRIME)
            }),
    )
}

/// The same query over TCP (RFC 7766), on a connection of its own, by
/// `deadline`; the answer must carry the query's ID and question.
async fn exchange_tcp(
    server: SocketAddr,
    packet: &[u8],
    question: u64,
    deadline: Instant,
) -> Result<Message, QueryError> {
    let failed = |reason: String| QueryError::TcpFallback { reason };
    let length = u16::try_from(packet.len()).map_err(|_| failed("query too long".to_owned()))?;
    let attempt = async {
        let mut stream = TcpStream::connect(server).await?;
        stream.set_nodelay(true)?;
        let mut framed = Vec::with_capacity(2 + packet.len());
        framed.extend_from_slice(&length.to_be_bytes());
        framed.extend_from_slice(packet);
        stream.write_all(&framed).await?;
        let length = stream.read_u16().await?;
        let mut answer = vec![0u8; usize::from(length)];
        stream.read_exact(&mut answer).await?;
        Ok::<_, io::Error>(answer)
    };
    let answer = match tokio::time::timeout_at(deadline, attempt).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(e)) => return Err(failed(e.to_string())),
        Err(_) => return Err(failed("timed out".to_owned())),
    };
    if answer.get(..2) != packet.get(..2) || question_digest(&answer) != Some(question) {
        return Err(failed(
            "the answer's ID or question does not match the query".to_owned(),
        ));
    }
    Message::from_vec(&answer).map_err(|e| failed(format!("malformed answer: {e}")))
}

#[cfg(test)]
mod tests {
    use hickory_resolver::proto::op::ResponseCode;

    use super::*;

    fn query(name: &str, id: u16) -> Vec<u8> {
        let mut packet = encode(
            &Name::from_ascii(name).unwrap(),
            RecordType::NS,
            false,
            false,
        )
        .unwrap();
        packet[..2].copy_from_slice(&id.to_be_bytes());
        packet
    }

    #[test]
    fn question_digest_ignores_case_and_id_but_not_type() {
        let a = question_digest(&query("Foo.TEST.", 1)).unwrap();
        assert_eq!(a, question_digest(&query("foo.test.", 2)).unwrap());
        assert_ne!(a, question_digest(&query("fop.test.", 1)).unwrap());
        let mut other_type = query("foo.test.", 1);
        let type_at = other_type.len() - 4;
        other_type[type_at + 1] = 1;
        assert_ne!(a, question_digest(&other_type).unwrap());
    }

    #[test]
    fn question_digest_rejects_truncated_and_compressed_questions() {
        let packet = query("foo.test.", 1);
        assert_eq!(question_digest(&packet[..HEADER_BYTES + 3]), None);
        let mut compressed = packet.clone();
        compressed[HEADER_BYTES] = 0xC0;
        assert_eq!(question_digest(&compressed), None);
        assert_eq!(question_digest(&packet[..5]), None);
    }

    /// A server on loopback answering every query with an empty NXDOMAIN
    /// (same ID and question) after `delay`, noting the source port of each.
    async fn slow_server(delay: Duration) -> (SocketAddr, Arc<Mutex<Vec<u16>>>) {
        slow_server_on("127.0.0.1:0", delay).await
    }

    /// [`slow_server`] on `local` (`[::1]:0` for IPv6).
    async fn slow_server_on(local: &str, delay: Duration) -> (SocketAddr, Arc<Mutex<Vec<u16>>>) {
        let socket = Arc::new(UdpSocket::bind(local).await.unwrap());
        let addr = socket.local_addr().unwrap();
        let ports = Arc::new(Mutex::new(Vec::new()));
        let noted = ports.clone();
        tokio::spawn(async move {
            let mut buffer = vec![0u8; 512];
            loop {
                let (len, from) = socket.recv_from(&mut buffer).await.unwrap();
                noted.lock().unwrap().push(from.port());
                let mut answer = Message::from_vec(&buffer[..len]).unwrap();
                answer.metadata.message_type = MessageType::Response;
                answer.metadata.response_code = ResponseCode::NXDomain;
                let answer = answer.to_vec().unwrap();
                let socket = socket.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    socket.send_to(&answer, from).await.unwrap();
                });
            }
        });
        (addr, ports)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sockets_rotate_to_new_ports_and_answers_in_flight_still_arrive() {
        // Answers take 50 ms: every rotation happens with queries in flight
        // on the socket replaced.
        let (server, ports) = slow_server(Duration::from_millis(50)).await;
        let upstream = Arc::new(Upstream::with_rotation(
            server,
            PortRotation {
                queries: 10,
                lifetime: Duration::from_secs(3600),
            },
        ));
        let deadline = Instant::now() + Duration::from_secs(5);
        let queries = (0..200).map(|i| {
            let upstream = upstream.clone();
            tokio::spawn(async move {
                let name = Name::from_ascii(format!("n{i}.test.")).unwrap();
                upstream.query(&name, RecordType::NS, deadline).await
            })
        });
        for (i, answer) in futures::future::join_all(queries)
            .await
            .into_iter()
            .enumerate()
        {
            let answer = answer.unwrap().unwrap_or_else(|e| panic!("query {i}: {e}"));
            assert_eq!(answer.metadata.response_code, ResponseCode::NXDomain);
            assert_eq!(answer.queries[0].name().to_ascii(), format!("n{i}.test."));
        }
        assert_eq!(
            upstream.stats(),
            Stats::default(),
            "nothing dropped or lost"
        );
        let mut distinct = ports.lock().unwrap().clone();
        assert_eq!(distinct.len(), 200);
        distinct.sort_unstable();
        distinct.dedup();
        // 200 queries over the channels, a fresh port every 10 per channel.
        assert!(
            distinct.len() >= 200 / 10,
            "source ports used: {distinct:?}"
        );
        // Replaced sockets close once drained: only the current ones stay.
        tokio::time::sleep(Duration::from_millis(100)).await;
        for channel in upstream
            .channels
            .iter()
            .filter_map(|c| c.get()?.as_ref().ok())
        {
            assert_eq!(channel.table().ports.len(), 1, "old sockets are closed");
        }
    }

    #[tokio::test]
    async fn an_old_socket_is_replaced_at_its_next_query() {
        let (server, ports) = slow_server(Duration::ZERO).await;
        let upstream = Upstream::with_rotation(
            server,
            PortRotation {
                queries: u64::MAX,
                lifetime: Duration::from_millis(100),
            },
        );
        let name = Name::from_ascii("a.test.").unwrap();
        let ask = || {
            upstream.query(
                &name,
                RecordType::NS,
                Instant::now() + Duration::from_secs(2),
            )
        };
        // Every channel asked twice, quickly: one port each.
        for _ in 0..2 * upstream.channels.len() {
            ask().await.unwrap();
        }
        let quick: std::collections::HashSet<u16> = ports.lock().unwrap().drain(..).collect();
        assert_eq!(quick.len(), upstream.channels.len(), "{quick:?}");
        tokio::time::sleep(Duration::from_millis(150)).await;
        for _ in 0..upstream.channels.len() {
            ask().await.unwrap();
        }
        let later: std::collections::HashSet<u16> = ports.lock().unwrap().drain(..).collect();
        assert!(quick.is_disjoint(&later), "{quick:?} then {later:?}");
    }

    #[tokio::test]
    async fn an_ipv6_server_is_asked_from_an_ipv6_socket_and_its_answers_match() {
        let (server, ports) = slow_server_on("[::1]:0", Duration::ZERO).await;
        assert!(server.is_ipv6());
        let upstream = Upstream::new(server);
        for i in 0..2 * upstream.channels.len() {
            let name = Name::from_ascii(format!("v6-{i}.test.")).unwrap();
            let answer = upstream
                .query(
                    &name,
                    RecordType::SOA,
                    Instant::now() + Duration::from_secs(2),
                )
                .await
                .unwrap_or_else(|e| panic!("query {i} to {server}: {e}"));
            assert_eq!(answer.metadata.response_code, ResponseCode::NXDomain);
            assert_eq!(answer.queries[0].name().to_ascii(), format!("v6-{i}.test."));
        }
        assert_eq!(ports.lock().unwrap().len(), 2 * upstream.channels.len());
        assert_eq!(upstream.stats(), Stats::default(), "nothing dropped");
    }

    #[test]
    fn queries_ask_without_recursion() {
        let message = Message::from_vec(&query("foo.test.", 7)).unwrap();
        assert_eq!(message.metadata.id, 7);
        assert!(!message.metadata.recursion_desired);
        assert_eq!(message.queries.len(), 1);
        assert_eq!(message.queries[0].query_type(), RecordType::NS);
        assert!(message.edns.is_none());
    }

    #[test]
    fn dnssec_queries_carry_the_do_bit_and_the_same_question() {
        let name = Name::from_ascii("foo.test.").unwrap();
        let plain = encode(&name, RecordType::DNSKEY, false, false).unwrap();
        let signed = encode(&name, RecordType::DNSKEY, false, true).unwrap();
        assert_eq!(question_digest(&plain), question_digest(&signed));
        let message = Message::from_vec(&signed).unwrap();
        let edns = message.edns.as_ref().expect("an OPT record");
        assert!(edns.flags().dnssec_ok);
        assert_eq!(edns.max_payload(), DNSSEC_UDP_PAYLOAD_BYTES);
        assert!(!message.metadata.checking_disabled);
        assert!(!message.metadata.recursion_desired);
        let recursive =
            Message::from_vec(&encode(&name, RecordType::DS, true, true).unwrap()).unwrap();
        assert!(recursive.metadata.recursion_desired && recursive.metadata.checking_disabled);
    }
}
