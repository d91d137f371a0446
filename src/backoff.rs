//! The one exponential back-off of the operator: every retry and every wait
//! after a failure (throttled servers, failed checks, callbacks, the domain
//! list sync, a domain whose checks keep failing) is a [`Backoff`] with its
//! own first delay, cap and jitter. `Retry-After` headers are read in one
//! place too: [`crate::net::retry_after`].
//!
//! Written here rather than taken from `backon`: the callers need the delay
//! of the *n*-th retry as a value (it is stored in status and in the
//! schedule, and survives restarts), not a retry loop around a future.

use std::time::Duration;

use rand::Rng;

/// `first × 2^(retry − 1)`, at most `max`, spread by ± `jitter` of itself.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// Delay before the first retry.
    pub first: Duration,
    /// Longest delay, however many retries.
    pub max: Duration,
    /// Spread as a fraction of the delay (0.25: ±25 %); 0 for none.
    pub jitter: f64,
}

impl Backoff {
    /// Doubling from `first` up to `max`, without jitter.
    pub const fn new(first: Duration, max: Duration) -> Self {
        Self {
            first,
            max,
            jitter: 0.0,
        }
    }

    /// The same with ± `fraction` jitter (clamped to 0–1).
    pub const fn with_jitter(mut self, fraction: f64) -> Self {
        self.jitter = fraction;
        self
    }

    /// The delay before retry number `retry` (1 for the first), with the
    /// jitter taken at `unit` ∈ [0, 1] (0.5 is the middle: no spread).
    pub fn delay_at(&self, retry: u32, unit: f64) -> Duration {
        let doublings = retry.saturating_sub(1).min(31);
        let exponential = self
            .first
            .saturating_mul(2u32.saturating_pow(doublings))
            .min(self.max);
        let spread = self.jitter.clamp(0.0, 1.0) * (unit.clamp(0.0, 1.0) * 2.0 - 1.0);
        exponential.mul_f64(1.0 + spread)
    }

    /// The delay before retry number `retry`, with random jitter.
    pub fn delay(&self, retry: u32) -> Duration {
        self.delay_at(retry, rand::rng().random_range(0.0..=1.0))
    }

    /// `delay`, but never shorter than what the server asked for
    /// (`retry_after`, itself at most `cap`).
    pub fn honouring(delay: Duration, retry_after: Option<Duration>, cap: Duration) -> Duration {
        retry_after.map_or(delay, |asked| asked.min(cap).max(delay))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn doubles_from_the_first_delay_up_to_the_cap() {
        let backoff = Backoff::new(30 * S, 15 * 60 * S);
        let delays: Vec<u64> = (1..=7)
            .map(|r| backoff.delay_at(r, 0.5).as_secs())
            .collect();
        assert_eq!(delays, [30, 60, 120, 240, 480, 900, 900]);
        assert_eq!(
            backoff.delay_at(0, 0.5),
            30 * S,
            "retry 0 reads as the first"
        );
        assert_eq!(backoff.delay_at(u32::MAX, 0.5), 900 * S);
    }

    #[test]
    fn jitter_spreads_both_ways_within_its_fraction() {
        let backoff = Backoff::new(10 * S, 60 * S).with_jitter(0.25);
        assert_eq!(backoff.delay_at(1, 0.0), Duration::from_millis(7500));
        assert_eq!(backoff.delay_at(1, 1.0), Duration::from_millis(12_500));
        for _ in 0..100 {
            let d = backoff.delay(1);
            assert!(d >= Duration::from_millis(7500) && d <= Duration::from_millis(12_500));
        }
    }

    #[test]
    fn a_servers_retry_after_wins_when_longer_up_to_the_cap() {
        assert_eq!(Backoff::honouring(5 * S, Some(120 * S), 3600 * S), 120 * S);
        assert_eq!(Backoff::honouring(5 * S, Some(S), 3600 * S), 5 * S);
        assert_eq!(
            Backoff::honouring(5 * S, Some(7200 * S), 3600 * S),
            3600 * S
        );
        assert_eq!(Backoff::honouring(5 * S, None, 3600 * S), 5 * S);
    }
}
