//! The reconcile loop: every `MonitoredDomain` in, status and notifications out.
//!
//! Per resource, a reconcile (1) marks invalid names `Invalid` and stops,
//! (2) delivers a pending availability notification that is due (the status
//! is the durable outbox), (3) runs the layered checks when they are due, and
//! writes the status only when something visible changed or the heartbeat is
//! due (see [`status`]), and (4) requeues at the next due time. Status writes
//! don't re-trigger reconciles: the watch is filtered on `metadata.generation`.

pub mod status;

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::StreamExt;
use jiff::Timestamp;
use kube::{
    Api, Client, Resource, ResourceExt,
    api::{Patch, PatchParams},
    runtime::{
        Controller, WatchStreamExt,
        controller::{Action, Config as ControllerConfig},
        events::{Event, EventType, Recorder, Reporter},
        predicates,
        reflector::{self, Store},
        watcher,
    },
};
use rand::Rng;
use tracing::{Instrument, debug, info, warn};

use crate::{
    check::{
        CheckKind, CheckOutcome, Layer,
        layered::{Depth, Evaluation, LayeredChecker},
    },
    config::{PerCheckCallbacks, RunArgs},
    domain_name::DomainName,
    metrics::{Metrics, Snapshot, SnapshotSource, names},
    notify::{
        Delivery, Notifier,
        payload::{CheckResultPayload, availability_notification, idempotency_key},
        retry_delay,
    },
    ratelimit::Urgency,
    resource::{Availability, MonitoredDomain, MonitoredDomainStatus, NotificationDelivery},
    schedule::{DomainTiming, SchedulePolicy},
    shard::{
        SHARD_LABEL,
        coordinator::{Coordinator, ShardHandle, ShardSettings},
    },
    verdict::{Background, Confirmed},
    web::{SyncHandle, WebState},
};

/// The field manager of every status write.
pub const FIELD_MANAGER: &str = "domain-monitor";
/// How often registration facts (expiry, statuses) of a registered name are
/// refreshed from layer 2 although layer 1 already proves registration.
const FACTS_REFRESH: Duration = Duration::from_secs(24 * 3600);
/// The same for names in a lifecycle phase (Expiring, PendingDelete), whose
/// registry statuses move on within days.
const LIFECYCLE_FACTS_REFRESH: Duration = Duration::from_secs(3600);
/// How often a name confirmed `Available` goes back to the deep layers
/// although the cheap ones still see it free: their budgets serve names whose
/// state may have changed first.
const AVAILABLE_RECONFIRM: Duration = Duration::from_secs(3600);
/// The Lease that elects the one replica running the domain list sync.
pub const SYNC_LEASE: &str = "domain-monitor-sync";
/// Requeue delay after a failed reconcile (API errors).
const ERROR_REQUEUE: Duration = Duration::from_secs(15);

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

/// What the controller remembers about a domain between reconciles. A
/// replica without it (just started, or just took the shard over) starts
/// from the status: [`DomainMemory::from_status`].
#[derive(Debug, Clone, Default, PartialEq)]
struct DomainMemory {
    next_check_at: Option<Timestamp>,
    consecutive_errors: u32,
    facts_refreshed_at: Option<Timestamp>,
    generation: Option<i64>,
    /// First answer of the registry's current run of "not in the registry
    /// database" (confirmation over time, see [`crate::verdict`]).
    registry_absent_since: Option<Timestamp>,
    /// The last confirmation of an `Available` reading by the deep layers.
    confirmed: Option<Confirmed>,
}

impl DomainMemory {
    /// What the status says about a domain's schedule and the age of its
    /// registration facts, so that a restart or a shard handover neither
    /// checks every domain at once nor asks RDAP for every domain's facts
    /// again. The next check is never later than an interval, as configured
    /// now, after the last one; without a last check it is due now.
    fn from_status(
        status: &MonitoredDomainStatus,
        schedule: &SchedulePolicy,
        timing: &DomainTiming,
        now: Timestamp,
    ) -> Self {
        let after = |t: Timestamp, d: Duration| {
            jiff::SignedDuration::try_from(d)
                .ok()
                .and_then(|d| t.checked_add(d).ok())
                .unwrap_or(Timestamp::MAX)
        };
        let next_check_at = status
            .last_checked_at
            .as_ref()
            .zip(status.next_check_at.as_ref())
            .map(|(last, next)| next.0.min(after(last.0, schedule.interval(timing, now))));
        // Facts come with a registered answer from RDAP or WHOIS.
        let facts_refreshed_at = status.registration.as_ref().and_then(|_| {
            [CheckKind::Rdap, CheckKind::Whois]
                .iter()
                .filter_map(|kind| status.checks.get(kind.as_str()))
                .filter(|record| record.result == CheckOutcome::Registered)
                .map(|record| record.checked_at.0)
                .max()
        });
        Self {
            next_check_at,
            consecutive_errors: u32::from(status.availability == Availability::Error),
            facts_refreshed_at,
            generation: status.observed_generation,
            // Not in the status: a restarted replica confirms a free name
            // once more before it trusts it.
            registry_absent_since: None,
            confirmed: None,
        }
    }
}

