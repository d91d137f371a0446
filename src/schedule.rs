//! When each domain is checked next. Pure code: values in, values out.
//!
//! - Ordinary domains: `CHECK_INTERVAL`; priority domains:
//!   `PRIORITY_CHECK_INTERVAL`; a resource's `checkInterval` overrides both.
//! - Lifecycle intensification: as `predictedDropAt` approaches, the interval
//!   shrinks to a tenth of the time left, down to `DROP_WINDOW_INTERVAL`, and
//!   stays there for [`SchedulePolicy::drop_window_after`] past the prediction
//!   (registries release in batches, not at the predicted second).
//! - Jitter spreads 100k domains so they don't fire together: each interval
//!   is shortened by a random 0–10 %, never lengthened, so an interval is the
//!   longest a domain waits between two checks.
//! - Failed checks back off per domain: 30 s doubling, capped at the interval.

use crate::backoff::Backoff;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

/// The scheduling knobs, from configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct SchedulePolicy {
    /// Interval of ordinary domains.
    pub check_interval: Duration,
    /// Interval of priority domains.
    pub priority_interval: Duration,
    /// Shortest interval, used inside a drop window.
    pub drop_window_interval: Duration,
    /// How long past `predictedDropAt` the drop-window interval holds.
    pub drop_window_after: Duration,
    /// Relative jitter, e.g. 0.1: intervals are shortened by up to 10 %.
    pub jitter: f64,
    /// First back-off after a failed check.
    pub error_backoff: Duration,
}

impl Default for SchedulePolicy {
    fn default() -> Self {
        Self {
            check_interval: Duration::from_secs(3600),
            priority_interval: Duration::from_secs(300),
            drop_window_interval: Duration::from_secs(10),
            drop_window_after: Duration::from_secs(6 * 3600),
            jitter: 0.1,
            error_backoff: Duration::from_secs(30),
        }
    }
}

/// What the schedule needs to know about one domain.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct DomainTiming {
    /// `spec.priority`.
    pub priority: bool,
    /// `spec.checkInterval`, parsed.
    pub interval_override: Option<Duration>,
    /// `status.predictedDropAt`.
    pub predicted_drop_at: Option<Timestamp>,
    /// Checks that failed in a row (0 after a success).
    pub consecutive_errors: u32,
    /// `spec.health` is set: the registration facts are refreshed at every
    /// check.
    pub health: bool,
}

impl SchedulePolicy {
    /// The interval before the next check of a domain, without jitter.
    pub fn interval(&self, timing: &DomainTiming, now: Timestamp) -> Duration {
        let base = timing.interval_override.unwrap_or(if timing.priority {
            self.priority_interval
        } else {
            self.check_interval
        });
        let lifecycle = timing
            .predicted_drop_at
            .and_then(|drop| self.lifecycle_interval(drop, now));
        let interval = lifecycle.map_or(base, |l| l.min(base));
        if timing.consecutive_errors == 0 {
            return interval;
        }
        Backoff::new(self.error_backoff, interval).delay_at(timing.consecutive_errors, 0.5)
    }

    /// Inside the approach to a drop: a tenth of the time left, never below the
    /// drop-window interval; `None` when the drop is far away or long past.
    fn lifecycle_interval(&self, drop: Timestamp, now: Timestamp) -> Option<Duration> {
        let until_drop = drop.duration_since(now);
        if until_drop <= SignedDuration::ZERO {
            let since = Duration::try_from(-until_drop).unwrap_or(Duration::MAX);
            return (since <= self.drop_window_after).then_some(self.drop_window_interval);
        }
        let until_drop = Duration::try_from(until_drop).unwrap_or(Duration::MAX);
        Some((until_drop / 10).max(self.drop_window_interval))
    }

    /// When to check next: `now + interval`, less `jitter_unit` (in [0, 1];
    /// random in production, fixed in tests) of the jitter, never past the
    /// drop prediction when one is coming up.
    pub fn next_check_at(
        &self,
        timing: &DomainTiming,
        now: Timestamp,
        jitter_unit: f64,
    ) -> Timestamp {
        let interval = self.interval(timing, now);
        let factor = 1.0 - self.jitter.clamp(0.0, 0.5) * jitter_unit.clamp(0.0, 1.0);
        not_past_the_drop(timing, now, interval.mul_f64(factor))
    }

    /// When to check next after this replica's first check of a domain: at
    /// `phase` (in [0, 1]; random in production) of the way from a tenth
    /// of its interval to all of it, never past a coming drop prediction.
    ///
    /// A first pass checks every domain within seconds; with the ordinary
    /// jitter (a tenth of the interval) their checks would stay bunched
    /// ever after, and every drop of an interval would reach the deep
    /// layers' budgets (WHOIS: 1/s by default) at the same moment, queued
    /// behind each other. Spread once, they stay spread.
    pub fn first_next_check_at(
        &self,
        timing: &DomainTiming,
        now: Timestamp,
        phase: f64,
    ) -> Timestamp {
        let interval = self.interval(timing, now);
        let factor = 0.1 + 0.9 * phase.clamp(0.0, 1.0);
        not_past_the_drop(timing, now, interval.mul_f64(factor))
    }
}

