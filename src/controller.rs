//! The reconcile loop: every `MonitoredDomain` in, status out.
//!
//! This is the skeleton the later steps grow: it watches the resources, checks
//! that each names a valid domain, and requeues on the configured interval.

use std::{sync::Arc, time::Duration};

use futures::StreamExt;
use kube::{
    Api, Client, ResourceExt,
    runtime::{Controller, controller::Action, watcher},
};
use tracing::{info, warn};

use crate::{config::RunArgs, domain_name::DomainName, resource::MonitoredDomain};

/// Why the operator could not start or keep running.
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
}

/// Local result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What every reconcile needs.
struct Context {
    check_interval: Duration,
    priority_check_interval: Duration,
}

/// Runs the controller until SIGINT/SIGTERM.
pub async fn run(args: RunArgs) -> Result<()> {
    let client = Client::try_default().await.map_err(Error::Connect)?;
    let domains: Api<MonitoredDomain> = Api::all(client);
    ensure_crd_installed(&domains).await?;
    info!(instance = %args.instance_id, "operator started");
    let context = Arc::new(Context {
        check_interval: args.check_interval,
        priority_check_interval: args.priority_check_interval,
    });
    Controller::new(domains, watcher::Config::default().any_semantic())
        .shutdown_on_signal()
        .run(reconcile, error_policy, context)
        .for_each(|result| async move {
            if let Err(err) = result {
                warn!(error = %err, "reconcile failed");
            }
        })
        .await;
    info!("operator stopped");
    Ok(())
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

async fn reconcile(
    resource: Arc<MonitoredDomain>,
    context: Arc<Context>,
) -> std::result::Result<Action, kube::Error> {
    match DomainName::parse(&resource.spec.domain) {
        Ok(domain) => {
            info!(resource = %resource.name_any(), %domain, "watching domain");
            let interval = if resource.spec.priority {
                context.priority_check_interval
            } else {
                context.check_interval
            };
            Ok(Action::requeue(interval))
        }
        Err(err) => {
            warn!(resource = %resource.name_any(), error = %err, "invalid domain");
            Ok(Action::await_change())
        }
    }
}

fn error_policy(
    _resource: Arc<MonitoredDomain>,
    _err: &kube::Error,
    _context: Arc<Context>,
) -> Action {
    Action::requeue(Duration::from_secs(30))
}