/// Everything a reconcile needs.
pub struct Context {
    client: Client,
    checker: Arc<LayeredChecker>,
    schedule: SchedulePolicy,
    heartbeat: Duration,
    notifier: Option<Notifier>,
    per_check: PerCheckCallbacks,
    recorder: Recorder,
    memory: Mutex<HashMap<String, DomainMemory>>,
    shards: ShardHandle,
    retry_period: Duration,
    metrics: Arc<Metrics>,
}

impl Context {
    /// Builds the context from the configuration.
    pub fn new(
        client: Client,
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
        Ok(Self {
            recorder: Recorder::new(client.clone(), reporter),
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
            memory: Mutex::new(HashMap::new()),
            shards,
            retry_period: args.shard_retry_period,
            metrics,
        })
    }

    fn remember(&self, uid: &str) -> Option<DomainMemory> {
        let memory = self.memory.lock().unwrap_or_else(|e| e.into_inner());
        memory.get(uid).cloned()
    }

    fn store(&self, uid: &str, value: DomainMemory) {
        let mut memory = self.memory.lock().unwrap_or_else(|e| e.into_inner());
        memory.insert(uid.to_owned(), value);
    }
}

/// Reads the values metrics collect rather than count: the watched domains by
/// availability (from the watch cache), the shards, the rate-limit waits.
fn snapshot_source(
    store: Arc<std::sync::RwLock<Option<Store<MonitoredDomain>>>>,
    shards: ShardHandle,
    checker: Arc<LayeredChecker>,
) -> SnapshotSource {
    Arc::new(move || {
        let domains = store
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(Store::state)
            .unwrap_or_default();
        let mut by_availability: BTreeMap<String, u64> = Availability::ALL
            .iter()
            .map(|a| (format!("{a:?}"), 0))
            .collect();
        for md in &domains {
            let availability = md
                .status
                .as_ref()
                .map_or(Availability::Unknown, |s| s.availability);
            *by_availability
                .entry(format!("{availability:?}"))
                .or_default() += 1;
        }
        Snapshot {
            domains: by_availability,
            priority: domains.iter().filter(|md| md.spec.priority).count() as u64,
            shards_held: shards.held().len() as u64,
            shards_total: u64::from(shards.total()),
            rate_limit_waits: checker.rate_limit_waits(),
        }
    })
}

/// Runs the controller until SIGINT/SIGTERM. With a `meter`, every metric is
/// also exported over OTLP.
pub async fn run(
    args: RunArgs,
    checker: Arc<LayeredChecker>,
    meter: Option<opentelemetry::metrics::Meter>,
) -> Result<()> {
    crate::net::ensure_crypto_provider();
    let client = Client::try_default().await.map_err(Error::Connect)?;
    let domains: Api<MonitoredDomain> = match &args.watch_namespace {
        Some(namespace) => Api::namespaced(client.clone(), namespace),
        None => Api::all(client.clone()),
    };
    ensure_crd_installed(&domains).await?;
    if args.api_callback_url.is_none() {
        warn!("API_CALLBACK_URL is not set: verdicts go to status only, nobody is notified");
    }
    let listener = crate::web::bind(args.listen_addr)
        .await
        .map_err(|e| Error::Listen(args.listen_addr, e))?;
    let shutdown = shutdown_signal();
    let metrics = Arc::new(Metrics::new());
    let (coordinator, shards) = Coordinator::new(
        client.clone(),
        ShardSettings {
            shards: args.shards,
            namespace: args.namespace.clone(),
            identity: args.instance_id.clone(),
            lease_duration: args.shard_lease_duration,
            renew_deadline: args.shard_renew_deadline,
            retry_period: args.shard_retry_period,
        },
    );
    let coordination = tokio::spawn(coordinator.run(wait_for(shutdown.clone())));
    let labeler = tokio::spawn(crate::shard::label_unsharded(
        domains.clone(),
        args.shards,
        wait_for(shutdown.clone()),
    ));
    let context = Arc::new(Context::new(
        client.clone(),
        &args,
        Arc::clone(&checker),
        shards.clone(),
        Arc::clone(&metrics),
    )?);
    let (sync, sync_handle) = match start_sync(&client, &args, &metrics).await? {
        Some((running, handle)) => (Some(running), Some(handle)),
        None => (None, None),
    };
    let store_handle = Arc::new(std::sync::RwLock::new(None));
    let snapshot = snapshot_source(
        Arc::clone(&store_handle),
        shards.clone(),
        Arc::clone(&checker),
    );
    if let Some(meter) = &meter {
        crate::otel::instrument(meter, &metrics, Arc::clone(&snapshot));
        info!("exporting metrics over OTLP");
    }
    let web_state = Arc::new(WebState {
        instance: args.instance_id.clone(),
        token: args.api_auth_token.clone(),
        metrics: Arc::clone(&metrics),
        shards: shards.clone(),
        store: Arc::clone(&store_handle),
        sync: sync_handle,
        snapshot,
    });
    match listener.local_addr() {
        Ok(addr) => {
            info!(%addr, "HTTP surface listening (/health, /ready, /status, /domains, /metrics)")
        }
        Err(err) => warn!(error = %err, "HTTP surface address unknown"),
    }
    let web = tokio::spawn(crate::web::serve(
        web_state,
        listener,
        wait_for(shutdown.clone()),
    ));
    info!(instance = %args.instance_id, shards = args.shards, concurrency = args.max_concurrent_checks, "operator started");

    // The watch covers this replica's shards only; it restarts when they change.
    let mut changes = shards.changes();
    while !*shutdown.borrow() {
        let held = changes.borrow_and_update().clone();
        checker.set_budget_share(shards.share());
        if held.is_empty() {
            debug!("no shard held yet");
            tokio::select! {
                _ = changes.changed() => continue,
                () = wait_for(shutdown.clone()) => break,
            }
        }
        let selector = format!(
            "{SHARD_LABEL} in ({})",
            held.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(",")
        );
        info!(shards = ?held, "watching the resources of these shards");
        let (reader, writer) = reflector::store();
        *store_handle.write().unwrap_or_else(|e| e.into_inner()) = Some(reader.clone());
        let stream = watcher(
            domains.clone(),
            watcher::Config::default().labels(&selector).any_semantic(),
        )
        .default_backoff()
        // managedFields are large and never read: keep them out of the cache.
        .modify(|md: &mut MonitoredDomain| md.managed_fields_mut().clear())
        .reflect(writer)
        .applied_objects()
        // Status writes don't change the generation, so they don't re-trigger.
        .predicate_filter(predicates::generation, Default::default());
        let mut restart = changes.clone();
        let stop = {
            let shutdown = shutdown.clone();
            async move {
                tokio::select! {
                    _ = restart.changed() => {}
                    () = wait_for(shutdown) => {}
                }
            }
        };
        // Not a graceful shutdown: that waits for every scheduled requeue (up to
        // an hour away). Dropping the stream cancels in-flight reconciles, which
        // loses nothing: the status in the API server is the state.
        Controller::for_stream(stream, reader)
            .with_config(ControllerConfig::default().concurrency(args.max_concurrent_checks))
            .run(reconcile, error_policy, Arc::clone(&context))
            .take_until(stop)
            .for_each(|result| async move {
                match result {
                    Ok((object, _)) => debug!(resource = %object, "reconciled"),
                    Err(err) => warn!(error = %err, "reconcile failed"),
                }
            })
            .await;
    }
    // The web surface holds a receiver of the sync lease: stop it first so
    // the lease is released when the sync stops.
    if tokio::time::timeout(Duration::from_secs(5), web)
        .await
        .is_err()
    {
        warn!("timed out stopping the HTTP surface");
    }
    if let Some(sync) = sync {
        sync.stop().await;
    }
    labeler.abort();
    // The coordinator releases every shard on shutdown so others take over at once.
    if tokio::time::timeout(Duration::from_secs(10), coordination)
        .await
        .is_err()
    {
        warn!("timed out releasing shard leases");
    }
    info!("operator stopped");
    Ok(())
}

