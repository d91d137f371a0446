//! The DomainHealthCheck controller: a watch of the checks, and one task
//! per check that probes every record at every resolver each interval and
//! writes the status when what it shows changed.
//!
//! - Each `spec.tls` endpoint gets a TLS handshake per interval
//!   ([`TlsProber`]), its settled certificate goes to
//!   `status.certificates` and the `CertificateValid` and
//!   `CertificateExpiring` conditions, its expiry to
//!   `domain_monitor.dhc.certificate.expiry`.
//! - Queries go over the DNS engine's long-lived sockets
//!   ([`Upstream::recursive`]), one engine per resolver address shared by
//!   every check that names it.
//! - A check is probed by the replica holding its shard (the shard of
//!   `namespace/name`); the others keep its task waiting for the shard, and
//!   probe at once when it comes to them.
//! - A check's task is replaced when its spec changes (not on status
//!   changes, which include its own writes). The settled results start from
//!   the status the API server holds, so a restart writes nothing when
//!   nothing changed.
//! - The status is written with server-side apply, field manager
//!   [`FIELD_MANAGER`]; a failed write is retried at the next interval.

use std::{
    collections::{HashMap, HashSet},
    net::SocketAddr,
    sync::{Arc, Mutex, Weak},
    time::Duration,
};

use futures::{StreamExt, future::join_all};
use hickory_resolver::proto::rr::Name;
use jiff::Timestamp;
use kube::{
    Api, Client, ResourceExt,
    api::{ListParams, Patch, PatchParams},
    runtime::{WatchStreamExt, watcher},
};
use tokio::{task::JoinHandle, time::Instant};
use tracing::{debug, info, warn};

use super::{
    NamedResolver, canary,
    certificate::{self, EndpointSlot},
    evaluate::{self, RecordPlan, ResolverSlots, Slot},
    probe::{self, Matcher, wire_type},
    propagation,
    serials::serials,
    tls::{CaBundle, TlsProber, TrustAnchors},
};
use crate::resource::dhc::{
    CertificateStatus, DomainHealthCheck, DomainHealthCheckSpec, DomainHealthCheckStatus,
    ResolverStatus,
};
use crate::{
    check::dns::engine::Upstream,
    domain_name::DomainName,
    metrics::{
        Metrics,
        dhc::{
            CertificateExpiry, CertificateLabels, DnsLookupLabels, PropagationLabels, SeriesBudget,
            forget_check, intern,
        },
    },
    resource::FIELD_MANAGER,
    resource::MonitoredDomain,
    shard::{coordinator::ShardHandle, shard_of_key},
};

/// The interval of a check without `spec.interval`.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);
/// The shortest interval (the CRD refuses shorter ones too).
pub const MIN_INTERVAL: Duration = Duration::from_secs(10);
/// The `failureThreshold` of a check without one.
pub const DEFAULT_FAILURE_THRESHOLD: u32 = 3;
/// How long connecting to a `spec.tls` endpoint and the TLS handshake may
/// take together.
pub const TLS_TIMEOUT: Duration = Duration::from_secs(10);

/// What the controller needs from the operator's configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Watch only this namespace (`None`: every namespace).
    pub namespace: Option<String>,
    /// The resolvers of checks that name none (`DHC_RESOLVERS`).
    pub default_resolvers: Vec<NamedResolver>,
    /// How long one query may take (`DNS_TIMEOUT`).
    pub timeout: Duration,
    /// The shards this replica holds.
    pub shards: ShardHandle,
    /// The port authoritative servers are asked on (`NAMESERVER_PORT`).
    pub nameserver_port: u16,
    /// CA certificates trusted besides the system roots for `spec.tls`
    /// (`DHC_CA_BUNDLE`).
    pub ca_bundle: Option<CaBundle>,
}

/// What every check's task shares.
struct Shared {
    client: Client,
    settings: Settings,
    metrics: Arc<Metrics>,
    upstreams: Mutex<HashMap<SocketAddr, Weak<Upstream>>>,
    tls: TlsProber,
}

