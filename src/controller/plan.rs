//! What to do with a domain when its check is due: pure, from the published
//! status, the memory and the clock.

use std::time::Duration;

use jiff::Timestamp;

use super::state::{DomainMemory, Published};
use crate::{
    layered::Depth,
    ratelimit::Urgency,
    resource::Availability,
    schedule::{DomainTiming, SchedulePolicy},
};

/// How often registration facts (expiry, statuses) of a registered name are
/// refreshed from layer 2 although layer 1 already proves registration.
/// Domains in health mode refresh them at every check instead.
pub const FACTS_REFRESH: Duration = Duration::from_secs(24 * 3600);
/// The same for names in a lifecycle phase (Expiring, PendingDelete), whose
/// registry statuses move on within days.
pub const LIFECYCLE_FACTS_REFRESH: Duration = Duration::from_secs(3600);
/// How often a name confirmed `Available` goes back to the deep layers
/// although the cheap ones still see it free: their budgets serve names whose
/// state may have changed first.
pub const AVAILABLE_RECONFIRM: Duration = Duration::from_secs(3600);

/// How deep a due check goes and how urgent its requests are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// The layers to run.
    pub depth: Depth,
    /// Where its requests queue at a budgeted server.
    pub urgency: Urgency,
    /// The registration facts are due but deferred: this is the replica's
    /// first check of the domain, which the cheap layers answer first; the
    /// facts follow in the deep lane, within the deep-layer budgets. Never
    /// for a domain in health mode: its first verdict carries its health,
    /// which needs the facts (health mode is opt-in, for the few domains
    /// one owns).
    pub facts_deferred: bool,
}

impl Decision {
    /// Whether the check waits on deep-layer budgets by design (it is run in
    /// the deep lane, so that it never holds up cheap checks).
    pub fn is_deep(&self) -> bool {
        self.depth == Depth::RegistrationFacts
    }
}

/// The longest a registered name goes without a re-check while its first
/// status waits to be written ([`publishing_deferral`]).
pub const PUBLISHING_DEFER_LIMIT: Duration = Duration::from_secs(300);

/// The shortest deferral [`publishing_deferral`] gives: a check closer
/// than this to [`PUBLISHING_DEFER_LIMIT`] runs now. The dispatcher reads
/// the clock once per round and its schedule counts whole milliseconds, so
/// a deferral to within the same millisecond would be due again at once,
/// in the same round, for ever.
pub const PUBLISHING_DEFER_MIN: Duration = Duration::from_secs(1);

/// When a due re-check may wait for the domain's first status to be
/// written: `Some(t)` puts it off to `t`, `None` runs it now.
///
/// While a first pass of 10^5 domains is being published, the API server is
/// the bottleneck and shares the machine with the operator's re-checks; a
/// re-check of a name whose first status is still queued in the status
/// writer (`first_status_waiting`) can only change what is queued. So a
/// *routine* re-check of a name whose queued status says `Registered`, not
/// in a lifecycle phase, with no drop predicted and no run of errors, waits:
/// one interval at a time, and never longer than [`PUBLISHING_DEFER_LIMIT`]
/// after this replica's last check of it. Watched names (priority, drop
/// window), names that look free or await a confirmation and domains in
/// health mode are never put off. `Some(t)` is never less than
/// [`PUBLISHING_DEFER_MIN`] after `now`.
pub fn publishing_deferral(
    published: &Published,
    memory: &DomainMemory,
    timing: &DomainTiming,
    schedule: &SchedulePolicy,
    decision: &Decision,
    first_status_waiting: bool,
    now: Timestamp,
) -> Option<Timestamp> {
    // A re-check that would also fetch the registration facts is put off
    // too: a name's first facts come from the deep lane's queue, which a
    // first pass fills, whether or not this check runs.
    let routine = decision.urgency == Urgency::Routine
        && decision.depth != Depth::Reverify
        && !decision.facts_deferred
        && !timing.health
        && timing.predicted_drop_at.is_none()
        && memory.consecutive_errors == 0
        && memory.registry_absent_since.is_none();
    if !first_status_waiting || !routine || published.availability != Availability::Registered {
        return None;
    }
    let limit = memory
        .last_checked_at?
        .checked_add(jiff::SignedDuration::try_from(PUBLISHING_DEFER_LIMIT).ok()?)
        .ok()?;
    let next = jiff::SignedDuration::try_from(schedule.interval(timing, now))
        .ok()
        .and_then(|d| now.checked_add(d).ok())
        .unwrap_or(limit)
        .min(limit);
    (elapsed(now, next) >= PUBLISHING_DEFER_MIN).then_some(next)
}

fn elapsed(from: Timestamp, to: Timestamp) -> Duration {
    Duration::try_from(to.duration_since(from)).unwrap_or(Duration::ZERO)
}

