//! The status writer: checks hand their status patches to it and go on; it
//! coalesces, orders and paces the writes to the API server.
//!
//! - **Newest state wins.** One pending patch per resource: a newer one is
//!   merged onto it (RFC 7386 merge of merge patches), so a resource checked
//!   twice while the API server is slow is written once, with both checks'
//!   fields. A resource is never written by two requests at once.
//! - **Transitions and notifications first.** Urgent patches (an
//!   availability change, a notification's outbox entry) are written before
//!   all others, however many wait; then a resource's first status (its first
//!   verdict), then routine ones (the facts backfill, a changed detail).
//! - **Paced.** At most `limit` writes are in flight; the limit grows by one
//!   after `limit` successes in a row and halves when the API server answers
//!   429 or 5xx (or cannot be reached), and the writer pauses for the
//!   server's `Retry-After` or an exponential back-off. The failed patch is
//!   kept (merged under anything newer) and written after the pause.
//! - **Checks first.** While checks are behind (due checks wait for a lane,
//!   as in a first pass of 10^5 domains, or the initial list still streams
//!   in), at most
//!   [`HELD_IN_FLIGHT_WHILE_BEHIND`] first-status or routine writes are in
//!   flight: on a
//!   small machine the API server spends more CPU on a status write (and
//!   the operator on its watch event) than the operator on a check, and
//!   detection must not wait for publishing. Urgent writes are not held.
//! - **Cheap.** A write is a JSON merge patch of `status` sent as bytes; the
//!   response body (the whole object, [`STATUS_WRITE_ACCEPT`]) is drained,
//!   never parsed. The writer's own [`client`] speaks HTTP/2 where the
//!   API server offers it: the writes in flight share one connection, which
//!   costs the API server and the operator less CPU per write than a TLS
//!   connection per write in flight (`bench/results/experiments/README.md`).
//!
//! A patch the API server refuses for good (the resource is gone, or the
//! patch is invalid) is dropped, logged and counted.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use http_body_util::BodyExt;
use kube::Client;
use serde_json::Value;
use tokio::{sync::oneshot, task::JoinSet};
use tracing::{debug, error, warn};

use crate::{
    backoff::Backoff,
    metrics::{
        Metrics,
        labels::{ReconcileErrorKind, ReconcileErrorLabels, WriteReasonLabels},
    },
    resource::WriteReason,
};

/// The most writes in flight at once.
pub const MAX_IN_FLIGHT: usize = 64;
/// Capacity (entries) below which the queue's map and lists are never shrunk.
const SHRINK_ABOVE: usize = 1024;
/// The `Accept` header of a status write: the object in JSON, as kube and
/// client-go ask. Asking for the metadata alone (`as=PartialObjectMetadata`,
/// as client-go's metadata client does) was measured and is not cheaper for
/// the API server: it converts a custom resource's `managedFields` to build
/// the metadata, which costs what encoding the object saves (4.47 against
/// 4.40 ms of API server CPU per patch in alternating pairs;
/// `bench/results/experiments/README.md`, 2026-12-03).
pub const STATUS_WRITE_ACCEPT: &str = "application/json";
/// Writes in flight when the writer starts.
const START_IN_FLIGHT: usize = 16;
/// First-status and routine writes in flight while checks are behind (see
/// the module docs): publishing goes on, slowly, and the first pass keeps
/// the CPU.
pub const HELD_IN_FLIGHT_WHILE_BEHIND: usize = 1;
/// Pause after a throttled or failed write: doubling up to 30 s.
const PAUSE: Backoff =
    Backoff::new(Duration::from_millis(200), Duration::from_secs(30)).with_jitter(0.2);

/// How soon a patch must be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Priority {
    /// Nothing a user waits for changed (a check result, the daily refresh).
    Routine,
    /// A resource's first verdict, without a notification: written before
    /// routine patches, held while checks are behind.
    First,
    /// An availability transition or a notification's outbox entry.
    Urgent,
}

/// Resolves to whether a submitted patch reached the API server: `true`
/// once written, `false` when it was refused for good (or the writer
/// stopped first). Cheap to clone.
pub type Written = futures::future::Shared<futures::future::BoxFuture<'static, bool>>;

