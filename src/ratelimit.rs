//! Request budgets toward external servers (governor token buckets).
//!
//! Every external server (a DNS server, an RDAP base URL, a WHOIS host) gets
//! its own bucket, sized by the layer's configured [`RateLimit`] times this
//! replica's share of the work, so that all replicas together stay within one
//! global budget. A server that answers "slow down" is backed off: until the
//! back-off ends, checks against it report `RateLimited` without contacting it.
//!
//! Requests waiting for the same server are served by [`Urgency`], most
//! urgent first: confirming a change (a registered name that now looks free)
//! before names in their drop window or marked priority, before routine
//! re-checks; requests of the same urgency in the order they came (a
//! confirmation is never overtaken by a later one of its kind, so its wait
//! is bounded by those ahead of it, not by chance). The urgency travels
//! with the check as a task-local set by [`with_urgency`], so checkers need
//! not pass it along.

use std::{
    collections::{HashMap, VecDeque},
    num::NonZeroU32,
    sync::{
        Arc, Mutex, RwLock,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter, clock::Clock};
use tokio::sync::Notify;

use crate::config::RateLimit;

/// First back-off when a server throttles us without saying for how long.
const INITIAL_BACKOFF: Duration = Duration::from_secs(30);
/// Longest back-off, however often a server throttles us.
const MAX_BACKOFF: Duration = Duration::from_secs(15 * 60);
/// A check waits this long at most for a server to come out of back-off;
/// beyond it the check reports `RateLimited` at once.
const MAX_BACKOFF_WAIT: Duration = Duration::from_secs(2);
/// A slot that took at least this long counts as a rate-limit wait.
const NOTICEABLE_WAIT: Duration = Duration::from_millis(1);
/// How often servers that are back to a full budget are forgotten. The http
/// checker's servers are the probed hosts, one per domain: kept for ever,
/// 100k domains would mean 100k buckets.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Longest a waiter sleeps before it looks again at who is ahead of it.
const QUEUE_RECHECK: Duration = Duration::from_millis(250);

/// How urgent a request toward a rate-limited server is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Urgency {
    /// A routine re-check.
    #[default]
    Routine,
    /// A priority name, or one inside its drop window.
    Watched,
    /// Confirming a change: a name that was registered (or in its lifecycle)
    /// now looks free, or awaits its registry confirmation.
    Confirming,
    /// Confirming a change of a priority name or of one inside its drop
    /// window: the drops a user asked to hear first go before the others
    /// when several are confirmed at once.
    #[serde(rename = "confirming_watched")]
    ConfirmingWatched,
}

/// The number of [`Urgency`] levels.
const URGENCIES: usize = 4;

impl Urgency {
    /// Every urgency, least urgent first.
    pub const ALL: [Self; URGENCIES] = [
        Self::Routine,
        Self::Watched,
        Self::Confirming,
        Self::ConfirmingWatched,
    ];

    /// The word used in logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Routine => "routine",
            Self::Watched => "watched",
            Self::Confirming => "confirming",
            Self::ConfirmingWatched => "confirming_watched",
        }
    }

    /// Whether a change is being confirmed ([`Urgency::Confirming`] or
    /// [`Urgency::ConfirmingWatched`]).
    pub fn is_confirming(self) -> bool {
        matches!(self, Self::Confirming | Self::ConfirmingWatched)
    }

    fn index(self) -> usize {
        self as usize
    }
}

crate::words!(Urgency, "urgency");

/// Rate-limit waits of one layer since start-up.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RateLimitWaits {
    /// The layer (`dns`, `rdap`…: the checker's word).
    pub layer: &'static str,
    /// Requests that waited.
    pub waits: u64,
    /// Time spent waiting.
    pub waited: Duration,
}

tokio::task_local! {
    static URGENCY: Urgency;
}

/// Runs `work` with every budget it waits on serving it at `urgency`.
pub async fn with_urgency<F: std::future::Future>(urgency: Urgency, work: F) -> F::Output {
    URGENCY.scope(urgency, work).await
}

/// The urgency of the running check ([`Urgency::Routine`] outside [`with_urgency`]).
pub fn current_urgency() -> Urgency {
    URGENCY.try_with(|u| *u).unwrap_or_default()
}

