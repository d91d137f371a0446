//! Sharding across replicas, after the design of
//! timebertt/kubernetes-controller-sharding: the domain space is split into a
//! fixed number of shards by a stable hash of the A-label; each shard is held
//! by at most one replica through a `coordination.k8s.io/v1` Lease; every
//! replica announces itself with a member Lease, and replicas balance so that
//! none holds more than `ceil(shards / live replicas)`.
//!
//! Safety: a replica counts a shard as its own only until `renew deadline`
//! after its last successful renewal, which is shorter than the lease
//! duration after which another replica may take it. A replica that cannot
//! renew therefore stops working a shard before anyone else can start.
//!
//! Resources carry their shard in the `domainmonitor.io/shard` label, so each
//! replica watches only its shards' resources.
//!
//! [`plan`] holds the pure decisions; [`coordinator`] talks to the API server.

pub mod coordinator;
pub mod plan;

use futures::StreamExt;
use kube::{
    Api, ResourceExt,
    api::{Patch, PatchParams},
    runtime::{WatchStreamExt, watcher},
};
use tracing::{debug, warn};

use crate::{domain_name::DomainName, resource::MonitoredDomain};

/// Label holding a resource's shard number.
pub const SHARD_LABEL: &str = "domainmonitor.io/shard";
/// Label telling member Leases from shard Leases.
pub const LEASE_KIND_LABEL: &str = "domainmonitor.io/lease-kind";

/// The shard of a domain: FNV-1a (64 bit) of its A-label, modulo `shards`.
///
/// Written out rather than taken from `std::hash`, whose output may change
/// between Rust releases: every replica, of every version, must agree.
pub fn shard_of(domain: &DomainName, shards: u32) -> u32 {
    shard_of_key(domain.as_str(), shards)
}

/// The shard of any key (resources whose domain is invalid use their name).
pub fn shard_of_key(key: &str, shards: u32) -> u32 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let hash = key.bytes().fold(OFFSET, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(PRIME)
    });
    u32::try_from(hash % u64::from(shards.max(1))).unwrap_or(0)
}

/// The shard a resource belongs to: by its domain, or by its name when the
/// domain is invalid.
pub fn shard_for(resource: &MonitoredDomain, shards: u32) -> u32 {
    match DomainName::parse(&resource.spec.domain) {
        Ok(domain) => shard_of(&domain, shards),
        Err(_) => shard_of_key(&resource.name_any(), shards),
    }
}

/// Gives resources in `scope` without a shard label (applied by hand) their
/// label, so that the replica holding the shard sees them, until `stop`.
/// Every replica runs it; the patches are idempotent.
pub async fn label_unsharded(
    scope: Api<MonitoredDomain>,
    shards: u32,
    stop: impl std::future::Future<Output = ()>,
) {
    let client = scope.clone().into_client();
    let config = watcher::Config::default().labels(&format!("!{SHARD_LABEL}"));
    let labels = watcher(scope, config)
        .default_backoff()
        .applied_objects()
        .for_each(|result| {
            let client = client.clone();
            async move {
                let Ok(resource) = result else { return };
                let shard = shard_for(&resource, shards);
                // The watch may span namespaces; the patch goes to the object's own.
                let api: Api<MonitoredDomain> =
                    Api::namespaced(client, &resource.namespace().unwrap_or_default());
                let patch = serde_json::json!({"metadata": {"labels": {SHARD_LABEL: shard.to_string()}}});
                match api
                    .patch(&resource.name_any(), &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                {
                    Ok(_) => debug!(resource = %resource.name_any(), shard, "labelled with its shard"),
                    Err(err) => warn!(resource = %resource.name_any(), error = %err, "cannot label with its shard; its replica will not see it"),
                }
            }
        });
    tokio::select! {
        () = labels => {}
        () = stop => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_stable_and_spread() {
        let d = |s: &str| DomainName::parse(s).unwrap();
        // Fixed values: a change here would reshuffle every installation.
        assert_eq!(
            shard_of(&d("example.com"), 16),
            shard_of_key("example.com", 16)
        );
        assert_eq!(
            shard_of_key("", 16),
            (0xcbf2_9ce4_8422_2325_u64 % 16) as u32
        );
        assert_eq!(
            shard_of_key("a", 1000),
            (0xaf63_dc4c_8601_ec8c_u64 % 1000) as u32
        );
        let mut counts = [0_u32; 8];
        for i in 0..8000 {
            counts[shard_of_key(&format!("domain{i}.example"), 8) as usize] += 1;
        }
        assert!(counts.iter().all(|c| (800..1200).contains(c)), "{counts:?}");
        assert_eq!(shard_of_key("x", 0), 0);
    }
}
