//! Process wiring: the watch of this replica's shards feeding the table, the
//! check dispatcher with its two lanes, the status writer, the web surface,
//! the domain list sync, and shutdown.
//!
//! **Two lanes.** Cheap checks (DNS, HTTP; escalating to the registry when
//! they see a change) run in the fast lane, `MAX_CONCURRENT_CHECKS` at once.
//! Registration facts (RDAP/WHOIS for a registered name, whose budgets are a
//! few requests per second) run in the deep lane, a quarter of that, fed
//! from a FIFO of domains that want them. So a start-up of 10^5 domains
//! checks every one of them by the cheap layers first, at the speed DNS
//! allows, and the facts follow within the deep-layer budgets, while no
//! check ever waits for a budget another lane needs. Domains in health mode
//! (opt-in, few) fetch their facts in their first check when the deep lane
//! has room, and otherwise go to the head of its queue: their health needs
//! the facts.

use std::{collections::VecDeque, sync::Arc, time::Duration};

use futures::StreamExt;
use jiff::Timestamp;
use kube::{
    Api, Client,
    runtime::{WatchStreamExt, watcher},
};
use tokio::sync::Semaphore;
use tracing::{debug, info, warn};

use super::{
    Context, Error, FIELD_MANAGER, Result, SYNC_LEASE,
    plan::{self, Decision},
    reconcile,
    state::{Job, millis, uid_key},
    watch::WatchedDomain,
};
use crate::{
    config::{RunArgs, WatchList},
    layered::{Depth, LayeredChecker},
    metrics::{Metrics, Snapshot, SnapshotSource, labels::NoLabels},
    resource::MonitoredDomain,
    shard::{
        SHARD_LABEL,
        coordinator::{Coordinator, ShardHandle, ShardSettings},
    },
    web::{SyncHandle, WebState},
};

/// How long a stopping replica keeps writing the statuses its checks found.
const WRITE_DRAIN: Duration = Duration::from_secs(5);

