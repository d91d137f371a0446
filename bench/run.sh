#!/usr/bin/env bash
# `just bench`: how fast, how big, how cheap, measured on this machine.
#
# Runs, one after the other (each needs the machine to itself):
#   1. criterion micro-benchmarks of the parsers and the verdict (benches/parsers.rs);
#   2. DNS and pipeline throughput of the check library against nsd, rdap-srv
#      and a WHOIS server, next to dnsperf (benches/checks.rs);
#   3. the operator with 10k and 100k MonitoredDomains in the test API server
#      (first pass, memory, status writes while busy and while idle, next to
#      the API server's own status-patch ceiling), 100k published again at
#      the operator's default intervals, 1 vs 3 replicas, and the
#      detection latency of dropped domains, every TLD on two nsd and the
#      deep layers at the operator's default budgets (benches/operator.rs);
# then writes bench/results/summary.json and summary.md (bench/summarize.py),
# with the raw numbers of each part in bench/results/raw/.
#
#   just bench                 # the full run (~40 minutes once built)
#   BENCH_SCALE=small just bench   # a smoke run at small sizes (~5 minutes)
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
cd "$repo_root"

scale="${BENCH_SCALE:-full}"
case "$scale" in
full) small=10000 large=100000 window=60 per_class=20 names=100000 seconds=4 patience=1800 ;;
small) small=2000 large=10000 window=20 per_class=4 names=20000 seconds=3 patience=600 ;;
*)
  echo "error: BENCH_SCALE must be full or small, not '$scale'" >&2
  exit 2
  ;;
esac

require_command cargo "rustup (https://rustup.rs)"
require_command go "the Go toolchain (https://go.dev/doc/install); CI machines have it at /usr/local/go/bin"
require_command kubectl "apt-get install -y kubectl"
require_command nsd "apt-get install -y nsd"
require_command nsd-control "apt-get install -y nsd"
require_command python3 "apt-get install -y python3"
if ! command -v dnsperf >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing dnsperf (Debian)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends dnsperf >/dev/null
  else
    require_command dnsperf "apt-get install -y dnsperf"
  fi
fi

results="$repo_root/bench/results"
work="$(mktemp -d -t dm-bench-XXXXXX)"
bench_pid=""
cleanup() {
  # The bench binaries stop their servers and operators on SIGTERM.
  stop_pid "$bench_pid"
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "project-local servers (first run builds them: several minutes)"
bash tests/tools/install-rdap-srv.sh >/dev/null
export DM_TEST_APISERVER
DM_TEST_APISERVER="$(OUT="$target_dir/tools/test-apiserver" bash tests/cluster/build.sh | tail -n 1)"

log "building the benchmarks (release profile)"
cargo bench --locked --no-run --message-format=json-render-diagnostics \
  --bench parsers --bench checks --bench operator >"$work/build.json"
executable() { # bench target name
  python3 - "$work/build.json" "$1" <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    message = json.loads(line)
    if message.get("reason") == "compiler-artifact" and message["target"]["name"] == sys.argv[2] \
            and message.get("executable"):
        print(message["executable"])
EOF
}
parsers="$(executable parsers)"
checks="$(executable checks)"
operator="$(executable operator)"

raw="$work/raw"
mkdir -p "$raw"
export TMPDIR="$work" CRITERION_HOME="$work/criterion"
phases="$raw/phases.tsv"
printf 'phase\tseconds\tload_1m_before\tload_5m_before\n' >"$phases"

# phase NAME COMMAND…: runs one part in the background (so a signal can stop
# it cleanly), recording its duration and the load average before it.
phase() {
  local name="$1" started=$SECONDS load
  shift
  read -r load1 load5 _ </proc/loadavg
  log "$name (load average $load1 $load5)"
  "$@" &
  bench_pid=$!
  wait "$bench_pid"
  bench_pid=""
  printf '%s\t%s\t%s\t%s\n' "$name" $((SECONDS - started)) "$load1" "$load5" >>"$phases"
}

{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "scale: $scale"
  echo "cpus: $(nproc)"
  echo "memory: $(awk '/MemTotal/ {print $2 " kB"}' /proc/meminfo)"
  echo "cpu model: $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
  echo "kernel: $(uname -r)"
  echo "rustc: $(rustc --version)"
  echo "dnsperf: $(dnsperf -h 2>&1 | awk '/^Version/ {print $2}')"
  echo "nsd: $(nsd -v 2>&1 | head -n 1)"
  echo "uptime before: $(uptime)"
} >"$raw/machine.txt"
started=$SECONDS

phase parsers "$parsers" --bench
phase checks "$checks" --bench --names "$names" --seconds "$seconds" --out "$raw/checks.json"
# --patience: how long the first pass may take before it is recorded as not
# reached (and the run goes on).
phase scale-small "$operator" --bench scale --domains "$small" --window "$window" \
  --patience "$patience" --out "$raw/scale-small.json"
phase scale-large "$operator" --bench scale --domains "$large" --window "$window" \
  --patience "$patience" --out "$raw/scale-large.json"
# The same first pass at the operator's default intervals: publishing
# without the 60-s re-checks of the scale runs.
phase publishing "$operator" --bench publishing --domains "$large" \
  --patience "$patience" --out "$raw/publishing.json"
phase scaleout "$operator" --bench scaleout --domains "$small" --window 30 --out "$raw/scaleout.json"
phase detection "$operator" --bench detection --per-class "$per_class" --out "$raw/detection.json"

echo "uptime after: $(uptime)" >>"$raw/machine.txt"
echo "total seconds: $((SECONDS - started))" >>"$raw/machine.txt"
rm -rf "$results/raw"
mkdir -p "$results"
cp -r "$raw" "$results/raw"
python3 bench/summarize.py "$results" "$CRITERION_HOME"
log "results in bench/results/summary.md and summary.json ($((SECONDS - started)) s)"
