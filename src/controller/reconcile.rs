//! One domain's check, from a copy of its record to what the record becomes.
//!
//! In order: (1) a resource in the wrong shard is relabelled and left to the
//! replica holding its shard; (2) an invalid name is marked `Invalid` once
//! per generation; (3) a pending availability notification that is due is
//! delivered (the status is the durable outbox); (4) the layered checks run
//! at the depth [`super::plan`] decides, the new status is built
//! ([`super::status`]) and handed to the writer when something visible
//! changed or the last write is older than the heartbeat; events and
//! callbacks follow; (5) the next due time is returned.

use std::{sync::Arc, time::Duration};

use jiff::Timestamp;
use k8s_openapi::api::core::v1::ObjectReference;
use kube::{
    Api,
    api::{Patch, PatchParams},
    runtime::events::{Event, EventType},
};
use rand::Rng;
use tracing::{Instrument, debug, info, warn};

use super::{
    Context, Error, Result,
    plan::{self, Decision},
    state::{CHECK_KINDS, DomainMemory, Job, Published, seen_outcome, uid_text},
    status,
    writer::{Priority, Written},
};
use crate::{
    check::{CheckKind, CheckOutcome, CheckReport, Layer},
    config::PerCheckCallbacks,
    domain_name::DomainName,
    health::{self, HealthEvent, HealthFacts},
    layered::{Depth, Evaluation},
    metrics::{
        Metrics,
        labels::{
            AvailabilityLabels, CallbackKind, CallbackKindLabels, CallbackLabels, CallbackOutcome,
            CheckLabels, CheckerLabels, HealthChangeLabels, NoLabels, ReconcileErrorKind,
            ReconcileErrorLabels, StatusFieldLabels, TransitionLabels,
        },
    },
    notify::{
        Delivery, outbox,
        payload::{CheckResultPayload, availability_notification, idempotency_key},
    },
    resource::{
        Availability, MonitoredDomain, MonitoredDomainStatus, NotificationDelivery, WriteReason,
    },
    shard::SHARD_LABEL,
    verdict::{Background, Confirmed},
};

/// Requeue delay after a failed check step (an API error).
const ERROR_REQUEUE: Duration = Duration::from_secs(15);
/// How long a new notification waits for its `Pending` entry to be written
/// before the first attempt (the outbox entry comes first).
const OUTBOX_WRITE_WAIT: Duration = Duration::from_secs(30);
/// The shortest wait before a domain whose authoritative servers disagreed
/// is checked again.
const DISAGREEMENT_RECHECK_MIN: Duration = Duration::from_secs(1);
/// When an invalid name is looked at again without a spec change (never,
/// in practice: a spec change makes it due at once).
const INVALID_RECHECK: Duration = Duration::from_secs(7 * 24 * 3600);

/// What a finished check changes in the domain's record.
#[derive(Debug)]
pub struct Finished {
    /// The status as published now and when it was written (Unix seconds),
    /// when the check changed it.
    pub published: Option<(Published, Option<i64>)>,
    /// The memory after the check.
    pub memory: DomainMemory,
    /// When the domain is due next.
    pub next: Timestamp,
    /// Whether the checks ran.
    pub checked: bool,
}

fn add(t: Timestamp, d: Duration) -> Timestamp {
    jiff::SignedDuration::try_from(d)
        .ok()
        .and_then(|d| t.checked_add(d).ok())
        .unwrap_or(t)
}

fn elapsed(from: Timestamp, to: Timestamp) -> Duration {
    Duration::try_from(to.duration_since(from)).unwrap_or(Duration::ZERO)
}

/// The object reference events are published on.
fn reference(job: &Job) -> ObjectReference {
    ObjectReference {
        api_version: Some(format!("{}/v1alpha1", crate::resource::GROUP)),
        kind: Some("MonitoredDomain".to_owned()),
        name: Some(job.name.to_string()),
        namespace: Some(job.namespace.to_string()),
        uid: Some(uid_text(job.uid)),
        ..ObjectReference::default()
    }
}

/// Hands `patch` for `job`'s resource to the status writer.
fn submit(
    ctx: &Context,
    job: &Job,
    patch: &serde_json::Value,
    priority: Priority,
    reason: WriteReason,
) -> Written {
    ctx.writer
        .submit(job.uid, &job.namespace, &job.name, patch, priority, reason)
}