/// Merges merge patch `newer` onto merge patch `older` (both RFC 7386): the
/// result applied to a document equals applying `older`, then `newer`.
pub fn merge_patches(older: &mut Value, newer: Value) {
    match (older, newer) {
        (Value::Object(old), Value::Object(new)) => {
            for (key, value) in new {
                match old.get_mut(&key) {
                    Some(slot @ Value::Object(_)) if value.is_object() => {
                        merge_patches(slot, value)
                    }
                    _ => {
                        old.insert(key, value);
                    }
                }
            }
        }
        (slot, newer) => *slot = newer,
    }
}

/// A merge patch as it waits: JSON, deflated (RFC 1951). During a first
/// pass of 10^5 domains most patches wait for the API server, and a status
/// patch of ~1 KB deflates to ~0.4 KB.
fn pack(patch: &Value) -> Box<[u8]> {
    let json = serde_json::to_vec(patch).unwrap_or_default();
    miniz_oxide::deflate::compress_to_vec(&json, 1).into()
}

/// The JSON of a [`pack`]ed patch.
fn unpack_bytes(packed: &[u8]) -> Vec<u8> {
    miniz_oxide::inflate::decompress_to_vec(packed).unwrap_or_default()
}

/// A [`pack`]ed patch.
fn unpack(packed: &[u8]) -> Value {
    serde_json::from_slice(&unpack_bytes(packed)).unwrap_or(Value::Null)
}

struct Pending {
    namespace: Arc<str>,
    name: Box<str>,
    /// The merge patch, [`pack`]ed.
    patch: Box<[u8]>,
    priority: Priority,
    reason: WriteReason,
    acks: Vec<oneshot::Sender<bool>>,
}

#[derive(Default)]
struct Queue {
    pending: HashMap<u128, Pending>,
    urgent: VecDeque<u128>,
    first: VecDeque<u128>,
    routine: VecDeque<u128>,
    in_flight: HashSet<u128>,
}

impl Queue {
    fn push(&mut self, uid: u128, priority: Priority, front: bool) {
        let queue = match priority {
            Priority::Urgent => &mut self.urgent,
            Priority::First => &mut self.first,
            Priority::Routine => &mut self.routine,
        };
        if front {
            queue.push_front(uid);
        } else {
            queue.push_back(uid);
        }
    }

    /// Adds `pending` for `uid`, merged under (`older = false`) or over an
    /// existing one.
    fn insert(&mut self, uid: u128, mut pending: Pending, front: bool) {
        match self.pending.get_mut(&uid) {
            Some(existing) => {
                let (older, newer) = if front {
                    (&pending.patch, &existing.patch)
                } else {
                    (&existing.patch, &pending.patch)
                };
                let mut merged = unpack(older);
                merge_patches(&mut merged, unpack(newer));
                existing.patch = pack(&merged);
                existing.acks.append(&mut pending.acks);
                if pending.priority > existing.priority {
                    existing.priority = pending.priority;
                    existing.reason = pending.reason;
                    self.push(uid, pending.priority, front);
                }
            }
            None => {
                let priority = pending.priority;
                self.pending.insert(uid, pending);
                if !self.in_flight.contains(&uid) {
                    self.push(uid, priority, front);
                }
            }
        }
    }

    /// The next patch to write: urgent first, then first statuses, then
    /// routine ones; the last two only when `unheld`. None for a resource
    /// with a write in flight (it is queued again when that write ends).
    fn next(&mut self, unheld: bool) -> Option<(u128, Pending)> {
        loop {
            let uid = match self.urgent.pop_front() {
                Some(uid) => uid,
                None if unheld => self
                    .first
                    .pop_front()
                    .or_else(|| self.routine.pop_front())?,
                None => return None,
            };
            if self.in_flight.contains(&uid) {
                continue;
            }
            if let Some(pending) = self.pending.remove(&uid) {
                self.in_flight.insert(uid);
                self.shrink();
                return Some((uid, pending));
            }
        }
    }

    /// Gives back what a drained backlog held: a first pass of 10^5 domains
    /// queues a patch for most of them, and the map and lists would keep that
    /// peak capacity for good. Shrinks to twice the length once a quarter is
    /// used, so draining rehashes O(peak) entries in all.
    fn shrink(&mut self) {
        let oversized = |len: usize, capacity: usize| capacity > SHRINK_ABOVE && len < capacity / 4;
        if oversized(self.pending.len(), self.pending.capacity()) {
            self.pending.shrink_to(2 * self.pending.len());
        }
        for list in [&mut self.urgent, &mut self.first, &mut self.routine] {
            if oversized(list.len(), list.capacity()) {
                list.shrink_to(2 * list.len());
            }
        }
    }

