//! Figures of the fault and security scenarios (`just chaos`, and the
//! reduced suite inside `just test`).
//!
//! Each scenario writes one JSON object into `$CHAOS_RESULTS_DIR` (default
//! `target/chaos-results`); `scripts/chaos-report.py` collects them into
//! `chaos/results.json` and prints the table. `CHAOS_SCALE=full` makes the
//! scenarios longer and larger; the default is the reduced form CI runs.

use std::{collections::BTreeMap, path::PathBuf};

use serde_json::json;

use super::http_stub::Recorded;

/// How hard the scenarios push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// The reduced suite (CI).
    Reduced,
    /// `just chaos`.
    Full,
}

/// `CHAOS_SCALE` (`full`, else reduced).
pub fn scale() -> Scale {
    match std::env::var("CHAOS_SCALE").as_deref() {
        Ok("full") => Scale::Full,
        _ => Scale::Reduced,
    }
}

/// `reduced` or `full` by the current scale.
pub fn by_scale<T>(reduced: T, full: T) -> T {
    match scale() {
        Scale::Reduced => reduced,
        Scale::Full => full,
    }
}

/// What one scenario measured.
#[derive(Debug, Clone, Default)]
pub struct Figures {
    /// Notifications that should reach the receiver (one per transition).
    pub notifications_expected: u64,
    /// Distinct notifications (idempotency keys) the receiver accepted.
    pub notifications_delivered: u64,
    /// Accepted deliveries beyond the first of each idempotency key.
    pub duplicates: u64,
    /// Resources that existed before and were gone after.
    pub resources_lost: u64,
    /// "Available" verdicts or notifications for names that were not free.
    pub false_available: u64,
    /// Other figures worth reporting (kills, requests refused…).
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl Figures {
    /// Adds a scenario-specific figure under `key`.
    pub fn note(&mut self, key: &str, value: serde_json::Value) {
        self.extra.insert(key.to_owned(), value);
    }

    /// Counts the receiver's accepted notifications: distinct idempotency
    /// keys and deliveries beyond the first of each.
    pub fn count_deliveries(&mut self, notifications: &[Recorded]) {
        let mut per_key: BTreeMap<String, u64> = BTreeMap::new();
        for request in notifications
            .iter()
            .filter(|r| (200..300).contains(&r.status))
        {
            let key = request
                .header("idempotency-key")
                .unwrap_or_default()
                .to_owned();
            *per_key.entry(key).or_default() += 1;
        }
        self.notifications_delivered = per_key.len() as u64;
        self.duplicates = per_key.values().map(|n| n - 1).sum();
    }
}

/// Writes the scenario's figures; `passed` is the verdict of the test's own
/// assertions on them, taken before it asserts.
pub fn record(scenario: &str, injected: &str, figures: &Figures, passed: bool) {
    let dir = std::env::var_os("CHAOS_RESULTS_DIR")
        .map_or_else(|| super::target_dir().join("chaos-results"), PathBuf::from);
    std::fs::create_dir_all(&dir).expect("create the chaos results directory");
    let body = json!({
        "scenario": scenario,
        "injected": injected,
        "scale": match scale() { Scale::Reduced => "reduced", Scale::Full => "full" },
        "notifications_expected": figures.notifications_expected,
        "notifications_delivered": figures.notifications_delivered,
        "duplicates": figures.duplicates,
        "resources_lost": figures.resources_lost,
        "false_available": figures.false_available,
        "passed": passed,
        "extra": figures.extra,
    });
    std::fs::write(
        dir.join(format!("{scenario}.json")),
        serde_json::to_vec_pretty(&body).expect("JSON"),
    )
    .expect("write the scenario's figures");
}

/// The conditions a scenario asserts, each named by what it means, so that a
/// failure lists every one that broke rather than one folded flag.
#[derive(Debug, Default)]
pub struct Conditions {
    failed: Vec<String>,
}

impl Conditions {
    /// Notes that `what` must hold; `holds` is whether it did.
    pub fn require(&mut self, holds: bool, what: impl Into<String>) {
        if !holds {
            self.failed.push(what.into());
        }
    }

    /// The receiver accepted every notification the scenario expected.
    pub fn require_all_delivered(&mut self, figures: &Figures) {
        self.require(
            figures.notifications_delivered == figures.notifications_expected,
            format!(
                "the receiver accepted {} of {} notifications",
                figures.notifications_delivered, figures.notifications_expected
            ),
        );
    }

    /// No resource that existed before is gone.
    pub fn require_nothing_lost(&mut self, figures: &Figures) {
        self.require(
            figures.resources_lost == 0,
            format!("{} resources lost", figures.resources_lost),
        );
    }

    /// No "Available" verdict or notification for a name that was not free.
    pub fn require_no_false_available(&mut self, figures: &Figures) {
        self.require(
            figures.false_available == 0,
            format!("{} false \"Available\"", figures.false_available),
        );
    }

    /// Whether every condition held (the verdict [`record`] writes).
    pub fn passed(&self) -> bool {
        self.failed.is_empty()
    }

    /// Records the scenario's `figures` (see [`record`]) with whether every
    /// condition held, then [`Self::assert_all`] with `context`.
    pub fn conclude(&self, scenario: &str, injected: &str, figures: &Figures, context: &str) {
        record(scenario, injected, figures, self.passed());
        self.assert_all(context);
    }

    /// Panics naming every condition that did not hold, then `context`
    /// (figures, logs).
    pub fn assert_all(&self, context: &str) {
        assert!(
            self.failed.is_empty(),
            "{} condition(s) broken:\n- {}\n{context}",
            self.failed.len(),
            self.failed.join("\n- ")
        );
    }
}