/// A flag that turns true on SIGINT or SIGTERM.
fn shutdown_signal() -> tokio::sync::watch::Receiver<bool> {
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(err) => {
                    warn!(error = %err, "cannot listen for SIGTERM");
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            () = terminate => {}
        }
        info!("shutting down");
        let _ = tx.send(true);
    });
    rx
}

/// Resolves once `flag` is true.
async fn wait_for(mut flag: tokio::sync::watch::Receiver<bool>) {
    let _ = flag.wait_for(|set| *set).await;
}

/// The running domain list sync and its lease.
struct RunningSync {
    task: tokio::task::JoinHandle<()>,
    lease: tokio::task::JoinHandle<
        Result<kube_lease_manager::LeaseManager, kube_lease_manager::LeaseManagerError>,
    >,
}

impl RunningSync {
    /// Stops syncing and releases the lease so another replica takes over at once.
    async fn stop(self) {
        // Aborting the loop drops the lease receiver; the lease task then releases.
        self.task.abort();
        match tokio::time::timeout(Duration::from_secs(5), self.lease).await {
            Ok(Ok(Ok(_))) => debug!("sync lease released"),
            Ok(Ok(Err(err))) => warn!(error = %err, "cannot release the sync lease"),
            Ok(Err(err)) => warn!(error = %err, "sync lease task failed"),
            Err(_) => warn!("timed out releasing the sync lease"),
        }
    }
}

