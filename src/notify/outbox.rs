//! The availability notification outbox: one delivery attempt of a pending
//! entry and what the entry becomes. Its durable half is the resource's
//! `status.notification`: the controller writes the `Pending` entry before
//! the first attempt and every attempt's outcome after it (see
//! `controller::reconcile`).

use std::sync::Arc;

use jiff::Timestamp;
use tracing::{info, warn};

use super::{Delivery, Notifier, retry_delay};
use crate::{
    metrics::{
        Metrics,
        labels::{CallbackKind, CallbackKindLabels, CallbackLabels, CallbackOutcome},
    },
    resource::{NotificationDelivery, NotificationState},
};

/// What one delivery attempt did.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    /// The entry after the attempt (`attempts` counted, state and times set).
    pub entry: NotificationState,
    /// The Kubernetes Event it deserves: (`Normal`?, reason, note).
    pub event: Option<(bool, &'static str, String)>,
}

/// Whether `entry` is pending and its next attempt is due at `now`.
pub fn is_due(entry: &NotificationState, now: Timestamp) -> bool {
    entry.state == NotificationDelivery::Pending
        && entry.next_attempt_at.as_ref().is_none_or(|t| t.0 <= now)
}

/// Posts `entry`'s payload with its idempotency key and returns the entry
/// updated with the outcome: `Delivered`, `Pending` with the next attempt
/// (5 s doubling to 10 min, ≥ the receiver's `Retry-After`), or `Failed`
/// when the receiver rejected it for good (a 4xx other than 408/429).
pub async fn attempt(
    notifier: &Notifier,
    entry: &NotificationState,
    domain: &str,
    metrics: &Arc<Metrics>,
) -> Attempt {
    let started = std::time::Instant::now();
    let outcome = notifier
        .post(entry.payload.clone(), Some(&entry.idempotency_key))
        .await;
    let kind = CallbackKind::Notification;
    metrics
        .callback_duration
        .record(CallbackKindLabels { kind }, started.elapsed());
    let outcome_label = match &outcome {
        Delivery::Delivered { .. } => CallbackOutcome::Delivered,
        Delivery::Retry { .. } => CallbackOutcome::Retry,
        Delivery::Rejected { .. } => CallbackOutcome::Rejected,
    };
    metrics.callbacks.inc(CallbackLabels {
        kind,
        outcome: outcome_label,
    });
    let mut updated = entry.clone();
    updated.attempts = updated.attempts.saturating_add(1);
    let now = Timestamp::now();
    let event = match outcome {
        Delivery::Delivered { status } => {
            info!(%domain, attempts = updated.attempts, status, "availability notification delivered");
            updated.state = NotificationDelivery::Delivered;
            updated.delivered_at = Some(crate::resource::time(now));
            updated.next_attempt_at = None;
            updated.last_error = None;
            Some((
                true,
                "NotificationDelivered",
                "availability notification delivered".to_owned(),
            ))
        }
        Delivery::Retry { error, retry_after } => {
            let delay = retry_delay(updated.attempts, retry_after);
            warn!(%domain, attempts = updated.attempts, %error, retry_in = ?delay, "availability notification not delivered, will retry");
            let next = jiff::SignedDuration::try_from(delay)
                .ok()
                .and_then(|d| now.checked_add(d).ok())
                .unwrap_or(now);
            updated.next_attempt_at = Some(crate::resource::time(next));
            updated.last_error = Some(error);
            None
        }
        Delivery::Rejected { status, error } => {
            warn!(%domain, status, %error, "availability notification rejected by the receiver; not retrying");
            updated.state = NotificationDelivery::Failed;
            updated.next_attempt_at = None;
            updated.last_error = Some(error.clone());
            Some((false, "NotificationRejected", error))
        }
    };
    Attempt {
        entry: updated,
        event,
    }
}
