//! The replica's side of sharding: a member Lease, the shard Leases it holds,
//! and a [`ShardHandle`] the controller asks before working a shard.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use jiff::Timestamp;
use k8s_openapi::{
    api::coordination::v1::{Lease, LeaseSpec},
    apimachinery::pkg::apis::meta::v1::MicroTime,
};
use kube::{
    Api, Client, ResourceExt,
    api::{DeleteParams, ListParams, ObjectMeta, PostParams},
};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use super::{
    LEASE_KIND_LABEL,
    plan::{self, ShardLease},
};

/// Prefix of shard Lease names (`domain-monitor-shard-7`).
pub const SHARD_LEASE_PREFIX: &str = "domain-monitor-shard-";
/// Prefix of member Lease names (`domain-monitor-member-<instance>`).
pub const MEMBER_LEASE_PREFIX: &str = "domain-monitor-member-";

/// Sharding settings, from configuration.
#[derive(Debug, Clone)]
pub struct ShardSettings {
    /// Number of shards; the same on every replica.
    pub shards: u32,
    /// Namespace of the Leases.
    pub namespace: String,
    /// This replica's identity.
    pub identity: String,
    /// How long a renewal is valid for others.
    pub lease_duration: Duration,
    /// How long a renewal is valid for this replica (shorter).
    pub renew_deadline: Duration,
    /// Time between coordination rounds.
    pub retry_period: Duration,
}

/// Which shards this replica may work on, right now.
#[derive(Debug, Clone)]
pub struct ShardHandle {
    total: u32,
    valid_until: Arc<Mutex<BTreeMap<u32, Instant>>>,
    held: watch::Receiver<BTreeSet<u32>>,
    /// Until when the last round found every shard held by other live
    /// replicas (this one is a standby).
    standby_until: Arc<Mutex<Option<Instant>>>,
}

impl ShardHandle {
    /// A handle that owns every shard for ever (a single replica without
    /// coordination, and tests).
    pub fn all(total: u32) -> Self {
        let forever = Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600);
        let shards: BTreeMap<u32, Instant> = (0..total).map(|s| (s, forever)).collect();
        let (_tx, held) = watch::channel(shards.keys().copied().collect());
        Self {
            total,
            valid_until: Arc::new(Mutex::new(shards)),
            held,
            standby_until: Arc::new(Mutex::new(None)),
        }
    }

    /// Whether this replica holds no shard because live replicas hold them
    /// all (more replicas than shards): it stands by, ready to take over.
    pub fn standing_by(&self) -> bool {
        let until = self.standby_until.lock().unwrap_or_else(|e| e.into_inner());
        until.is_some_and(|t| t > Instant::now())
    }

    /// The number of shards.
    pub fn total(&self) -> u32 {
        self.total
    }

    /// Whether this replica may work `shard` now: it holds the lease and renewed
    /// it within the renew deadline.
    pub fn owns(&self, shard: u32) -> bool {
        let valid = self.valid_until.lock().unwrap_or_else(|e| e.into_inner());
        valid
            .get(&shard)
            .is_some_and(|until| *until > Instant::now())
    }

    /// The shards held now (announced set; see [`ShardHandle::owns`] for the
    /// per-check truth).
    pub fn held(&self) -> BTreeSet<u32> {
        self.held.borrow().clone()
    }

    /// This replica's share of all shards, 0.0–1.0.
    pub fn share(&self) -> f64 {
        f64::from(u32::try_from(self.held().len()).unwrap_or(u32::MAX))
            / f64::from(self.total.max(1))
    }

    /// A receiver that changes whenever the held set changes.
    pub fn changes(&self) -> watch::Receiver<BTreeSet<u32>> {
        self.held.clone()
    }
}

/// Runs the coordination rounds until `shutdown` fires, then releases every
/// shard and removes the member Lease so others take over at once.
pub struct Coordinator {
    api: Api<Lease>,
    settings: ShardSettings,
    valid_until: Arc<Mutex<BTreeMap<u32, Instant>>>,
    held: watch::Sender<BTreeSet<u32>>,
    standby_until: Arc<Mutex<Option<Instant>>>,
}