/// Starts the periodic domain list sync under the `domain-monitor-sync`
/// Lease, when `DOMAIN_API_URL` is set.
async fn start_sync(
    client: &Client,
    args: &RunArgs,
    metrics: &Arc<Metrics>,
) -> Result<Option<(RunningSync, SyncHandle)>> {
    let Some(url) = &args.domain_api_url else {
        info!("DOMAIN_API_URL is not set: only MonitoredDomains applied by hand are watched");
        return Ok(None);
    };
    let settings = crate::sync::SyncSettings {
        url: url.clone(),
        namespace: args.namespace.clone(),
        watch_namespace: args.watch_namespace.clone(),
        max_delete_share: args.sync_max_delete_share,
        shards: args.shards,
        allow_mass_delete: args.sync_allow_mass_delete,
        timeout: Duration::from_secs(60),
    };
    let sync = Arc::new(
        crate::sync::DomainSync::new(client.clone(), settings, Arc::clone(metrics))
            .map_err(|e| Error::Sync(e.to_string()))?,
    );
    let manager = kube_lease_manager::LeaseManagerBuilder::new(client.clone(), SYNC_LEASE)
        .with_namespace(args.namespace.clone())
        .with_identity(args.instance_id.clone())
        .with_duration(15)
        .with_grace(5)
        .with_field_manager(FIELD_MANAGER)
        .build()
        .await
        .map_err(|e| Error::Sync(format!("lease {SYNC_LEASE}: {e}")))?;
    let (leader, lease) = manager.watch().await;
    let handle = SyncHandle {
        sync: Arc::clone(&sync),
        leader: leader.clone(),
        leases: Api::namespaced(client.clone(), &args.namespace),
    };
    let task = tokio::spawn(crate::sync::run_periodic(
        sync,
        args.domain_api_refresh_interval,
        leader,
    ));
    Ok(Some((RunningSync { task, lease }, handle)))
}

async fn ensure_crd_installed(domains: &Api<MonitoredDomain>) -> Result<()> {
    match domains
        .list_metadata(&kube::api::ListParams::default().limit(1))
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Err(Error::CrdMissing),
        Err(err) => Err(Error::List(err)),
    }
}

/// Reconciles one resource. A panic inside (a bug) becomes an error for this
/// resource, counted, logged and retried with back-off, instead of taking the
/// whole operator down.
async fn reconcile(resource: Arc<MonitoredDomain>, ctx: Arc<Context>) -> Result<Action> {
    let name = resource.name_any();
    let span = tracing::info_span!(
        "reconcile",
        resource = %name,
        namespace = resource.namespace().unwrap_or_default(),
        domain = %resource.spec.domain,
    );
    let outcome = guard_panics(reconcile_one(resource, Arc::clone(&ctx)))
        .instrument(span)
        .await;
    match outcome {
        Ok(result) => result,
        Err(message) => {
            tracing::error!(resource = %name, panic = %message, "reconcile panicked");
            Err(Error::Panicked(message))
        }
    }
}

/// Runs `future`, turning a panic into `Err` with the panic's message.
async fn guard_panics<T>(
    future: impl std::future::Future<Output = T>,
) -> std::result::Result<T, String> {
    use futures::FutureExt;
    std::panic::AssertUnwindSafe(future)
        .catch_unwind()
        .await
        .map_err(|panic| {
            panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".to_owned())
        })
}