impl Shared {
    /// The engine of `server`, shared while some check uses it.
    fn upstream(&self, server: SocketAddr) -> Arc<Upstream> {
        let mut upstreams = self.upstreams.lock().unwrap_or_else(|e| e.into_inner());
        upstreams.retain(|_, weak| weak.strong_count() > 0);
        if let Some(upstream) = upstreams.get(&server).and_then(Weak::upgrade) {
            return upstream;
        }
        let upstream = Arc::new(Upstream::recursive(server));
        upstreams.insert(server, Arc::downgrade(&upstream));
        upstream
    }
}

type Key = (String, String);

/// Watches DomainHealthChecks and probes them until `stop` completes. Logs
/// a warning and returns at once when they cannot be listed (CRD not
/// installed, no RBAC).
pub async fn run(
    client: Client,
    settings: Settings,
    metrics: Arc<Metrics>,
    stop: impl std::future::Future<Output = ()>,
) {
    let api: Api<DomainHealthCheck> = match &settings.namespace {
        Some(namespace) => Api::namespaced(client.clone(), namespace),
        None => Api::all(client.clone()),
    };
    if let Err(err) = api.list(&ListParams::default().limit(1)).await {
        warn!(error = %err, "cannot list DomainHealthChecks (install crds/domainhealthcheck.yaml and grant list/watch): domain health checks are off");
        return;
    }
    let tls = TlsProber::new(
        &TrustAnchors::load(settings.ca_bundle.as_ref()),
        TLS_TIMEOUT,
    );
    let shared = Arc::new(Shared {
        client,
        settings,
        metrics,
        upstreams: Mutex::default(),
        tls,
    });
    let mut tasks: HashMap<Key, (DomainHealthCheckSpec, JoinHandle<()>)> = HashMap::new();
    let mut relisted: HashSet<Key> = HashSet::new();
    let events = watcher(api, watcher::Config::default()).default_backoff();
    tokio::pin!(events);
    tokio::pin!(stop);
    info!("watching DomainHealthChecks");
    loop {
        let event = tokio::select! {
            () = &mut stop => break,
            event = events.next() => event,
        };
        match event {
            Some(Ok(watcher::Event::Init)) => relisted.clear(),
            Some(Ok(watcher::Event::InitApply(check))) => {
                relisted.insert(key(&check));
                upsert(&shared, &mut tasks, check);
            }
            Some(Ok(watcher::Event::InitDone)) => {
                tasks.retain(|key, (_, task)| {
                    let keep = relisted.contains(key);
                    if !keep {
                        // Deleted while the watch was away.
                        task.abort();
                        forget_check(&shared.metrics, &key.0, &key.1);
                    }
                    keep
                });
            }
            Some(Ok(watcher::Event::Apply(check))) => upsert(&shared, &mut tasks, check),
            Some(Ok(watcher::Event::Delete(check))) => {
                if let Some((_, task)) = tasks.remove(&key(&check)) {
                    task.abort();
                }
                forget_deleted(&shared, &check);
            }
            Some(Err(err)) => warn!(error = %err, "watch of DomainHealthChecks failed; retrying"),
            None => break,
        }
    }
    for (_, task) in tasks.into_values() {
        task.abort();
    }
}

/// Removes the metric series of a deleted check (its task is aborted).
fn forget_deleted(shared: &Shared, check: &DomainHealthCheck) {
    let (namespace, name) = key(check);
    forget_check(&shared.metrics, &namespace, &name);
}

fn key(check: &DomainHealthCheck) -> Key {
    (check.namespace().unwrap_or_default(), check.name_any())
}