/// Checks one domain; never panics out (a panic is an error of this domain).
pub async fn check(ctx: &Context, job: Job, decision: Option<Decision>) -> Finished {
    let memory = job.memory.clone();
    let span = tracing::info_span!(
        "reconcile",
        resource = %job.name,
        namespace = %job.namespace,
        domain = %job.domain,
        availability = tracing::field::Empty,
        confidence = tracing::field::Empty,
    );
    let outcome = guard_panics(check_one(ctx, &job, decision))
        .instrument(span)
        .await;
    let error = match outcome {
        Ok(Ok(finished)) => return finished,
        Ok(Err(err)) => err,
        Err(message) => {
            tracing::error!(resource = %job.key(), panic = %message, "check panicked");
            Error::Panicked(message)
        }
    };
    let kind = match &error {
        Error::Relabel { .. } => ReconcileErrorKind::Relabel,
        Error::Panicked(_) => ReconcileErrorKind::Panic,
        _ => ReconcileErrorKind::Other,
    };
    ctx.metrics
        .reconcile_errors
        .inc(ReconcileErrorLabels { kind });
    tracing::error!(resource = %job.key(), error = %error, "check failed; retrying");
    Finished {
        published: None,
        memory,
        next: add(Timestamp::now(), ERROR_REQUEUE),
        checked: false,
    }
}

/// Runs `future`, turning a panic into `Err` with the panic's message.
pub async fn guard_panics<T>(
    future: impl std::future::Future<Output = T>,
) -> std::result::Result<T, String> {
    use futures::FutureExt;
    std::panic::AssertUnwindSafe(future)
        .catch_unwind()
        .await
        .map_err(|panic| {
            panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".to_owned())
        })
}

