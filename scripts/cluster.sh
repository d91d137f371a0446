#!/usr/bin/env bash
# `just cluster`: the local Kubernetes API server in the foreground.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
binary="$(bash "$repo_root/tests/cluster/build.sh" | tail -n 1)"
dir="$target_dir/cluster"
mkdir -p "$dir"
log "starting the API server; the kubeconfig path follows. Ctrl-C stops it."
exec "$binary" --kubeconfig "$dir/kubeconfig"