    /// A write failed and is tried again, merged under anything newer, at
    /// the head of its queue.
    fn retry(&mut self, uid: u128, pending: Pending) {
        self.in_flight.remove(&uid);
        self.insert(uid, pending, true);
        if let Some(priority) = self.pending.get(&uid).map(|p| p.priority) {
            self.push(uid, priority, true);
        }
    }

    /// A write ended: the resource's next patch, if any, may go.
    fn done(&mut self, uid: u128) {
        self.in_flight.remove(&uid);
        if let Some(pending) = self.pending.get(&uid) {
            let priority = pending.priority;
            self.push(uid, priority, true);
        }
    }
}

struct Inner {
    client: Client,
    metrics: Arc<Metrics>,
    queue: Mutex<Queue>,
    wake: tokio::sync::Notify,
    /// Whether checks are behind (see [`StatusWriter::set_checks_behind`]).
    checks_behind: AtomicBool,
}

/// The handle checks submit status patches to; cheap to clone.
#[derive(Clone)]
pub struct StatusWriter {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for StatusWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusWriter")
            .field("pending", &self.pending())
            .finish()
    }
}

/// How one write ended.
enum Outcome {
    Written,
    /// 429, 5xx or no answer: try again after a pause (`Retry-After`).
    Retry(String, Option<Duration>),
    /// Refused for good (404: the resource is gone; 4xx: an invalid patch).
    Refused(u16, String),
}

impl StatusWriter {
    /// A writer using `client`; [`StatusWriter::run`] does the writing.
    pub fn new(client: Client, metrics: Arc<Metrics>) -> Self {
        Self {
            inner: Arc::new(Inner {
                client,
                metrics,
                queue: Mutex::new(Queue::default()),
                wake: tokio::sync::Notify::new(),
                checks_behind: AtomicBool::new(false),
            }),
        }
    }