/// The check to run for a domain that is due. `first` is true for the
/// replica's first check of it (start-up, shard handover, new resource).
pub fn plan(
    published: &Published,
    memory: &DomainMemory,
    timing: &DomainTiming,
    schedule: &SchedulePolicy,
    first: bool,
    now: Timestamp,
) -> Decision {
    let in_lifecycle = published.availability.in_lifecycle();
    let facts_refresh = if timing.health {
        // Health mode watches the registration itself: its changes are
        // what the user wants to hear about, at the domain's interval.
        Duration::ZERO
    } else if in_lifecycle {
        LIFECYCLE_FACTS_REFRESH
    } else {
        FACTS_REFRESH
    };
    let refresh_facts = memory
        .facts_refreshed_at
        .is_none_or(|t| elapsed(t, now) >= facts_refresh);
    let reverify = published.availability == Availability::Available
        && memory
            .confirmed
            .as_ref()
            .is_some_and(|c| elapsed(c.at, now) < AVAILABLE_RECONFIRM);
    let facts_deferred = refresh_facts && first && !reverify && !in_lifecycle && !timing.health;
    let depth = if reverify {
        Depth::Reverify
    } else if refresh_facts && !facts_deferred {
        Depth::RegistrationFacts
    } else {
        Depth::Escalate
    };
    let in_drop_window = timing.predicted_drop_at.is_some()
        && schedule.interval(timing, now) <= schedule.drop_window_interval;
    Decision {
        depth,
        urgency: if timing.priority || in_drop_window {
            Urgency::Watched
        } else {
            Urgency::Routine
        },
        facts_deferred,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::Confirmed;

    fn now() -> Timestamp {
        Timestamp::from_second(1_800_000_000).unwrap()
    }

    fn decide(published: &Published, memory: &DomainMemory, first: bool) -> Decision {
        plan(
            published,
            memory,
            &DomainTiming::default(),
            &SchedulePolicy::default(),
            first,
            now(),
        )
    }

    #[test]
    fn a_first_pass_asks_the_cheap_layers_and_defers_the_facts() {
        let fresh = Published::default();
        let decision = decide(&fresh, &DomainMemory::default(), true);
        assert_eq!(decision.depth, Depth::Escalate);
        assert!(decision.facts_deferred);
        assert!(!decision.is_deep());
        // The follow-up (no longer first) fetches them, in the deep lane.
        let decision = decide(&fresh, &DomainMemory::default(), false);
        assert_eq!(decision.depth, Depth::RegistrationFacts);
        assert!(decision.is_deep());
    }

    #[test]
    fn facts_are_refreshed_daily_and_hourly_in_a_lifecycle_phase() {
        let registered = Published {
            availability: Availability::Registered,
            ..Published::default()
        };
        let memory = DomainMemory {
            facts_refreshed_at: Some(now() - jiff::SignedDuration::from_hours(2)),
            ..DomainMemory::default()
        };
        assert_eq!(decide(&registered, &memory, false).depth, Depth::Escalate);
        let expiring = Published {
            availability: Availability::Expiring,
            ..Published::default()
        };
        assert_eq!(
            decide(&expiring, &memory, true).depth,
            Depth::RegistrationFacts,
            "a name in its lifecycle is not deferred, even on a first pass"
        );
    }

    #[test]
    fn health_mode_asks_the_registry_at_every_check() {
        let registered = Published {
            availability: Availability::Registered,
            ..Published::default()
        };
        let memory = DomainMemory {
            facts_refreshed_at: Some(now() - jiff::SignedDuration::from_secs(5)),
            ..DomainMemory::default()
        };
        let health = DomainTiming {
            health: true,
            ..DomainTiming::default()
        };
        let decision = plan(
            &registered,
            &memory,
            &health,
            &SchedulePolicy::default(),
            false,
            now(),
        );
        assert_eq!(decision.depth, Depth::RegistrationFacts);
        assert_eq!(decide(&registered, &memory, false).depth, Depth::Escalate);
        // Not deferred on a first pass either: the first verdict carries
        // the domain's health.
        let decision = plan(
            &Published::default(),
            &DomainMemory::default(),
            &health,
            &SchedulePolicy::default(),
            true,
            now(),
        );
        assert_eq!(decision.depth, Depth::RegistrationFacts);
        assert!(!decision.facts_deferred);
        assert!(decide(&Published::default(), &DomainMemory::default(), true).facts_deferred);
    }

    #[test]
    fn a_confirmed_available_name_is_reverified_cheaply_for_an_hour() {
        let available = Published {
            availability: Availability::Available,
            ..Published::default()
        };
        let confirmed = |mins: i64| DomainMemory {
            confirmed: Some(Confirmed {
                at: now() - jiff::SignedDuration::from_mins(mins),
                confidence: 0.95,
                confirmed_by: Vec::new(),
            }),
            ..DomainMemory::default()
        };
        assert_eq!(
            decide(&available, &confirmed(10), false).depth,
            Depth::Reverify
        );
        assert_eq!(
            decide(&available, &confirmed(61), false).depth,
            Depth::RegistrationFacts
        );
    }

    #[test]
    fn a_registered_name_waits_for_its_first_status_at_most_five_minutes() {
        let registered = Published {
            availability: Availability::Registered,
            ..Published::default()
        };
        let checked = |secs: i64| DomainMemory {
            last_checked_at: Some(now() - jiff::SignedDuration::from_secs(secs)),
            facts_refreshed_at: Some(now()),
            ..DomainMemory::default()
        };
        let policy = SchedulePolicy {
            check_interval: Duration::from_secs(60),
            ..SchedulePolicy::default()
        };
        let timing = DomainTiming::default();
        let defer =
            |published: &Published, memory: &DomainMemory, timing: &DomainTiming, waiting| {
                let decision = plan(published, memory, timing, &policy, false, now());
                publishing_deferral(
                    published,
                    memory,
                    timing,
                    &policy,
                    &decision,
                    waiting,
                    now(),
                )
            };
        // Checked 60 s ago, its first status still queued: one interval more.
        assert_eq!(
            defer(&registered, &checked(60), &timing, true),
            Some(now() + jiff::SignedDuration::from_secs(60))
        );
        // Its first facts not fetched yet (the deep lane's backfill, as after
        // a first pass of 10^5 domains): put off all the same.
        let no_facts = DomainMemory {
            facts_refreshed_at: None,
            ..checked(60)
        };
        let decision = plan(&registered, &no_facts, &timing, &policy, false, now());
        assert!(decision.is_deep(), "the facts are due");
        assert_eq!(
            defer(&registered, &no_facts, &timing, true),
            Some(now() + jiff::SignedDuration::from_secs(60))
        );
        // Never past five minutes after the last check.
        assert_eq!(
            defer(&registered, &checked(270), &timing, true),
            Some(now() + jiff::SignedDuration::from_secs(30))
        );
        assert_eq!(defer(&registered, &checked(300), &timing, true), None);
        // Within a second of the limit (here half a millisecond: the
        // schedule counts whole milliseconds, and a deferral to the same
        // millisecond would be due again at once, for ever): checked now.
        let nearly = |before_limit: jiff::SignedDuration| DomainMemory {
            last_checked_at: Some(now() - jiff::SignedDuration::from_secs(300) + before_limit),
            ..checked(0)
        };
        for before_limit in [
            jiff::SignedDuration::from_micros(500),
            jiff::SignedDuration::from_millis(999),
        ] {
            assert_eq!(
                defer(&registered, &nearly(before_limit), &timing, true),
                None,
                "{before_limit:?} before the limit"
            );
        }
        assert_eq!(
            defer(
                &registered,
                &nearly(jiff::SignedDuration::from_secs(1)),
                &timing,
                true
            ),
            Some(now() + jiff::SignedDuration::from_secs(1))
        );
        // Written already: checked as usual.
        assert_eq!(defer(&registered, &checked(60), &timing, false), None);
        // Never before this replica's first check.
        assert_eq!(
            defer(&registered, &DomainMemory::default(), &timing, true),
            None
        );
        // A name that looks free, or awaits its confirmation, is never put off.
        let available = Published {
            availability: Availability::Available,
            ..Published::default()
        };
        assert_eq!(defer(&available, &checked(60), &timing, true), None);
        let absent = DomainMemory {
            registry_absent_since: Some(now()),
            ..checked(60)
        };
        assert_eq!(defer(&registered, &absent, &timing, true), None);
        // Nor a watched name, a predicted drop, or one in health mode.
        for watched in [
            DomainTiming {
                priority: true,
                ..DomainTiming::default()
            },
            DomainTiming {
                predicted_drop_at: Some(now() + jiff::SignedDuration::from_hours(24 * 30)),
                ..DomainTiming::default()
            },
            DomainTiming {
                health: true,
                ..DomainTiming::default()
            },
        ] {
            assert_eq!(
                defer(&registered, &checked(60), &watched, true),
                None,
                "{watched:?}"
            );
        }
        // Nor a name in its lifecycle.
        let expiring = Published {
            availability: Availability::Expiring,
            ..Published::default()
        };
        assert_eq!(defer(&expiring, &checked(60), &timing, true), None);
    }

    #[test]
    fn priority_and_drop_window_names_are_watched() {
        let memory = DomainMemory::default();
        let timing = DomainTiming {
            priority: true,
            ..DomainTiming::default()
        };
        let policy = SchedulePolicy::default();
        let d = plan(
            &Published::default(),
            &memory,
            &timing,
            &policy,
            false,
            now(),
        );
        assert_eq!(d.urgency, Urgency::Watched);
        let d = decide(&Published::default(), &memory, false);
        assert_eq!(d.urgency, Urgency::Routine);
    }
}
