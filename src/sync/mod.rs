//! The domain list sync (`DOMAIN_API_URL`): the user's API in, `MonitoredDomain`
//! resources out. [`plan`] is the pure half; this module fetches, applies and
//! runs the periodic loop under a Lease so exactly one replica syncs.
//!
//! Safety rules: a failed, non-2xx, non-JSON or wrongly shaped response
//! changes nothing; bad entries are skipped and reported; pinned resources
//! (no `domainmonitor.io/source=api` label) are never changed; a sync that
//! would delete more than the allowed share of synced resources is refused.

pub mod plan;

use crate::backoff::Backoff;
use std::{collections::BTreeMap, sync::Arc, time::Duration};

use futures::{StreamExt, stream};
use kube::{
    Api, Client, ResourceExt,
    api::{DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams},
};
use serde::Serialize;
use tokio::sync::Mutex;
use tracing::{info, warn};
use url::Url;

use self::plan::{
    DomainList, ExistingResource, ListError, Listed, MassDeletion, RejectedEntry, RejectedSeen,
};
use crate::{
    domain_name::DomainName,
    metrics::{
        Metrics,
        labels::{NoLabels, SyncOutcome, SyncRunLabels, SyncTrigger, SyncTriggerLabels},
    },
    notify::redacted_url,
    resource::{HealthSpec, MonitoredDomain, MonitoredDomainSpec, SOURCE_API, SOURCE_LABEL},
};

/// Largest domain list accepted (bytes).
const MAX_LIST_BYTES: usize = 64 * 1024 * 1024;
/// Bad entries logged one by one; beyond this only the count is logged.
const MAX_LOGGED_REJECTS: usize = 100;
/// Bad entries kept in a summary.
const MAX_REPORTED_REJECTS: usize = 50;
/// Failed API writes logged and kept in a summary; beyond this only counted.
const MAX_REPORTED_WRITE_ERRORS: usize = 20;
/// API writes in flight during one sync.
const WRITE_CONCURRENCY: usize = 16;

