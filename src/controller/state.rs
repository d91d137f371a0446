//! The compact per-domain state and the check schedule.
//!
//! At 10^5–10^6 domains per replica, what the operator keeps per domain
//! decides its footprint. A watched object is decoded ([`super::watch`]),
//! folded into one [`DomainState`] of a few hundred bytes and dropped:
//!
//! - the identity: uid (16 bytes), namespace (shared by all its domains),
//!   name and domain;
//! - the spec the schedule needs: generation, priority, interval override,
//!   shard label;
//! - [`Published`]: what the status in the API server says, as far as the
//!   next status needs it (availability, confidence, times, conditions'
//!   status and transition time) and a digest of the rest (each check's
//!   visible result, the registration facts), so a check can tell whether
//!   anything visible changed without the status itself;
//! - [`DomainMemory`]: the schedule and the evidence kept between checks.
//!
//! [`Table`] holds the records in a slab indexed by uid, with one binary heap
//! of due times as the schedule (a stale heap entry is skipped by its stamp),
//! instead of kube-runtime's reflector store and scheduler, which keep a
//! whole object and three more copies of its name strings per domain.
//! Deleted resources and resources of lost shards are evicted (see
//! [`Table::delete`] and [`Table::end_relist`]).

use std::{
    cmp::Reverse,
    collections::{BTreeSet, BinaryHeap, HashMap, HashSet, VecDeque},
    hash::{Hash, Hasher},
    sync::Arc,
    time::Duration,
};

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use super::watch::WatchedDomain;
use crate::{
    check::CheckKind,
    domain_name::DomainName,
    health::HealthState,
    resource::HealthSpec,
    resource::{
        Availability, CheckOutcome, CheckRecord, MonitoredDomainStatus, NotificationState,
        Registration, StatusField, WriteReason,
    },
    schedule::{DomainTiming, SchedulePolicy},
    shard::SHARD_LABEL,
    verdict::Confirmed,
};

/// The checkers, in the order [`Published::checks`] keeps them.
pub const CHECK_KINDS: [CheckKind; 5] = [
    CheckKind::Dns,
    CheckKind::Http,
    CheckKind::Rdap,
    CheckKind::Registrar,
    CheckKind::Whois,
];

/// The condition types, in the order [`Published::conditions`] keeps them.
pub const CONDITION_TYPES: [&str; 2] = [super::status::READY, super::status::AVAILABLE];

const OUTCOMES: [CheckOutcome; 7] = [
    CheckOutcome::Registered,
    CheckOutcome::Available,
    CheckOutcome::Reserved,
    CheckOutcome::Inconclusive,
    CheckOutcome::RateLimited,
    CheckOutcome::Error,
    CheckOutcome::Skipped,
];

/// The visible part of one check record in one byte: 0 when there is none,
/// else `1 + 2 × outcome + error`. Which server answered, when, how fast and
/// in which words are not visible (see [`super::status`]).
fn seen_check(record: &CheckRecord) -> u8 {
    let outcome = OUTCOMES
        .iter()
        .position(|o| *o == record.result)
        .unwrap_or(0) as u8;
    1 + 2 * outcome + u8::from(record.error.is_some())
}

/// The outcome a [`seen_check`] byte records.
pub fn seen_outcome(seen: u8) -> Option<CheckOutcome> {
    (seen > 0).then(|| OUTCOMES[usize::from((seen - 1) / 2).min(OUTCOMES.len() - 1)])
}

fn digest(value: impl Hash) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    value.hash(&mut hasher);
    hasher.finish()
}

/// A set of names (name servers, statuses) as a digest: order, case and a
/// trailing dot do not count.
fn set_digest(names: &[String]) -> u64 {
    let mut set: Vec<String> = names
        .iter()
        .map(|n| n.trim_end_matches('.').to_ascii_lowercase())
        .collect();
    set.sort();
    set.dedup();
    digest(set)
}

fn seconds(t: &Time) -> i64 {
    t.0.as_second()
}

fn time_of(seconds: i64) -> Time {
    Time(Timestamp::from_second(seconds).unwrap_or(Timestamp::UNIX_EPOCH))
}

/// The registration facts a status shows, as digests and dates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RegistrationSeen {
    registrar: Option<u64>,
    /// `createdAt`, Unix seconds.
    pub created_at: Option<i64>,
    /// `expiresAt`, Unix seconds.
    pub expires_at: Option<i64>,
    statuses: Option<u64>,
    nameservers: Option<u64>,
}

impl RegistrationSeen {
    /// Whether a registry or registrar said anything (registrar, dates or
    /// statuses), beyond the name servers the DNS sees.
    pub fn has_registry_facts(&self) -> bool {
        self.registrar.is_some()
            || self.created_at.is_some()
            || self.expires_at.is_some()
            || self.statuses.is_some()
    }

    /// These facts updated with what `facts` says (a fact it does not
    /// mention stays, as in [`super::status`]'s merge).
    fn merged(mut self, facts: &Registration) -> Self {
        if let Some(registrar) = &facts.registrar {
            self.registrar = Some(digest(registrar));
        }
        if let Some(t) = &facts.created_at {
            self.created_at = Some(seconds(t));
        }
        if let Some(t) = &facts.expires_at {
            self.expires_at = Some(seconds(t));
        }
        if !facts.statuses.is_empty() {
            self.statuses = Some(set_digest(&facts.statuses));
        }
        if !facts.nameservers.is_empty() {
            self.nameservers = Some(set_digest(&facts.nameservers));
        }
        self
    }
}

/// A condition as a status shows it, without its message (which carries
/// check details that vary in wording only).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConditionSeen {
    /// 0 absent, 1 `True`, 2 `False`, 3 anything else.
    status: u8,
    reason: u64,
    /// `lastTransitionTime`, Unix seconds.
    last_transition: i64,
    observed_generation: Option<i64>,
}