/// Why a request may not be sent now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("backing off from {server_kind} for another {}", humantime::format_duration(*remaining))]
pub struct BackingOff {
    /// What kind of server (for the message).
    pub server_kind: &'static str,
    /// Time left until the back-off ends, rounded to seconds.
    pub remaining: Duration,
}

#[derive(Debug, Default, Clone, Copy)]
struct Backoff {
    until: Option<Instant>,
    strikes: u32,
}

/// Per-server budgets of one layer or checker.
pub struct ServerBudgets {
    kind: &'static str,
    limit: RateLimit,
    share: Mutex<f64>,
    limiter: RwLock<Arc<DefaultKeyedRateLimiter<String>>>,
    backoff: Mutex<HashMap<String, Backoff>>,
    /// `backoff.len()`, written under its lock: while it is zero (the
    /// common case) checks skip the lock and the lookup.
    backoff_entries: AtomicUsize,
    waits: AtomicU64,
    waited_micros: AtomicU64,
    last_sweep: Mutex<Instant>,
    /// When the next sweep is due, in microseconds after `created`: read
    /// without a lock on every request.
    next_sweep_micros: AtomicU64,
    created: Instant,
    /// Waiters per server and urgency, in the order they came; entries go
    /// when they empty.
    queues: Mutex<Queues>,
    /// Waiters in `queues` over all servers and urgencies, written under its
    /// lock: while it is zero nobody can be ahead of a newcomer.
    queued: AtomicUsize,
    /// Woken whenever a waiter takes its slot or gives up.
    turn: Notify,
}

/// The waiters of every server: per server and [`Urgency`], their ticket
/// numbers in the order they came (numbers only grow, so each list is
/// sorted).
#[derive(Default)]
struct Queues {
    by_server: HashMap<String, [VecDeque<u64>; URGENCIES]>,
    next_number: u64,
}

/// A place in a server's queue, given back when dropped.
struct Ticket<'a> {
    budgets: &'a ServerBudgets,
    server: &'a str,
    urgency: Urgency,
    number: u64,
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        let mut queues = self
            .budgets
            .queues
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(waiting) = queues.by_server.get_mut(self.server) {
            let same = &mut waiting[self.urgency.index()];
            if let Some(at) = same.iter().position(|n| *n == self.number) {
                same.remove(at);
                self.budgets.queued.fetch_sub(1, Ordering::Relaxed);
            }
            if waiting.iter().all(VecDeque::is_empty) {
                queues.by_server.remove(self.server);
            }
        }
        drop(queues);
        self.budgets.turn.notify_waiters();
    }
}