async fn reconcile_one(resource: Arc<MonitoredDomain>, ctx: Arc<Context>) -> Result<Action> {
    let now = Timestamp::now();
    let uid = resource.uid().unwrap_or_default();
    let namespace = resource.namespace().unwrap_or_default();
    let api: Api<MonitoredDomain> = Api::namespaced(ctx.client.clone(), &namespace);
    let generation = resource.metadata.generation;
    let mut current = resource.status.clone();

    let shard = crate::shard::shard_for(&resource, ctx.shards.total());
    let labelled = resource
        .labels()
        .get(SHARD_LABEL)
        .and_then(|l| l.parse::<u32>().ok());
    if labelled != Some(shard) {
        // The domain changed (or the label is wrong): move the resource to
        // its shard; the replica holding that shard takes it from there.
        let patch = serde_json::json!({"metadata": {"labels": {SHARD_LABEL: shard.to_string()}}});
        api.patch(
            &resource.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
        .map_err(|source| Error::Relabel {
            resource: format!("{namespace}/{}", resource.name_any()),
            source,
        })?;
        return Ok(Action::await_change());
    }
    if !ctx.shards.owns(shard) {
        // Lost (or not yet renewed) the shard: hands off until it is ours again.
        return Ok(Action::requeue(ctx.retry_period));
    }

    let domain = match DomainName::parse(&resource.spec.domain) {
        Ok(domain) => domain,
        Err(err) => {
            let already = current.as_ref().is_some_and(|s| {
                s.availability == Availability::Invalid && s.observed_generation == generation
            });
            if !already {
                let new = status::invalid(current.as_ref(), &err.to_string(), generation, now);
                write_status(&api, &resource, &new).await?;
                ctx.metrics.count(names::STATUS_WRITES, "invalid", 1);
                publish(
                    &ctx,
                    &resource,
                    EventType::Warning,
                    "InvalidDomain",
                    &err.to_string(),
                )
                .await;
                warn!(resource = %resource.name_any(), error = %err, "invalid domain");
            }
            return Ok(Action::await_change());
        }
    };

    if let Some(status) = &current
        && let Some(delivered) = deliver_if_due(&ctx, &api, &resource, status, now).await?
    {
        current = Some(delivered);
    }

    let mut memory = ctx.remember(&uid).unwrap_or_else(|| {
        current
            .as_ref()
            .map_or_else(DomainMemory::default, |status| {
                let drop = status.predicted_drop_at.as_ref().map(|t| t.0);
                let timing = domain_timing(&resource, drop, 0);
                DomainMemory::from_status(status, &ctx.schedule, &timing, now)
            })
    });
    let spec_changed = memory.generation != generation;
    let due = spec_changed || memory.next_check_at.is_none_or(|t| t <= now);
    if due {
        let in_lifecycle = current.as_ref().is_some_and(|s| {
            matches!(
                s.availability,
                Availability::Expiring | Availability::PendingDelete
            )
        });
        let facts_refresh = if in_lifecycle {
            LIFECYCLE_FACTS_REFRESH
        } else {
            FACTS_REFRESH
        };
        let refresh_facts = memory
            .facts_refreshed_at
            .is_none_or(|t| elapsed(t, now) >= facts_refresh);
        let reverify = current
            .as_ref()
            .is_some_and(|s| s.availability == Availability::Available)
            && memory
                .confirmed
                .as_ref()
                .is_some_and(|c| elapsed(c.at, now) < AVAILABLE_RECONFIRM);
        let depth = if reverify {
            Depth::Reverify
        } else if refresh_facts {
            Depth::RegistrationFacts
        } else {
            Depth::Escalate
        };
        let drop = current
            .as_ref()
            .and_then(|s| s.predicted_drop_at.as_ref())
            .map(|t| t.0);
        let in_drop_window = drop.is_some_and(|d| {
            ctx.schedule
                .interval(&domain_timing(&resource, Some(d), 0), now)
                <= ctx.schedule.drop_window_interval
        });
        let background = Background {
            registry_absent_since: memory.registry_absent_since,
            confirmed: memory.confirmed.clone(),
            previously: current
                .as_ref()
                .map_or(Availability::Unknown, |s| s.availability),
            urgency: if resource.spec.priority || in_drop_window {
                Urgency::Watched
            } else {
                Urgency::Routine
            },
            ..Background::default()
        };
        let evaluation = ctx.checker.evaluate(&domain, depth, background).await;
        record_evaluation(&ctx.metrics, &evaluation);
        if depth == Depth::RegistrationFacts {
            memory.facts_refreshed_at = Some(now);
        }
        remember_free_evidence(&mut memory, &evaluation);
        memory.consecutive_errors = if evaluation.verdict.availability == Availability::Error {
            memory.consecutive_errors.saturating_add(1)
        } else {
            0
        };
        let predicted_drop_at = evaluation.verdict.predicted_drop_at.or_else(|| {
            current
                .as_ref()
                .and_then(|s| s.predicted_drop_at.as_ref())
                .map(|t| t.0)
        });
        let timing = domain_timing(&resource, predicted_drop_at, memory.consecutive_errors);
        let jitter = rand::rng().random_range(0.0..=1.0);
        let mut next_check_at = ctx
            .schedule
            .next_check_at(&timing, evaluation.finished_at, jitter);
        if evaluation.verdict.awaits_registry_confirmation()
            && let Some(since) = memory.registry_absent_since
        {
            // A drop waits for nothing but its confirmation: ask again as
            // soon as the registry's second answer can count.
            let confirm_at = add(since, ctx.checker.policy().registry_confirm_after);
            next_check_at = next_check_at.min(confirm_at.max(evaluation.finished_at));
        }
        if evaluation.urgency == Urgency::Confirming
            && !evaluation.verdict.notify
            && let Some(wait) = evaluation
                .reports
                .iter()
                .filter(|r| r.outcome == CheckOutcome::RateLimited)
                .filter_map(|r| r.retry_after)
                .max()
        {
            // A change being confirmed that a throttled server held up: try
            // again when the server lets us, at the head of its queue.
            next_check_at = next_check_at.min(add(evaluation.finished_at, wait));
        }
        memory.next_check_at = Some(next_check_at);
        memory.generation = generation;
        ctx.store(&uid, memory.clone());

        let new = after_check(
            &ctx,
            &resource,
            current.as_ref(),
            &evaluation,
            next_check_at,
        );
        if status::needs_write(
            current.as_ref(),
            &new,
            ctx.heartbeat,
            evaluation.finished_at,
        ) {
            let changed = status::changed_fields(current.as_ref(), &new);
            debug!(domain = %domain, ?changed, "writing status");
            write_status(&api, &resource, &new).await?;
            let reason = if changed.is_empty() {
                "heartbeat"
            } else {
                "change"
            };
            ctx.metrics.count(names::STATUS_WRITES, reason, 1);
        }
        announce(&ctx, &resource, current.as_ref(), &new, &evaluation).await;
        send_check_results(&ctx, current.as_ref(), &evaluation);
        current = Some(new);
        if let Some(status) = &current
            && let Some(delivered) =
                deliver_if_due(&ctx, &api, &resource, status, Timestamp::now()).await?
        {
            current = Some(delivered);
        }
    }

    let mut wake = memory.next_check_at.unwrap_or(now);
    if let Some(notification) = current.as_ref().and_then(|s| s.notification.as_ref())
        && notification.state == NotificationDelivery::Pending
        && let Some(next) = &notification.next_attempt_at
    {
        wake = wake.min(next.0);
    }
    Ok(Action::requeue(
        elapsed(Timestamp::now(), wake).max(Duration::from_millis(100)),
    ))
}

/// Keeps the run of the registry's "not found" answers and the last deep
/// confirmation of an `Available` reading, for the next verdict.
fn remember_free_evidence(memory: &mut DomainMemory, evaluation: &Evaluation) {
    let verdict = &evaluation.verdict;
    let rdap = evaluation.report(CheckKind::Rdap);
    if verdict.registry_absent {
        let at = rdap.map_or(evaluation.finished_at, |r| r.checked_at);
        memory.registry_absent_since.get_or_insert(at);
    } else if rdap.is_some_and(|r| {
        matches!(
            r.outcome,
            CheckOutcome::Registered | CheckOutcome::Available
        )
    }) || matches!(
        verdict.availability,
        Availability::Registered | Availability::Expiring | Availability::PendingDelete
    ) {
        // The registry (or the zone) says something else now: the run ends.
        memory.registry_absent_since = None;
    }
    let deep_ran = evaluation.layers.iter().any(|l| *l > Layer::Fast);
    memory.confirmed = match verdict.availability {
        Availability::Available if deep_ran => Some(Confirmed {
            at: evaluation.finished_at,
            confidence: verdict.confidence,
            confirmed_by: verdict.confirmed_by.clone(),
        }),
        Availability::Available => memory.confirmed.take(),
        _ => None,
    };
}

/// What the schedule needs to know about `resource`.
fn domain_timing(
    resource: &MonitoredDomain,
    predicted_drop_at: Option<Timestamp>,
    consecutive_errors: u32,
) -> DomainTiming {
    DomainTiming {
        priority: resource.spec.priority,
        interval_override: resource
            .spec
            .check_interval
            .as_deref()
            .and_then(|i| crate::config::parse_duration(i).ok()),
        predicted_drop_at,
        consecutive_errors,
    }
}

/// The status after a check, with a pending notification recorded when the
/// name just became available with enough confidence.
fn after_check(
    ctx: &Context,
    resource: &MonitoredDomain,
    current: Option<&MonitoredDomainStatus>,
    evaluation: &Evaluation,
    next_check_at: Timestamp,
) -> MonitoredDomainStatus {
    let mut new = status::after_check(
        current,
        evaluation,
        resource.metadata.generation,
        next_check_at,
    );
    if new.availability == Availability::Available
        && evaluation.verdict.notify
        && ctx.notifier.is_some()
    {
        let transition = new
            .last_transition_at
            .as_ref()
            .map_or(evaluation.finished_at, |t| t.0);
        let key = idempotency_key(
            resource.uid().as_deref().unwrap_or_default(),
            evaluation.domain.as_str(),
            transition,
        );
        let payload = availability_notification(evaluation).to_string();
        if let Some(notification) =
            status::pending_notification(&new, key, payload, evaluation.finished_at)
        {
            info!(domain = %evaluation.domain, confidence = evaluation.verdict.confidence, "domain became available: notification recorded");
            new.notification = Some(notification);
        }
    }
    new
}

/// Delivers the pending notification when its attempt is due, and records the
/// outcome in status. Returns the new status when it changed.
async fn deliver_if_due(
    ctx: &Context,
    api: &Api<MonitoredDomain>,
    resource: &MonitoredDomain,
    status: &MonitoredDomainStatus,
    now: Timestamp,
) -> Result<Option<MonitoredDomainStatus>> {
    let Some(notifier) = &ctx.notifier else {
        return Ok(None);
    };
    let Some(notification) = status.notification.as_ref() else {
        return Ok(None);
    };
    let due = notification.state == NotificationDelivery::Pending
        && notification
            .next_attempt_at
            .as_ref()
            .is_none_or(|t| t.0 <= now);
    if !due {
        return Ok(None);
    }
    let started = std::time::Instant::now();
    let outcome = notifier
        .post(
            notification.payload.clone(),
            Some(&notification.idempotency_key),
        )
        .await;
    ctx.metrics
        .time(names::CALLBACK_DURATION, "notification", started.elapsed());
    let word = match &outcome {
        Delivery::Delivered { .. } => "delivered",
        Delivery::Retry { .. } => "retry",
        Delivery::Rejected { .. } => "rejected",
    };
    ctx.metrics
        .count(names::CALLBACKS, format!("notification/{word}"), 1);
    let mut updated = notification.clone();
    updated.attempts = updated.attempts.saturating_add(1);
    let domain = status.domain.as_deref().unwrap_or(&resource.spec.domain);
    match &outcome {
        Delivery::Delivered { status: code } => {
            info!(%domain, attempts = updated.attempts, status = code, "availability notification delivered");
            updated.state = NotificationDelivery::Delivered;
            updated.delivered_at = Some(status::time(Timestamp::now()));
            updated.next_attempt_at = None;
            updated.last_error = None;
        }
        Delivery::Retry { error, retry_after } => {
            let delay = retry_delay(updated.attempts, *retry_after);
            warn!(%domain, attempts = updated.attempts, %error, retry_in = ?delay, "availability notification not delivered, will retry");
            updated.next_attempt_at = Some(status::time(add(Timestamp::now(), delay)));
            updated.last_error = Some(error.clone());
        }
        Delivery::Rejected {
            status: code,
            error,
        } => {
            warn!(%domain, status = code, %error, "availability notification rejected by the receiver; not retrying");
            updated.state = NotificationDelivery::Failed;
            updated.next_attempt_at = None;
            updated.last_error = Some(error.clone());
        }
    }
    let mut new = status.clone();
    new.notification = Some(updated);
    write_status(api, resource, &new).await?;
    match outcome {
        Delivery::Delivered { .. } => {
            publish(
                ctx,
                resource,
                EventType::Normal,
                "NotificationDelivered",
                "availability notification delivered",
            )
            .await;
        }
        Delivery::Rejected { error, .. } => {
            publish(
                ctx,
                resource,
                EventType::Warning,
                "NotificationRejected",
                &error,
            )
            .await;
        }
        Delivery::Retry { .. } => {}
    }
    Ok(Some(new))
}

/// Events and logs for availability transitions.
async fn announce(
    ctx: &Context,
    resource: &MonitoredDomain,
    old: Option<&MonitoredDomainStatus>,
    new: &MonitoredDomainStatus,
    evaluation: &Evaluation,
) {
    let before = old.map_or(Availability::Unknown, |s| s.availability);
    let after = new.availability;
    debug!(domain = %evaluation.domain, ?after, confidence = evaluation.verdict.confidence, reason = %evaluation.verdict.reason, "check decided");
    if before == after {
        return;
    }
    ctx.metrics
        .count(names::TRANSITIONS, format!("{before:?}->{after:?}"), 1);
    info!(domain = %evaluation.domain, from = ?before, to = ?after, reason = %evaluation.verdict.reason, "availability changed");
    let (kind, reason) = match after {
        Availability::Available => (EventType::Normal, "BecameAvailable"),
        Availability::PendingDelete => (EventType::Normal, "PendingDelete"),
        Availability::Expiring => (EventType::Normal, "Expiring"),
        Availability::Registered if before != Availability::Unknown => {
            (EventType::Normal, "RegisteredAgain")
        }
        Availability::Error => (EventType::Warning, "ChecksFailed"),
        _ => return,
    };
    publish(ctx, resource, kind, reason, &evaluation.verdict.reason).await;
}

/// Per-check callbacks, best effort (they are not an outbox).
fn send_check_results(ctx: &Context, old: Option<&MonitoredDomainStatus>, evaluation: &Evaluation) {
    let Some(notifier) = &ctx.notifier else {
        return;
    };
    if ctx.per_check == PerCheckCallbacks::Off {
        return;
    }
    for report in &evaluation.reports {
        if report.outcome == CheckOutcome::Skipped {
            continue;
        }
        let previous = old
            .and_then(|s| s.checks.get(report.kind.as_str()))
            .map(|r| r.result);
        if ctx.per_check == PerCheckCallbacks::Changes && previous == Some(report.outcome) {
            continue;
        }
        let payload = CheckResultPayload::new(evaluation.domain.as_str(), report);
        let Ok(body) = serde_json::to_string(&payload) else {
            continue;
        };
        let notifier = notifier.clone();
        let metrics = Arc::clone(&ctx.metrics);
        let domain = evaluation.domain.to_string();
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            let outcome = notifier.post(body, None).await;
            metrics.time(names::CALLBACK_DURATION, "check_result", started.elapsed());
            match outcome {
                Delivery::Delivered { .. } => {
                    metrics.count(names::CALLBACKS, "check_result/delivered", 1)
                }
                Delivery::Retry { error, .. } | Delivery::Rejected { error, .. } => {
                    metrics.count(names::CALLBACKS, "check_result/failed", 1);
                    debug!(%domain, %error, "per-check callback not delivered");
                }
            }
        });
    }
}