/// Reads the values metrics collect rather than count.
fn snapshot_source(ctx: Arc<Context>) -> SnapshotSource {
    Arc::new(move || {
        let view = ctx.view();
        let counts = view.counts();
        let oldest_pending_notification = counts.oldest_pending_notification.map(|created| {
            let age = jiff::Timestamp::now().duration_since(created);
            std::time::Duration::try_from(age).unwrap_or_default()
        });
        Snapshot {
            domains: counts.by_availability,
            priority: counts.priority,
            notifications_pending: counts.notifications_pending,
            oldest_pending_notification,
            shards_held: ctx.shards.held().len() as u64,
            shards_count: u64::from(ctx.shards.total()),
            rate_limit_waits: ctx.checker.rate_limit_waits(),
            pending_writes: ctx.writer.pending() as u64,
            unchecked: view.unchecked(),
            health: view.health_gauges(),
            certificate_expiries: ctx.metrics.certificate_expiries.series(),
            propagation_pending: ctx.metrics.propagation_pending.series(),
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
    let config = kube::Config::infer()
        .await
        .map_err(|e| Error::Connect(kube::Error::InferConfig(e)))?;
    let client = Client::try_from(config.clone()).map_err(Error::Connect)?;
    // The status writer paces itself on 429/5xx (see `writer`): its client
    // hands those answers over instead of retrying them one by one.
    let writer_client = super::writer::client(&config).map_err(Error::Connect)?;
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
        writer_client,
        &args,
        Arc::clone(&checker),
        shards.clone(),
        Arc::clone(&metrics),
    )?);
    let (sync, sync_handle) = match start_sync(&client, &args, &metrics).await? {
        Some((running, handle)) => (Some(running), Some(handle)),
        None => (None, None),
    };
    let snapshot = snapshot_source(Arc::clone(&context));
    if let Some(meter) = &meter {
        crate::otel::instrument(meter, &metrics, Arc::clone(&snapshot));
        info!(endpoint = ?args.otel.metrics_endpoint(), "exporting metrics over OTLP");
    }
    let web_state = Arc::new(WebState {
        instance: args.instance_id.clone(),
        token: args.api_auth_token.clone(),
        open_watchlist: args.open_watchlist,
        metrics: Arc::clone(&metrics),
        shards: shards.clone(),
        domains: Some(Arc::new(context.view())),
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
    let writer = tokio::spawn(
        context
            .writer
            .clone()
            .run(wait_for(shutdown.clone()), WRITE_DRAIN),
    );
    let dispatcher = tokio::spawn(dispatch(
        Arc::clone(&context),
        args.max_concurrent_checks as usize,
        wait_for(shutdown.clone()),
    ));
    let health_checks = args.domain_health_checks.then(|| {
        tokio::spawn(crate::dhc::run(
            client.clone(),
            crate::dhc::Settings {
                namespace: args.watch_namespace.clone(),
                default_resolvers: args.dhc_resolvers.clone(),
                timeout: args.checks.dns_timeout,
                shards: shards.clone(),
                nameserver_port: args.checks.nameserver_port,
                ca_bundle: args.dhc_ca_bundle.clone(),
            },
            Arc::clone(&metrics),
            wait_for(shutdown.clone()),
        ))
    });
    info!(instance = %args.instance_id, shards = args.shards, concurrency = args.max_concurrent_checks, "operator started");

    watch(
        &context,
        &domains,
        &shards,
        args.watch_list,
        shutdown.clone(),
    )
    .await;

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
    dispatcher.abort();
    if let Some(health_checks) = health_checks {
        health_checks.abort();
    }
    if tokio::time::timeout(WRITE_DRAIN + Duration::from_secs(1), writer)
        .await
        .is_err()
    {
        warn!("timed out writing the last statuses");
    }
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

/// Feeds the table from a watch of the held shards' resources until
/// shutdown; the watch restarts when the held shards change, and its relist
/// evicts the domains of shards no longer held. Its initial lists are
/// streamed or paged as `list` says ([`WatchList`]).
async fn watch(
    ctx: &Arc<Context>,
    domains: &Api<MonitoredDomain>,
    shards: &ShardHandle,
    list: WatchList,
    shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let version = match ctx.client.apiserver_version().await {
        Ok(info) => Some((info.major, info.minor)),
        Err(err) => {
            warn!(error = %err, "cannot read the API server's version; initial lists are paged unless WATCH_LIST=stream");
            None
        }
    };
    let mut streaming = list.streams(version.as_ref().map(|(a, b)| (a.as_str(), b.as_str())));
    info!(
        streaming,
        version = %version.as_ref().map_or_else(|| "unknown".to_owned(), |(a, b)| format!("{a}.{b}")),
        "initial lists of the watch are {}",
        if streaming { "streamed" } else { "paged" }
    );
    let api: Api<WatchedDomain> = Api::all(ctx.client.clone());
    let api = match domains.namespace() {
        Some(namespace) => Api::namespaced(ctx.client.clone(), namespace),
        None => api,
    };
    let mut changes = shards.changes();
    while !*shutdown.borrow() {
        let held = changes.borrow_and_update().clone();
        ctx.checker.set_budget_share(shards.share());
        ctx.table().unsync();
        if held.is_empty() {
            let evicted = {
                let mut table = ctx.table();
                table.begin_relist();
                table.end_relist()
            };
            if evicted > 0 {
                info!(evicted, "no shard held: forgot every domain");
            }
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
        let config = watcher::Config::default().labels(&selector);
        let config = if streaming {
            config.streaming_lists()
        } else {
            config.any_semantic()
        };
        let stream = watcher(api.clone(), config).default_backoff();
        let mut synced = false;
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
        let mut stream = std::pin::pin!(stream.take_until(stop));
        while let Some(event) = stream.next().await {
            let now = Timestamp::now();
            match event {
                Ok(watcher::Event::Init) => ctx.table().begin_relist(),
                Ok(watcher::Event::InitApply(object) | watcher::Event::Apply(object)) => {
                    ctx.table().apply(&object, &ctx.schedule, now);
                }
                Ok(watcher::Event::Delete(object)) => {
                    let uid = uid_key(object.metadata.uid.as_deref().unwrap_or_default());
                    ctx.table().delete(uid);
                }
                Ok(watcher::Event::InitDone) => {
                    synced = true;
                    let (evicted, held) = {
                        let mut table = ctx.table();
                        (table.end_relist(), table.len())
                    };
                    info!(domains = held, evicted, "watch synced");
                }
                Err(err) if streaming && list == WatchList::Auto && !synced && refused(&err) => {
                    warn!(error = %err, "the API server refused a streamed list; paging from now on (set WATCH_LIST=paginate to skip the attempt)");
                    streaming = false;
                    break;
                }
                Err(err) => warn!(error = %err, "watch failed; retrying with back-off"),
            }
            ctx.wake.notify_one();
        }
    }
}

/// Whether `err` is the API server refusing the request itself (a 4xx
/// answer other than 410 Gone, which only asks for a relist), as a server
/// without WatchList answers a streamed list.
fn refused(err: &watcher::Error) -> bool {
    let code = match err {
        watcher::Error::WatchError(status) => status.code,
        watcher::Error::WatchStartFailed(kube::Error::Api(status))
        | watcher::Error::WatchFailed(kube::Error::Api(status)) => status.code,
        _ => return false,
    };
    (400..500).contains(&code) && code != 410
}

/// Starts due checks: cheap ones in the fast lane, registration facts in
/// the deep lane (see the module docs).
async fn dispatch(
    ctx: Arc<Context>,
    concurrency: usize,
    stop: impl std::future::Future<Output = ()>,
) {
    let concurrency = concurrency.max(1);
    let fast = Arc::new(Semaphore::new(concurrency));
    let deep = Arc::new(Semaphore::new((concurrency / 4).max(1)));
    let mut facts: VecDeque<u128> = VecDeque::new();
    tokio::pin!(stop);
    loop {
        let now = Timestamp::now();
        // The deep lane: facts wanted, oldest first.
        let mut busy = Vec::new();
        let mut started_deep = 0_usize;
        while !facts.is_empty() {
            let Ok(permit) = Arc::clone(&deep).try_acquire_owned() else {
                break;
            };
            let Some(uid) = facts.pop_front() else { break };
            let job = ctx.table().take(uid);
            match job {
                Some(job) => {
                    let decision = Decision {
                        depth: Depth::RegistrationFacts,
                        ..plan_for(&ctx, &job, now)
                    };
                    spawn_check(&ctx, job, decision, permit);
                    started_deep += 1;
                }
                None => {
                    // Running now (or gone): asked again after that check.
                    if ctx.table().get(uid).is_some() {
                        busy.push(uid);
                    }
                }
            }
        }
        facts.extend(busy);
        // The fast lane: due checks, earliest first. When it is full, checks
        // are due and some domains were never checked here (a first pass, a
        // shard taken over), the first checks are behind: the writer holds
        // routine writes back until they are done. A saturated steady state
        // (every domain checked) does not hold publishing back.
        let mut behind = false;
        loop {
            let Ok(permit) = Arc::clone(&fast).try_acquire_owned() else {
                let mut table = ctx.table();
                behind =
                    table.unchecked() > 0 && table.next_due().is_some_and(|due| due <= millis(now));
                break;
            };
            let Some(job) = ctx.table().take_due(millis(now)) else {
                break;
            };
            let mut decision = plan_for(&ctx, &job, now);
            if let Some(at) = publishing_deferral(&ctx, &job, &decision, now) {
                ctx.table().defer(job.uid, at);
                ctx.metrics.checks_deferred.inc(NoLabels);
                continue;
            }
            if decision.is_deep() {
                match Arc::clone(&deep).try_acquire_owned() {
                    Ok(deep_permit) => {
                        drop(permit);
                        spawn_check(&ctx, job, decision, deep_permit);
                        continue;
                    }
                    Err(_) => {
                        // The deep lane is full: the cheap layers now, the
                        // facts when the deep lane has room.
                        decision.depth = Depth::Escalate;
                        decision.facts_deferred = true;
                    }
                }
            }
            spawn_check(&ctx, job, decision, permit);
        }
        // While the initial list still streams in (a start-up, a shard
        // taken over), the domains not listed yet are first checks too:
        // writes would take the API server's CPU from the list.
        let behind = behind || !ctx.table().synced();
        ctx.writer.set_checks_behind(behind);
        let wanted = ctx.take_wanted_facts();
        let more = !wanted.is_empty();
        for (uid, first) in wanted {
            if first {
                facts.push_front(uid);
            } else {
                facts.push_back(uid);
            }
        }
        // Round again only for facts newly wanted or a deep start this
        // round; domains whose check is running wait for its end (a wake).
        if (more || started_deep > 0) && !facts.is_empty() && deep.available_permits() > 0 {
            continue;
        }
        let next_due = ctx.table().next_due();
        let sleep = next_due.map_or(Duration::from_secs(3600), |due| {
            Duration::from_millis(u64::try_from(due - millis(Timestamp::now())).unwrap_or(0))
        });
        tokio::select! {
            () = &mut stop => return,
            () = ctx.wake.notified() => {}
            () = tokio::time::sleep(sleep) => {}
        }
    }
}

fn plan_for(ctx: &Context, job: &Job, now: Timestamp) -> Decision {
    plan::plan(
        &job.published,
        &job.memory,
        &job.timing(job.memory.consecutive_errors),
        &ctx.schedule,
        !job.checked,
        now,
    )
}

/// When a due routine re-check waits for the domain's first status to be
/// written ([`plan::publishing_deferral`]); `None`: it runs now.
fn publishing_deferral(
    ctx: &Context,
    job: &Job,
    decision: &Decision,
    now: Timestamp,
) -> Option<Timestamp> {
    // The writer's queue is asked only for a re-check that could wait.
    if decision.urgency != crate::ratelimit::Urgency::Routine || !job.checked {
        return None;
    }
    plan::publishing_deferral(
        &job.published,
        &job.memory,
        &job.timing(job.memory.consecutive_errors),
        &ctx.schedule,
        decision,
        ctx.writer.first_status_waiting(job.uid),
        now,
    )
    // A deferral due by this round's clock would be taken again in this
    // round, for ever (the plan never gives one; this keeps it so).
    .filter(|at| millis(*at) > millis(now))
}

fn spawn_check(
    ctx: &Arc<Context>,
    job: Job,
    decision: Decision,
    permit: tokio::sync::OwnedSemaphorePermit,
) {
    let ctx = Arc::clone(ctx);
    let uid = job.uid;
    // A domain in health mode waits for its facts to know its health.
    let facts_first = job.health.is_some();
    tokio::spawn(async move {
        // Boxed: the check's future is large, and tokio moves a task's
        // future into its cell when spawned and its output over it when
        // done; those copies were 6 % of the operator's CPU re-checking
        // 10^5 domains (bench/PROFILE.md).
        let finished = Box::pin(reconcile::check(&ctx, job, Some(decision))).await;
        let wants_facts = decision.facts_deferred && finished.checked;
        ctx.table().finish(
            uid,
            finished.published,
            finished.memory,
            finished.next,
            finished.checked,
        );
        if wants_facts {
            ctx.want_facts(uid, facts_first);
        }
        drop(permit);
        ctx.wake.notify_one();
    });
}

/// A flag that turns true on SIGINT or SIGTERM.
pub(super) fn shutdown_signal() -> tokio::sync::watch::Receiver<bool> {
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
        lease: SYNC_LEASE,
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