fn upsert(
    shared: &Arc<Shared>,
    tasks: &mut HashMap<Key, (DomainHealthCheckSpec, JoinHandle<()>)>,
    check: DomainHealthCheck,
) {
    let key = key(&check);
    if let Some((spec, task)) = tasks.get(&key) {
        if *spec == check.spec && !task.is_finished() {
            return;
        }
        task.abort();
    }
    let spec = check.spec.clone();
    let task = tokio::spawn(probe_loop(Arc::clone(shared), check));
    tasks.insert(key, (spec, task));
}

/// A check's resolvers and records, ready to probe.
pub(super) struct Plan {
    /// The domain (lower-case A-label).
    pub(super) domain: String,
    /// The records, in the order of the spec.
    pub(super) records: Vec<RecordPlan>,
    /// The resolvers and their engines.
    pub(super) resolvers: Vec<(NamedResolver, Arc<Upstream>)>,
}

/// Probes one check every interval, for as long as its spec stays.
async fn probe_loop(shared: Arc<Shared>, check: DomainHealthCheck) {
    let (namespace, name) = key(&check);
    let api: Api<DomainHealthCheck> = Api::namespaced(shared.client.clone(), &namespace);
    let shard = shard_of_key(
        &format!("{namespace}/{name}"),
        shared.settings.shards.total(),
    );
    let interval = check
        .spec
        .interval
        .as_deref()
        .and_then(|i| humantime::parse_duration(i).ok())
        .unwrap_or(DEFAULT_INTERVAL)
        .max(MIN_INTERVAL);
    let threshold = check
        .spec
        .failure_threshold
        .unwrap_or(DEFAULT_FAILURE_THRESHOLD);
    let generation = check.metadata.generation;
    let mut written = check.status.clone();
    let mut slots: Vec<Vec<Slot>> = Vec::new();
    let mut seeded_for: Option<String> = None;
    let mut budget = SeriesBudget::default();
    let labels_of = (intern(&namespace), intern(&name));
    let mut authoritative: HashMap<SocketAddr, Upstream> = HashMap::new();
    let propagation_labels = |resolver: &str| PropagationLabels {
        namespace: labels_of.0,
        name: labels_of.1,
        resolver: intern(resolver),
    };
    let warning = check
        .spec
        .certificate_warning
        .as_deref()
        .and_then(|w| humantime::parse_duration(w).ok())
        .unwrap_or(certificate::DEFAULT_WARNING);
    let mut endpoints = seeded_endpoints(&check.spec, written.as_ref());
    let _forget = ForgetGauges {
        shared: Arc::clone(&shared),
        namespace: labels_of.0,
        name: labels_of.1,
    };
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if !shared.settings.shards.owns(shard) {
            // Not this replica's check now: probe as soon as it is (at
            // start-up, before the shards are taken, or when its shard moves
            // here), not an interval later.
            let mut held = shared.settings.shards.changes();
            if held.wait_for(|held| held.contains(&shard)).await.is_err()
                || !shared.settings.shards.owns(shard)
            {
                continue;
            }
            ticks.reset();
        }
        let old_conditions = written
            .as_ref()
            .map(|s| s.conditions.clone())
            .unwrap_or_default();
        let now = Timestamp::now();
        let status = match plan(&shared, &namespace, &check.spec).await {
            Err(message) => DomainHealthCheckStatus {
                domain: None,
                resolvers: Vec::new(),
                propagation: None,
                certificates: Vec::new(),
                canary: None,
                conditions: evaluate::invalid_spec(&old_conditions, &message, generation, now),
                observed_generation: generation,
            },
            Ok(plan) => {
                if seeded_for.as_deref() != Some(plan.domain.as_str()) {
                    slots = seeded(&plan, written.as_ref());
                    seeded_for = Some(plan.domain.clone());
                }
                let deadline = Instant::now() + shared.settings.timeout;
                let probes = plan
                    .resolvers
                    .iter()
                    .enumerate()
                    .flat_map(|(r, (_, upstream))| {
                        plan.records
                            .iter()
                            .enumerate()
                            .map(move |(i, record)| async move {
                                let started = Instant::now();
                                let answer = match Name::from_ascii(format!("{}.", record.fqdn)) {
                                    Ok(qname) => {
                                        upstream
                                            .query(&qname, wire_type(record.record_type), deadline)
                                            .await
                                    }
                                    Err(e) => Err(crate::check::dns::QueryError::Encode {
                                        name: record.fqdn.clone(),
                                        reason: e.to_string(),
                                    }),
                                };
                                (r, i, answer, started.elapsed())
                            })
                    });
                for (r, i, answer, took) in join_all(probes).await {
                    let record = &plan.records[i];
                    let result =
                        probe::result(&record.fqdn, record.record_type, &answer, &record.matchers);
                    let labels = budget.admit(DnsLookupLabels {
                        namespace: labels_of.0,
                        name: labels_of.1,
                        question: intern(&record.fqdn),
                        record_type: record.record_type,
                        resolver: intern(&plan.resolvers[r].0.name),
                        outcome: result.rcode,
                    });
                    shared.metrics.dns_lookup_duration.record(labels, took);
                    debug!(check = %name, resolver = %plan.resolvers[r].0.name, record = %record.fqdn, rcode = result.rcode.as_str(), ?took, "probed");
                    slots[r][i].observe(result, threshold);
                }
                let mut status = status_of(&plan, &slots, &old_conditions, generation, now);
                let round = serials(&plan, &mut authoritative, &shared.settings).await;
                let (propagation, converged) = propagation::fold(
                    written.as_ref().and_then(|s| s.propagation.as_ref()),
                    round,
                    now,
                );
                for resolver in converged {
                    shared.metrics.propagation_duration.record(
                        propagation_labels(&resolver.name),
                        Duration::from_secs(resolver.seconds),
                    );
                }
                set_pending(&shared, &propagation, labels_of);
                status.conditions.push(propagation::condition(
                    &old_conditions,
                    &propagation,
                    generation,
                    now,
                ));
                status.propagation = Some(propagation);
                if !check.spec.tls.is_empty() {
                    probe_certificates(
                        &shared,
                        &check.spec,
                        &mut endpoints,
                        (threshold, warning),
                        labels_of,
                    )
                    .await;
                    let settled: Vec<&CertificateStatus> = endpoints
                        .iter()
                        .filter_map(|e| e.settled.as_ref())
                        .collect();
                    status.conditions.extend(certificate::conditions(
                        &old_conditions,
                        &settled,
                        warning,
                        generation,
                        now,
                    ));
                    status.certificates = settled.into_iter().cloned().collect();
                }
                if let Some(spec) = &check.spec.canary {
                    let fqdn = canary::fqdn(&plan.domain, &spec.name);
                    let previous = written.as_ref().and_then(|s| s.canary.as_ref());
                    let timeout = shared.settings.timeout;
                    let round = canary::ask(&fqdn, &authoritative, &plan.resolvers, timeout).await;
                    let (canary, delays) = canary::fold(previous, &fqdn, round, now);
                    canary::record(&shared.metrics, &mut budget, labels_of, &delays);
                    status.canary = Some(canary);
                }
                status
            }
        };
        if written.as_ref() == Some(&status) {
            continue;
        }
        let patch = serde_json::json!({
            "apiVersion": "domainmonitor.io/v1alpha1",
            "kind": "DomainHealthCheck",
            "status": status,
        });
        match api
            .patch_status(
                &name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&patch),
            )
            .await
        {
            Ok(_) => {
                let summary: Vec<String> = status
                    .conditions
                    .iter()
                    .map(|c| format!("{}={} ({})", c.type_, c.status, c.reason))
                    .collect();
                info!(namespace = %namespace, check = %name, conditions = %summary.join(", "), "DomainHealthCheck status written");
                written = Some(status);
            }
            Err(err) => {
                warn!(namespace = %namespace, check = %name, error = %err, "cannot write the DomainHealthCheck status; retrying at the next interval");
            }
        }
    }
}

