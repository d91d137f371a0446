#!/usr/bin/env bash
# `just chaos`: the fault and security scenarios at full scale, against real
# servers. Writes chaos/results.json and prints the table; fails when a
# scenario failed, lost a resource or produced a false "Available".
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$repo_root"

require_command go "the Go toolchain (https://go.dev/doc/install)"
require_command cargo "rustup (https://rustup.rs)"
require_command nsd "apt-get install -y nsd"
require_command nsd-control "apt-get install -y nsd"
require_command python3 "apt-get install -y python3"

log "project-local test servers (first run builds them: several minutes)"
bash tests/tools/install-rdap-srv.sh >/dev/null

start_test_cluster dm-chaos
export CHAOS_SCALE="${CHAOS_SCALE:-full}"
export CHAOS_RESULTS_DIR="$work/results"

log "chaos scenarios ($CHAOS_SCALE scale; one at a time)"
targets=()
for file in tests/chaos.rs tests/security_*.rs; do
  [[ -f "$file" ]] && targets+=(--test "$(basename "$file" .rs)")
done
set +e
cargo test --locked "${targets[@]}" -- --test-threads=1
status=$?
set -e
python3 scripts/chaos-report.py "$CHAOS_RESULTS_DIR" chaos/results.json || status=1
exit "$status"