async fn write_status(
    api: &Api<MonitoredDomain>,
    resource: &MonitoredDomain,
    status: &MonitoredDomainStatus,
) -> Result<()> {
    let patch = serde_json::json!({
        "apiVersion": "domainmonitor.io/v1alpha1",
        "kind": "MonitoredDomain",
        "status": status,
    });
    api.patch_status(
        &resource.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await
    .map(|_| ())
    .map_err(|source| Error::WriteStatus {
        resource: format!(
            "{}/{}",
            resource.namespace().unwrap_or_default(),
            resource.name_any()
        ),
        source,
    })
}

async fn publish(
    ctx: &Context,
    resource: &MonitoredDomain,
    type_: EventType,
    reason: &str,
    note: &str,
) {
    let event = Event {
        type_,
        reason: reason.to_owned(),
        note: Some(note.chars().take(1024).collect()),
        action: "Check".to_owned(),
        secondary: None,
    };
    if let Err(err) = ctx
        .recorder
        .publish(&event, &resource.object_ref(&()))
        .await
    {
        // Said once at WARN (a missing RBAC right fails every event alike),
        // then at DEBUG.
        static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
        if WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
            debug!(error = %err, reason, "cannot publish event");
        } else {
            warn!(error = %err, reason, "cannot publish event; further failures are logged at DEBUG");
        }
    }
}