async fn check_one(ctx: &Context, job: &Job, decision: Option<Decision>) -> Result<Finished> {
    let now = Timestamp::now();
    let mut memory = job.memory.clone();
    let shard = match DomainName::parse(&job.domain) {
        Ok(domain) => crate::shard::shard_of(&domain, ctx.shards.total()),
        Err(_) => crate::shard::shard_of_key(&job.name, ctx.shards.total()),
    };
    if job.shard_label != Some(shard) {
        // The domain changed (or the label is wrong): move the resource to
        // its shard; the replica holding that shard takes it from there.
        let api: Api<MonitoredDomain> = Api::namespaced(ctx.client.clone(), &job.namespace);
        let patch = serde_json::json!({"metadata": {"labels": {SHARD_LABEL: shard.to_string()}}});
        api.patch(&job.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(|source| Error::Relabel {
                resource: job.key(),
                source,
            })?;
        return Ok(Finished {
            published: None,
            memory,
            next: add(now, INVALID_RECHECK),
            checked: false,
        });
    }
    if !ctx.shards.owns(shard) {
        // Lost (or not yet renewed) the shard: hands off until it is ours again.
        return Ok(Finished {
            published: None,
            memory,
            next: add(now, ctx.retry_period),
            checked: false,
        });
    }

    let mut published = job.published.clone();
    let mut written_at = None;
    let domain = match DomainName::parse(&job.domain) {
        Ok(domain) => domain,
        Err(err) => {
            let already = published.availability == Availability::Invalid
                && published.observed_generation == job.generation;
            if !already {
                let new = status::invalid(
                    Some(&published.skeleton()),
                    &err.to_string(),
                    job.generation,
                    now,
                );
                let patch = published.patch(&new, true);
                let written = submit(ctx, job, &patch, Priority::Urgent, WriteReason::Invalid);
                published = published.after(&new, true);
                written_at = Some(now.as_second());
                publish(
                    ctx,
                    job,
                    Some(written),
                    EventType::Warning,
                    "InvalidDomain",
                    &err.to_string(),
                );
                warn!(resource = %job.key(), error = %err, "invalid domain");
            }
            memory.generation = job.generation;
            return Ok(Finished {
                published: Some((published, written_at)),
                memory,
                next: add(now, INVALID_RECHECK),
                checked: true,
            });
        }
    };

    deliver_if_due(ctx, job, &domain, &mut published, now).await;

    let due = memory.generation != job.generation || memory.next_check_at.is_none_or(|t| t <= now);
    if due {
        let timing = job.timing(memory.consecutive_errors);
        let decision = decision.unwrap_or_else(|| {
            plan::plan(
                &published,
                &memory,
                &timing,
                &ctx.schedule,
                !job.checked,
                now,
            )
        });
        let background = Background {
            registry_absent_since: memory.registry_absent_since,
            confirmed: memory.confirmed.clone(),
            previously: published.availability,
            urgency: decision.urgency,
            ..Background::default()
        };
        let began = Timestamp::now();
        let due = memory
            .next_check_at
            .filter(|_| memory.generation == job.generation);
        let evaluation = ctx
            .checker
            .evaluate(&domain, decision.depth, background)
            .await;
        let paced = CheckPace {
            late: due.map(|due| elapsed(due, began)),
            took: elapsed(began, evaluation.finished_at),
        };
        record_evaluation(&ctx.metrics, &evaluation);
        // The verdict on the reconcile's span (and so on its trace).
        let span = tracing::Span::current();
        span.record("availability", evaluation.verdict.availability.as_str());
        span.record("confidence", evaluation.verdict.confidence);
        if !job.checked {
            ctx.metrics.first_checks.inc(NoLabels);
        }
        if decision.depth == Depth::RegistrationFacts {
            memory.facts_refreshed_at = Some(now);
        }
        remember_free_evidence(&mut memory, &evaluation);
        memory.consecutive_errors = if evaluation.verdict.availability == Availability::Error {
            memory.consecutive_errors.saturating_add(1)
        } else {
            0
        };
        memory.last_checked_at = Some(evaluation.finished_at);
        let mut timing = job.timing(memory.consecutive_errors);
        timing.predicted_drop_at = evaluation
            .verdict
            .predicted_drop_at
            .or(timing.predicted_drop_at);
        let jitter = rand::rng().random_range(0.0..=1.0);
        let mut next_check_at = if job.checked {
            ctx.schedule
                .next_check_at(&timing, evaluation.finished_at, jitter)
        } else {
            // This replica's first check of it: spread over the interval.
            ctx.schedule
                .first_next_check_at(&timing, evaluation.finished_at, jitter)
        };
        if evaluation.verdict.awaits_registry_confirmation()
            && let Some(since) = memory.registry_absent_since
        {
            // A drop waits for nothing but its confirmation: ask again as
            // soon as the registry's second answer can count.
            let confirm_at = add(since, ctx.checker.policy().registry_confirm_after);
            next_check_at = next_check_at.min(confirm_at.max(evaluation.finished_at));
        }
        if evaluation.urgency.is_confirming()
            && !evaluation.verdict.notify
            && let Some(wait) = evaluation
                .reports
                .iter()
                .filter(|r| r.outcome == CheckOutcome::RateLimited)
                .filter_map(|r| r.retry_after)
                .max()
        {
            // A change being confirmed that a throttled server held up: try
            // again when the server lets us, at the head of its queue.
            next_check_at = next_check_at.min(add(evaluation.finished_at, wait));
        }
        if evaluation
            .report(CheckKind::Dns)
            .is_some_and(|dns| dns.servers_agreeing == 0)
        {
            // The TLD's servers disagree: a zone change is on its way to
            // all of them. Look again after a tenth of the interval, so a
            // drop is not held up a whole interval by the slowest server.
            let interval = ctx.schedule.interval(&timing, evaluation.finished_at);
            let soon = (interval / 10).max(DISAGREEMENT_RECHECK_MIN);
            next_check_at = next_check_at.min(add(evaluation.finished_at, soon));
        }
        memory.next_check_at = Some(next_check_at);
        memory.generation = job.generation;

        let skeleton = published.skeleton();
        let mut new = after_check(ctx, job, &skeleton, &evaluation, next_check_at);
        let mut health_facts = HealthFacts {
            availability: Some(new.availability),
            ..HealthFacts::from_reports(&evaluation.reports)
        };
        if let Some(spec) = job.health.as_deref() {
            let report = probe_delegation(ctx, &domain, spec, &health_facts).await;
            if spec.dnssec != crate::resource::DnssecPolicy::Ignore
                && let Some(report) = &report
            {
                health_facts.dnssec = probe_dnssec(ctx, &domain, report).await;
            }
            health_facts.delegation = report.map(health::delegation::view);
        }
        let health = health::evaluate(
            job.health.as_deref(),
            &health_facts,
            published.health.as_deref(),
            job.generation,
            evaluation.finished_at,
        );
        if let Some(state) = &health.state {
            new.health = Some(state.status.clone());
            new.conditions.extend(state.conditions.iter().cloned());
        }
        let after = published.after(&new, false);
        let last_write_age = job
            .written_at
            .and_then(|s| Timestamp::from_second(s).ok())
            .map(|t| elapsed(t, evaluation.finished_at));
        let changed = after != published;
        let refresh = last_write_age.is_none_or(|age| age >= ctx.heartbeat);
        let new_notification = new.notification.is_some()
            && new.notification.as_ref() != published.notification.as_deref();
        let mut written = None;
        let old_notification = published.notification.clone();
        if changed || refresh {
            // A transition is urgent; a domain's first status goes before
            // routine writes but after transitions (no one waits on
            // Unknown -> Registered, and a first pass of 10^5 domains would
            // otherwise be all urgent). A first status with a notification
            // is urgent as a notification.
            let first_status = published.observed_generation.is_none();
            let transition = after.availability != published.availability && !first_status;
            let priority = if transition || new_notification {
                Priority::Urgent
            } else if first_status {
                Priority::First
            } else {
                Priority::Routine
            };
            let reason = if changed {
                let fields = published.changed_fields(&after);
                for field in &fields {
                    ctx.metrics
                        .status_changes
                        .inc(StatusFieldLabels { field: *field });
                }
                debug!(domain = %domain, ?fields, "status changed");
                published.write_reason(&after)
            } else {
                WriteReason::Refresh
            };
            debug!(domain = %domain, reason = reason.as_str(), "writing status");
            let patch = published.patch(&new, false);
            written = Some(submit(ctx, job, &patch, priority, reason));
            written_at = Some(evaluation.finished_at.as_second());
        }
        announce(
            ctx,
            job,
            written.clone(),
            (published.availability, after.availability),
            &evaluation,
            paced,
        );
        if let Some(written) = &written {
            announce_health(ctx, job, written, &health.events);
        }
        send_check_results(ctx, &published, &evaluation);
        published = after;
        if let Some(written) = written.filter(|_| new_notification) {
            // The outbox entry is written before the first attempt, so a
            // restart finds it; a write that fails leaves it to the next check.
            match tokio::time::timeout(OUTBOX_WRITE_WAIT, written).await {
                Ok(true) => {
                    deliver_if_due(ctx, job, &domain, &mut published, Timestamp::now()).await;
                }
                _ => {
                    // Never delivered without its entry: the next check
                    // records it again (same idempotency key) and retries.
                    warn!(%domain, "the notification's outbox entry could not be written; recording it again at the next check");
                    published.notification = old_notification;
                }
            }
        }
    }

    let mut wake = memory.next_check_at.unwrap_or(now);
    if let Some(notification) = &published.notification
        && notification.state == NotificationDelivery::Pending
        && let Some(next) = &notification.next_attempt_at
    {
        wake = wake.min(next.0);
    }
    Ok(Finished {
        published: Some((published, written_at)),
        memory,
        next: wake.max(add(Timestamp::now(), Duration::from_millis(100))),
        checked: due,
    })
}

/// Health mode's delegation report of `domain`, after the registry's facts
/// (their name servers; none known: not compared). `None` (the status keeps
/// the previous views) when there is no prober or the probe failed; a
/// failure is logged at WARN once until a probe succeeds again.
async fn probe_delegation(
    ctx: &Context,
    domain: &DomainName,
    spec: &crate::resource::HealthSpec,
    facts: &HealthFacts,
) -> Option<health::delegation::DelegationReport> {
    let prober = ctx.prober.as_ref()?;
    let registry = facts
        .registry
        .as_ref()
        .map(|r| r.nameservers.clone())
        .unwrap_or_default();
    let result = tokio::time::timeout(
        ctx.probe_timeout,
        prober.probe(domain, &registry, &spec.expected_nameservers),
    )
    .await;
    let warned = |why: String| {
        let first = ctx
            .probe_warned
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(domain.as_str().to_owned());
        if first {
            warn!(domain = %domain.as_str(), error = %why, "cannot probe the delegation");
        }
    };
    match result {
        Ok(Ok(report)) => {
            ctx.probe_warned
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(domain.as_str());
            Some(report)
        }
        Ok(Err(err)) => {
            warned(err.to_string());
            None
        }
        Err(_) => {
            warned(format!(
                "the probe took longer than {}",
                humantime::format_duration(ctx.probe_timeout)
            ));
            None
        }
    }
}

/// Health mode's DNSSEC view of `domain`, asking the servers the
/// delegation probe found (`report`). `None` (the status keeps the previous
/// view) when there is no prober or the probe failed; a failure is logged
/// at WARN once until a probe succeeds again.
async fn probe_dnssec(
    ctx: &Context,
    domain: &DomainName,
    report: &health::delegation::DelegationReport,
) -> Option<crate::resource::health::DnssecView> {
    let prober = ctx.dnssec_prober.as_ref()?;
    let result = tokio::time::timeout(ctx.probe_timeout, prober.probe(domain, &report.child)).await;
    let why = match result {
        Ok(Ok(view)) => {
            ctx.dnssec_warned
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(domain.as_str());
            return Some(view);
        }
        Ok(Err(err)) => err.to_string(),
        Err(_) => format!(
            "the probe took longer than {}",
            humantime::format_duration(ctx.probe_timeout)
        ),
    };
    let first = ctx
        .dnssec_warned
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(domain.as_str().to_owned());
    if first {
        warn!(domain = %domain.as_str(), error = %why, "cannot probe DNSSEC");
    }
    None
}

/// Keeps the run of the registry's "not found" answers and the last deep
/// confirmation of an `Available` reading, for the next verdict.
pub fn remember_free_evidence(memory: &mut DomainMemory, evaluation: &Evaluation) {
    let verdict = &evaluation.verdict;
    let rdap = evaluation.report(CheckKind::Rdap);
    if verdict.registry_absent {
        let at = rdap.map_or(evaluation.finished_at, |r| r.checked_at);
        memory.registry_absent_since.get_or_insert(at);
    } else if rdap.is_some_and(|r| {
        matches!(
            r.outcome,
            CheckOutcome::Registered | CheckOutcome::Available
        )
    }) || verdict.availability.is_held()
    {
        // The registry (or the zone) says something else now: the run ends.
        memory.registry_absent_since = None;
    }
    let deep_ran = evaluation.layers.iter().any(|l| *l > Layer::Fast);
    memory.confirmed = match verdict.availability {
        Availability::Available if deep_ran => Some(Confirmed {
            at: evaluation.finished_at,
            confidence: verdict.confidence,
            confirmed_by: verdict.confirmed_by.clone(),
        }),
        Availability::Available => memory.confirmed.take(),
        _ => None,
    };
}

/// The status after a check, with a pending notification recorded when the
/// name just became available with enough confidence.
fn after_check(
    ctx: &Context,
    job: &Job,
    skeleton: &MonitoredDomainStatus,
    evaluation: &Evaluation,
    next_check_at: Timestamp,
) -> MonitoredDomainStatus {
    let mut new = status::after_check(Some(skeleton), evaluation, job.generation, next_check_at);
    if new.availability == Availability::Available
        && evaluation.verdict.notify
        && ctx.notifier.is_some()
    {
        let transition = new
            .last_transition_at
            .as_ref()
            .map_or(evaluation.finished_at, |t| t.0);
        let key = idempotency_key(&uid_text(job.uid), evaluation.domain.as_str(), transition);
        let payload = availability_notification(evaluation).to_string();
        if let Some(notification) =
            status::pending_notification(&new, key, payload, evaluation.finished_at)
        {
            info!(domain = %evaluation.domain, confidence = evaluation.verdict.confidence, "domain became available: notification recorded");
            new.notification = Some(notification);
        }
    }
    new
}

/// Delivers the pending notification when its attempt is due, and hands the
/// outcome to the writer.
async fn deliver_if_due(
    ctx: &Context,
    job: &Job,
    domain: &DomainName,
    published: &mut Published,
    now: Timestamp,
) {
    let Some(notifier) = &ctx.notifier else {
        return;
    };
    let Some(entry) = published.notification.as_deref() else {
        return;
    };
    if !outbox::is_due(entry, now) {
        return;
    }
    let attempt = outbox::attempt(notifier, entry, domain.as_str(), &ctx.metrics).await;
    let mut patch = serde_json::json!({"status": {"notification": &attempt.entry}});
    super::state::clear_absent_notification_fields(&mut patch["status"]["notification"]);
    let written = submit(
        ctx,
        job,
        &patch,
        Priority::Urgent,
        WriteReason::Notification,
    );
    published.notification = Some(Box::new(attempt.entry));
    if let Some((normal, reason, note)) = attempt.event {
        let kind = if normal {
            EventType::Normal
        } else {
            EventType::Warning
        };
        publish(ctx, job, Some(written), kind, reason, &note);
    }
}

/// When a check ran against when it was due, and how long it took: the
/// fields of the `check decided` debug line.
#[derive(Debug, Clone, Copy)]
struct CheckPace {
    /// From the due time (the `next_check_at` the previous check set) to
    /// the start of the evaluation: the wait for a check slot and for the
    /// pending notification's delivery. `None` on a first check or after a
    /// spec change (no due time of this generation).
    late: Option<Duration>,
    /// From the start of the evaluation to its verdict.
    took: Duration,
}

/// Each checker's report as `dns 3ms, rdap 120ms`: for the debug log, where
/// it is formatted only when written.
struct Durations<'a>(&'a [CheckReport]);