impl std::fmt::Debug for ServerBudgets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerBudgets")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl ServerBudgets {
    /// Budgets of `limit` per server for this replica alone.
    pub fn new(kind: &'static str, limit: RateLimit) -> Self {
        Self::with_share(kind, limit, 1.0)
    }

    /// Budgets of `limit × share` per server: a replica holding a share of the
    /// shards spends only that share of each server's global budget.
    pub fn with_share(kind: &'static str, limit: RateLimit, share: f64) -> Self {
        let now = Instant::now();
        Self {
            kind,
            limit,
            share: Mutex::new(share),
            limiter: RwLock::new(Arc::new(RateLimiter::keyed(quota(limit, share)))),
            backoff: Mutex::new(HashMap::new()),
            backoff_entries: AtomicUsize::new(0),
            waits: AtomicU64::new(0),
            waited_micros: AtomicU64::new(0),
            last_sweep: Mutex::new(now),
            next_sweep_micros: AtomicU64::new(micros(SWEEP_EVERY)),
            created: now,
            queues: Mutex::new(Queues::default()),
            queued: AtomicUsize::new(0),
            turn: Notify::new(),
        }
    }

    /// Resizes every server's budget to `share` of the configured limit (a
    /// replica's shards / all shards). Back-offs are kept.
    pub fn set_share(&self, share: f64) {
        let mut current = self.share.lock().unwrap_or_else(|e| e.into_inner());
        if (*current - share).abs() < f64::EPSILON {
            return;
        }
        *current = share;
        let limiter = Arc::new(RateLimiter::keyed(quota(self.limit, share)));
        *self.limiter.write().unwrap_or_else(|e| e.into_inner()) = limiter;
    }

    /// Waits for a request slot toward `server` and returns how long it waited
    /// (zero when the budget had room), or refuses when the server is backing
    /// us off for longer than a check should wait.
    pub async fn acquire(&self, server: &str) -> Result<Duration, BackingOff> {
        let started = Instant::now();
        if let Some(until) = self.backing_off_until(server) {
            let remaining = until.saturating_duration_since(started);
            if remaining > MAX_BACKOFF_WAIT {
                return Err(BackingOff {
                    server_kind: self.kind,
                    remaining: Duration::from_secs(
                        remaining.as_secs() + u64::from(remaining.subsec_nanos() > 0),
                    ),
                });
            }
            tokio::time::sleep(remaining).await;
        }
        self.sweep_if_due(started);
        self.take_turn(server, current_urgency()).await;
        let waited = started.elapsed();
        if waited >= NOTICEABLE_WAIT {
            self.waits.fetch_add(1, Ordering::Relaxed);
            let micros = u64::try_from(waited.as_micros()).unwrap_or(u64::MAX);
            self.waited_micros.fetch_add(micros, Ordering::Relaxed);
        }
        Ok(waited)
    }

    /// Waits until `server`'s bucket has a token and no request more urgent
    /// or as urgent and earlier waits for it, then takes the token.
    async fn take_turn(&self, server: &str, urgency: Urgency) {
        // The common case at scale (DNS): nobody waits and a token is there.
        if !self.outranked_or_queued(server, urgency) && self.try_take(server) {
            return;
        }
        let key = server.to_owned();
        let ticket = self.enqueue(server, urgency);
        loop {
            let turn = self.turn.notified();
            let wait = if self.outranked(server, urgency, ticket.number) {
                QUEUE_RECHECK
            } else {
                let limiter = Arc::clone(&self.limiter.read().unwrap_or_else(|e| e.into_inner()));
                match limiter.check_key(&key) {
                    Ok(()) => return,
                    Err(not_until) => not_until
                        .wait_time_from(limiter.clock().now())
                        .min(QUEUE_RECHECK),
                }
            };
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = turn => {}
            }
        }
    }

    /// Takes a token from `server`'s bucket if it has one, without
    /// allocating: the key is spelled in a buffer kept per thread (governor
    /// looks keys up by `&String`; it copies one only for a new server).
    fn try_take(&self, server: &str) -> bool {
        thread_local! {
            static KEY: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
        }
        let limiter = self.limiter.read().unwrap_or_else(|e| e.into_inner());
        KEY.with_borrow_mut(|key| {
            key.clear();
            key.push_str(server);
            limiter.check_key(key).is_ok()
        })
    }

    fn enqueue<'a>(&'a self, server: &'a str, urgency: Urgency) -> Ticket<'a> {
        let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        let number = queues.next_number;
        queues.next_number += 1;
        queues.by_server.entry(server.to_owned()).or_default()[urgency.index()].push_back(number);
        self.queued.fetch_add(1, Ordering::Relaxed);
        Ticket {
            budgets: self,
            server,
            urgency,
            number,
        }
    }

    /// True when anyone as urgent or more waits for `server` (so a newcomer
    /// queues behind them).
    fn outranked_or_queued(&self, server: &str, urgency: Urgency) -> bool {
        if self.queued.load(Ordering::Relaxed) == 0 {
            return false;
        }
        let queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        queues.by_server.get(server).is_some_and(|waiting| {
            waiting[urgency.index()..]
                .iter()
                .any(|same| !same.is_empty())
        })
    }

    /// True when a more urgent request waits for `server`, or one as urgent
    /// that came before ticket `number`.
    fn outranked(&self, server: &str, urgency: Urgency, number: u64) -> bool {
        let queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        queues.by_server.get(server).is_some_and(|waiting| {
            waiting[urgency.index()]
                .front()
                .is_some_and(|first| *first < number)
                || waiting[urgency.index() + 1..]
                    .iter()
                    .any(|more| !more.is_empty())
        })
    }

    /// Forgets servers whose budget is full again and back-offs long over,
    /// at most every [`SWEEP_EVERY`]: a forgotten server starts afresh with a
    /// full budget, which is what it had anyway.
    fn sweep_if_due(&self, now: Instant) {
        let since_created = micros(now.saturating_duration_since(self.created));
        if since_created < self.next_sweep_micros.load(Ordering::Relaxed) {
            return;
        }
        {
            // Whoever holds the lock sweeps, or has just checked; no one waits.
            let Ok(mut last) = self.last_sweep.try_lock() else {
                return;
            };
            if now.saturating_duration_since(*last) < SWEEP_EVERY {
                return;
            }
            *last = now;
            self.next_sweep_micros
                .store(since_created + micros(SWEEP_EVERY), Ordering::Relaxed);
        }
        self.sweep(now);
    }

    fn sweep(&self, now: Instant) {
        let limiter = Arc::clone(&self.limiter.read().unwrap_or_else(|e| e.into_inner()));
        limiter.retain_recent();
        limiter.shrink_to_fit();
        let mut table = self.backoff.lock().unwrap_or_else(|e| e.into_inner());
        // A streak is remembered for a while after its back-off ends, so that
        // a server that throttles again soon gets a longer back-off.
        table.retain(|_, b| b.until.is_some_and(|until| until + MAX_BACKOFF > now));
        table.shrink_to_fit();
        self.backoff_entries.store(table.len(), Ordering::Relaxed);
    }

    /// Servers with rate-limit state held (a budget not yet full again, or a
    /// back-off streak).
    pub fn tracked_servers(&self) -> usize {
        let limiter = Arc::clone(&self.limiter.read().unwrap_or_else(|e| e.into_inner()));
        let backoff = self.backoff.lock().unwrap_or_else(|e| e.into_inner());
        limiter.len() + backoff.len()
    }

    /// Requests that waited for a slot since start-up, and for how long.
    pub fn waits(&self) -> RateLimitWaits {
        RateLimitWaits {
            layer: self.kind,
            waits: self.waits.load(Ordering::Relaxed),
            waited: Duration::from_micros(self.waited_micros.load(Ordering::Relaxed)),
        }
    }

    /// Records that `server` throttled us. Honours `retry_after` when the server
    /// gave one; otherwise backs off exponentially (30 s doubling up to 15 min).
    pub fn back_off(&self, server: &str, retry_after: Option<Duration>) -> Duration {
        let mut table = self.backoff.lock().unwrap_or_else(|e| e.into_inner());
        let entry = table.entry(server.to_owned()).or_default();
        entry.strikes = entry.strikes.saturating_add(1);
        let exponential =
            crate::backoff::Backoff::new(INITIAL_BACKOFF, MAX_BACKOFF).delay_at(entry.strikes, 0.5);
        let wait = retry_after.map_or(exponential, |r| r.min(MAX_BACKOFF));
        entry.until = Some(Instant::now() + wait);
        self.backoff_entries.store(table.len(), Ordering::Relaxed);
        wait
    }

    /// Records a normal answer from `server`: the back-off streak ends.
    pub fn record_success(&self, server: &str) {
        if self.backoff_entries.load(Ordering::Relaxed) == 0 {
            return;
        }
        let mut table = self.backoff.lock().unwrap_or_else(|e| e.into_inner());
        table.remove(server);
        self.backoff_entries.store(table.len(), Ordering::Relaxed);
    }

    /// When the back-off of `server` ends, if it is backing off now.
    pub fn backing_off_until(&self, server: &str) -> Option<Instant> {
        if self.backoff_entries.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let table = self.backoff.lock().unwrap_or_else(|e| e.into_inner());
        table
            .get(server)
            .and_then(|b| b.until)
            .filter(|until| *until > Instant::now())
    }
}

