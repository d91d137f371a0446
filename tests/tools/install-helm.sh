#!/usr/bin/env bash
# Installs helm, which the chart tests (tests/chart.rs) run, from the Go
# module proxy into <target dir>/tools/helm/<version>/ and prints the binary's
# path as the last line on stdout.
#
#   bash tests/tools/install-helm.sh    # -> <repo>/target/tools/helm/v3.22.0/helm
#
# The target dir is CARGO_TARGET_DIR when set (so worktrees sharing one
# target dir share the tools), else <repo>/target. A binary that already
# exists is reused at once. The first install fetches ~400 MB of modules and
# compiles: about 3 minutes on 2 cores from nothing, under a minute when Go's
# module and build caches are warm.
#
# Pinned to the newest helm 3 release that builds with the installed Go
# (v3.22.0 needs Go >= 1.26.0). sum.golang.org is not reachable from every
# machine, so the checksum database is off and the helm module's own hash is
# pinned here instead; its go.sum then pins every dependency.
set -euo pipefail

VERSION=v3.22.0
MODULE_SUM="h1:n1if5iQgHYsujPAcO5oonH/KiSNUmqmUF0iGVjSF3AU="

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
dir="${CARGO_TARGET_DIR:-$repo/target}/tools/helm/$VERSION"
out="$dir/helm"

if [[ -x "$out" ]]; then
	echo "helm $VERSION already installed" >&2
	echo "$out"
	exit 0
fi

if ! command -v go >/dev/null 2>&1; then
	echo "error: 'go' is not installed; helm is built from the Go module proxy (https://go.dev/doc/install)" >&2
	exit 1
fi

mkdir -p "$dir"
# Serialise concurrent installs (two test runs starting at once).
if command -v flock >/dev/null 2>&1; then
	exec 9>"$dir.lock"
	flock 9
	if [[ -x "$out" ]]; then
		echo "$out"
		exit 0
	fi
fi

export GOSUMDB=off GOTOOLCHAIN=local GOFLAGS="-mod=mod" CGO_ENABLED=0
start=$SECONDS
sum="$(cd "$dir" && go mod download -json "helm.sh/helm/v3@$VERSION" |
	sed -n 's/^[[:space:]]*"Sum": "\(.*\)",$/\1/p')"
if [[ "$sum" != "$MODULE_SUM" ]]; then
	echo "error: helm.sh/helm/v3@$VERSION from the module proxy has hash '$sum', expected $MODULE_SUM" >&2
	exit 1
fi
tmp="$dir/tmp.$$"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp"
(cd "$tmp" && GOBIN="$tmp" go install -trimpath -ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$VERSION" "helm.sh/helm/v3/cmd/helm@$VERSION")
mv -f "$tmp/helm" "$out"
echo "helm $VERSION installed in $((SECONDS - start))s" >&2
echo "$out"