impl ConditionSeen {
    fn of(condition: &Condition) -> Self {
        Self {
            status: match condition.status.as_str() {
                "True" => 1,
                "False" => 2,
                _ => 3,
            },
            reason: digest(&condition.reason),
            last_transition: seconds(&condition.last_transition_time),
            observed_generation: condition.observed_generation,
        }
    }
}

/// What the status in the API server says, as far as the next status and
/// the decision to write it need: values where the next status is built
/// from them, digests where only a change matters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Published {
    /// `availability`.
    pub availability: Availability,
    /// `confidence`.
    pub confidence: Option<f64>,
    /// `lastTransitionAt`, Unix seconds.
    pub last_transition_at: Option<i64>,
    /// `predictedDropAt`, Unix seconds.
    pub predicted_drop_at: Option<i64>,
    /// `observedGeneration`.
    pub observed_generation: Option<i64>,
    /// Digest of `domain`.
    pub(super) domain: Option<u64>,
    /// Each checker's visible result ([`seen_check`]), in [`CHECK_KINDS`] order.
    pub checks: [u8; 5],
    /// `registration`.
    pub registration: Option<RegistrationSeen>,
    /// The conditions, in [`CONDITION_TYPES`] order.
    pub(super) conditions: [ConditionSeen; 2],
    /// The notification outbox entry, kept whole (few domains have one).
    pub notification: Option<Box<NotificationState>>,
    /// `health` and the health conditions, kept whole (only domains in
    /// health mode have them).
    pub health: Option<Box<HealthState>>,
}

impl Published {
    /// The status fields that differ between `self` and `after`, by their
    /// names in the status (`availability`, `confidence`, `lastTransitionAt`,
    /// `predictedDropAt`, `observedGeneration`, `domain`, `checks`,
    /// `registration`, `conditions`, `notification`), in that order: what a
    /// write for a change changes, for its log line and the
    /// `domain_monitor.status.changes` metric.
    pub fn changed_fields(&self, after: &Self) -> Vec<StatusField> {
        let pairs = [
            (
                StatusField::Availability,
                self.availability == after.availability,
            ),
            (StatusField::Confidence, self.confidence == after.confidence),
            (
                StatusField::LastTransitionAt,
                self.last_transition_at == after.last_transition_at,
            ),
            (
                StatusField::PredictedDropAt,
                self.predicted_drop_at == after.predicted_drop_at,
            ),
            (
                StatusField::ObservedGeneration,
                self.observed_generation == after.observed_generation,
            ),
            (StatusField::Domain, self.domain == after.domain),
            (StatusField::Checks, self.checks == after.checks),
            (
                StatusField::Registration,
                self.registration == after.registration,
            ),
            (
                StatusField::Conditions,
                self.conditions == after.conditions
                    && self.health.as_ref().map(|h| &h.conditions)
                        == after.health.as_ref().map(|h| &h.conditions),
            ),
            (
                StatusField::Notification,
                self.notification == after.notification,
            ),
            (
                StatusField::Health,
                self.health.as_ref().map(|h| &h.status) == after.health.as_ref().map(|h| &h.status),
            ),
        ];
        pairs
            .into_iter()
            .filter(|(_, same)| !same)
            .map(|(field, _)| field)
            .collect()
    }

    /// Why a status that turns `self` into `after` is written, as the
    /// `reason` of the `domain_monitor.status.writes` metric: `first` (the
    /// resource had no verdict yet: its first publication), `facts` (the
    /// first registration facts of a resource whose availability did not
    /// change: the deep layers catching up after a first pass), otherwise
    /// `change`. `refresh`, `notification` and `invalid` are decided by the
    /// caller.
    pub fn write_reason(&self, after: &Self) -> WriteReason {
        if self.availability == Availability::Unknown && self.checks == [0; 5] {
            WriteReason::First
        } else if !self.registration.is_some_and(|r| r.has_registry_facts())
            && after.registration.is_some_and(|r| r.has_registry_facts())
            && self.availability == after.availability
        {
            WriteReason::Facts
        } else {
            WriteReason::Change
        }
    }

    /// What `status` shows.
    pub fn of(status: &MonitoredDomainStatus) -> Self {
        let mut checks = [0; 5];
        for (slot, kind) in checks.iter_mut().zip(CHECK_KINDS) {
            *slot = status.checks.get(kind.as_str()).map_or(0, seen_check);
        }
        let mut conditions = [ConditionSeen::default(); 2];
        for (slot, type_) in conditions.iter_mut().zip(CONDITION_TYPES) {
            if let Some(c) = status.conditions.iter().find(|c| c.type_ == type_) {
                *slot = ConditionSeen::of(c);
            }
        }
        Self {
            availability: status.availability,
            confidence: status.confidence,
            last_transition_at: status.last_transition_at.as_ref().map(seconds),
            predicted_drop_at: status.predicted_drop_at.as_ref().map(seconds),
            observed_generation: status.observed_generation,
            domain: status.domain.as_ref().map(digest),
            checks,
            registration: status
                .registration
                .as_ref()
                .map(|r| RegistrationSeen::default().merged(r)),
            conditions,
            notification: status.notification.clone().map(Box::new),
            health: HealthState::of(status.health.as_ref(), &status.conditions).map(Box::new),
        }
    }

    /// The status a check builds on ([`super::status::after_check`]): what
    /// is kept here, with no check records and no registration, so that the
    /// status built from it carries this check's records and facts only —
    /// exactly what a JSON merge patch must send ([`Published::patch`]).
    pub fn skeleton(&self) -> MonitoredDomainStatus {
        let conditions = self
            .conditions
            .iter()
            .zip(CONDITION_TYPES)
            .filter(|(c, _)| c.status != 0)
            .map(|(c, type_)| Condition {
                type_: type_.to_owned(),
                status: match c.status {
                    1 => "True",
                    2 => "False",
                    _ => "Unknown",
                }
                .to_owned(),
                reason: String::new(),
                message: String::new(),
                observed_generation: c.observed_generation,
                last_transition_time: time_of(c.last_transition),
            })
            .collect();
        MonitoredDomainStatus {
            availability: self.availability,
            confidence: self.confidence,
            last_transition_at: self.last_transition_at.map(time_of),
            predicted_drop_at: self.predicted_drop_at.map(time_of),
            observed_generation: self.observed_generation,
            notification: self.notification.as_deref().cloned(),
            conditions,
            ..MonitoredDomainStatus::default()
        }
    }