/// Sets `domain_monitor.dhc.propagation.pending_since` for each resolver
/// that does not serve the last serial change yet, and removes it for the
/// others.
fn set_pending(
    shared: &Shared,
    propagation: &crate::resource::dhc::PropagationStatus,
    (namespace, name): (&'static str, &'static str),
) {
    let gauges = &shared.metrics.propagation_pending;
    let Some(change) = &propagation.last_change else {
        gauges.forget(namespace, name);
        return;
    };
    let since = change.detected_at.0.as_second();
    let pending: Vec<&str> = change
        .resolvers
        .iter()
        .filter(|r| r.converged_at.is_none())
        .map(|r| r.name.as_str())
        .collect();
    gauges.retain_of(namespace, name, |l| pending.contains(&l.resolver));
    for resolver in pending {
        let labels = PropagationLabels {
            namespace,
            name,
            resolver: intern(resolver),
        };
        gauges.set(labels, Some(since));
    }
}

/// Probes every `spec.tls` endpoint at once, settles the results into
/// `endpoints` and sets their expiry gauges.
async fn probe_certificates(
    shared: &Shared,
    spec: &DomainHealthCheckSpec,
    endpoints: &mut [EndpointSlot],
    (threshold, warning): (u32, Duration),
    (namespace, name): (&'static str, &'static str),
) {
    let seen = join_all(spec.tls.iter().map(|target| shared.tls.probe(target))).await;
    for (slot, observed) in endpoints.iter_mut().zip(seen) {
        debug!(check = %name, endpoint = %certificate::endpoint(&observed), verdict = observed.verdict.as_str(), "certificate probed");
        let labels = CertificateLabels {
            namespace,
            name,
            address: intern(&observed.host),
            port: observed.port,
            server_name: intern(&observed.server_name),
        };
        slot.observe(observed, threshold);
        let expiry = slot
            .settled
            .as_ref()
            .and_then(|s| s.not_after.as_ref())
            .map(|t| CertificateExpiry {
                not_after: t.0.as_second(),
                warning,
            });
        shared.metrics.certificate_expiries.set(labels, expiry);
    }
}