impl std::fmt::Display for Durations<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, report) in self.0.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            write!(
                f,
                "{sep}{} {}ms",
                report.kind.as_str(),
                report.duration.as_millis()
            )?;
        }
        Ok(())
    }
}

/// Events and logs for availability transitions. The `check decided`
/// debug line carries the verdict, `late_ms` and `took_ms`
/// ([`CheckPace`]) and `durations` (each checker's).
fn announce(
    ctx: &Context,
    job: &Job,
    written: Option<Written>,
    (before, after): (Availability, Availability),
    evaluation: &Evaluation,
    paced: CheckPace,
) {
    debug!(
        domain = %evaluation.domain,
        %after,
        confidence = evaluation.verdict.confidence,
        reason = %evaluation.verdict.reason,
        late_ms = paced.late.map(|late| late.as_millis() as u64),
        took_ms = paced.took.as_millis() as u64,
        durations = %Durations(&evaluation.reports),
        "check decided"
    );
    if before == after {
        return;
    }
    ctx.metrics.transitions.inc(TransitionLabels {
        from: before,
        to: after,
    });
    info!(domain = %evaluation.domain, from = %before, to = %after, reason = %evaluation.verdict.reason, "availability changed");
    let (kind, reason) = match after {
        Availability::Available => (EventType::Normal, "BecameAvailable"),
        Availability::PendingDelete => (EventType::Normal, "PendingDelete"),
        Availability::Expiring => (EventType::Normal, "Expiring"),
        Availability::Registered if before != Availability::Unknown => {
            (EventType::Normal, "RegisteredAgain")
        }
        Availability::Error => (EventType::Warning, "ChecksFailed"),
        _ => return,
    };
    publish(ctx, job, written, kind, reason, &evaluation.verdict.reason);
}