/// Why a sync changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The domain API could not be reached or timed out.
    #[error("cannot fetch the domain list from {url}: {error}")]
    Fetch {
        /// The URL, without credentials.
        url: String,
        /// What failed.
        error: String,
    },
    /// The domain API answered with an error status.
    #[error("the domain API at {url} answered {status}")]
    Status {
        /// The URL, without credentials.
        url: String,
        /// The HTTP status.
        status: u16,
    },
    /// The body was larger than the limit.
    #[error("the domain list is larger than {MAX_LIST_BYTES} bytes")]
    TooLarge,
    /// The body was not a domain list.
    #[error(transparent)]
    Malformed(#[from] ListError),
    /// The mass-deletion guard refused the sync.
    #[error(transparent)]
    Refused(#[from] MassDeletion),
    /// Listing the existing resources failed.
    #[error("cannot list MonitoredDomains: {0}")]
    Kube(#[source] kube::Error),
    /// Another replica holds the sync lease.
    #[error("this replica does not hold the sync lease; another replica runs the sync")]
    NotLeader,
}

/// What one sync did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SyncSummary {
    /// Valid domains in the list.
    pub listed: usize,
    /// Resources created.
    pub created: usize,
    /// Synced resources whose priority changed.
    pub updated: usize,
    /// Synced resources deleted.
    pub deleted: usize,
    /// Listed domains already in sync.
    pub unchanged: usize,
    /// Listed domains already watched by a pinned resource.
    pub pinned: usize,
    /// Entries skipped as invalid.
    pub rejected_count: usize,
    /// The first skipped entries, with reasons.
    pub rejected: Vec<RejectedEntry>,
    /// Entries that repeated a domain.
    pub duplicates: usize,
    /// API writes that failed (the next sync retries them).
    pub write_error_count: usize,
    /// The first failed writes, with the API server's answer.
    pub write_errors: Vec<String>,
}

/// Settings of the sync.
#[derive(Debug, Clone)]
pub struct SyncSettings {
    /// The user's domain API.
    pub url: Url,
    /// Namespace of synced resources.
    pub namespace: String,
    /// The only namespace the operator watches, if it is limited to one
    /// (pinned resources elsewhere are not its business).
    pub watch_namespace: Option<String>,
    /// Largest share of synced resources one sync may delete.
    pub max_delete_share: f64,
    /// Number of shards (new resources get their shard label).
    pub shards: u32,
    /// Skip the mass-deletion guard.
    pub allow_mass_delete: bool,
    /// Timeout of the fetch.
    pub timeout: Duration,
}

/// Fetches the domain list and reconciles the synced resources with it.
pub struct DomainSync {
    client: Client,
    http: reqwest::Client,
    settings: SyncSettings,
    metrics: Arc<Metrics>,
    // One sync at a time, whether periodic or on demand.
    running: Mutex<()>,
    // The last list's bad entries: warned about when they change.
    rejected_seen: std::sync::Mutex<RejectedSeen>,
}

impl DomainSync {
    /// A sync toward `settings.url` using `client` for the cluster.
    pub fn new(
        client: Client,
        settings: SyncSettings,
        metrics: Arc<Metrics>,
    ) -> Result<Self, reqwest::Error> {
        crate::net::ensure_crypto_provider();
        let http = reqwest::Client::builder()
            .user_agent(crate::net::USER_AGENT)
            .timeout(settings.timeout)
            .build()?;
        Ok(Self {
            client,
            http,
            settings,
            metrics,
            running: Mutex::new(()),
            rejected_seen: std::sync::Mutex::default(),
        })
    }

    /// Runs one sync now; `trigger` (`scheduled`, `refresh`) labels its
    /// duration in the metrics.
    pub async fn run_once(&self, trigger: SyncTrigger) -> Result<SyncSummary, SyncError> {
        let _guard = self.running.lock().await;
        let started = std::time::Instant::now();
        let result = self.sync().await;
        self.metrics
            .sync_duration
            .record(SyncTriggerLabels { trigger }, started.elapsed());
        let outcome = match &result {
            Ok(summary) => {
                self.metrics
                    .sync_rejected
                    .add(NoLabels, summary.rejected_count as u64);
                SyncOutcome::Ok
            }
            Err(SyncError::Refused(_)) => SyncOutcome::Refused,
            Err(SyncError::Malformed(_)) => SyncOutcome::Malformed,
            Err(_) => SyncOutcome::Failed,
        };
        self.metrics.sync_runs.inc(SyncRunLabels { outcome });
        result
    }

    async fn sync(&self) -> Result<SyncSummary, SyncError> {
        let list = self.fetch().await?;
        // The same bad entries come back on every sync until the list is
        // fixed: they are warned about when they change, and counted always
        // (`rejected` below and `domain_monitor.sync.rejected_entries`).
        let news = self
            .rejected_seen
            .lock()
            .map(|mut seen| seen.changed(&list.rejected))
            .unwrap_or(true);
        if news && list.rejected.is_empty() {
            info!("the domain list has no bad entries any more");
        } else if news {
            for (n, rejected) in list.rejected.iter().enumerate() {
                if n == MAX_LOGGED_REJECTS {
                    warn!(
                        more = list.rejected.len() - n,
                        "more bad domain list entries skipped"
                    );
                    break;
                }
                warn!(index = rejected.index, entry = %rejected.entry, reason = %rejected.reason, "skipping bad domain list entry");
            }
        }
        let existing = self.existing().await?;
        let plan = plan::plan(
            &list,
            &existing,
            self.settings.max_delete_share,
            self.settings.allow_mass_delete,
        )?;
        let mut summary = SyncSummary {
            listed: list.domains.len(),
            unchanged: plan.unchanged,
            pinned: plan.pinned,
            rejected_count: list.rejected.len(),
            rejected: list
                .rejected
                .iter()
                .take(MAX_REPORTED_REJECTS)
                .cloned()
                .collect(),
            duplicates: list.duplicates,
            ..SyncSummary::default()
        };
        let api: Api<MonitoredDomain> =
            Api::namespaced(self.client.clone(), &self.settings.namespace);
        let shards = self.settings.shards;
        let ops = plan
            .create
            .into_iter()
            .map(|(domain, listed)| Op::Create(domain, listed, shards))
            .chain(
                plan.update
                    .into_iter()
                    .map(|(name, listed)| Op::Update(name, listed)),
            )
            .chain(plan.delete.into_iter().map(Op::Delete));
        let results: Vec<(OpKind, Result<(), String>)> =
            stream::iter(ops.map(|op| apply(api.clone(), op)))
                .buffer_unordered(WRITE_CONCURRENCY)
                .collect()
                .await;
        for (kind, result) in results {
            match result {
                Ok(()) => match kind {
                    OpKind::Create => summary.created += 1,
                    OpKind::Update => summary.updated += 1,
                    OpKind::Delete => summary.deleted += 1,
                },
                Err(error) => {
                    summary.write_error_count += 1;
                    if summary.write_errors.len() < MAX_REPORTED_WRITE_ERRORS {
                        warn!(%error, "domain list sync could not write a MonitoredDomain");
                        summary.write_errors.push(error);
                    }
                }
            }
        }
        info!(
            listed = summary.listed,
            created = summary.created,
            updated = summary.updated,
            deleted = summary.deleted,
            unchanged = summary.unchanged,
            pinned = summary.pinned,
            rejected = summary.rejected_count,
            duplicates = summary.duplicates,
            write_errors = summary.write_error_count,
            "domain list synced"
        );
        Ok(summary)
    }

    async fn fetch(&self) -> Result<DomainList, SyncError> {
        let url = redacted_url(&self.settings.url);
        let mut response = self
            .http
            .get(self.settings.url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| SyncError::Fetch {
                url: url.clone(),
                error: e.without_url().to_string(),
            })?;
        if !response.status().is_success() {
            return Err(SyncError::Status {
                url,
                status: response.status().as_u16(),
            });
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| SyncError::Fetch {
            url: url.clone(),
            error: e.without_url().to_string(),
        })? {
            if body.len() + chunk.len() > MAX_LIST_BYTES {
                return Err(SyncError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(plan::parse_domain_list(&body)?)
    }

    async fn existing(&self) -> Result<Vec<ExistingResource>, SyncError> {
        let api: Api<MonitoredDomain> = match &self.settings.watch_namespace {
            Some(namespace) => Api::namespaced(self.client.clone(), namespace),
            None => Api::all(self.client.clone()),
        };
        let mut resources = Vec::new();
        let mut params = ListParams::default().limit(500);
        loop {
            let page = api.list(&params).await.map_err(SyncError::Kube)?;
            for md in &page.items {
                let synced = md.namespace().as_deref() == Some(self.settings.namespace.as_str())
                    && md.labels().get(SOURCE_LABEL).map(String::as_str) == Some(SOURCE_API);
                resources.push(ExistingResource {
                    name: md.name_any(),
                    domain: DomainName::parse(&md.spec.domain).ok(),
                    priority: md.spec.priority,
                    health: md.spec.health.clone(),
                    synced,
                });
            }
            match page.metadata.continue_.filter(|c| !c.is_empty()) {
                Some(token) => params = params.continue_token(&token),
                None => break,
            }
        }
        Ok(resources)
    }
}

/// One write of a sync.
enum Op {
    Create(String, Listed, u32),
    Update(String, Listed),
    Delete(String),
}

#[derive(Clone, Copy)]
enum OpKind {
    Create,
    Update,
    Delete,
}

async fn apply(api: Api<MonitoredDomain>, op: Op) -> (OpKind, Result<(), String>) {
    match op {
        Op::Create(domain, listed, shards) => (
            OpKind::Create,
            create(&api, &domain, listed, shards)
                .await
                .map_err(|e| format!("create {domain}: {e}")),
        ),
        Op::Update(name, listed) => {
            let patch = serde_json::json!({"spec": {
                "priority": listed.priority,
                "health": listed.health.as_ref().map(health_patch),
            }});
            let result = api
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map(|_| ())
                .map_err(|e| format!("update {name}: {e}"));
            (OpKind::Update, result)
        }
        Op::Delete(name) => {
            let result = match api.delete(&name, &DeleteParams::default()).await {
                Ok(_) => Ok(()),
                Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
                Err(e) => Err(format!("delete {name}: {e}")),
            };
            (OpKind::Delete, result)
        }
    }
}

/// `health` as a JSON merge patch: every field, `null` for those unset, so
/// that settings the list dropped are removed.
fn health_patch(health: &HealthSpec) -> serde_json::Value {
    let mut patch = serde_json::to_value(health).unwrap_or_default();
    if let Some(fields) = patch.as_object_mut() {
        for field in [
            "expectedNameservers",
            "registryLock",
            "dnssec",
            "expiryWarning",
            "criticality",
        ] {
            fields.entry(field).or_insert(serde_json::Value::Null);
        }
    }
    patch
}

async fn create(
    api: &Api<MonitoredDomain>,
    domain: &str,
    listed: Listed,
    shards: u32,
) -> Result<(), kube::Error> {
    let shard = crate::shard::shard_of_key(domain, shards);
    let resource = MonitoredDomain {
        metadata: ObjectMeta {
            // A-labels are valid object names.
            name: Some(domain.to_owned()),
            labels: Some(BTreeMap::from([
                (SOURCE_LABEL.to_owned(), SOURCE_API.to_owned()),
                (crate::shard::SHARD_LABEL.to_owned(), shard.to_string()),
            ])),
            ..ObjectMeta::default()
        },
        spec: MonitoredDomainSpec {
            domain: domain.to_owned(),
            priority: listed.priority,
            check_interval: None,
            health: listed.health,
        },
        status: None,
    };
    match api.create(&PostParams::default(), &resource).await {
        Ok(_) => Ok(()),
        // Created by a previous, interrupted sync: fine.
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
        Err(err) => Err(err),
    }
}

/// Runs the sync every `interval`, but only while `leader` says this replica
/// holds the sync lease. A sync that could not fetch or apply the list is
/// retried sooner: after 10 s, doubling, never later than `interval`. A
/// refused sync (mass deletion) waits for the next interval: it needs a person.
pub async fn run_periodic(
    sync: Arc<DomainSync>,
    interval: Duration,
    mut leader: tokio::sync::watch::Receiver<bool>,
) {
    let mut failures: u32 = 0;
    let mut wait = Duration::ZERO;
    loop {
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            changed = leader.changed() => {
                if changed.is_err() {
                    return;
                }
                if *leader.borrow() {
                    info!("this replica now runs the domain list sync");
                } else {
                    continue;
                }
            }
        }
        wait = interval;
        if !*leader.borrow() {
            continue;
        }
        match sync.run_once(SyncTrigger::Scheduled).await {
            Ok(_) => failures = 0,
            Err(err) => {
                let retry = retry_after_failure(&err, failures, interval);
                failures = failures.saturating_add(1);
                warn!(error = %err, retry_in = ?retry, "domain list sync changed nothing");
                wait = retry;
            }
        }
    }
}

/// When to try again after a failed sync.
fn retry_after_failure(err: &SyncError, failures: u32, interval: Duration) -> Duration {
    if matches!(err, SyncError::Refused(_)) {
        return interval;
    }
    Backoff::new(Duration::from_secs(10), interval).delay_at(failures + 1, 0.5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_syncs_are_retried_sooner_but_refusals_are_not() {
        let hour = Duration::from_secs(3600);
        let fetch = SyncError::TooLarge;
        assert_eq!(
            retry_after_failure(&fetch, 0, hour),
            Duration::from_secs(10)
        );
        assert_eq!(
            retry_after_failure(&fetch, 3, hour),
            Duration::from_secs(80)
        );
        assert_eq!(retry_after_failure(&fetch, 20, hour), hour);
        let refused = SyncError::Refused(plan::MassDeletion {
            deletions: 2,
            synced: 2,
            share: 100.0,
            allowed: 25.0,
        });
        assert_eq!(retry_after_failure(&refused, 0, hour), hour);
    }
}