impl Coordinator {
    /// A coordinator and the handle the controller uses.
    pub fn new(client: Client, settings: ShardSettings) -> (Self, ShardHandle) {
        let valid_until = Arc::new(Mutex::new(BTreeMap::new()));
        let (held, receiver) = watch::channel(BTreeSet::new());
        let standby_until = Arc::new(Mutex::new(None));
        let handle = ShardHandle {
            total: settings.shards,
            valid_until: Arc::clone(&valid_until),
            held: receiver,
            standby_until: Arc::clone(&standby_until),
        };
        let coordinator = Self {
            api: Api::namespaced(client, &settings.namespace),
            settings,
            valid_until,
            held,
            standby_until,
        };
        (coordinator, handle)
    }

    /// Coordinates until `shutdown` resolves.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut ticker = tokio::time::interval(self.settings.retry_period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first round only announces this replica: replicas that start
        // together then see each other before taking shards, instead of each
        // grabbing (and caching) everything for a moment.
        let mut announced = false;
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                _ = ticker.tick() => {}
            }
            // A hung API call must not keep stale shards announced.
            let round = tokio::time::timeout(self.settings.renew_deadline, self.round(announced));
            announced = true;
            if let Err(err) = round
                .await
                .unwrap_or_else(|_| Err("coordination round timed out".to_owned()))
            {
                warn!(error = %err, "shard coordination round failed");
            }
            self.publish();
        }
        self.leave().await;
    }

    async fn round(&self, take_shards: bool) -> Result<(), String> {
        let now = Timestamp::now();
        self.renew_member(now).await?;
        if !take_shards {
            return Ok(());
        }
        let leases = self
            .api
            .list(&ListParams::default().labels(LEASE_KIND_LABEL))
            .await
            .map_err(|e| format!("cannot list Leases: {e}"))?;
        let mut live_members = 0;
        let mut shard_leases = Vec::new();
        let mut objects: BTreeMap<u32, Lease> = BTreeMap::new();
        for lease in leases.items {
            let view = view(&lease);
            match lease.labels().get(LEASE_KIND_LABEL).map(String::as_str) {
                Some("member") if !view.is_free(now) => live_members += 1,
                Some("shard") => {
                    if let Some(shard) = lease
                        .name_any()
                        .strip_prefix(SHARD_LEASE_PREFIX)
                        .and_then(|n| n.parse::<u32>().ok())
                    {
                        shard_leases.push(ShardLease { shard, ..view });
                        objects.insert(shard, lease);
                    }
                }
                _ => {}
            }
        }
        let decision = plan::decide(
            &self.settings.identity,
            self.settings.shards,
            live_members,
            &shard_leases,
            now,
        );
        let standby = plan::covered_by_others(
            &self.settings.identity,
            self.settings.shards,
            &shard_leases,
            now,
        );
        *self.standby_until.lock().unwrap_or_else(|e| e.into_inner()) =
            standby.then(|| Instant::now() + self.settings.renew_deadline);
        for shard in &decision.release {
            // Stop working the shard before anyone else can take it.
            self.forget(*shard);
            self.publish();
            if let Some(lease) = objects.get(shard) {
                self.write(lease.clone(), None, now).await;
            }
            info!(shard, "released shard to balance replicas");
        }
        for shard in &decision.renew {
            let renewed = match objects.get(shard) {
                Some(lease) => self.write(lease.clone(), Some(now), now).await,
                None => false,
            };
            if renewed {
                self.remember(*shard);
            } else {
                self.forget(*shard);
            }
        }
        for shard in &decision.acquire {
            let acquired = match objects.get(shard) {
                Some(lease) => self.write(lease.clone(), Some(now), now).await,
                None => self.create_shard_lease(*shard, now).await,
            };
            if acquired {
                info!(shard, "acquired shard");
                self.remember(*shard);
            }
        }
        Ok(())
    }

    fn remember(&self, shard: u32) {
        let mut valid = self.valid_until.lock().unwrap_or_else(|e| e.into_inner());
        valid.insert(shard, Instant::now() + self.settings.renew_deadline);
    }

    fn forget(&self, shard: u32) {
        let mut valid = self.valid_until.lock().unwrap_or_else(|e| e.into_inner());
        valid.remove(&shard);
    }

    /// Announces the shards still within their renew deadline.
    fn publish(&self) {
        let now = Instant::now();
        let held: BTreeSet<u32> = {
            let mut valid = self.valid_until.lock().unwrap_or_else(|e| e.into_inner());
            valid.retain(|_, until| *until > now);
            valid.keys().copied().collect()
        };
        self.held.send_if_modified(|current| {
            if *current == held {
                false
            } else {
                info!(shards = ?held, "shards held");
                *current = held;
                true
            }
        });
    }

    async fn renew_member(&self, now: Timestamp) -> Result<(), String> {
        let name = format!("{MEMBER_LEASE_PREFIX}{}", self.settings.identity);
        match self.api.get_opt(&name).await {
            Ok(Some(lease)) => {
                if self.write(lease, Some(now), now).await {
                    Ok(())
                } else {
                    Err("cannot renew the member Lease".to_owned())
                }
            }
            Ok(None) => {
                let lease = self.new_lease(&name, "member", now);
                self.api
                    .create(&PostParams::default(), &lease)
                    .await
                    .map(|_| ())
                    .map_err(|e| format!("cannot create the member Lease: {e}"))
            }
            Err(e) => Err(format!("cannot read the member Lease: {e}")),
        }
    }

    async fn create_shard_lease(&self, shard: u32, now: Timestamp) -> bool {
        let lease = self.new_lease(&format!("{SHARD_LEASE_PREFIX}{shard}"), "shard", now);
        match self.api.create(&PostParams::default(), &lease).await {
            Ok(_) => true,
            Err(err) => {
                debug!(shard, error = %err, "shard Lease taken by another replica");
                false
            }
        }
    }

    fn new_lease(&self, name: &str, kind: &str, now: Timestamp) -> Lease {
        Lease {
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
                labels: Some(BTreeMap::from([(
                    LEASE_KIND_LABEL.to_owned(),
                    kind.to_owned(),
                )])),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(self.settings.identity.clone()),
                lease_duration_seconds: Some(self.duration_seconds()),
                acquire_time: Some(MicroTime(now)),
                renew_time: Some(MicroTime(now)),
                lease_transitions: Some(0),
                ..LeaseSpec::default()
            }),
        }
    }

    /// Takes or renews (`renew = Some`) or releases (`None`) a Lease with
    /// optimistic concurrency: a conflict means someone else got there first.
    async fn write(&self, mut lease: Lease, renew: Option<Timestamp>, now: Timestamp) -> bool {
        let name = lease.name_any();
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        let was_mine = spec.holder_identity.as_deref() == Some(self.settings.identity.as_str());
        match renew {
            Some(at) => {
                if !was_mine {
                    spec.acquire_time = Some(MicroTime(now));
                    spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
                }
                spec.holder_identity = Some(self.settings.identity.clone());
                spec.renew_time = Some(MicroTime(at));
                spec.lease_duration_seconds = Some(self.duration_seconds());
            }
            None => {
                spec.holder_identity = None;
                spec.renew_time = None;
                spec.acquire_time = None;
            }
        }
        match self
            .api
            .replace(&name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => true,
            Err(err) => {
                debug!(lease = %name, error = %err, "Lease write lost");
                false
            }
        }
    }

    fn duration_seconds(&self) -> i32 {
        i32::try_from(self.settings.lease_duration.as_secs()).unwrap_or(i32::MAX)
    }

    /// Releases every shard and deletes the member Lease.
    async fn leave(&self) {
        let held: Vec<u32> = {
            let mut valid = self.valid_until.lock().unwrap_or_else(|e| e.into_inner());
            let held = valid.keys().copied().collect();
            valid.clear();
            held
        };
        self.publish();
        let now = Timestamp::now();
        for shard in held {
            if let Ok(Some(lease)) = self
                .api
                .get_opt(&format!("{SHARD_LEASE_PREFIX}{shard}"))
                .await
                && lease
                    .spec
                    .as_ref()
                    .and_then(|s| s.holder_identity.as_deref())
                    == Some(self.settings.identity.as_str())
            {
                self.write(lease, None, now).await;
            }
        }
        let member = format!("{MEMBER_LEASE_PREFIX}{}", self.settings.identity);
        if let Err(err) = self.api.delete(&member, &DeleteParams::default()).await {
            debug!(error = %err, "cannot delete the member Lease");
        }
        info!("left the shard ring");
    }
}

fn view(lease: &Lease) -> ShardLease {
    let spec = lease.spec.clone().unwrap_or_default();
    ShardLease {
        shard: 0,
        holder: spec.holder_identity.filter(|h| !h.is_empty()),
        renewed_at: spec.renew_time.map(|t| t.0),
        duration: Duration::from_secs(
            u64::try_from(spec.lease_duration_seconds.unwrap_or(0)).unwrap_or(0),
        ),
    }
}