/// One Event per health change (and the registration changes counted),
/// published once the status showing them is written.
fn announce_health(ctx: &Context, job: &Job, written: &Written, events: &[HealthEvent]) {
    for event in events {
        if let Some(kind) = event.registration_change() {
            ctx.metrics.health_changes.inc(HealthChangeLabels { kind });
        }
        let note = event.note();
        info!(resource = %job.key(), reason = event.reason(), %note, "health changed");
        let type_ = if event.is_warning() {
            EventType::Warning
        } else {
            EventType::Normal
        };
        publish(
            ctx,
            job,
            Some(written.clone()),
            type_,
            event.reason(),
            &note,
        );
    }
}

/// Per-check callbacks, best effort (they are not an outbox): at most
/// [`super::MAX_CHECK_CALLBACKS_IN_FLIGHT`] in flight, the rest dropped
/// and counted (`callbacks{kind="check_result",outcome="dropped"}`).
fn send_check_results(ctx: &Context, old: &Published, evaluation: &Evaluation) {
    let Some(notifier) = &ctx.notifier else {
        return;
    };
    if ctx.per_check == PerCheckCallbacks::Off {
        return;
    }
    for report in &evaluation.reports {
        if report.outcome == CheckOutcome::Skipped {
            continue;
        }
        let previous = CHECK_KINDS
            .iter()
            .position(|k| *k == report.kind)
            .and_then(|i| seen_outcome(old.checks[i]));
        if ctx.per_check == PerCheckCallbacks::Changes && previous == Some(report.outcome) {
            continue;
        }
        let Ok(permit) = Arc::clone(&ctx.callbacks).try_acquire_owned() else {
            ctx.metrics.callbacks.inc(CallbackLabels {
                kind: CallbackKind::CheckResult,
                outcome: CallbackOutcome::Dropped,
            });
            continue;
        };
        let payload = CheckResultPayload::new(evaluation.domain.as_str(), report);
        let Ok(body) = serde_json::to_string(&payload) else {
            continue;
        };
        let notifier = notifier.clone();
        let metrics = Arc::clone(&ctx.metrics);
        let domain = evaluation.domain.to_string();
        tokio::spawn(async move {
            let _permit = permit;
            let started = std::time::Instant::now();
            let outcome = notifier.post(body, None).await;
            metrics.callback_duration.record(
                CallbackKindLabels {
                    kind: CallbackKind::CheckResult,
                },
                started.elapsed(),
            );
            let delivered = |outcome| CallbackLabels {
                kind: CallbackKind::CheckResult,
                outcome,
            };
            match outcome {
                Delivery::Delivered { .. } => {
                    metrics.callbacks.inc(delivered(CallbackOutcome::Delivered));
                }
                Delivery::Retry { error, .. } | Delivery::Rejected { error, .. } => {
                    metrics.callbacks.inc(delivered(CallbackOutcome::Failed));
                    debug!(%domain, %error, "per-check callback not delivered");
                }
            }
        });
    }
}

