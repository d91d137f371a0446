#!/usr/bin/env bash
# Resident memory per replica with 1 and 3 replicas watching N domains
# (default 10,000) in a local API server. The checks point at closed local
# ports, so they fail fast and the measurement is about the operator's own
# footprint (cache, schedule, per-domain memory), not about network buffers.
#   bash bench/shard-memory.sh [N]
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
cd "$repo_root"
n="${1:-10000}"
cargo build --locked -q --release
bin="$repo_root/target/release/domain-monitor"
work="$(mktemp -d -t dm-shard-memory-XXXXXX)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do stop_pid "$pid"; done
  stop_pid "${API_PID:-}"
  stop_pid "${CLUSTER_PID:-}"
  rm -rf "$work"
}
trap cleanup EXIT
start_cluster "$work/cluster"
export KUBECONFIG="$KUBECONFIG_PATH"
kubectl apply -f crds/monitoreddomain.yaml >/dev/null
kubectl wait --for condition=established --timeout=60s crd/monitoreddomains.domainmonitor.io >/dev/null
python3 -c "import json; print(json.dumps({'domains': ['m%d.test' % i for i in range($n)]}))" >"$work/domains.json"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 -m http.server "$port" --bind 127.0.0.1 --directory "$work" >/dev/null 2>&1 &
API_PID=$!

run_operator() { # instance port
  DOMAIN_API_URL="http://127.0.0.1:$port/domains.json" DOMAIN_API_REFRESH_INTERVAL=3600 \
  DNS_RESOLVERS=127.0.0.1:9 RDAP_OVERRIDES=test=http://127.0.0.1:9/ WHOIS_OVERRIDES=test=127.0.0.1:9 \
  DNS_TIMEOUT=1s HTTP_TIMEOUT=1s POD_NAMESPACE=default INSTANCE_ID="$1" LISTEN_ADDR="127.0.0.1:$2" \
  RUST_LOG=warn "$bin" run >"$work/$1.log" 2>&1 &
  pids+=($!)
}
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
wait_created() {
  until [ "$(kubectl get md --no-headers 2>/dev/null | wc -l)" -ge "$n" ]; do sleep 2; done
}

watched() { # port
  curl -s "http://127.0.0.1:$1/status" | python3 -c 'import json,sys; print(json.load(sys.stdin)["domains"]["total"])'
}
settle="${SETTLE_SECONDS:-120}"

run_operator solo 18100
wait_created
sleep "$settle"
solo="$(rss_kib "${pids[0]}") KiB watching $(watched 18100)"
stop_pid "${pids[0]}"
pids=()
run_operator r1 18101; run_operator r2 18102; run_operator r3 18103
sleep "$settle"
r=()
for i in 0 1 2; do r+=("$(rss_kib "${pids[$i]}") KiB watching $(watched $((18101 + i)))"); done
echo "domains=$n one replica: $solo"
echo "domains=$n three replicas: ${r[0]}; ${r[1]}; ${r[2]}"
