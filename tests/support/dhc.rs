//! `DomainHealthCheck` helpers: its CRD installed next to MonitoredDomain's,
//! and a check as a user writes one.

use std::time::Duration;

use super::operator::{Operator, wait_for_resource};
use domain_monitor::resource::dhc::{
    DomainHealthCheck, DomainHealthCheckSpec, Expectation, ProbeRecordType, RecordProbe,
    ResolverSpec,
};
use kube::{Api, Client, CustomResourceExt};

/// Applies the DomainHealthCheck CRD (idempotent) and waits until the API
/// server serves it.
pub async fn install_dhc_crd(client: &Client) {
    super::cluster::apply_crd(client, DomainHealthCheck::crd()).await;
}

/// A record probe of `name` (relative to the domain) and `record_type`,
/// expecting each of `exact` verbatim.
pub fn record(name: &str, record_type: ProbeRecordType, exact: &[&str]) -> RecordProbe {
    RecordProbe {
        name: name.to_owned(),
        record_type,
        expect: exact
            .iter()
            .map(|e| Expectation {
                exact: Some((*e).to_owned()),
                contains: None,
                regex: None,
            })
            .collect(),
    }
}

/// A resolver named `name` at `address`.
pub fn resolver(name: &str, address: impl ToString) -> ResolverSpec {
    ResolverSpec {
        name: name.to_owned(),
        address: address.to_string(),
    }
}

/// A check named `name` of `domain`'s `records` at `resolvers`.
pub fn check(
    name: &str,
    domain: &str,
    records: Vec<RecordProbe>,
    resolvers: Vec<ResolverSpec>,
) -> DomainHealthCheck {
    DomainHealthCheck::new(
        name,
        DomainHealthCheckSpec {
            domain: Some(domain.to_owned()),
            domain_ref: None,
            records,
            resolvers,
            tls: Vec::new(),
            certificate_warning: None,
            interval: None,
            failure_threshold: None,
            canary: None,
        },
    )
}

/// How long [`wait_for`] waits: a few 10 s probe intervals, on a loaded
/// machine.
pub const PATIENCE: Duration = Duration::from_secs(90);

/// Polls the check `name` until `done` holds and returns it; panics after
/// [`PATIENCE`] naming `what` was awaited, with the status and `operator`'s
/// log.
pub async fn wait_for(
    api: &Api<DomainHealthCheck>,
    name: &str,
    what: &str,
    operator: &Operator,
    done: impl Fn(&DomainHealthCheck) -> bool,
) -> DomainHealthCheck {
    wait_for_resource(api, name, PATIENCE, what, operator, done).await
}

/// The check's condition `type_` as (status, reason, message).
pub fn condition(check: &DomainHealthCheck, type_: &str) -> Option<(String, String, String)> {
    check
        .status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}