/// One slot per `spec.tls` endpoint, seeded from the certificate a status
/// shows for it (matched by host, port and server name).
fn seeded_endpoints(
    spec: &DomainHealthCheckSpec,
    status: Option<&DomainHealthCheckStatus>,
) -> Vec<EndpointSlot> {
    spec.tls
        .iter()
        .map(|target| {
            let port = target.port.unwrap_or(super::tls::DEFAULT_PORT);
            let server_name = target.sni.as_deref().unwrap_or(&target.host);
            EndpointSlot {
                settled: status.and_then(|s| {
                    s.certificates
                        .iter()
                        .find(|c| {
                            c.host == target.host && c.port == port && c.server_name == server_name
                        })
                        .cloned()
                }),
                failures_in_row: 0,
            }
        })
        .collect()
}

/// Removes a check's gauge series when its task ends
/// (deleted, spec changed, operator stopping).
struct ForgetGauges {
    shared: Arc<Shared>,
    namespace: &'static str,
    name: &'static str,
}

impl Drop for ForgetGauges {
    fn drop(&mut self) {
        let metrics = &self.shared.metrics;
        metrics
            .certificate_expiries
            .forget(self.namespace, self.name);
        metrics
            .propagation_pending
            .forget(self.namespace, self.name);
    }
}

/// The slots of `plan`, seeded from the results a status shows (matched by
/// resolver name and address, record name and type).
fn seeded(plan: &Plan, status: Option<&DomainHealthCheckStatus>) -> Vec<Vec<Slot>> {
    plan.resolvers
        .iter()
        .map(|(resolver, _)| {
            let shown = status.and_then(|s| {
                s.resolvers
                    .iter()
                    .find(|r| r.name == resolver.name && r.address == resolver.address.to_string())
            });
            plan.records
                .iter()
                .map(|record| Slot {
                    settled: shown.and_then(|r| {
                        r.records
                            .iter()
                            .find(|x| x.name == record.fqdn && x.record_type == record.record_type)
                            .cloned()
                    }),
                    failures_in_row: 0,
                })
                .collect()
        })
        .collect()
}