    /// Tells the writer whether due checks wait for a lane. While they do,
    /// first-status and routine writes go [`HELD_IN_FLIGHT_WHILE_BEHIND`] at a time; when
    /// they stop, the writer goes back to its full pace at once.
    pub fn set_checks_behind(&self, behind: bool) {
        let was = self.inner.checks_behind.swap(behind, Ordering::Relaxed);
        if was && !behind {
            self.inner.wake.notify_one();
        }
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.inner.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Patches waiting to be written.
    pub fn pending(&self) -> usize {
        self.queue().pending.len()
    }

    /// Whether `uid`'s first status ([`Priority::First`]) waits to be
    /// written (queued, not yet in flight).
    pub fn first_status_waiting(&self, uid: u128) -> bool {
        self.queue()
            .pending
            .get(&uid)
            .is_some_and(|p| p.priority == Priority::First)
    }

    /// Queues `patch` (a JSON merge patch of the object, `{"status": …}`) for
    /// the resource `uid` at `namespace/name`; `reason` labels the write in
    /// the `status_writes` metric. Never waits.
    pub fn submit(
        &self,
        uid: u128,
        namespace: &Arc<str>,
        name: &str,
        patch: &Value,
        priority: Priority,
        reason: WriteReason,
    ) -> Written {
        let (ack, written) = oneshot::channel();
        let pending = Pending {
            namespace: Arc::clone(namespace),
            name: name.into(),
            patch: pack(patch),
            priority,
            reason,
            acks: vec![ack],
        };
        self.queue().insert(uid, pending, false);
        self.inner.wake.notify_one();
        futures::FutureExt::shared(futures::FutureExt::boxed(async move {
            written.await.unwrap_or(false)
        }))
    }

    /// Writes until `stop`; what is pending then is written for at most
    /// `drain` more (a stopping replica loses nothing a check found).
    pub async fn run(self, stop: impl std::future::Future<Output = ()>, drain: Duration) {
        let mut limit = START_IN_FLIGHT;
        let mut held_in_flight = 0_usize;
        let mut successes = 0;
        let mut failures: u32 = 0;
        let mut paused_until: Option<tokio::time::Instant> = None;
        let mut writes: JoinSet<(u128, Pending, Outcome)> = JoinSet::new();
        let mut deadline: Option<tokio::time::Instant> = None;
        tokio::pin!(stop);
        loop {
            if paused_until.is_some_and(|t| t <= tokio::time::Instant::now()) {
                paused_until = None;
            }
            if paused_until.is_none() {
                let held_limit = if self.inner.checks_behind.load(Ordering::Relaxed) {
                    HELD_IN_FLIGHT_WHILE_BEHIND.min(limit)
                } else {
                    limit
                };
                while writes.len() < limit {
                    let unheld = held_in_flight < held_limit;
                    let Some((uid, pending)) = self.queue().next(unheld) else {
                        break;
                    };
                    if pending.priority != Priority::Urgent {
                        held_in_flight += 1;
                    }
                    let client = self.inner.client.clone();
                    writes.spawn(async move {
                        let outcome = write(&client, &pending).await;
                        (uid, pending, outcome)
                    });
                }
            }
            if let Some(end) = deadline
                && (tokio::time::Instant::now() >= end
                    || (writes.is_empty() && self.pending() == 0))
            {
                let left = self.pending() + writes.len();
                if left > 0 {
                    warn!(left, "stopping with status writes not done");
                }
                return;
            }
            let pause = async {
                match paused_until {
                    Some(t) => tokio::time::sleep_until(t).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = &mut stop, if deadline.is_none() => {
                    deadline = Some(tokio::time::Instant::now() + drain);
                }
                () = tokio::time::sleep_until(deadline.unwrap_or_else(tokio::time::Instant::now)), if deadline.is_some() => {}
                () = self.inner.wake.notified() => {}
                () = pause => {}
                Some(joined) = writes.join_next() => {
                    let Ok((uid, pending, outcome)) = joined else { continue };
                    if pending.priority != Priority::Urgent {
                        held_in_flight = held_in_flight.saturating_sub(1);
                    }
                    match outcome {
                        Outcome::Written => {
                            self.inner.metrics.status_writes.inc(WriteReasonLabels { reason: pending.reason });
                            for ack in pending.acks {
                                let _ = ack.send(true);
                            }
                            failures = 0;
                            successes += 1;
                            if successes >= limit {
                                limit = (limit + 1).min(MAX_IN_FLIGHT);
                                successes = 0;
                            }
                            self.queue().done(uid);
                        }
                        Outcome::Retry(error, retry_after) if paused_until.is_some() => {
                            // Another write of the same round was refused
                            // already: the pause is set, this one waits too.
                            let _ = (error, retry_after);
                            self.queue().retry(uid, pending);
                        }
                        Outcome::Retry(error, retry_after) => {
                            failures = failures.saturating_add(1);
                            successes = 0;
                            limit = (limit / 2).max(1);
                            let pause = Backoff::honouring(PAUSE.delay(failures), retry_after, Duration::from_secs(60));
                            self.inner.metrics.reconcile_errors.inc(ReconcileErrorLabels { kind: ReconcileErrorKind::WriteStatusRetry });
                            if failures == 1 || failures.is_power_of_two() {
                                warn!(resource = %format!("{}/{}", pending.namespace, pending.name), %error, in_flight = limit, pause = ?pause, "status write throttled or failed; pausing and retrying");
                            }
                            paused_until = Some(tokio::time::Instant::now() + pause);
                            self.queue().retry(uid, pending);
                        }
                        Outcome::Refused(code, error) => {
                            let resource = format!("{}/{}", pending.namespace, pending.name);
                            if code == 404 {
                                debug!(%resource, "status not written: the resource is gone");
                            } else {
                                self.inner.metrics.reconcile_errors.inc(ReconcileErrorLabels { kind: ReconcileErrorKind::WriteStatus });
                                // The operator cannot do its job for this
                                // domain (RBAC, admission, validation).
                                error!(%resource, status = code, %error, "status write refused by the API server");
                            }
                            for ack in pending.acks {
                                let _ = ack.send(false);
                            }
                            self.queue().done(uid);
                        }
                    }
                }
            }
        }
    }
}

/// The status writer's client: kube's base URI, authentication (tokens
/// re-read as they rotate) and extra headers over a hyper client whose TLS
/// offers HTTP/2 before HTTP/1.1 (ALPN `h2`, `http/1.1`; RFC 9113 §3.2).
/// Against an API server that accepts `h2` (kube-apiserver does, and
/// client-go uses it by default), all of the writer's [`MAX_IN_FLIGHT`]
/// requests share one connection instead of one TLS connection each.
/// There is no retry layer: the writer paces itself on 429/5xx.
///
/// A configuration that goes through a proxy gets kube's own client
/// (HTTP/1.1, without its retry layer), which knows proxies.
///
/// # Errors
/// What kube's client building returns: unreadable or invalid client
/// certificates, keys or tokens, or an invalid TLS server name.
pub fn client(config: &kube::Config) -> Result<Client, kube::Error> {
    use kube::client::ConfigExt;
    let mut config = config.clone();
    config.default_retry = false;
    if config.proxy_url.is_some() {
        return Client::try_from(config);
    }
    let mut tcp = hyper_util::client::legacy::connect::HttpConnector::new();
    tcp.enforce_http(false);
    tcp.set_nodelay(true);
    tcp.set_connect_timeout(config.connect_timeout);
    let tls = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config.rustls_client_config()?)
        .https_or_http();
    let tls = match &config.tls_server_name {
        Some(name) => {
            let name = rustls::pki_types::ServerName::try_from(name.clone()).map_err(|err| {
                kube::Error::Service(format!("invalid TLS server name {name:?}: {err}").into())
            })?;
            tls.with_server_name_resolver(hyper_rustls::FixedServerNameResolver::new(name))
        }
        None => tls,
    };
    let connector = tls.enable_all_versions().wrap_connector(tcp);
    // One connection carries every write: if it goes silent (a peer gone
    // without a FIN, a load balancer's failover), pings find out within 45 s
    // and the next write opens a new one, as client-go's HTTP/2 health
    // check does (a read-idle timeout of 30 s, a ping timeout of 15 s).
    let http = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .timer(hyper_util::rt::TokioTimer::new())
        .pool_timer(hyper_util::rt::TokioTimer::new())
        .http2_keep_alive_interval(Duration::from_secs(30))
        .http2_keep_alive_timeout(Duration::from_secs(15))
        .build(connector);
    let service = tower::ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .option_layer(config.auth_layer()?)
        .layer(config.extra_headers_layer()?)
        .map_err(tower::BoxError::from)
        .service(http);
    Ok(Client::new(service, config.default_namespace))
}

/// One merge patch of `/status`; the response body is drained, not parsed.
async fn write(client: &Client, pending: &Pending) -> Outcome {
    let url = format!(
        "/apis/{}/v1alpha1/namespaces/{}/monitoreddomains/{}/status?fieldManager={}",
        crate::resource::GROUP,
        pending.namespace,
        pending.name,
        super::FIELD_MANAGER
    );
    let request = match http::Request::patch(url)
        .header(http::header::CONTENT_TYPE, "application/merge-patch+json")
        .header(http::header::ACCEPT, STATUS_WRITE_ACCEPT)
        .body(kube::client::Body::from(unpack_bytes(&pending.patch)))
    {
        Ok(request) => request,
        Err(err) => return Outcome::Refused(0, err.to_string()),
    };
    let response = match tokio::time::timeout(Duration::from_secs(30), client.send(request)).await {
        Ok(Ok(response)) => response,
        Ok(Err(err)) => return Outcome::Retry(err.to_string(), None),
        Err(_) => return Outcome::Retry("no answer within 30 s".to_owned(), None),
    };
    let status = response.status();
    let retry_after = crate::net::retry_after(response.headers(), jiff::Timestamp::now());
    let body = response.into_body().collect().await.map(|b| b.to_bytes());
    if status.is_success() {
        return Outcome::Written;
    }
    // An error answer is a small `Status` object: its message is what the
    // log needs (e.g. which RBAC right is missing).
    let message = body
        .ok()
        .map(|b| {
            serde_json::from_slice::<Value>(&b)
                .ok()
                .and_then(|v| v["message"].as_str().map(str::to_owned))
                .unwrap_or_else(|| String::from_utf8_lossy(&b[..b.len().min(512)]).into_owned())
        })
        .unwrap_or_default();
    if status.as_u16() == 429 || status.is_server_error() {
        Outcome::Retry(format!("{status}: {message}"), retry_after)
    } else {
        Outcome::Refused(status.as_u16(), message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pending(patch: Value, priority: Priority) -> Pending {
        Pending {
            namespace: Arc::from("ns"),
            name: "n".into(),
            patch: pack(&patch),
            priority,
            reason: WriteReason::Change,
            acks: Vec::new(),
        }
    }

    fn patch_of(p: &Pending) -> Value {
        unpack(&p.patch)
    }

    #[test]
    fn merged_patches_apply_like_both_in_order() {
        let mut older = json!({"status": {"checks": {"rdap": {"result": "registered"}}, "confidence": 0.9, "predictedDropAt": "x"}});
        merge_patches(
            &mut older,
            json!({"status": {"checks": {"dns": {"result": "registered"}}, "confidence": 0.95, "predictedDropAt": null}}),
        );
        assert_eq!(
            older,
            json!({"status": {"checks": {"rdap": {"result": "registered"}, "dns": {"result": "registered"}}, "confidence": 0.95, "predictedDropAt": null}})
        );
    }

    #[test]
    fn urgent_patches_go_first_and_one_resource_is_never_written_twice_at_once() {
        let mut queue = Queue::default();
        for uid in 0..3 {
            queue.insert(
                uid,
                pending(json!({"status": {"n": uid}}), Priority::Routine),
                false,
            );
        }
        queue.insert(
            9,
            pending(json!({"status": {"n": 9}}), Priority::Urgent),
            false,
        );
        let (first, _) = queue.next(true).unwrap();
        assert_eq!(first, 9, "the transition is written first");
        let (second, _) = queue.next(true).unwrap();
        assert_eq!(second, 0);
        // A newer patch for the resource being written waits for that write.
        queue.insert(
            0,
            pending(json!({"status": {"n": 10}}), Priority::Routine),
            false,
        );
        let (third, _) = queue.next(true).unwrap();
        assert_eq!(third, 1);
        let (fourth, _) = queue.next(true).unwrap();
        assert_eq!(fourth, 2);
        assert!(queue.next(true).is_none(), "0 is in flight");
        queue.done(0);
        let (again, newest) = queue.next(true).unwrap();
        assert_eq!(
            (again, patch_of(&newest)),
            (0, json!({"status": {"n": 10}}))
        );
    }

    #[test]
    fn while_checks_are_behind_only_urgent_patches_are_taken_then_first_statuses_before_routine() {
        let mut queue = Queue::default();
        queue.insert(
            1,
            pending(json!({"status": {"n": 1}}), Priority::Routine),
            false,
        );
        queue.insert(
            2,
            pending(json!({"status": {"n": 2}}), Priority::Urgent),
            false,
        );
        queue.insert(
            3,
            pending(json!({"status": {"n": 3}}), Priority::First),
            false,
        );
        let (urgent, _) = queue.next(false).unwrap();
        assert_eq!(urgent, 2);
        assert!(
            queue.next(false).is_none(),
            "first statuses and routine patches wait while they are held"
        );
        let (first, _) = queue.next(true).unwrap();
        assert_eq!(first, 3, "a first status goes before a routine patch");
        let (routine, held) = queue.next(true).unwrap();
        assert_eq!((routine, patch_of(&held)), (1, json!({"status": {"n": 1}})));
    }

    #[test]
    fn a_drained_backlog_gives_its_memory_back() {
        let mut queue = Queue::default();
        let backlog = 20 * SHRINK_ABOVE as u128;
        for uid in 0..backlog {
            queue.insert(
                uid,
                pending(json!({"status": {}}), Priority::Routine),
                false,
            );
        }
        let peak = queue.pending.capacity();
        assert!(peak >= 20 * SHRINK_ABOVE);
        while let Some((uid, _)) = queue.next(true) {
            queue.done(uid);
        }
        assert!(queue.pending.is_empty());
        assert!(
            queue.pending.capacity() <= SHRINK_ABOVE,
            "{} of {peak} entries kept",
            queue.pending.capacity()
        );
        assert!(queue.routine.capacity() <= SHRINK_ABOVE);
        // A backlog below the floor is left alone (no churn when idle).
        for uid in 0..10 {
            queue.insert(
                uid,
                pending(json!({"status": {}}), Priority::Routine),
                false,
            );
        }
        let (uid, _) = queue.next(true).unwrap();
        queue.done(uid);
        assert!(queue.pending.capacity() >= 9);
    }

    #[test]
    fn a_failed_write_is_kept_under_the_newer_state() {
        let mut queue = Queue::default();
        queue.insert(
            1,
            pending(json!({"status": {"a": 1, "b": 1}}), Priority::Routine),
            false,
        );
        let (uid, failed) = queue.next(true).unwrap();
        queue.insert(
            1,
            pending(json!({"status": {"b": 2}}), Priority::Urgent),
            false,
        );
        queue.retry(uid, failed);
        let (_, retried) = queue.next(true).unwrap();
        assert_eq!(
            patch_of(&retried),
            json!({"status": {"a": 1, "b": 2}}),
            "newest wins"
        );
        assert_eq!(retried.priority, Priority::Urgent);
    }
}
