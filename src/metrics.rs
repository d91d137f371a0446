//! In-process metrics behind `GET /metrics`: counters and timers keyed by a
//! name and a label, kept since start-up or the last reset.
//!
//! Timers keep exact count/sum/min/max and a bounded window of the latest
//! samples for percentiles, so memory stays flat however long it runs.

use std::{
    collections::{BTreeMap, VecDeque},
    sync::Mutex,
    time::{Duration, Instant},
};

use serde::Serialize;

/// Samples kept per timer for percentiles.
const WINDOW: usize = 1024;

/// A timer's summary, in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimerSummary {
    /// Samples recorded.
    pub count: u64,
    /// Mean.
    pub avg_ms: f64,
    /// Smallest.
    pub min_ms: f64,
    /// Largest.
    pub max_ms: f64,
    /// Median of the latest samples.
    pub p50_ms: f64,
    /// 95th percentile of the latest samples.
    pub p95_ms: f64,
    /// 99th percentile of the latest samples.
    pub p99_ms: f64,
}

#[derive(Debug, Default)]
struct Timer {
    count: u64,
    sum_ms: f64,
    min_ms: f64,
    max_ms: f64,
    window: VecDeque<f64>,
}

impl Timer {
    fn record(&mut self, ms: f64) {
        if self.count == 0 || ms < self.min_ms {
            self.min_ms = ms;
        }
        if ms > self.max_ms {
            self.max_ms = ms;
        }
        self.count += 1;
        self.sum_ms += ms;
        if self.window.len() == WINDOW {
            self.window.pop_front();
        }
        self.window.push_back(ms);
    }

    fn summary(&self) -> TimerSummary {
        let mut sorted: Vec<f64> = self.window.iter().copied().collect();
        sorted.sort_by(f64::total_cmp);
        let pick = |q: f64| {
            if sorted.is_empty() {
                return 0.0;
            }
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                clippy::cast_precision_loss
            )]
            let index = ((sorted.len() as f64 - 1.0) * q).round() as usize;
            sorted[index.min(sorted.len() - 1)]
        };
        #[allow(clippy::cast_precision_loss)]
        let avg = if self.count == 0 {
            0.0
        } else {
            self.sum_ms / self.count as f64
        };
        TimerSummary {
            count: self.count,
            avg_ms: round(avg),
            min_ms: round(self.min_ms),
            max_ms: round(self.max_ms),
            p50_ms: round(pick(0.5)),
            p95_ms: round(pick(0.95)),
            p99_ms: round(pick(0.99)),
        }
    }
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Names of the counters and timers, in one place.
pub mod names {
    /// Check results, label `checker/result`.
    pub const CHECK_RESULTS: &str = "check_results";
    /// Check durations, label = checker.
    pub const CHECK_DURATION: &str = "check_duration";
    /// Verdicts, label = availability.
    pub const VERDICTS: &str = "verdicts";
    /// Availability transitions, label `from->to`.
    pub const TRANSITIONS: &str = "transitions";
    /// Callback outcomes, label `kind/outcome`.
    pub const CALLBACKS: &str = "callbacks";
    /// Callback durations, label = kind.
    pub const CALLBACK_DURATION: &str = "callback_duration";
    /// Rate-limited check results, label = checker.
    pub const RATE_LIMITED: &str = "rate_limited";
    /// Status writes, label = reason.
    pub const STATUS_WRITES: &str = "status_writes";
    /// Reconcile errors, label = error kind.
    pub const RECONCILE_ERRORS: &str = "reconcile_errors";
    /// Domain list syncs, label = outcome.
    pub const SYNC_RUNS: &str = "sync_runs";
    /// Domain list sync durations.
    pub const SYNC_DURATION: &str = "sync_duration";
    /// Entries the sync skipped as invalid.
    pub const SYNC_REJECTED: &str = "sync_rejected_entries";
    /// HTTP API calls, label `METHOD path status`.
    pub const API_CALLS: &str = "api_calls";
    /// HTTP API response times, label `METHOD path`.
    pub const API_DURATION: &str = "api_duration";
}

/// The registry. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Metrics {
    started: Instant,
    counters: Mutex<BTreeMap<&'static str, BTreeMap<String, u64>>>,
    timers: Mutex<BTreeMap<&'static str, BTreeMap<String, Timer>>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// An empty registry; uptime counts from now.
    pub fn new() -> Self {
        Self {
            started: Instant::now(),
            counters: Mutex::new(BTreeMap::new()),
            timers: Mutex::new(BTreeMap::new()),
        }
    }

    /// Time since start-up (not reset).
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// Adds `by` to counter `name{label}`.
    pub fn count(&self, name: &'static str, label: impl Into<String>, by: u64) {
        let mut counters = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        *counters
            .entry(name)
            .or_default()
            .entry(label.into())
            .or_default() += by;
    }

    /// Records `duration` in timer `name{label}`.
    pub fn time(&self, name: &'static str, label: impl Into<String>, duration: Duration) {
        let mut timers = self.timers.lock().unwrap_or_else(|e| e.into_inner());
        timers
            .entry(name)
            .or_default()
            .entry(label.into())
            .or_default()
            .record(duration.as_secs_f64() * 1000.0);
    }

    /// A counter's value.
    pub fn counter(&self, name: &'static str, label: &str) -> u64 {
        let counters = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        counters
            .get(name)
            .and_then(|m| m.get(label))
            .copied()
            .unwrap_or(0)
    }

    /// Every counter: name → label → value.
    pub fn counters(&self) -> BTreeMap<&'static str, BTreeMap<String, u64>> {
        self.counters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Every timer: name → label → summary.
    pub fn timers(&self) -> BTreeMap<&'static str, BTreeMap<String, TimerSummary>> {
        let timers = self.timers.lock().unwrap_or_else(|e| e.into_inner());
        timers
            .iter()
            .map(|(name, by_label)| {
                (
                    *name,
                    by_label
                        .iter()
                        .map(|(l, t)| (l.clone(), t.summary()))
                        .collect(),
                )
            })
            .collect()
    }

    /// Clears counters and timers (uptime goes on).
    pub fn reset(&self) {
        self.counters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.timers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timers_summarise_and_reset_clears() {
        let metrics = Metrics::new();
        for ms in 1..=100 {
            metrics.time(names::CHECK_DURATION, "dns", Duration::from_millis(ms));
        }
        metrics.count(names::CHECK_RESULTS, "dns/registered", 3);
        let summary = &metrics.timers()[names::CHECK_DURATION]["dns"];
        assert_eq!(summary.count, 100);
        assert_eq!(summary.min_ms, 1.0);
        assert_eq!(summary.max_ms, 100.0);
        assert_eq!(summary.avg_ms, 50.5);
        assert_eq!(summary.p50_ms, 51.0);
        assert_eq!(summary.p99_ms, 99.0);
        assert_eq!(metrics.counter(names::CHECK_RESULTS, "dns/registered"), 3);
        metrics.reset();
        assert!(metrics.timers().is_empty() && metrics.counters().is_empty());
    }

    #[test]
    fn the_percentile_window_is_bounded() {
        let metrics = Metrics::new();
        for _ in 0..(WINDOW * 3) {
            metrics.time(names::API_DURATION, "GET /status", Duration::from_millis(5));
        }
        let timers = metrics.timers.lock().unwrap();
        assert_eq!(
            timers[names::API_DURATION]["GET /status"].window.len(),
            WINDOW
        );
    }
}