/// Publishes a Kubernetes Event on the domain's resource once the status
/// write it belongs to (`written`) succeeded, so that events never tell of a
/// state the status does not show. Never waits: at most
/// [`super::MAX_EVENTS_IN_FLIGHT`] events wait for their write; more are
/// dropped (events are best effort) and counted.
fn publish(
    ctx: &Context,
    job: &Job,
    written: Option<Written>,
    type_: EventType,
    reason: &'static str,
    note: &str,
) {
    let Ok(permit) = Arc::clone(&ctx.events).try_acquire_owned() else {
        ctx.metrics.reconcile_errors.inc(ReconcileErrorLabels {
            kind: ReconcileErrorKind::EventDropped,
        });
        return;
    };
    let event = Event {
        type_,
        reason: reason.to_owned(),
        note: Some(note.chars().take(1024).collect()),
        action: "Check".to_owned(),
        secondary: None,
    };
    let recorder = ctx.recorder.clone();
    let reference = reference(job);
    tokio::spawn(async move {
        let _permit = permit;
        if let Some(written) = written
            && !written.await
        {
            return;
        }
        if let Err(err) = recorder.publish(&event, &reference).await {
            // Said once at WARN (a missing RBAC right fails every event
            // alike), then at DEBUG.
            static WARNED: std::sync::atomic::AtomicBool =
                std::sync::atomic::AtomicBool::new(false);
            if WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
                debug!(error = %err, reason, "cannot publish event");
            } else {
                warn!(error = %err, reason, "cannot publish event; further failures are logged at DEBUG");
            }
        }
    });
}

