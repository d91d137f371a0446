//! Helpers of the health-mode operator tests (`tests/health_mode.rs`,
//! `tests/health_dnssec_mode.rs`): reading conditions, waiting for a
//! resource's state, counting writes and Events.

use std::time::Duration;

use domain_monitor::resource::MonitoredDomain;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::events::v1::Event;
use kube::{
    Api, ResourceExt,
    api::ListParams,
    runtime::{WatchStreamExt, watcher},
};

use super::{cluster::TestNamespace, operator::Operator};

/// The status of a condition of `md`: (status, reason).
pub fn condition(md: &MonitoredDomain, type_: &str) -> Option<(String, String)> {
    md.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone()))
}

/// `Some((status, reason))`, to compare with [`condition`].
pub fn pair(status: &str, reason: &str) -> Option<(String, String)> {
    Some((status.to_owned(), reason.to_owned()))
}

/// Waits until `done` holds for the resource `name`, failing after
/// `patience` with the operator's log.
pub async fn wait_for(
    api: &Api<MonitoredDomain>,
    name: &str,
    patience: Duration,
    what: &str,
    operator: &Operator,
    done: impl Fn(&MonitoredDomain) -> bool,
) -> MonitoredDomain {
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        let md = api.get(name).await.expect("get");
        if done(&md) {
            return md;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}: {:?}\n{}",
            md.status,
            operator.log()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// How many times a resource of `api` was written within `window` (after
/// the watch's initial listing).
pub async fn writes_within(api: &Api<MonitoredDomain>, window: Duration) -> usize {
    watcher(api.clone(), watcher::Config::default())
        .touched_objects()
        .skip(1)
        .take_until(tokio::time::sleep(window))
        .map_ok(|md| md.name_any())
        .try_collect::<Vec<_>>()
        .await
        .expect("watch")
        .len()
}

/// The reasons of the Events about the resource `name`, sorted.
pub async fn event_reasons(ns: &TestNamespace, name: &str) -> Vec<String> {
    let events: Api<Event> = Api::namespaced(ns.client.clone(), &ns.name);
    let mut reasons: Vec<String> = events
        .list(&ListParams::default())
        .await
        .expect("list events")
        .items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
        .filter_map(|e| e.reason)
        .collect();
    reasons.sort();
    reasons
}