fn status_of(
    plan: &Plan,
    slots: &[Vec<Slot>],
    old_conditions: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition],
    generation: Option<i64>,
    now: Timestamp,
) -> DomainHealthCheckStatus {
    let views: Vec<ResolverSlots<'_>> = plan
        .resolvers
        .iter()
        .zip(slots)
        .map(|((resolver, _), slots)| ResolverSlots {
            name: &resolver.name,
            slots,
        })
        .collect();
    DomainHealthCheckStatus {
        domain: Some(plan.domain.clone()),
        propagation: None,
        certificates: Vec::new(),
        canary: None,
        resolvers: plan
            .resolvers
            .iter()
            .zip(slots)
            .map(|((resolver, _), slots)| ResolverStatus {
                name: resolver.name.clone(),
                address: resolver.address.to_string(),
                records: slots.iter().filter_map(|s| s.settled.clone()).collect(),
            })
            .collect(),
        conditions: evaluate::conditions(old_conditions, &plan.records, &views, generation, now),
        observed_generation: generation,
    }
}

/// The plan of `spec`, or why it cannot be probed.
async fn plan(
    shared: &Shared,
    namespace: &str,
    spec: &DomainHealthCheckSpec,
) -> Result<Plan, String> {
    let raw_domain = match (&spec.domain, &spec.domain_ref) {
        (Some(domain), _) => domain.clone(),
        (None, Some(reference)) => {
            let domains: Api<MonitoredDomain> = Api::namespaced(shared.client.clone(), namespace);
            let found = domains
                .list(&ListParams::default().fields(&format!("metadata.name={reference}")))
                .await
                .map_err(|e| format!("cannot read MonitoredDomain {reference}: {e}"))?;
            found
                .items
                .into_iter()
                .next()
                .map(|md| md.spec.domain)
                .ok_or_else(|| {
                    format!("domainRef {reference}: no MonitoredDomain of that name in {namespace}")
                })?
        }
        (None, None) => return Err("set domain or domainRef".to_owned()),
    };
    let domain = DomainName::parse(&raw_domain)
        .map_err(|e| format!("domain {raw_domain:?} is not a valid domain name: {e}"))?;
    let domain = domain.as_str().to_owned();
    let mut records = Vec::with_capacity(spec.records.len());
    for record in &spec.records {
        let fqdn = if record.name == "@" {
            domain.clone()
        } else {
            format!("{}.{domain}", record.name.to_ascii_lowercase())
        };
        let matchers = record
            .expect
            .iter()
            .map(Matcher::new)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("records {fqdn} {}: {e}", record.record_type.as_str()))?;
        records.push(RecordPlan {
            fqdn,
            record_type: record.record_type,
            matchers,
        });
    }
    let named: Vec<NamedResolver> = if spec.resolvers.is_empty() {
        shared.settings.default_resolvers.clone()
    } else {
        spec.resolvers
            .iter()
            .map(|r| {
                super::parse_resolver_address(&r.address).map(|address| NamedResolver {
                    name: r.name.clone(),
                    address,
                })
            })
            .collect::<Result<_, _>>()?
    };
    if named.is_empty() {
        return Err(
            "no resolvers to ask: set spec.resolvers, or DHC_RESOLVERS for the operator".to_owned(),
        );
    }
    let resolvers = named
        .into_iter()
        .map(|resolver| {
            let upstream = shared.upstream(resolver.address);
            (resolver, upstream)
        })
        .collect();
    Ok(Plan {
        domain,
        records,
        resolvers,
    })
}