/// Counts what a check found, per checker and overall.
fn record_evaluation(metrics: &Metrics, evaluation: &Evaluation) {
    for report in &evaluation.reports {
        let result = crate::notify::payload::result_word(report.outcome);
        metrics.count(names::CHECK_RESULTS, format!("{}/{result}", report.kind), 1);
        metrics.time(names::CHECK_DURATION, report.kind.as_str(), report.duration);
        if report.outcome == CheckOutcome::RateLimited {
            metrics.count(names::RATE_LIMITED, report.kind.as_str(), 1);
        }
    }
    metrics.count(
        names::VERDICTS,
        format!("{:?}", evaluation.verdict.availability),
        1,
    );
}

fn error_policy(resource: Arc<MonitoredDomain>, err: &Error, ctx: Arc<Context>) -> Action {
    let kind = match err {
        Error::WriteStatus { .. } => "write_status",
        Error::Relabel { .. } => "relabel",
        Error::Panicked(_) => "panic",
        _ => "other",
    };
    ctx.metrics.count(names::RECONCILE_ERRORS, kind, 1);
    tracing::error!(resource = %resource.name_any(), error = %err, "reconcile failed; retrying");
    Action::requeue(ERROR_REQUEUE)
}

fn elapsed(from: Timestamp, to: Timestamp) -> Duration {
    Duration::try_from(to.duration_since(from)).unwrap_or(Duration::ZERO)
}

