//! The controller: every `MonitoredDomain` in, status and notifications out.
//!
//! - [`runtime`] wires the process: the watch of this replica's shards, the
//!   check dispatcher, the status writer, the web surface, the sync, and
//!   shutdown.
//! - [`watch`] decodes watched objects slimly; [`state`] folds them into one
//!   compact record per domain and keeps the check schedule.
//! - [`plan`] decides, purely, how deep a due check goes.
//! - [`reconcile`] runs one domain's check: invalid names, the notification
//!   outbox, the layered checks, the new status and its events.
//! - [`status`] builds the status after a check (pure); [`writer`] writes
//!   status patches to the API server, coalesced, ordered and paced, so
//!   checks never wait on it.
//!
//! Write discipline: a status is written when something a user would see
//! changed, and otherwise at most once per `STATUS_HEARTBEAT` (default a
//! day). The freshness of checks in between is served by `/domains`,
//! `/domain/{d}` and the metrics.

pub mod plan;
pub mod reconcile;
pub mod runtime;
pub mod state;
pub mod status;
pub mod watch;
pub mod writer;

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use kube::{
    Api, Client,
    runtime::events::{Recorder, Reporter},
};

use crate::{
    config::{PerCheckCallbacks, RunArgs},
    domain_name::DomainName,
    layered::LayeredChecker,
    metrics::Metrics,
    notify::Notifier,
    resource::{Availability, MonitoredDomain, MonitoredDomainStatus, NotificationDelivery},
    schedule::SchedulePolicy,
    shard::coordinator::ShardHandle,
    web::{DomainCounts, DomainPage, DomainSummary, DomainsView},
};

pub use runtime::run;
use state::Table;
use writer::StatusWriter;

pub use crate::resource::FIELD_MANAGER;
/// The Lease that elects the one replica running the domain list sync.
pub const SYNC_LEASE: &str = "domain-monitor-sync";
/// Per-check callbacks in flight at most; more are dropped (and counted):
/// they are best effort, and a slow receiver must not pile up tasks.
pub const MAX_CHECK_CALLBACKS_IN_FLIGHT: usize = 256;
/// Kubernetes Events waiting for their status write at most; more are
/// dropped (and counted): events are best effort.
pub const MAX_EVENTS_IN_FLIGHT: usize = 256;

