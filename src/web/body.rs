//! The JSON bodies of the HTTP surface, one type per answer.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::view::{DomainCounts, DomainSummary};
use crate::{metrics::TimerSummary, resource::MonitoredDomainStatus};

/// Every error: `{"error": "..."}`, a sentence saying what to do.
#[derive(Debug, Serialize)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: String,
}

/// `404`: the error and the endpoints there are.
#[derive(Debug, Serialize)]
pub struct NotFound {
    /// `no endpoint <path>`.
    pub error: String,
    /// Every endpoint, from the route table.
    pub endpoints: Vec<EndpointInfo>,
}

/// One endpoint as a 404 lists it.
#[derive(Debug, Serialize)]
pub struct EndpointInfo {
    /// Methods, e.g. `["GET", "POST"]`.
    pub methods: Vec<&'static str>,
    /// The path template, e.g. `/domain/{domain}`.
    pub path: &'static str,
    /// Who may call it: `open`, `token` or `watchlist` (the token unless
    /// `OPEN_WATCHLIST` is on).
    pub access: &'static str,
    /// What it answers.
    pub what: &'static str,
}

/// `GET /health`: `{"status": "ok"}`.
#[derive(Debug, Serialize)]
pub struct Health {
    /// Always `ok`: the process serves.
    pub status: &'static str,
}

/// `GET /ready` when ready.
#[derive(Debug, Serialize)]
pub struct Ready {
    /// Always `true` (not ready is a 503 error).
    pub ready: bool,
    /// The shards held.
    pub shards: BTreeSet<u32>,
    /// Whether this replica stands by (more replicas than shards).
    pub standby: bool,
}

/// The shards, in `/status` and `/metrics`.
#[derive(Debug, Serialize)]
pub struct Shards {
    /// Number of shards.
    pub total: u32,
    /// The shards this replica holds.
    pub held: BTreeSet<u32>,
    /// Whether this replica stands by (in `/status` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub standby: Option<bool>,
}

/// The watched domains counted, in `/status` and `/metrics`.
#[derive(Debug, Serialize)]
pub struct Counts {
    /// Domains watched by this replica.
    pub total: u64,
    /// Priority domains among them.
    pub priority: u64,
    /// Domains by availability word, only the ones with domains.
    pub by_availability: BTreeMap<&'static str, u64>,
}

impl From<DomainCounts> for Counts {
    fn from(counts: DomainCounts) -> Self {
        let by_availability: BTreeMap<&'static str, u64> = counts
            .by_availability
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .map(|(a, n)| (a.as_str(), n))
            .collect();
        Self {
            total: by_availability.values().sum(),
            priority: counts.priority,
            by_availability,
        }
    }
}

/// The domain list sync, in `/status`.
#[derive(Debug, Serialize)]
pub struct SyncState {
    /// Whether this replica holds the sync Lease.
    pub leader: bool,
}

/// `GET /status`.
#[derive(Debug, Serialize)]
pub struct Status {
    /// This replica's name (`INSTANCE_ID`).
    pub instance: String,
    /// The operator's version.
    pub version: &'static str,
    /// Seconds since start.
    pub uptime_seconds: u64,
    /// The shards.
    pub shards: Shards,
    /// The sync; `null` when `DOMAIN_API_URL` is not set.
    pub sync: Option<SyncState>,
    /// The watched domains counted.
    pub domains: Counts,
}

/// `GET /domains`.
#[derive(Debug, Serialize)]
pub struct DomainList {
    /// Domains matching the filter.
    pub total: usize,
    /// The first item's position among them.
    pub offset: usize,
    /// Most items on this page.
    pub limit: usize,
    /// The page, sorted by namespace and name.
    pub items: Vec<DomainSummary>,
}

/// `GET /domain/{domain}`: the summary's fields and the whole status.
#[derive(Debug, Serialize)]
pub struct DomainDetail {
    /// What `/domains` says about it.
    #[serde(flatten)]
    pub summary: DomainSummary,
    /// The `MonitoredDomain`'s status as the API server has it; `null` when
    /// it has none or cannot be read.
    pub status: Option<MonitoredDomainStatus>,
}

/// `api` in `/metrics`: the HTTP surface's own requests.
#[derive(Debug, Serialize)]
pub struct ApiMetrics {
    /// Requests by `"<METHOD> <route> <status>"`.
    pub calls: BTreeMap<String, u64>,
    /// Their response times by the same key.
    pub response_times: BTreeMap<String, TimerSummary>,
}

/// `check_results` in `/metrics`.
#[derive(Debug, Serialize)]
pub struct CheckResults {
    /// Checks by `"<checker>/<result>"`.
    pub results: BTreeMap<String, u64>,
    /// Verdicts by availability.
    pub verdicts: BTreeMap<String, u64>,
}

/// `GET /metrics`: the metrics as JSON; each optional part is left out when
/// its `include_*` filter is false.
#[derive(Debug, Serialize)]
pub struct Metrics {
    /// This replica's name.
    pub instance: String,
    /// Seconds since start, fractional.
    pub uptime_seconds: f64,
    /// The watched domains counted.
    pub domains: Counts,
    /// The shards.
    pub shards: Shards,
    /// Counters by family and series key (`include_counters`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counters: Option<BTreeMap<&'static str, BTreeMap<String, u64>>>,
    /// Timers by family and series key, in milliseconds (`include_timers`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timers: Option<BTreeMap<&'static str, BTreeMap<String, TimerSummary>>>,
    /// The HTTP surface's requests (`include_api`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api: Option<ApiMetrics>,
    /// Checks and verdicts (`include_check_results`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check_results: Option<CheckResults>,
}

/// `/metrics/reset`.
#[derive(Debug, Serialize)]
pub struct Reset {
    /// Always `true`.
    pub reset: bool,
}

/// `POST /refresh` on a replica that does not hold the sync Lease (409).
#[derive(Debug, Serialize)]
pub struct NotSyncLeader {
    /// Where to send the request instead.
    pub error: String,
    /// The replica that holds the sync Lease, if any.
    pub sync_leader: Option<String>,
}