    /// What the status shows once `new` (built on [`Published::skeleton`])
    /// is merged into it. With `replace`, `new` replaces the status whole
    /// (the status of an invalid name).
    pub fn after(&self, new: &MonitoredDomainStatus, replace: bool) -> Self {
        let mut after = Self::of(new);
        if !replace {
            for (slot, old) in after.checks.iter_mut().zip(self.checks) {
                if *slot == 0 {
                    *slot = old;
                }
            }
            after.registration = match &new.registration {
                Some(facts) => Some(self.registration.unwrap_or_default().merged(facts)),
                None if new.availability == Availability::Available => None,
                None => self.registration,
            };
        }
        after
    }

    /// The JSON merge patch (RFC 7386) of the `status` that turns what this
    /// says into `new` merged (see [`Published::after`]): `new`'s fields, and
    /// `null` for what `new` removes (a registration, a drop prediction, the
    /// check records of an invalid name, optional fields of a record or of
    /// the notification that are gone).
    pub fn patch(&self, new: &MonitoredDomainStatus, replace: bool) -> serde_json::Value {
        use serde_json::Value;
        let mut status =
            serde_json::to_value(new).unwrap_or_else(|_| Value::Object(Default::default()));
        let Some(fields) = status.as_object_mut() else {
            return status;
        };
        let mut clear = |field: &str, had: bool| {
            if had && !fields.contains_key(field) {
                fields.insert(field.to_owned(), Value::Null);
            }
        };
        let registration_gone =
            new.registration.is_none() && (replace || new.availability == Availability::Available);
        clear(
            "registration",
            registration_gone && self.registration.is_some(),
        );
        clear("predictedDropAt", self.predicted_drop_at.is_some());
        clear("domain", self.domain.is_some());
        clear("confidence", self.confidence.is_some());
        clear("nextCheckAt", true);
        clear("health", self.health.is_some());
        if let (Some(old), Some(new)) = (&self.health, fields.get_mut("health")) {
            // A merge patch merges objects: what the new health view no
            // longer has must be removed explicitly.
            if let Ok(old) = serde_json::to_value(&old.status) {
                null_what_is_gone(&old, new);
            }
        }
        if let Some(Value::Object(checks)) = fields.get_mut("checks") {
            for record in checks.values_mut().filter_map(Value::as_object_mut) {
                for optional in ["detail", "error"] {
                    record.entry(optional).or_insert(Value::Null);
                }
            }
        }
        if replace {
            let checks = fields
                .entry("checks")
                .or_insert_with(|| Value::Object(Default::default()));
            if let Some(checks) = checks.as_object_mut() {
                for (kind, seen) in CHECK_KINDS.iter().zip(self.checks) {
                    if seen != 0 {
                        checks.entry(kind.as_str()).or_insert(Value::Null);
                    }
                }
            }
        }
        if let Some(notification) = fields.get_mut("notification") {
            clear_absent_notification_fields(notification);
        }
        serde_json::json!({ "status": status })
    }
}

/// Sets to `null` every field of `old` (recursively through objects) that
/// `new` lacks, so that a JSON merge patch of `new` removes them.
fn null_what_is_gone(old: &serde_json::Value, new: &mut serde_json::Value) {
    if let (Some(old), Some(new)) = (old.as_object(), new.as_object_mut()) {
        for (key, old_value) in old {
            match new.get_mut(key) {
                Some(new_value) => null_what_is_gone(old_value, new_value),
                None => {
                    new.insert(key.clone(), serde_json::Value::Null);
                }
            }
        }
    }
}

/// Sets the optional fields a notification entry (JSON) lacks to `null`, so
/// that a merge patch removes what an earlier attempt left (a last error, a
/// next attempt time).
pub fn clear_absent_notification_fields(notification: &mut serde_json::Value) {
    if let Some(fields) = notification.as_object_mut() {
        for optional in ["nextAttemptAt", "lastError", "deliveredAt"] {
            fields.entry(optional).or_insert(serde_json::Value::Null);
        }
    }
}

/// What the controller remembers about a domain between checks. A replica
/// without it (just started, or just took the shard over) starts from the
/// status: [`DomainMemory::from_status`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DomainMemory {
    /// When the next check is due; `None`: now.
    pub next_check_at: Option<Timestamp>,
    /// Checks in a row that ended in `Error` (the back-off).
    pub consecutive_errors: u32,
    /// When layer 2/3 last gave registration facts.
    pub facts_refreshed_at: Option<Timestamp>,
    /// The `metadata.generation` the last check saw.
    pub generation: Option<i64>,
    /// First answer of the registry's current run of "not in the registry
    /// database" (confirmation over time, see [`crate::verdict`]).
    pub registry_absent_since: Option<Timestamp>,
    /// The last confirmation of an `Available` reading by the deep layers.
    pub confirmed: Option<Confirmed>,
    /// When this replica last checked the domain (served by `/domains`).
    pub last_checked_at: Option<Timestamp>,
}

