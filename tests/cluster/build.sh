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
repo="$(cd "$here/../.." && pwd)"
out="${OUT:-${CARGO_TARGET_DIR:-$repo/target}/tools/test-apiserver}"
stamp="$out.stamp"

cd "$here"
mkdir -p "$(dirname "$out")"

# Serialise concurrent invocations (e.g. several test binaries starting at
# once) so they neither build twice nor see a half-written binary.
if command -v flock >/dev/null 2>&1; then
	exec 9>"$out.lock"
	flock 9
fi

# LC_ALL=C makes the glob order, and so the hash, locale-independent.
want="$(LC_ALL=C sha256sum go.mod go.sum build.sh ./*.go | sha256sum | cut -d' ' -f1)"
if [[ -x "$out" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
	echo "test-apiserver up to date ($out)" >&2
	echo "$out"
	exit 0
fi

echo "building test-apiserver (first build takes several minutes)…" >&2

# Stamp the real Kubernetes version into the binary so /version (and thus
# kubectl and client libraries) report it instead of v0.0.0-master.
k8s_version="$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ { print $2; exit }' go.mod)"
k8s_minor="$(echo "$k8s_version" | cut -d. -f2)"
vpkg=k8s.io/component-base/version
ldflags="-s -w"
ldflags+=" -X $vpkg.gitVersion=$k8s_version -X $vpkg.gitMajor=1 -X $vpkg.gitMinor=$k8s_minor"
ldflags+=" -X $vpkg.gitTreeState=clean"

# sum.golang.org may be unreachable: everything is verified against the
# committed go.sum instead, and -mod=readonly makes a missing entry an error
# rather than something fetched and trusted silently. GOTOOLCHAIN=local stops
# the go command from trying to download a different toolchain.
export GOSUMDB=off GOFLAGS="-mod=readonly -buildvcs=false" GOTOOLCHAIN=local CGO_ENABLED=0

tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT
start=$SECONDS
go build -trimpath -ldflags="$ldflags" -o "$tmp" .
mv -f "$tmp" "$out"
echo "$want" >"$stamp"
echo "built $out in $((SECONDS - start))s" >&2
echo "$out"
