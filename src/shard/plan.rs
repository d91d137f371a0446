//! What a replica should do with the shard Leases it sees. Pure code.

use std::{collections::BTreeSet, time::Duration};

use jiff::Timestamp;

/// One shard Lease as observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardLease {
    /// The shard number.
    pub shard: u32,
    /// Who holds it, if anyone.
    pub holder: Option<String>,
    /// Last renewal.
    pub renewed_at: Option<Timestamp>,
    /// How long a renewal is valid.
    pub duration: Duration,
}

impl ShardLease {
    /// Whether nobody (alive) holds the lease at `now`.
    pub fn is_free(&self, now: Timestamp) -> bool {
        match (&self.holder, self.renewed_at) {
            (Some(holder), Some(renewed)) if !holder.is_empty() => {
                let age = Duration::try_from(now.duration_since(renewed)).unwrap_or(Duration::ZERO);
                age > self.duration
            }
            _ => true,
        }
    }
}

/// The actions of one coordination round.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decision {
    /// Shards this replica holds and keeps: renew them.
    pub renew: Vec<u32>,
    /// Shards beyond this replica's fair share: stop working them, then release.
    pub release: Vec<u32>,
    /// Free shards to try to take, in order of preference.
    pub acquire: Vec<u32>,
}

/// Whether every shard is held, at `now`, by a live replica other than `me`:
/// nothing is left for `me` to do but stand by.
pub fn covered_by_others(me: &str, shards: u32, leases: &[ShardLease], now: Timestamp) -> bool {
    (0..shards).all(|shard| {
        leases.iter().any(|l| {
            l.shard == shard && !l.is_free(now) && l.holder.as_deref().is_some_and(|h| h != me)
        })
    })
}

/// The most shards one replica should hold.
pub fn fair_share(shards: u32, live_members: usize) -> usize {
    let members = u32::try_from(live_members.max(1)).unwrap_or(u32::MAX);
    usize::try_from(shards.div_ceil(members)).unwrap_or(usize::MAX)
}

/// Decides renewals, releases and acquisitions for replica `me`.
///
/// `leases` are the shard Leases that exist; shards without one are free.
/// Free shards are tried starting at an offset derived from `me`, so that
/// replicas starting together don't all race for shard 0.
pub fn decide(
    me: &str,
    shards: u32,
    live_members: usize,
    leases: &[ShardLease],
    now: Timestamp,
) -> Decision {
    let fair = fair_share(shards, live_members);
    let mut mine: Vec<u32> = leases
        .iter()
        .filter(|l| l.holder.as_deref() == Some(me))
        .map(|l| l.shard)
        .filter(|s| *s < shards)
        .collect();
    mine.sort_unstable();
    let mut decision = Decision::default();
    if mine.len() > fair {
        decision.release = mine.split_off(fair);
    }
    decision.renew = mine;
    let wanted = fair.saturating_sub(decision.renew.len());
    if wanted == 0 {
        return decision;
    }
    let taken: BTreeSet<u32> = leases
        .iter()
        .filter(|l| !l.is_free(now) && l.holder.as_deref() != Some(me))
        .map(|l| l.shard)
        .chain(decision.renew.iter().copied())
        .collect();
    let start = super::shard_of_key(me, shards);
    decision.acquire = (0..shards)
        .map(|i| (start + i) % shards)
        .filter(|s| !taken.contains(s))
        .take(wanted)
        .collect();
    decision
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2026-11-21T12:00:00Z".parse().unwrap()
    }

    fn lease(shard: u32, holder: &str, age_secs: i64) -> ShardLease {
        ShardLease {
            shard,
            holder: Some(holder.to_owned()),
            renewed_at: Some(now() - jiff::SignedDuration::from_secs(age_secs)),
            duration: Duration::from_secs(15),
        }
    }

    #[test]
    fn a_replica_stands_by_only_when_others_hold_every_shard() {
        let leases = vec![lease(0, "a", 1), lease(1, "b", 2)];
        assert!(covered_by_others("c", 2, &leases, now()));
        assert!(!covered_by_others("a", 2, &leases, now()), "a holds one");
        assert!(
            !covered_by_others("c", 3, &leases, now()),
            "shard 2 is free"
        );
        let expired = vec![lease(0, "a", 1), lease(1, "dead", 16)];
        assert!(!covered_by_others("c", 2, &expired, now()));
    }

    #[test]
    fn a_lone_replica_takes_every_shard() {
        let d = decide("a", 4, 1, &[], now());
        assert!(d.renew.is_empty() && d.release.is_empty());
        let mut acquire = d.acquire.clone();
        acquire.sort_unstable();
        assert_eq!(acquire, [0, 1, 2, 3]);
    }

    #[test]
    fn a_new_member_makes_the_holder_release_its_excess() {
        let leases: Vec<_> = (0..4).map(|s| lease(s, "a", 1)).collect();
        let d = decide("a", 4, 2, &leases, now());
        assert_eq!(d.renew, [0, 1]);
        assert_eq!(d.release, [2, 3]);
        assert!(d.acquire.is_empty());
        // The newcomer finds nothing free until the release.
        assert!(decide("b", 4, 2, &leases, now()).acquire.is_empty());
    }

    #[test]
    fn expired_leases_of_dead_replicas_are_taken_over() {
        let leases = vec![lease(0, "a", 1), lease(1, "dead", 16), lease(2, "dead", 20)];
        let d = decide("a", 3, 1, &leases, now());
        assert_eq!(d.renew, [0]);
        let mut acquire = d.acquire.clone();
        acquire.sort_unstable();
        assert_eq!(acquire, [1, 2]);
        // Within the lease duration the shard is still someone else's.
        let fresh = vec![lease(1, "b", 14)];
        assert!(!decide("a", 2, 2, &fresh, now()).acquire.contains(&1));
    }

    #[test]
    fn fair_share_rounds_up() {
        assert_eq!(fair_share(16, 3), 6);
        assert_eq!(fair_share(16, 0), 16);
        assert_eq!(fair_share(3, 5), 1);
    }
}