impl DomainMemory {
    /// What the status says about a domain's schedule and the age of its
    /// registration facts, so that a restart or a shard handover neither
    /// checks every domain at once nor asks RDAP for every domain's facts
    /// again. The next check is never later than an interval, as configured
    /// now, after the last one; without a last check it is due now.
    pub fn from_status(
        status: &MonitoredDomainStatus,
        schedule: &SchedulePolicy,
        timing: &DomainTiming,
        now: Timestamp,
    ) -> Self {
        let after = |t: Timestamp, d: Duration| {
            jiff::SignedDuration::try_from(d)
                .ok()
                .and_then(|d| t.checked_add(d).ok())
                .unwrap_or(Timestamp::MAX)
        };
        let next_check_at = status
            .last_checked_at
            .as_ref()
            .zip(status.next_check_at.as_ref())
            .map(|(last, next)| next.0.min(after(last.0, schedule.interval(timing, now))));
        // Facts come with a registered answer from RDAP or WHOIS.
        let facts_refreshed_at = status.registration.as_ref().and_then(|_| {
            [CheckKind::Rdap, CheckKind::Whois]
                .iter()
                .filter_map(|kind| status.checks.get(kind.as_str()))
                .filter(|record| record.result == CheckOutcome::Registered)
                .map(|record| record.checked_at.0)
                .max()
        });
        Self {
            next_check_at,
            consecutive_errors: u32::from(status.availability == Availability::Error),
            facts_refreshed_at,
            generation: status.observed_generation,
            // Not in the status: a restarted replica confirms a free name
            // once more before it trusts it.
            registry_absent_since: None,
            confirmed: None,
            last_checked_at: None,
        }
    }
}

/// Everything the operator keeps about one watched domain.
#[derive(Debug, Clone)]
pub struct DomainState {
    /// `metadata.uid` as a number (see [`uid_key`]).
    pub uid: u128,
    /// `metadata.namespace`, shared with the namespace's other domains.
    pub namespace: Arc<str>,
    /// `metadata.name`.
    pub name: Box<str>,
    /// `spec.domain` as written.
    pub domain: Box<str>,
    /// `metadata.generation`.
    pub generation: Option<i64>,
    /// `spec.priority`.
    pub priority: bool,
    /// `spec.checkInterval`, parsed.
    pub interval_override: Option<Duration>,
    /// The shard label, when it is a number.
    pub shard_label: Option<u32>,
    /// `spec.health`: boxed, since most domains are not in health mode.
    pub health: Option<Box<HealthSpec>>,
    /// What the status in the API server says.
    pub published: Published,
    /// When the status was last written (its `lastCheckedAt`), Unix seconds.
    pub written_at: Option<i64>,
    /// The schedule and the evidence kept between checks.
    pub memory: DomainMemory,
    /// Whether this replica has checked it since it took it.
    pub checked: bool,
    /// The relist epoch that last saw it ([`Table::end_relist`]).
    seen: u32,
    /// Bumped on every reschedule: older heap entries are stale.
    stamp: u32,
    /// A check is running for it.
    running: bool,
    /// The spec changed while a check ran: due again at once.
    dirty: bool,
    /// Queued for the deep lane's registration facts.
    facts_wanted: bool,
}

impl DomainState {
    /// What the schedule needs to know about this domain.
    pub fn timing(&self, consecutive_errors: u32) -> DomainTiming {
        DomainTiming {
            priority: self.priority,
            interval_override: self.interval_override,
            predicted_drop_at: self
                .published
                .predicted_drop_at
                .and_then(|s| Timestamp::from_second(s).ok()),
            consecutive_errors,
            health: self.health.is_some(),
        }
    }