fn add(t: Timestamp, d: Duration) -> Timestamp {
    jiff::SignedDuration::try_from(d)
        .ok()
        .and_then(|d| t.checked_add(d).ok())
        .unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_reconcile_becomes_an_error() {
        let panicked = guard_panics(async {
            let items: Vec<u32> = Vec::new();
            items[3]
        })
        .await;
        assert!(panicked.unwrap_err().contains("index out of bounds"));
        assert_eq!(guard_panics(async { 7 }).await, Ok(7));
    }

    fn minutes(n: i64) -> jiff::SignedDuration {
        jiff::SignedDuration::from_mins(n)
    }

    fn record(result: CheckOutcome, at: Timestamp) -> crate::resource::CheckRecord {
        crate::resource::CheckRecord {
            result,
            checked_at: status::time(at),
            duration_ms: 40,
            detail: None,
            error: None,
        }
    }

    /// A registered domain checked 10 minutes ago, next due in 50.
    fn checked(now: Timestamp) -> MonitoredDomainStatus {
        let last = now - minutes(10);
        MonitoredDomainStatus {
            availability: Availability::Registered,
            last_checked_at: Some(status::time(last)),
            next_check_at: Some(status::time(now + minutes(50))),
            registration: Some(crate::resource::Registration::default()),
            checks: [
                ("dns".to_owned(), record(CheckOutcome::Registered, last)),
                ("rdap".to_owned(), record(CheckOutcome::Registered, last)),
            ]
            .into(),
            observed_generation: Some(3),
            ..MonitoredDomainStatus::default()
        }
    }

    #[test]
    fn a_replica_without_memory_keeps_the_schedule_and_the_facts_of_the_status() {
        let now = status::time(Timestamp::now()).0;
        let policy = SchedulePolicy::default();
        let timing = DomainTiming::default();
        let memory = DomainMemory::from_status(&checked(now), &policy, &timing, now);
        assert_eq!(
            memory,
            DomainMemory {
                next_check_at: Some(now + minutes(50)),
                consecutive_errors: 0,
                facts_refreshed_at: Some(now - minutes(10)),
                generation: Some(3),
                registry_absent_since: None,
                confirmed: None,
            }
        );

        // The interval was shortened since: an interval after the last check.
        let mut long = checked(now);
        long.next_check_at = Some(status::time(now + minutes(600)));
        let memory = DomainMemory::from_status(&long, &policy, &timing, now);
        assert_eq!(memory.next_check_at, Some(now + minutes(50)));
        let priority = DomainTiming {
            priority: true,
            ..DomainTiming::default()
        };
        let memory = DomainMemory::from_status(&long, &policy, &priority, now);
        assert_eq!(memory.next_check_at, Some(now - minutes(5)), "due now");

        // Never checked: due now. Failing: the back-off goes on.
        let mut fresh = checked(now);
        fresh.last_checked_at = None;
        fresh.availability = Availability::Error;
        let memory = DomainMemory::from_status(&fresh, &policy, &timing, now);
        assert_eq!(memory.next_check_at, None);
        assert_eq!(memory.consecutive_errors, 1);
    }

    #[test]
    fn facts_are_as_old_as_the_last_registered_rdap_or_whois_answer() {
        let now = status::time(Timestamp::now()).0;
        let policy = SchedulePolicy::default();
        let timing = DomainTiming::default();
        let mut status = checked(now);
        status.checks.insert(
            "whois".to_owned(),
            record(CheckOutcome::Registered, now - minutes(2)),
        );
        status.checks.insert(
            "rdap".to_owned(),
            record(CheckOutcome::RateLimited, now - minutes(1)),
        );
        let memory = DomainMemory::from_status(&status, &policy, &timing, now);
        assert_eq!(memory.facts_refreshed_at, Some(now - minutes(2)));

        // DNS alone proves no facts; no registration recorded, nothing to keep.
        status.checks.remove("whois");
        let memory = DomainMemory::from_status(&status, &policy, &timing, now);
        assert_eq!(memory.facts_refreshed_at, None);
        let mut bare = checked(now);
        bare.registration = None;
        let memory = DomainMemory::from_status(&bare, &policy, &timing, now);
        assert_eq!(memory.facts_refreshed_at, None);
    }
}
