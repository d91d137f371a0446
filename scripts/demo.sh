#!/usr/bin/env bash
# `just demo`: the whole product on one machine. A local Kubernetes API
# server, the CRD, a local .test world (real nsd and rdap-srv, WHOIS, the
# user's domain API and a callback receiver that prints what it gets) and
# the operator. After 40 s the registry releases dropping.test: watch it turn
# Available and the notification arrive. Two domains are owned (health mode):
# after 60 s the registry's name servers of drifting.test change behind its
# owner's back, and the demo shows `kubectl describe md drifting.test` with
# the DelegationDrift condition and the NameserversChanged Event. The world
# is signed (its own root, `test.`, owned.test; DNSSEC_TRUST_ANCHORS in
# world.env): owned.test shows `DNSSECValid True Valid`, and rekeyed.test
# (a third owned domain, re-keyed without a new DS at the registry) shows
# `DNSSECValid False DSMismatch` (broken from its first check, so no Event): the demo describes both. A
# DomainHealthCheck probes shop.test at two unbound resolvers; after 60 s its
# www record changes and the resolvers converge one after the other: once
# Converged is True again the demo prints each resolver's seconds from
# status.propagation.lastChange. Ctrl-C stops everything.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$repo_root"

require_command kubectl "apt-get install -y kubectl"
require_command nsd "apt-get install -y nsd"
require_command ldns-signzone "apt-get install -y ldnsutils"
require_command unbound "apt-get install -y unbound"

log "building the operator"
cargo build --locked -q

work="$target_dir/demo"
rm -rf "$work"
mkdir -p "$work"
cleanup() {
  stop_pid "${OPERATOR_PID:-}"
  stop_pid "${WORLD_PID:-}"
  stop_pid "${CLUSTER_PID:-}"
  log "demo stopped"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

log "starting the local Kubernetes API server (first run builds it: several minutes)"
start_cluster "$work/cluster"
export KUBECONFIG="$KUBECONFIG_PATH"

log "installing the MonitoredDomain and DomainHealthCheck CRDs"
kubectl apply -f crds/monitoreddomain.yaml -f crds/domainhealthcheck.yaml
kubectl wait --for condition=established --timeout=60s crd/monitoreddomains.domainmonitor.io crd/domainhealthchecks.domainmonitor.io >/dev/null

log "pinning a domain by hand (an IDN; the sync never touches pinned resources)"
kubectl apply -f - <<'YAML'
apiVersion: domainmonitor.io/v1alpha1
kind: MonitoredDomain
metadata:
  name: buecher-test
spec:
  domain: Bücher.test
  priority: true
YAML

log "starting the local .test world"
start_world "$work/world" --drop-after 40 --drift-after 60 --change-after 60

log "checking shop.test at two resolvers (a DomainHealthCheck)"
kubectl apply -f "$work/world/domainhealthcheck.yaml"

log "running the operator (log: $work/operator.log)"
set -a
# shellcheck disable=SC1091
source "$work/world/world.env"
set +a
CHECK_INTERVAL=30s PRIORITY_CHECK_INTERVAL=10s DROP_WINDOW_INTERVAL=5s \
  DOMAIN_API_REFRESH_INTERVAL=15s PER_CHECK_CALLBACKS=off POD_NAMESPACE=default \
  INSTANCE_ID=demo LISTEN_ADDR=127.0.0.1:8000 OPEN_WATCHLIST=true \
  "$target_dir/debug/domain-monitor" run >"$work/operator.log" 2>&1 &
OPERATOR_PID=$!

log "operator surface: http://127.0.0.1:8000/status  http://127.0.0.1:8000/metrics  http://127.0.0.1:8000/metrics/prometheus  http://127.0.0.1:8000/domains (OPEN_WATCHLIST=true: no token needed here)"
convergence_jsonpath='{"serial "}{.status.propagation.lastChange.serial}{" detected at "}{.status.propagation.lastChange.detectedAt}{"\n"}{range .status.propagation.lastChange.resolvers[*]}{"  "}{.name}{": "}{.seconds}{" s\n"}{end}'
convergence_command="kubectl get dhc shop -o jsonpath='$convergence_jsonpath'"
log "watching (KUBECONFIG=$KUBECONFIG kubectl get md,dhc); Ctrl-C stops the demo"
drift_shown=""
dnssec_shown=""
convergence_shown=""
while kill -0 "$OPERATOR_PID" 2>/dev/null; do
  sleep 10
  echo
  kubectl get md
  kubectl get dhc -o wide
  kubectl get dhc shop -o jsonpath='{range .status.conditions[*]}{.type}={.status} {.reason}: {.message}{"\n"}{end}'
  drift="$(kubectl get md drifting.test -o jsonpath='{.status.conditions[?(@.type=="DelegationDrift")].status}' 2>/dev/null || true)"
  if [ -z "$drift_shown" ] && [ "$drift" = True ]; then
    drift_shown=yes
    echo
    log "drifting.test drifts: kubectl describe md drifting.test"
    kubectl describe md drifting.test
  fi
  # Once shop.test's serial changed (lastChange is set) and every resolver
  # serves the new one again (Converged True): how long each one took.
  changed="$(kubectl get dhc shop -o jsonpath='{.status.propagation.lastChange.serial}' 2>/dev/null || true)"
  converged="$(kubectl get dhc shop -o jsonpath='{.status.conditions[?(@.type=="Converged")].status}' 2>/dev/null || true)"
  if [ -z "$convergence_shown" ] && [ -n "$changed" ] && [ "$converged" = True ]; then
    convergence_shown=yes
    echo
    log "shop.test converged on serial $changed; seconds each resolver took: $convergence_command"
    kubectl get dhc shop -o jsonpath="$convergence_jsonpath"
  fi
  rekeyed="$(kubectl get md rekeyed.test -o jsonpath='{.status.conditions[?(@.type=="DNSSECValid")].status}' 2>/dev/null || true)"
  # Once the registry has answered too (Healthy known), not at the first probe.
  healthy=""
  for md in rekeyed.test owned.test; do
    healthy+="$(kubectl get md "$md" -o jsonpath='{.status.conditions[?(@.type=="Healthy")].status}' 2>/dev/null || true) "
  done
  if [ -z "$dnssec_shown" ] && [ "$rekeyed" = False ] && [ "$healthy" = "False True " ]; then
    dnssec_shown=yes
    echo
    log "DNSSEC: owned.test validates from the world's own root (kubectl get md owned.test -o jsonpath=…)"
    kubectl get md owned.test -o jsonpath='{range .status.conditions[*]}{.type}={.status} {.reason}: {.message}{"\n"}{end}'
    echo
    log "DNSSEC: rekeyed.test's DS names a retired key: kubectl describe md rekeyed.test"
    kubectl describe md rekeyed.test
  fi
done
echo "the operator exited; its log:" >&2
tail -n 30 "$work/operator.log" >&2
exit 1
