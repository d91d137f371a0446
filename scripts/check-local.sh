#!/usr/bin/env bash
# `just check-local`: `domain-monitor check` against the local .test world.
# `just check-local --health --dnssec required`: the health report of its
# owned domains (DNSSEC validated from the world's own root: world.env's
# DNSSEC_TRUST_ANCHORS).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$repo_root"

require_command nsd "apt-get install -y nsd"
require_command unbound "apt-get install -y unbound"
require_command ldns-signzone "apt-get install -y ldnsutils"
cargo build --locked -q
work="$target_dir/check-local"
cleanup() { stop_pid "${WORLD_PID:-}"; }
trap cleanup EXIT

log "starting the local .test world"
start_world "$work"
names=(taken.test dropping.test expiring.test held.test free.test rdap-only.test premium.test)
# With --health: the world's owned domains instead (owned.test signed and
# healthy, drifting.test unsigned, rekeyed.test whose DS names a retired key).
for arg in "$@"; do
  if [ "$arg" = --health ]; then
    names=(owned.test drifting.test rekeyed.test)
  fi
done
log "domain-monitor check ${names[*]}"
set +e
env $(grep -v '^API_\|^DOMAIN_API' "$work/world.env" | xargs) \
  "$target_dir/debug/domain-monitor" check "${names[@]}" "$@"
status=$?
set -e
log "exit code $status (0: every verdict conclusive and, with --health, every domain Healthy; 1: not; 2: bad arguments)"
exit "$status"