/// Counts what a check found, per checker and overall.
fn record_evaluation(metrics: &Metrics, evaluation: &Evaluation) {
    for report in &evaluation.reports {
        let checker = report.kind;
        metrics.checks.inc(CheckLabels {
            checker,
            result: report.outcome,
        });
        metrics
            .check_duration
            .record(CheckerLabels { checker }, report.duration);
        if report.outcome == CheckOutcome::RateLimited {
            metrics.rate_limited.inc(CheckerLabels { checker });
        }
    }
    metrics.verdicts.inc(AvailabilityLabels {
        availability: evaluation.verdict.availability,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_check_becomes_an_error() {
        let panicked = guard_panics(async {
            let items: Vec<u32> = Vec::new();
            items[3]
        })
        .await;
        assert!(panicked.unwrap_err().contains("index out of bounds"));
        assert_eq!(guard_panics(async { 7 }).await, Ok(7));
    }

    #[test]
    fn the_check_line_names_each_checker_with_its_time() {
        let now = Timestamp::now();
        let timed = |kind, ms| {
            let mut report = CheckReport::new(kind, CheckOutcome::Registered, "", now);
            report.duration = Duration::from_millis(ms);
            report
        };
        let reports = [timed(CheckKind::Dns, 3), timed(CheckKind::Rdap, 1250)];
        assert_eq!(Durations(&reports).to_string(), "dns 3ms, rdap 1250ms");
        assert_eq!(Durations(&[]).to_string(), "");
    }
}
