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

/// The message of a condition of `md` ("" when it has none).
pub fn message(md: &MonitoredDomain, type_: &str) -> String {
    md.status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == type_))
        .map(|c| c.message.clone())
        .unwrap_or_default()
}

/// `Some((status, reason))`, to compare with [`condition`].
pub fn pair(status: &str, reason: &str) -> Option<(String, String)> {
    Some((status.to_owned(), reason.to_owned()))
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

/// How many times a resource of `api` is written while `change` happens:
/// the watch runs for 15 s and `change` starts a second into it.
pub async fn writes_during(
    api: &Api<MonitoredDomain>,
    change: impl std::future::Future<Output = ()>,
) -> usize {
    let writes = tokio::spawn({
        let api = api.clone();
        async move { writes_within(&api, Duration::from_secs(15)).await }
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    change.await;
    writes.await.expect("watch task")
}

/// Asserts that nothing writes a resource of `api` for 10 s (`what`: the
/// state the resource is in, for the failure message).
pub async fn assert_no_writes(api: &Api<MonitoredDomain>, what: &str, operator: &Operator) {
    let writes = writes_within(api, Duration::from_secs(10)).await;
    assert_eq!(writes, 0, "writes while {what}:\n{}", operator.log());
}

/// The reasons of the Events about the resource `name`, sorted, once there
/// are `count` of them (or after 10 s).
pub async fn wait_for_event_reasons(ns: &TestNamespace, name: &str, count: usize) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let reasons = event_reasons(ns, name).await;
        if reasons.len() >= count || tokio::time::Instant::now() >= deadline {
            return reasons;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
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