/// A duration in whole microseconds (saturating).
fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// A governor quota of `limit.count × share` per `limit.per`, at least one
/// request per period, with a burst of the per-period count.
fn quota(limit: RateLimit, share: f64) -> Quota {
    let share = if share.is_finite() {
        share.clamp(0.0, 1.0)
    } else {
        1.0
    };
    // Truncation is intended: a share never rounds up past the global budget.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let scaled = (f64::from(limit.count.get()) * share).floor() as u32;
    let count = NonZeroU32::new(scaled).unwrap_or(NonZeroU32::MIN);
    let period = limit.per / count.get();
    Quota::with_period(period.max(Duration::from_nanos(1)))
        .unwrap_or_else(|| Quota::per_second(count))
        .allow_burst(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urgency_words_parse_back_and_are_the_serde_names() {
        crate::words::assert_words(&Urgency::ALL, Urgency::as_str);
        assert!(Urgency::ALL.windows(2).all(|w| w[0] < w[1]));
    }

    #[tokio::test]
    async fn the_most_urgent_waiter_is_served_first() {
        let budgets = Arc::new(ServerBudgets::new(
            "whois",
            limit(1, Duration::from_secs(1)),
        ));
        budgets.acquire("a").await.unwrap();
        let order = Arc::new(Mutex::new(Vec::new()));
        let waiter = |urgency: Urgency| {
            let (budgets, order) = (Arc::clone(&budgets), Arc::clone(&order));
            tokio::spawn(with_urgency(urgency, async move {
                budgets.acquire("a").await.unwrap();
                order.lock().unwrap().push(urgency);
            }))
        };
        // Routine work queued first; the confirmation arrives later.
        let routine = [waiter(Urgency::Routine), waiter(Urgency::Routine)];
        tokio::time::sleep(Duration::from_millis(100)).await;
        let watched = waiter(Urgency::Watched);
        let confirming = waiter(Urgency::Confirming);
        // A priority name's drop, confirmed after an ordinary one's.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let confirming_watched = waiter(Urgency::ConfirmingWatched);
        for task in routine
            .into_iter()
            .chain([watched, confirming, confirming_watched])
        {
            task.await.unwrap();
        }
        let order = order.lock().unwrap().clone();
        assert_eq!(
            order[..3],
            [
                Urgency::ConfirmingWatched,
                Urgency::Confirming,
                Urgency::Watched
            ],
            "served in order {order:?}"
        );
        assert!(
            budgets.queues.lock().unwrap().by_server.is_empty(),
            "queues are emptied"
        );
    }

    // Multi-threaded, as the operator runs: waiters woken together are
    // not polled in the order they came.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn waiters_of_one_urgency_are_served_in_the_order_they_came() {
        // Drops confirmed one after another at a WHOIS budget of 5/s: each
        // waits for those ahead of it and no longer, not for whoever wins a
        // race when the token comes back.
        let budgets = Arc::new(ServerBudgets::new(
            "whois",
            limit(5, Duration::from_secs(1)),
        ));
        for _ in 0..5 {
            budgets.acquire("a").await.unwrap();
        }
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for i in 0..8 {
            let tickets = budgets.queues.lock().unwrap().next_number;
            let (waiter_budgets, waiter_order) = (Arc::clone(&budgets), Arc::clone(&order));
            tasks.push(tokio::spawn(with_urgency(
                Urgency::ConfirmingWatched,
                async move {
                    waiter_budgets.acquire("a").await.unwrap();
                    waiter_order.lock().unwrap().push(i);
                },
            )));
            // It came when it queued (or was served at once): a busy
            // machine must not reorder the arrivals themselves.
            for _ in 0..1000 {
                let queued = budgets.queues.lock().unwrap().next_number > tickets;
                if queued || order.lock().unwrap().contains(&i) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            // Arrivals spread over the refills, some just as a token comes.
            tokio::time::sleep(Duration::from_millis(if i % 2 == 0 { 7 } else { 199 })).await;
        }
        for task in tasks {
            task.await.unwrap();
        }
        let order = order.lock().unwrap().clone();
        assert_eq!(order, (0..8).collect::<Vec<_>>());
        assert!(budgets.queues.lock().unwrap().by_server.is_empty());
    }

    fn limit(count: u32, per: Duration) -> RateLimit {
        RateLimit {
            count: NonZeroU32::new(count).unwrap(),
            per,
        }
    }

    #[tokio::test]
    async fn budget_is_per_server_and_throttles_beyond_the_burst() {
        let budgets = ServerBudgets::new("whois", limit(2, Duration::from_secs(1)));
        let no_wait = Duration::from_millis(50);
        assert!(budgets.acquire("a").await.unwrap() < no_wait);
        assert!(budgets.acquire("a").await.unwrap() < no_wait);
        // Another server has its own bucket.
        assert!(budgets.acquire("b").await.unwrap() < no_wait);
        // The third request to `a` within the second waits for a token.
        let waited = budgets.acquire("a").await.unwrap();
        assert!(waited >= Duration::from_millis(400), "waited {waited:?}");
        let waits = budgets.waits();
        assert_eq!(waits.waits, 1, "only the third request waited");
        assert!(waits.waited >= Duration::from_millis(400), "{waits:?}");
    }

    #[tokio::test]
    async fn throttled_server_is_backed_off_and_recovers() {
        let budgets = ServerBudgets::new("rdap", limit(100, Duration::from_secs(1)));
        assert_eq!(
            budgets.back_off("r", Some(Duration::from_secs(60))),
            Duration::from_secs(60)
        );
        let refused = budgets.acquire("r").await.unwrap_err();
        assert_eq!(refused.remaining, Duration::from_secs(60));
        assert!(
            refused
                .to_string()
                .contains("backing off from rdap for another 1m")
        );
        assert!(
            budgets.acquire("other").await.is_ok(),
            "other servers are unaffected"
        );
        budgets.record_success("r");
        assert!(budgets.acquire("r").await.is_ok());
    }

    #[tokio::test]
    async fn servers_back_to_a_full_budget_are_forgotten() {
        // One request spends a host's budget for 2 s: far longer than the
        // 1,000 requests below take, even in a debug build on a busy machine.
        let budgets = ServerBudgets::new("web host", limit(1, Duration::from_secs(2)));
        for i in 0..1000 {
            budgets.acquire(&format!("host{i}.example")).await.unwrap();
        }
        budgets.acquire("busy.example").await.unwrap();
        budgets.back_off("throttling.example", Some(Duration::from_secs(60)));
        assert_eq!(budgets.tracked_servers(), 1002);
        // Within the period every bucket still remembers its request.
        budgets.sweep(Instant::now());
        assert_eq!(budgets.tracked_servers(), 1002);

        tokio::time::sleep(Duration::from_secs(4)).await;
        budgets.acquire("busy.example").await.unwrap();
        budgets.sweep(Instant::now());
        // The busy host and the back-off stay; the idle hosts are gone.
        assert_eq!(budgets.tracked_servers(), 2);
        assert!(budgets.backing_off_until("throttling.example").is_some());
        // The busy host's budget is still spent: forgetting changed nothing.
        assert!(
            tokio::time::timeout(Duration::from_millis(5), budgets.acquire("busy.example"))
                .await
                .is_err()
        );
        // Long after a back-off ends, its streak is forgotten too.
        budgets.sweep(Instant::now() + MAX_BACKOFF + Duration::from_secs(61));
        assert_eq!(budgets.backoff.lock().unwrap().len(), 0);
    }

    #[test]
    fn back_off_grows_exponentially_and_is_capped() {
        let budgets = ServerBudgets::new("whois", limit(1, Duration::from_secs(1)));
        let waits: Vec<_> = (0..8).map(|_| budgets.back_off("w", None)).collect();
        assert_eq!(waits[0], Duration::from_secs(30));
        assert_eq!(waits[1], Duration::from_secs(60));
        assert_eq!(waits[7], MAX_BACKOFF);
    }

    #[tokio::test]
    async fn resizing_the_share_resizes_the_budget() {
        let budgets = ServerBudgets::new("whois", limit(4, Duration::from_secs(1)));
        budgets.set_share(0.25);
        assert!(budgets.acquire("w").await.unwrap() < Duration::from_millis(50));
        let waited = budgets.acquire("w").await.unwrap();
        assert!(
            waited >= Duration::from_millis(500),
            "one request per second now: {waited:?}"
        );
    }

    #[test]
    fn a_replica_spends_only_its_share() {
        let full = quota(limit(100, Duration::from_secs(1)), 1.0);
        let third = quota(limit(100, Duration::from_secs(1)), 1.0 / 3.0);
        assert_eq!(full.burst_size().get(), 100);
        assert_eq!(third.burst_size().get(), 33);
        assert_eq!(
            quota(limit(1, Duration::from_secs(1)), 0.1)
                .burst_size()
                .get(),
            1
        );
    }
}