/// Why the operator could not start, or why one reconcile failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No kubeconfig or in-cluster service account could be loaded.
    #[error("cannot connect to Kubernetes (set KUBECONFIG or run in a pod): {0}")]
    Connect(#[source] kube::Error),
    /// The CRD is missing from the cluster.
    #[error(
        "the MonitoredDomain CRD is not installed in this cluster: run `kubectl apply -f crds/monitoreddomain.yaml` (or install the Helm chart)"
    )]
    CrdMissing,
    /// Listing MonitoredDomains failed for another reason (RBAC, network).
    #[error("cannot list MonitoredDomains: {0}")]
    List(#[source] kube::Error),
    /// A status write failed.
    #[error("cannot write the status of {resource}: {source}")]
    WriteStatus {
        /// namespace/name.
        resource: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// Moving a resource to its shard (label patch) failed.
    #[error("cannot set the shard label of {resource}: {source}")]
    Relabel {
        /// namespace/name.
        resource: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// The notifier could not be built.
    #[error(transparent)]
    Notifier(#[from] crate::notify::Error),
    /// A reconcile panicked (a bug); the resource is retried.
    #[error("reconcile panicked: {0}")]
    Panicked(String),
    /// The HTTP surface could not listen.
    #[error("cannot listen on LISTEN_ADDR {0}: {1}")]
    Listen(std::net::SocketAddr, #[source] std::io::Error),
    /// The domain list sync could not be set up.
    #[error("cannot set up the domain list sync: {0}")]
    Sync(String),
}

/// Local result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything a check needs.
pub struct Context {
    client: Client,
    checker: Arc<LayeredChecker>,
    schedule: SchedulePolicy,
    heartbeat: Duration,
    notifier: Option<Notifier>,
    per_check: PerCheckCallbacks,
    /// Bounds the per-check callbacks in flight.
    callbacks: Arc<tokio::sync::Semaphore>,
    /// Bounds the events waiting for their status write.
    events: Arc<tokio::sync::Semaphore>,
    recorder: Recorder,
    shards: ShardHandle,
    retry_period: Duration,
    metrics: Arc<Metrics>,
    writer: StatusWriter,
    table: Arc<Mutex<Table>>,
    /// Wakes the dispatcher: the table changed or a check ended.
    wake: tokio::sync::Notify,
    /// Domains newly wanting registration facts, for the dispatcher, and
    /// whether each goes to the head of the deep lane's queue.
    wanted: Mutex<Vec<(u128, bool)>>,
    /// Health mode's delegation probe; `None` when the checker was not
    /// built from the configuration.
    prober: Option<crate::health::delegation::Prober>,
    /// The bound of one whole delegation probe.
    probe_timeout: Duration,
    /// Domains whose delegation probe failed, warned about once (cleared
    /// when a probe succeeds again).
    probe_warned: Mutex<std::collections::HashSet<String>>,
    /// Health mode's DNSSEC probe; `None` when the checker was not built
    /// from the configuration.
    dnssec_prober: Option<crate::health::dnssec::Prober>,
    /// Domains whose DNSSEC probe failed, warned about once (cleared when
    /// a probe succeeds again).
    dnssec_warned: Mutex<std::collections::HashSet<String>>,
}

impl Context {
    /// Builds the context from the configuration; `writer_client` writes the
    /// statuses (built without kube's own retries of 429/503/504).
    pub fn new(
        client: Client,
        writer_client: Client,
        args: &RunArgs,
        checker: Arc<LayeredChecker>,
        shards: ShardHandle,
        metrics: Arc<Metrics>,
    ) -> Result<Self> {
        let notifier = match (&args.api_callback_url, &args.api_auth_token) {
            (Some(url), Some(token)) => Some(Notifier::new(
                url.clone(),
                token.clone(),
                Duration::from_secs(30),
            )?),
            _ => None,
        };
        let reporter = Reporter {
            controller: "domain-monitor".to_owned(),
            instance: Some(args.instance_id.clone()),
        };
        let probe_settings = crate::health::delegation::ProbeSettings {
            timeout: args.checks.dns_timeout,
            nameserver_port: args.checks.nameserver_port,
        };
        let prober = checker.delegation_prober(probe_settings);
        let dnssec_prober = checker.dnssec_prober(args.checks.trust_anchors(), probe_settings);
        Ok(Self {
            prober,
            dnssec_prober,
            dnssec_warned: Mutex::new(std::collections::HashSet::new()),
            // The DNSSEC probe has as many rounds as the delegation probe:
            // the TLD's keys (cached), the resolvers for the root's, the
            // parent's and the domain's servers.
            probe_timeout: probe_settings.probe_timeout(),
            probe_warned: Mutex::new(std::collections::HashSet::new()),
            recorder: Recorder::new(client.clone(), reporter),
            writer: StatusWriter::new(writer_client, Arc::clone(&metrics)),
            client,
            checker,
            schedule: SchedulePolicy {
                check_interval: args.check_interval,
                priority_interval: args.priority_check_interval,
                drop_window_interval: args.drop_window_interval,
                ..SchedulePolicy::default()
            },
            heartbeat: args.status_heartbeat,
            notifier,
            per_check: args.per_check_callbacks,
            callbacks: Arc::new(tokio::sync::Semaphore::new(MAX_CHECK_CALLBACKS_IN_FLIGHT)),
            events: Arc::new(tokio::sync::Semaphore::new(MAX_EVENTS_IN_FLIGHT)),
            shards,
            retry_period: args.shard_retry_period,
            metrics,
            table: Arc::new(Mutex::new(Table::default())),
            wake: tokio::sync::Notify::new(),
            wanted: Mutex::new(Vec::new()),
        })
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `uid` for the deep lane's registration facts (once); `first`
    /// puts it at the head of the queue (a domain in health mode, whose
    /// health waits for them).
    fn want_facts(&self, uid: u128, first: bool) {
        if self.table().want_facts(uid) {
            self.wanted
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((uid, first));
        }
    }

    /// The domains queued by [`Context::want_facts`] since the last call,
    /// and whether each goes first.
    fn take_wanted_facts(&self) -> Vec<(u128, bool)> {
        std::mem::take(&mut *self.wanted.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// What the web surface reads.
    pub fn view(&self) -> DomainView {
        DomainView {
            table: Arc::clone(&self.table),
            client: Some(self.client.clone()),
        }
    }
}

/// The watched domains as the web surface (through [`DomainsView`]) and
/// the metrics see them: a handle on the controller's table (and a client
/// for whole statuses).
#[derive(Clone, Default)]
pub struct DomainView {
    table: Arc<Mutex<Table>>,
    client: Option<Client>,
}

fn rfc3339(seconds: Option<i64>) -> Option<String> {
    seconds
        .and_then(|s| jiff::Timestamp::from_second(s).ok())
        .map(|t| t.to_string())
}

impl DomainView {
    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the watch's first list has been applied.
    pub fn synced(&self) -> bool {
        self.table().synced()
    }

    /// Domains by availability (every availability, zeros included), how
    /// many are priority domains, and their undelivered notifications.
    pub fn counts(&self) -> DomainCounts {
        let table = self.table();
        let mut by = [0_u64; Availability::ALL.len()];
        let mut counts = DomainCounts::default();
        for record in table.iter() {
            if let Some(i) = Availability::ALL
                .iter()
                .position(|a| *a == record.published.availability)
            {
                by[i] += 1;
            }
            counts.priority += u64::from(record.priority);
            if let Some(entry) = &record.published.notification
                && entry.state == NotificationDelivery::Pending
            {
                counts.notifications_pending += 1;
                let created = entry.created_at.0;
                if counts
                    .oldest_pending_notification
                    .is_none_or(|t| created < t)
                {
                    counts.oldest_pending_notification = Some(created);
                }
            }
        }
        counts.by_availability = Availability::ALL.iter().copied().zip(by).collect();
        counts
    }

    /// The gauges of every domain in health mode, sorted by namespace and
    /// name.
    pub fn health_gauges(&self) -> Vec<crate::metrics::HealthGauges> {
        let table = self.table();
        let mut all: Vec<_> = table
            .iter()
            .filter_map(|record| {
                let spec = record.health.as_deref()?;
                let published = record.published.health.as_deref();
                // A view left from before `dnssec: Ignore` is not reported.
                let dnssec = published
                    .and_then(|h| h.status.dnssec.as_ref())
                    .filter(|_| spec.dnssec != crate::resource::DnssecPolicy::Ignore);
                Some(crate::metrics::HealthGauges {
                    namespace: record.namespace.to_string(),
                    name: record.name.to_string(),
                    domain: DomainName::parse(&record.domain)
                        .map_or_else(|_| record.domain.to_string(), |d| d.to_string()),
                    criticality: spec
                        .criticality
                        .clone()
                        .unwrap_or_else(|| "none".to_owned()),
                    expires_at: published.and_then(crate::health::HealthState::expires_at),
                    locked: published
                        .and_then(|h| h.status.lock.as_ref())
                        .map(|l| l.locked),
                    drift: published
                        .and_then(|h| h.status.delegation.as_ref())
                        .map(|d| !d.drift.is_empty() || !d.lame.is_empty()),
                    expiry_warning: crate::health::expiry_warning(spec),
                    // Unsigned under `dnssec: Optional` is no fault: no series.
                    dnssec_valid: dnssec
                        .filter(|d| {
                            spec.dnssec == crate::resource::DnssecPolicy::Required
                                || d.ds_at_parent
                                || d.dnskey_at_child
                        })
                        .map(|d| d.valid),
                    signature_expires_at: dnssec
                        .and_then(|d| d.signature_expires_at.as_ref())
                        .map(|t| t.0.as_second()),
                })
            })
            .collect();
        drop(table);
        all.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        all
    }

    /// Domains not checked by this replica yet.
    pub fn unchecked(&self) -> u64 {
        self.table().unchecked() as u64
    }

    /// Every domain with availability `wanted` (all without), sorted by
    /// namespace and name, `limit` of them from `offset` on. Only the page
    /// is turned into summaries.
    pub fn page(&self, wanted: Option<Availability>, offset: usize, limit: usize) -> DomainPage {
        let table = self.table();
        let mut matching: Vec<&state::DomainState> = table
            .iter()
            .filter(|d| wanted.is_none_or(|w| d.published.availability == w))
            .collect();
        matching.sort_unstable_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        DomainPage {
            total: matching.len(),
            items: matching
                .into_iter()
                .skip(offset)
                .take(limit)
                .map(summary)
                .collect(),
        }
    }

    /// The watched domain `domain` (looked up in the table's index by
    /// domain name; of two resources naming it, the first by namespace and
    /// name), and its whole status from the API server.
    pub async fn find(
        &self,
        domain: &DomainName,
    ) -> Option<(DomainSummary, Option<MonitoredDomainStatus>)> {
        let found = {
            let table = self.table();
            table
                .by_domain(domain)
                .min_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)))
                .map(summary)
        }?;
        let status = match &self.client {
            Some(client) => Api::<MonitoredDomain>::namespaced(client.clone(), &found.namespace)
                .get_status(&found.name)
                .await
                .ok()
                .and_then(|md| md.status),
            None => None,
        };
        Some((found, status))
    }
}

impl DomainsView for DomainView {
    fn synced(&self) -> bool {
        DomainView::synced(self)
    }

    fn counts(&self) -> DomainCounts {
        DomainView::counts(self)
    }

    fn page(&self, wanted: Option<Availability>, offset: usize, limit: usize) -> DomainPage {
        DomainView::page(self, wanted, offset, limit)
    }

    fn find<'a>(
        &'a self,
        domain: &'a DomainName,
    ) -> futures::future::BoxFuture<'a, Option<(DomainSummary, Option<MonitoredDomainStatus>)>>
    {
        Box::pin(DomainView::find(self, domain))
    }
}

fn summary(record: &state::DomainState) -> DomainSummary {
    let published = &record.published;
    DomainSummary {
        name: record.name.to_string(),
        namespace: record.namespace.to_string(),
        domain: DomainName::parse(&record.domain)
            .map_or_else(|_| record.domain.to_string(), |d| d.to_string()),
        priority: record.priority,
        availability: published.availability,
        confidence: published.confidence,
        last_checked_at: record
            .memory
            .last_checked_at
            .map(|t| t.to_string())
            .or_else(|| rfc3339(record.written_at)),
        next_check_at: record.memory.next_check_at.map(|t| t.to_string()),
        expires_at: rfc3339(published.registration.and_then(|r| r.expires_at)),
        predicted_drop_at: rfc3339(published.predicted_drop_at),
        shard: record.shard_label.map(|s| s.to_string()),
    }
}