    /// `namespace/name`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// A uid as a number: the 128 bits of a UUID (what the API server assigns),
/// or a 64-bit digest of anything else.
pub fn uid_key(uid: &str) -> u128 {
    let hex: String = uid.chars().filter(|c| *c != '-').collect();
    if hex.len() == 32
        && let Ok(n) = u128::from_str_radix(&hex, 16)
    {
        return n;
    }
    u128::from(digest(uid))
}

/// The UUID text of [`uid_key`]'s number (for idempotency keys and events).
pub fn uid_text(uid: u128) -> String {
    let hex = format!("{uid:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// A check to run: a copy of one record, taken out while the check runs.
pub type Job = DomainState;

/// The watched domains and their schedule.
#[derive(Debug, Default)]
pub struct Table {
    slots: Vec<Option<DomainState>>,
    free: Vec<u32>,
    index: HashMap<u128, u32>,
    /// (digest of the domain's A-label, slot) of every record whose domain
    /// is a valid name: `/domain/{d}` finds its record(s) without a scan.
    /// A set of pairs, as two resources may name the same domain; 16 bytes
    /// a domain and no string copy.
    by_domain: BTreeSet<(u64, u32)>,
    /// (due, Unix milliseconds; slot; stamp), earliest first.
    queue: BinaryHeap<Reverse<(i64, u32, u32)>>,
    namespaces: HashSet<Arc<str>>,
    epoch: u32,
    relisting: bool,
    synced: bool,
    /// Records with `checked` false, kept as they change (the dispatcher
    /// asks at every round).
    unchecked: usize,
}

/// The [`Table`] index key of a domain as written: the digest of its
/// A-label, `None` for an invalid name (nobody can ask for one).
fn domain_key(domain: &str) -> Option<u64> {
    DomainName::parse(domain)
        .ok()
        .map(|name| digest(name.as_str()))
}

/// Milliseconds since the Unix epoch.
pub fn millis(t: Timestamp) -> i64 {
    t.as_millisecond()
}

impl Table {
    /// The number of domains held.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether no domain is held.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Whether the first list of the current watch has been applied.
    pub fn synced(&self) -> bool {
        self.synced
    }

    /// Every record, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &DomainState> {
        self.slots.iter().flatten()
    }

    /// The records whose domain is `domain` (usually one), found by index.
    pub fn by_domain(&self, domain: &DomainName) -> impl Iterator<Item = &DomainState> {
        let key = digest(domain.as_str());
        self.by_domain
            .range((key, 0)..=(key, u32::MAX))
            .filter_map(|(_, slot)| self.slots[*slot as usize].as_ref())
            // A digest collision is possible, if unlikely: compare the names.
            .filter(move |record| {
                DomainName::parse(&record.domain).is_ok_and(|name| name == *domain)
            })
    }

    /// Entries in the schedule (live and stale), for tests and metrics.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// A (re)list begins: records it does not see again are evicted at
    /// [`Table::end_relist`].
    pub fn begin_relist(&mut self) {
        self.epoch = self.epoch.wrapping_add(1);
        self.relisting = true;
    }

    /// The (re)list is complete: evicts what it did not see (deleted while
    /// the watch was down, or in a shard this replica no longer holds).
    /// Returns how many were evicted.
    pub fn end_relist(&mut self) -> usize {
        self.relisting = false;
        self.synced = true;
        let stale: Vec<u128> = self
            .iter()
            .filter(|d| d.seen != self.epoch)
            .map(|d| d.uid)
            .collect();
        for uid in &stale {
            self.delete(*uid);
        }
        stale.len()
    }

    /// Marks the table unsynced (the watch restarts for other shards).
    pub fn unsync(&mut self) {
        self.synced = false;
    }

    /// Applies a watched object: a new domain is seeded from its status and
    /// scheduled; a known one takes the new spec (a new generation makes it
    /// due now). Returns whether it was new.
    pub fn apply(
        &mut self,
        object: &WatchedDomain,
        schedule: &SchedulePolicy,
        now: Timestamp,
    ) -> bool {
        let uid = uid_key(object.metadata.uid.as_deref().unwrap_or_default());
        let generation = object.metadata.generation;
        let shard_label = object
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(SHARD_LABEL))
            .and_then(|l| l.parse().ok());
        let interval_override = object
            .spec
            .check_interval
            .as_deref()
            .and_then(|i| crate::config::parse_duration(i).ok());
        let epoch = self.epoch;
        if let Some(&slot) = self.index.get(&uid) {
            let Some(record) = self.slots[slot as usize].as_mut() else {
                return false;
            };
            record.seen = epoch;
            let spec_changed = record.generation != generation
                || record.shard_label != shard_label
                || *record.domain != *object.spec.domain;
            record.generation = generation;
            record.priority = object.spec.priority;
            record.interval_override = interval_override;
            record.shard_label = shard_label;
            if record.health.as_deref() != object.spec.health.as_ref() {
                record.health = object.spec.health.clone().map(Box::new);
            }
            if *record.domain != *object.spec.domain {
                if let Some(old) = domain_key(&record.domain) {
                    self.by_domain.remove(&(old, slot));
                }
                if let Some(new) = domain_key(&object.spec.domain) {
                    self.by_domain.insert((new, slot));
                }
                record.domain = object.spec.domain.as_str().into();
            }
            if spec_changed {
                if record.running {
                    record.dirty = true;
                } else {
                    self.schedule(slot, now);
                }
            }
            return false;
        }
        let namespace = object.metadata.namespace.as_deref().unwrap_or_default();
        let namespace = match self.namespaces.get(namespace) {
            Some(shared) => Arc::clone(shared),
            None => {
                let shared: Arc<str> = Arc::from(namespace);
                self.namespaces.insert(Arc::clone(&shared));
                shared
            }
        };
        let mut record = DomainState {
            uid,
            namespace,
            name: object.metadata.name.as_deref().unwrap_or_default().into(),
            domain: object.spec.domain.as_str().into(),
            generation,
            priority: object.spec.priority,
            interval_override,
            shard_label,
            health: object.spec.health.clone().map(Box::new),
            published: Published::default(),
            written_at: None,
            memory: DomainMemory::default(),
            checked: false,
            seen: epoch,
            stamp: 0,
            running: false,
            dirty: false,
            facts_wanted: false,
        };
        if let Some(status) = &object.status {
            record.published = Published::of(status);
            record.written_at = status.last_checked_at.as_ref().map(seconds);
            let timing = record.timing(0);
            record.memory = DomainMemory::from_status(status, schedule, &timing, now);
        }
        // Priority domains first in a start-up burst.
        let due = record.memory.next_check_at.unwrap_or(now);
        let due = if record.priority && due <= now {
            millis(due) - 1
        } else {
            millis(due)
        };
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Some(record);
                slot
            }
            None => {
                self.slots.push(Some(record));
                (self.slots.len() - 1) as u32
            }
        };
        self.index.insert(uid, slot);
        if let Some(key) = domain_key(&object.spec.domain) {
            self.by_domain.insert((key, slot));
        }
        self.queue.push(Reverse((due, slot, 0)));
        self.unchecked += 1;
        true
    }

    /// Forgets a deleted resource (or one that left this replica's shards).
    pub fn delete(&mut self, uid: u128) -> bool {
        let Some(slot) = self.index.remove(&uid) else {
            return false;
        };
        if let Some(record) = self.slots[slot as usize].take() {
            if let Some(key) = domain_key(&record.domain) {
                self.by_domain.remove(&(key, slot));
            }
            if !record.checked {
                self.unchecked -= 1;
            }
            if std::sync::Arc::strong_count(&record.namespace) <= 2 {
                // The table's own entry and this record: the namespace is gone.
                self.namespaces.remove(&record.namespace);
            }
        }
        self.free.push(slot);
        self.compact_queue();
        true
    }

    /// Drops stale schedule entries once they outnumber live ones.
    fn compact_queue(&mut self) {
        if self.queue.len() > 1024 && self.queue.len() > 2 * self.index.len() {
            let live: Vec<_> = std::mem::take(&mut self.queue)
                .into_iter()
                .filter(|Reverse((_, slot, stamp))| {
                    self.slots[*slot as usize]
                        .as_ref()
                        .is_some_and(|r| r.stamp == *stamp && !r.running)
                })
                .collect();
            self.queue = live.into();
        }
    }

    fn schedule(&mut self, slot: u32, at: Timestamp) {
        if let Some(record) = self.slots[slot as usize].as_mut() {
            record.stamp = record.stamp.wrapping_add(1);
            self.queue.push(Reverse((millis(at), slot, record.stamp)));
        }
    }

    /// When the earliest scheduled check is due (Unix milliseconds).
    pub fn next_due(&mut self) -> Option<i64> {
        while let Some(Reverse((due, slot, stamp))) = self.queue.peek().copied() {
            let live = self.slots[slot as usize]
                .as_ref()
                .is_some_and(|r| r.stamp == stamp && !r.running);
            if live {
                return Some(due);
            }
            self.queue.pop();
        }
        None
    }

    /// Takes the earliest check due by `now` (Unix milliseconds): the record
    /// is copied out and marked running until [`Table::finish`].
    pub fn take_due(&mut self, now: i64) -> Option<Job> {
        let due = self.next_due()?;
        if due > now {
            return None;
        }
        let Reverse((_, slot, _)) = self.queue.pop()?;
        let record = self.slots[slot as usize].as_mut()?;
        record.running = true;
        Some(record.clone())
    }

    /// Takes `uid`'s record for a check out of turn (the deep lane), unless
    /// a check of it is running.
    pub fn take(&mut self, uid: u128) -> Option<Job> {
        let slot = *self.index.get(&uid)?;
        let record = self.slots[slot as usize].as_mut()?;
        if record.running {
            return None;
        }
        record.running = true;
        record.facts_wanted = false;
        Some(record.clone())
    }

    /// Marks `uid` as wanting registration facts; `true` when it was not
    /// marked already (so it is queued once).
    pub fn want_facts(&mut self, uid: u128) -> bool {
        let Some(&slot) = self.index.get(&uid) else {
            return false;
        };
        match self.slots[slot as usize].as_mut() {
            Some(record) if !record.facts_wanted => {
                record.facts_wanted = true;
                true
            }
            _ => false,
        }
    }

    /// Puts a check taken with [`Table::take_due`] back unrun, due at `at`
    /// (which `/domains` then shows as its next check). A record changed
    /// meanwhile (its spec) is due at once.
    pub fn defer(&mut self, uid: u128, at: Timestamp) {
        if let Some(&slot) = self.index.get(&uid) {
            let Some(record) = self.slots[slot as usize].as_mut() else {
                return;
            };
            record.running = false;
            let at = if std::mem::take(&mut record.dirty) {
                Timestamp::now()
            } else {
                at
            };
            record.memory.next_check_at = Some(at);
            self.schedule(slot, at);
        }
    }

    /// Records a finished check: the status as now published, the memory and
    /// the next due time. A record deleted (or replaced) meanwhile is left
    /// alone; one whose spec changed meanwhile is due at once.
    pub fn finish(
        &mut self,
        uid: u128,
        published: Option<(Published, Option<i64>)>,
        memory: DomainMemory,
        next: Timestamp,
        checked: bool,
    ) {
        let Some(&slot) = self.index.get(&uid) else {
            return;
        };
        let Some(record) = self.slots[slot as usize].as_mut() else {
            return;
        };
        record.running = false;
        if let Some((published, written_at)) = published {
            record.published = published;
            if written_at.is_some() {
                record.written_at = written_at;
            }
        }
        record.memory = memory;
        if checked && !record.checked {
            record.checked = true;
            self.unchecked -= 1;
        }
        let at = if std::mem::take(&mut record.dirty) {
            Timestamp::now()
        } else {
            next
        };
        self.schedule(slot, at);
    }

    /// The record of `uid`.
    pub fn get(&self, uid: u128) -> Option<&DomainState> {
        let slot = *self.index.get(&uid)?;
        self.slots[slot as usize].as_ref()
    }

    /// Changes a record in place (e.g. a notification delivered).
    pub fn update(&mut self, uid: u128, change: impl FnOnce(&mut DomainState)) {
        if let Some(&slot) = self.index.get(&uid)
            && let Some(record) = self.slots[slot as usize].as_mut()
        {
            change(record);
        }
    }

    /// Domains not checked by this replica yet.
    pub fn unchecked(&self) -> usize {
        debug_assert_eq!(self.unchecked, self.iter().filter(|d| !d.checked).count());
        self.unchecked
    }
}

