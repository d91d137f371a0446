//! What the HTTP surface reads about the watched domains: the
//! [`DomainsView`] trait and the shapes it answers with.
//!
//! The controller implements the trait on its domain table; the surface
//! only holds a `dyn DomainsView`. So `web` never names controller types,
//! and the controller names `web` only to implement this trait and to start
//! the server.

use futures::future::BoxFuture;
use serde::Serialize;

use crate::{
    domain_name::DomainName,
    resource::{Availability, MonitoredDomainStatus},
};

/// One watched domain as `/domains` lists it and `/domain/{domain}` starts
/// its answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DomainSummary {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`.
    pub namespace: String,
    /// The domain (A-label when valid, else as written).
    pub domain: String,
    /// `spec.priority`.
    pub priority: bool,
    /// The published verdict (`Registered`, `Available`, ...).
    pub availability: Availability,
    /// Its confidence, 0–1.
    pub confidence: Option<f64>,
    /// When this replica last checked it (RFC 3339), or when its status was
    /// last written.
    pub last_checked_at: Option<String>,
    /// When the next check is due (RFC 3339).
    pub next_check_at: Option<String>,
    /// When the registration expires (RFC 3339).
    pub expires_at: Option<String>,
    /// When the registry is expected to release it (RFC 3339).
    pub predicted_drop_at: Option<String>,
    /// The shard label.
    pub shard: Option<String>,
}

/// One page of the watched domains, sorted by namespace and name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DomainPage {
    /// How many domains matched the filter (on every page).
    pub total: usize,
    /// The domains of this page.
    pub items: Vec<DomainSummary>,
}

/// What [`DomainsView::counts`] counts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DomainCounts {
    /// Domains by availability, every availability (zeros included).
    pub by_availability: Vec<(Availability, u64)>,
    /// Priority domains.
    pub priority: u64,
    /// Availability notifications recorded and not yet delivered.
    pub notifications_pending: u64,
    /// When the oldest of them was recorded.
    pub oldest_pending_notification: Option<jiff::Timestamp>,
}

/// The watched domains, as the HTTP surface reads them.
pub trait DomainsView: Send + Sync {
    /// Whether the watch's first list has been applied.
    fn synced(&self) -> bool;

    /// Domains by availability, priority domains, pending notifications.
    fn counts(&self) -> DomainCounts;

    /// The domains with availability `wanted` (all without), sorted by
    /// namespace and name, `limit` of them from `offset` on.
    fn page(&self, wanted: Option<Availability>, offset: usize, limit: usize) -> DomainPage;

    /// The watched domain named `domain` (by an index, not a scan), with its
    /// whole status as the API server has it (`None` when that read fails).
    /// Two resources naming the same domain: the first by namespace and name.
    fn find<'a>(
        &'a self,
        domain: &'a DomainName,
    ) -> BoxFuture<'a, Option<(DomainSummary, Option<MonitoredDomainStatus>)>>;
}