/// `now + wait` (at least a second), or the predicted drop if it comes first.
fn not_past_the_drop(timing: &DomainTiming, now: Timestamp, wait: Duration) -> Timestamp {
    let mut next = add(now, wait.max(Duration::from_secs(1)));
    if let Some(drop) = timing.predicted_drop_at
        && drop > now
        && drop < next
    {
        next = drop;
    }
    next
}

fn add(t: Timestamp, d: Duration) -> Timestamp {
    SignedDuration::try_from(d)
        .ok()
        .and_then(|d| t.checked_add(d).ok())
        .unwrap_or(Timestamp::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_first_pass_is_spread_over_the_whole_interval_once() {
        let policy = SchedulePolicy::default();
        let timing = DomainTiming::default();
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        let interval = policy.interval(&timing, now);
        let after = |t: Timestamp| Duration::try_from(t.duration_since(now)).unwrap();
        assert_eq!(
            after(policy.first_next_check_at(&timing, now, 0.0)),
            interval / 10
        );
        assert_eq!(
            after(policy.first_next_check_at(&timing, now, 1.0)),
            interval
        );
        let middle = after(policy.first_next_check_at(&timing, now, 0.5));
        assert!(middle > interval / 2 && middle < interval, "{middle:?}");
        // Later checks keep their phase: an interval less at most the jitter.
        let later = after(policy.next_check_at(&timing, now, 1.0));
        assert!(
            later >= interval.mul_f64(0.9) - Duration::from_millis(1),
            "{later:?}"
        );
        // A coming drop is never passed.
        let soon = DomainTiming {
            predicted_drop_at: Some(now + SignedDuration::from_secs(5)),
            ..DomainTiming::default()
        };
        assert_eq!(
            policy.first_next_check_at(&soon, now, 1.0),
            now + SignedDuration::from_secs(5)
        );
    }

    fn now() -> Timestamp {
        "2026-11-21T12:00:00Z".parse().unwrap()
    }

    fn at(offset_secs: i64) -> Timestamp {
        now()
            .checked_add(SignedDuration::from_secs(offset_secs))
            .unwrap()
    }

    const MIN: u64 = 60;

    #[test]
    fn priority_and_override_choose_the_base_interval() {
        let policy = SchedulePolicy::default();
        let ordinary = DomainTiming::default();
        let priority = DomainTiming {
            priority: true,
            ..Default::default()
        };
        let pinned = DomainTiming {
            priority: true,
            interval_override: Some(Duration::from_secs(90)),
            ..Default::default()
        };
        assert_eq!(
            policy.interval(&ordinary, now()),
            Duration::from_secs(60 * MIN)
        );
        assert_eq!(
            policy.interval(&priority, now()),
            Duration::from_secs(5 * MIN)
        );
        assert_eq!(policy.interval(&pinned, now()), Duration::from_secs(90));
    }

    #[test]
    fn intervals_shrink_as_the_drop_approaches() {
        let policy = SchedulePolicy::default();
        let timing = |drop| DomainTiming {
            predicted_drop_at: Some(drop),
            ..Default::default()
        };
        // Ten days away: the ordinary interval.
        assert_eq!(
            policy.interval(&timing(at(10 * 86400)), now()),
            Duration::from_secs(3600)
        );
        // Five hours away: a tenth of it.
        assert_eq!(
            policy.interval(&timing(at(5 * 3600)), now()),
            Duration::from_secs(30 * MIN)
        );
        // Minutes away and just after: the drop-window interval.
        assert_eq!(
            policy.interval(&timing(at(60)), now()),
            Duration::from_secs(10)
        );
        assert_eq!(
            policy.interval(&timing(at(-3600)), now()),
            Duration::from_secs(10)
        );
        // Long past the prediction: back to normal.
        assert_eq!(
            policy.interval(&timing(at(-7 * 3600)), now()),
            Duration::from_secs(3600)
        );
    }

    #[test]
    fn errors_back_off_up_to_the_interval() {
        let policy = SchedulePolicy::default();
        let failing = |n| DomainTiming {
            consecutive_errors: n,
            ..Default::default()
        };
        assert_eq!(policy.interval(&failing(1), now()), Duration::from_secs(30));
        assert_eq!(
            policy.interval(&failing(3), now()),
            Duration::from_secs(120)
        );
        assert_eq!(
            policy.interval(&failing(30), now()),
            Duration::from_secs(3600)
        );
    }

    #[test]
    fn jitter_shortens_by_up_to_ten_percent_and_never_skips_the_drop() {
        let policy = SchedulePolicy::default();
        let timing = DomainTiming::default();
        assert_eq!(policy.next_check_at(&timing, now(), 0.0), at(3600));
        assert_eq!(policy.next_check_at(&timing, now(), 0.5), at(3420));
        assert_eq!(policy.next_check_at(&timing, now(), 1.0), at(3240));
        // Out-of-range units are clamped: the interval is never exceeded.
        assert_eq!(policy.next_check_at(&timing, now(), -1.0), at(3600));
        assert_eq!(policy.next_check_at(&timing, now(), 2.0), at(3240));
        let dropping = DomainTiming {
            predicted_drop_at: Some(at(15)),
            ..Default::default()
        };
        assert_eq!(policy.next_check_at(&dropping, now(), 0.0), at(10));
        let close = DomainTiming {
            predicted_drop_at: Some(at(5)),
            ..Default::default()
        };
        assert_eq!(policy.next_check_at(&close, now(), 0.0), at(5));
    }
}
