#!/usr/bin/env bash
# Builds the in-process kube-apiserver + etcd used by the integration tests
# and prints the binary's path as the last line on stdout.
#
#   bash tests/cluster/build.sh            # -> <repo>/target/tools/test-apiserver
#   OUT=/some/path bash tests/cluster/build.sh
#
# With CARGO_TARGET_DIR set, the binary goes to $CARGO_TARGET_DIR/tools/, so
# worktrees sharing one target dir share one build.
#
# The build is skipped when the binary exists and the stamp file next to it
# records the same hash of this directory's inputs (go.mod, go.sum, *.go and
# this script). Otherwise Go's own build cache still makes rebuilds fast; only
# the very first build (module download + compiling Kubernetes) is slow.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/../tools/go-tool.sh"
out="$(go_tool_out test-apiserver)"
cd "$here"
want="$(go_tool_hash go.mod go.sum build.sh ./*.go)"
go_tool_start test-apiserver "$out" "$want" "$out"

# Stamp the real Kubernetes version into the binary so /version (and thus
# kubectl and client libraries) report it instead of v0.0.0-master.
k8s_version="$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ { print $2; exit }' go.mod)"
k8s_minor="$(echo "$k8s_version" | cut -d. -f2)"
vpkg=k8s.io/component-base/version
ldflags="-s -w"
ldflags+=" -X $vpkg.gitVersion=$k8s_version -X $vpkg.gitMajor=1 -X $vpkg.gitMinor=$k8s_minor"
ldflags+=" -X $vpkg.gitTreeState=clean"
go_tool_build test-apiserver "$out" "$want" -ldflags="$ldflags" .