/// Queue of checks waiting for a lane (see [`super::runtime`]).
pub type Waiting = VecDeque<Job>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::MonitoredDomainSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn object(uid: &str, name: &str, generation: i64) -> WatchedDomain {
        WatchedDomain {
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
                namespace: Some("watch".to_owned()),
                uid: Some(uid.to_owned()),
                generation: Some(generation),
                ..ObjectMeta::default()
            },
            spec: MonitoredDomainSpec {
                domain: format!("{name}.com"),
                priority: false,
                check_interval: None,
                health: None,
            },
            status: None,
        }
    }

    #[test]
    fn uids_round_trip_as_numbers() {
        let uid = "0b0c3f5e-7a1d-4c59-9a57-3f1f5b8b7c21";
        assert_eq!(uid_text(uid_key(uid)), uid);
        assert_ne!(uid_key("not-a-uuid"), uid_key("not-a-uuid-2"));
    }

    #[test]
    fn the_schedule_serves_due_checks_in_order_and_skips_stale_entries() {
        let now = Timestamp::now();
        let policy = SchedulePolicy::default();
        let mut table = Table::default();
        table.begin_relist();
        for i in 0..3 {
            table.apply(
                &object(&format!("uid-{i}"), &format!("d{i}"), 1),
                &policy,
                now,
            );
        }
        assert_eq!(table.end_relist(), 0);
        let first = table.take_due(millis(now)).expect("due now");
        assert_eq!(&*first.name, "d0");
        // Finished: due again in a minute, not now.
        table.finish(
            first.uid,
            None,
            DomainMemory {
                generation: Some(1),
                ..DomainMemory::default()
            },
            now + jiff::SignedDuration::from_mins(1),
            true,
        );
        let names: Vec<_> = std::iter::from_fn(|| table.take_due(millis(now)))
            .map(|j| j.name.to_string())
            .collect();
        assert_eq!(names, ["d1", "d2"]);
        assert_eq!(table.unchecked(), 2);
        // A spec change makes d0 due at once; its old entry is stale.
        table.apply(&object("uid-0", "d0", 2), &policy, now);
        assert_eq!(
            table.take_due(millis(now)).map(|j| j.name.to_string()),
            Some("d0".to_owned())
        );
        assert!(
            table.take_due(millis(now) + 120_000).is_none(),
            "the minute-later entry is stale"
        );
    }

    #[test]
    fn a_deferred_check_is_due_later_unless_its_spec_changed() {
        let policy = SchedulePolicy::default();
        let now = Timestamp::now();
        let later = now + jiff::SignedDuration::from_secs(60);
        let mut table = Table::default();
        table.begin_relist();
        table.apply(&object("uid-0", "d0", 1), &policy, now);
        table.end_relist();
        let job = table.take_due(millis(now)).expect("due now");
        assert_eq!(table.next_due(), None, "running: not due");
        table.defer(job.uid, later);
        assert_eq!(table.next_due(), Some(millis(later)));
        assert_eq!(
            table.get(job.uid).and_then(|r| r.memory.next_check_at),
            Some(later),
            "/domains shows when it is due"
        );
        assert_eq!(table.unchecked(), 1, "deferred is not checked");
        // Its spec changes while it is taken: the deferral does not hold.
        let job = table.take_due(millis(later)).expect("due then");
        table.apply(&object("uid-0", "d0", 2), &policy, now);
        table.defer(job.uid, later + jiff::SignedDuration::from_secs(60));
        assert!(table.take_due(millis(Timestamp::now())).is_some());
    }

    #[test]
    fn a_relist_evicts_what_it_no_longer_sees() {
        let now = Timestamp::now();
        let policy = SchedulePolicy::default();
        let mut table = Table::default();
        table.begin_relist();
        for i in 0..10 {
            table.apply(
                &object(&format!("uid-{i}"), &format!("d{i}"), 1),
                &policy,
                now,
            );
        }
        table.end_relist();
        assert_eq!(table.len(), 10);
        assert!(table.delete(uid_key("uid-3")));
        table.begin_relist();
        for i in [0, 1, 2, 4] {
            table.apply(
                &object(&format!("uid-{i}"), &format!("d{i}"), 1),
                &policy,
                now,
            );
        }
        assert_eq!(table.end_relist(), 5, "uid-5..9 are gone");
        assert_eq!(table.len(), 4);
        assert_eq!(table.iter().count(), 4);
    }

    #[test]
    fn the_domain_index_follows_applies_renames_and_deletes() {
        let now = Timestamp::now();
        let policy = SchedulePolicy::default();
        let mut table = Table::default();
        let names = |table: &Table, domain: &str| -> Vec<String> {
            let domain = DomainName::parse(domain).unwrap();
            let mut names: Vec<String> = table.by_domain(&domain).map(DomainState::key).collect();
            names.sort();
            names
        };
        table.apply(&object("uid-a", "a", 1), &policy, now);
        // The same domain in another resource, written in capitals.
        let mut twin = object("uid-b", "b", 1);
        twin.spec.domain = "A.COM.".to_owned();
        table.apply(&twin, &policy, now);
        let mut invalid = object("uid-c", "c", 1);
        invalid.spec.domain = "not a domain".to_owned();
        table.apply(&invalid, &policy, now);
        assert_eq!(names(&table, "a.com"), ["watch/a", "watch/b"]);
        assert!(names(&table, "c.com").is_empty());
        assert_eq!(table.by_domain.len(), 2, "invalid names are not indexed");

        // A new spec.domain moves the entry.
        let mut renamed = object("uid-b", "b", 2);
        renamed.spec.domain = "b.com".to_owned();
        table.apply(&renamed, &policy, now);
        assert_eq!(names(&table, "a.com"), ["watch/a"]);
        assert_eq!(names(&table, "b.com"), ["watch/b"]);

        // A deleted record leaves the index, and its reused slot is found
        // under the new record's domain only.
        assert!(table.delete(uid_key("uid-a")));
        assert!(names(&table, "a.com").is_empty());
        table.apply(&object("uid-d", "d", 1), &policy, now);
        assert!(names(&table, "a.com").is_empty());
        assert_eq!(names(&table, "d.com"), ["watch/d"]);
        assert_eq!(table.by_domain.len(), 2);
    }

    fn minutes(n: i64) -> jiff::SignedDuration {
        jiff::SignedDuration::from_mins(n)
    }

    fn record(result: CheckOutcome, at: Timestamp) -> crate::resource::CheckRecord {
        crate::resource::CheckRecord {
            result,
            checked_at: crate::resource::time(at),
            duration_ms: 40,
            detail: None,
            error: None,
        }
    }

    /// A registered domain checked 10 minutes ago, next due in 50.
    fn checked(now: Timestamp) -> MonitoredDomainStatus {
        let last = now - minutes(10);
        MonitoredDomainStatus {
            availability: Availability::Registered,
            last_checked_at: Some(crate::resource::time(last)),
            next_check_at: Some(crate::resource::time(now + minutes(50))),
            registration: Some(crate::resource::Registration::default()),
            checks: [
                ("dns".to_owned(), record(CheckOutcome::Registered, last)),
                ("rdap".to_owned(), record(CheckOutcome::Registered, last)),
            ]
            .into(),
            observed_generation: Some(3),
            ..MonitoredDomainStatus::default()
        }
    }

    #[test]
    fn a_replica_without_memory_keeps_the_schedule_and_the_facts_of_the_status() {
        let now = crate::resource::time(Timestamp::now()).0;
        let policy = SchedulePolicy::default();
        let timing = DomainTiming::default();
        let memory = DomainMemory::from_status(&checked(now), &policy, &timing, now);
        assert_eq!(
            memory,
            DomainMemory {
                next_check_at: Some(now + minutes(50)),
                consecutive_errors: 0,
                facts_refreshed_at: Some(now - minutes(10)),
                generation: Some(3),
                registry_absent_since: None,
                confirmed: None,
                last_checked_at: None,
            }
        );

        // The interval was shortened since: an interval after the last check.
        let mut long = checked(now);
        long.next_check_at = Some(crate::resource::time(now + minutes(600)));
        let memory = DomainMemory::from_status(&long, &policy, &timing, now);
        assert_eq!(memory.next_check_at, Some(now + minutes(50)));
        let priority = DomainTiming {
            priority: true,
            ..DomainTiming::default()
        };
        let memory = DomainMemory::from_status(&long, &policy, &priority, now);
        assert_eq!(memory.next_check_at, Some(now - minutes(5)), "due now");

        // Never checked: due now. Failing: the back-off goes on.
        let mut fresh = checked(now);
        fresh.last_checked_at = None;
        fresh.availability = Availability::Error;
        let memory = DomainMemory::from_status(&fresh, &policy, &timing, now);
        assert_eq!(memory.next_check_at, None);
        assert_eq!(memory.consecutive_errors, 1);
    }

    #[test]
    fn a_write_says_which_fields_changed_and_why() {
        let now = crate::resource::time(Timestamp::now()).0;
        let blank = Published::default();
        let mut without_facts = checked(now);
        // The DNS's name servers are not registry facts.
        without_facts.registration = Some(crate::resource::Registration {
            nameservers: vec!["ns1.example.net".to_owned()],
            ..crate::resource::Registration::default()
        });
        let first = Published::of(&without_facts);
        assert_eq!(blank.write_reason(&first), WriteReason::First);
        assert_eq!(
            blank.changed_fields(&first),
            [
                StatusField::Availability,
                StatusField::ObservedGeneration,
                StatusField::Checks,
                StatusField::Registration
            ]
        );

        // The deep layers catch up: registration facts, nothing else.
        let mut with_facts = without_facts.clone();
        with_facts.registration = Some(crate::resource::Registration {
            registrar: Some("Example Registrar".to_owned()),
            nameservers: vec!["ns1.example.net".to_owned()],
            ..crate::resource::Registration::default()
        });
        let facts = first.after(&with_facts, false);
        assert_eq!(first.changed_fields(&facts), [StatusField::Registration]);
        assert_eq!(first.write_reason(&facts), WriteReason::Facts);

        // Facts that change the verdict are a change; so are later facts.
        let mut dropped = with_facts.clone();
        dropped.availability = Availability::Expiring;
        assert_eq!(
            first.write_reason(&first.after(&dropped, false)),
            WriteReason::Change
        );
        let mut renewed = with_facts;
        renewed.registration = Some(crate::resource::Registration {
            registrar: Some("Another Registrar".to_owned()),
            ..crate::resource::Registration::default()
        });
        let renewed = facts.after(&renewed, false);
        assert_eq!(facts.changed_fields(&renewed), [StatusField::Registration]);
        assert_eq!(facts.write_reason(&renewed), WriteReason::Change);
        assert!(facts.changed_fields(&facts).is_empty());
    }

    #[test]
    fn a_patch_removes_what_health_mode_no_longer_shows() {
        use crate::resource::health::{DelegationView, HealthStatus, LockView};
        let now = crate::resource::time(Timestamp::now()).0;
        let mut before = checked(now);
        before.health = Some(HealthStatus {
            lock: Some(LockView {
                locked: false,
                missing: vec!["serverTransferProhibited".to_owned()],
                client: vec![],
            }),
            delegation: Some(DelegationView::default()),
            ..HealthStatus::default()
        });
        let healthy = Condition {
            type_: crate::health::HEALTHY.to_owned(),
            status: "False".to_owned(),
            reason: "NotLocked".to_owned(),
            message: "no registry lock".to_owned(),
            observed_generation: Some(3),
            last_transition_time: crate::resource::time(now),
        };
        before.conditions.push(healthy.clone());
        let published = Published::of(&before);
        assert_eq!(
            published.health.as_ref().map(|h| h.conditions.clone()),
            Some(vec![healthy.clone()])
        );

        // Locked now, the delegation view gone: both are removed by the patch.
        let mut after = checked(now);
        after.health = Some(HealthStatus {
            lock: Some(LockView {
                locked: true,
                ..LockView::default()
            }),
            ..HealthStatus::default()
        });
        after.conditions.push(Condition {
            status: "True".to_owned(),
            ..healthy
        });
        let patch = published.patch(&after, false);
        assert_eq!(
            patch["status"]["health"],
            serde_json::json!({"lock": {"locked": true, "missing": null}, "delegation": null})
        );
        let next = published.after(&after, false);
        assert_eq!(
            published.changed_fields(&next),
            [StatusField::Conditions, StatusField::Health]
        );

        // Health mode switched off: status.health goes, and with it the
        // health conditions (the list is replaced whole).
        let off = checked(now);
        let patch = published.patch(&off, false);
        assert_eq!(
            patch["status"].get("health"),
            Some(&serde_json::Value::Null),
            "health removed"
        );
        assert!(published.after(&off, false).health.is_none());
    }

    #[test]
    fn facts_are_as_old_as_the_last_registered_rdap_or_whois_answer() {
        let now = crate::resource::time(Timestamp::now()).0;
        let policy = SchedulePolicy::default();
        let timing = DomainTiming::default();
        let mut status = checked(now);
        status.checks.insert(
            "whois".to_owned(),
            record(CheckOutcome::Registered, now - minutes(2)),
        );
        status.checks.insert(
            "rdap".to_owned(),
            record(CheckOutcome::RateLimited, now - minutes(1)),
        );
        let memory = DomainMemory::from_status(&status, &policy, &timing, now);
        assert_eq!(memory.facts_refreshed_at, Some(now - minutes(2)));

        // DNS alone proves no facts; no registration recorded, nothing to keep.
        status.checks.remove("whois");
        let memory = DomainMemory::from_status(&status, &policy, &timing, now);
        assert_eq!(memory.facts_refreshed_at, None);
        let mut bare = checked(now);
        bare.registration = None;
        let memory = DomainMemory::from_status(&bare, &policy, &timing, now);
        assert_eq!(memory.facts_refreshed_at, None);
    }
}
#[cfg(test)]
mod size {
    /// The record is most of what a domain costs (with its name strings and
    /// index entry): growing it is a decision, not an accident.
    #[test]
    fn a_domain_record_stays_within_its_budget() {
        let record = std::mem::size_of::<super::DomainState>();
        let published = std::mem::size_of::<super::Published>();
        assert!(record <= 576, "DomainState is {record} bytes");
        // 264: health mode's part is one boxed pointer, null for most domains.
        assert!(published <= 264, "Published is {published} bytes");
    }
}
