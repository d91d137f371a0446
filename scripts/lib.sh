# Shared helpers for the scripts in this folder; source it, don't run it.

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Where builds live, for every script: Cargo's target directory,
# CARGO_TARGET_DIR when set (relative to the repository root, as Cargo reads
# it from there), else target/. Debug binaries are in "$target_dir/debug",
# the project's test servers and tools in "$target_dir/tools", the scripts'
# scratch folders (demo, check-local, cluster) beside them.
target_dir="${CARGO_TARGET_DIR:-target}"
case "$target_dir" in
/*) ;;
*) target_dir="$repo_root/$target_dir" ;;
esac
# Exported absolute, so that cargo and the tool builders the scripts run
# (tests/cluster/build.sh, …) agree with it from any folder.
export CARGO_TARGET_DIR="$target_dir"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# require_command CMD "install command": stop at once when a system tool is missing.
require_command() {
  if ! command -v "$1" >/dev/null 2>&1; then
    echo "error: '$1' is not installed. Install it with: $2" >&2
    exit 1
  fi
}

# wait_for_start PID SECONDS WHAT LOG COMMAND…: polls COMMAND until it
# succeeds; stops the script when PID exits first (showing LOG, if any) or
# when SECONDS pass.
wait_for_start() {
  local pid="$1" seconds="$2" what="$3" logfile="$4" started=$SECONDS
  shift 4
  until "$@" 2>/dev/null; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "error: $what exited during start-up" >&2
      if [ -n "$logfile" ]; then tail -n 40 "$logfile" >&2; fi
      exit 1
    fi
    if [ $((SECONDS - started)) -ge "$seconds" ]; then
      echo "error: $what was not ready after $seconds s${logfile:+; see $logfile}" >&2
      exit 1
    fi
    sleep 0.5
  done
}

# start_cluster DIR: starts the test API server in the background, writing its
# kubeconfig into DIR, and sets CLUSTER_PID and KUBECONFIG_PATH.
start_cluster() {
  local dir="$1" binary
  binary="$(bash "$repo_root/tests/cluster/build.sh" | tail -n 1)"
  mkdir -p "$dir"
  "$binary" --kubeconfig "$dir/kubeconfig" >"$dir/apiserver.out" 2>"$dir/apiserver.log" &
  CLUSTER_PID=$!
  wait_for_start "$CLUSTER_PID" 180 "the test API server" "$dir/apiserver.log" \
    grep -q '^KUBECONFIG=' "$dir/apiserver.out"
  KUBECONFIG_PATH="$(sed -n 's/^KUBECONFIG=//p' "$dir/apiserver.out" | head -n 1)"
  log "API server ready (kubeconfig: $KUBECONFIG_PATH)"
}

# start_test_cluster PREFIX: for a test run, a scratch folder "$work"
# (mktemp PREFIX-XXXXXX) and the test API server in it, both gone when the
# script exits; exports DM_TEST_KUBECONFIG for the test binaries.
start_test_cluster() {
  work="$(mktemp -d -t "$1-XXXXXX")"
  trap 'stop_pid "${CLUSTER_PID:-}"; rm -rf "$work"' EXIT
  log "building the test Kubernetes API server"
  start_cluster "$work/cluster"
  export DM_TEST_KUBECONFIG="$KUBECONFIG_PATH"
}

# stop_pid PID: SIGTERM, then wait for it.
stop_pid() {
  if [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; then
    kill -TERM "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
  fi
}

# start_world DIR [ARGS…]: starts the local .test world (real nsd and rdap-srv,
# WHOIS, domain API, callback receiver) in the background, its output going to
# the terminal, and waits for its settings file DIR/world.env. Sets WORLD_PID.
start_world() {
  local dir="$1"
  shift
  mkdir -p "$dir"
  rm -f "$dir/world.env"
  bash "$repo_root/tests/tools/install-rdap-srv.sh" >/dev/null
  cargo build --locked -q --example local_world
  # Its banner and callbacks go to stderr, so that a command's own output
  # (e.g. `check --output json`) stays clean on stdout.
  "$target_dir/debug/examples/local_world" --env-file "$dir/world.env" "$@" >&2 &
  WORLD_PID=$!
  wait_for_start "$WORLD_PID" 60 "the local world" "" test -s "$dir/world.env"
}
