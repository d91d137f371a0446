#!/usr/bin/env bash
# `just demo`: a local API server, the CRD, two example domains and the
# operator, in one command. Ctrl-C stops everything.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$repo_root"

require_command kubectl "apt-get install -y kubectl"

log "building the operator"
cargo build --locked -q

work="$repo_root/target/demo"
rm -rf "$work"
cleanup() {
  stop_pid "${OPERATOR_PID:-}"
  stop_pid "${CLUSTER_PID:-}"
  log "demo stopped"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "starting the local Kubernetes API server (first run builds it: several minutes)"
start_cluster "$work/cluster"
export KUBECONFIG="$KUBECONFIG_PATH"

log "installing the MonitoredDomain CRD"
kubectl apply -f crds/monitoreddomain.yaml
kubectl wait --for condition=established --timeout=60s crd/monitoreddomains.domainmonitor.io

log "applying two example domains"
kubectl apply -f manifests/examples/monitoreddomains.yaml
kubectl get md

log "running the operator (Ctrl-C to stop); in another shell: KUBECONFIG=$KUBECONFIG kubectl get md"
./target/debug/domain-monitor run &
OPERATOR_PID=$!
wait "$OPERATOR_PID"
