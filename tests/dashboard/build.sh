#!/usr/bin/env bash
# Builds dashboard-check, which validates the Grafana dashboard against
# Grafana's schema (tests/dashboard.rs), and prints the binary's path as the
# last line on stdout.
#
#   bash tests/dashboard/build.sh          # -> <repo>/target/tools/dashboard-check
#   OUT=/some/path bash tests/dashboard/build.sh
#
# With CARGO_TARGET_DIR set, the binary goes to $CARGO_TARGET_DIR/tools/, so
# worktrees sharing one target dir share one build.
#
# The build is skipped when the binary exists and the stamp file next to it
# records the same hash of this directory's inputs (go.mod, go.sum, *.go and
# this script). The first build downloads grafana-foundation-sdk (one module,
# no dependencies) and compiles it: 1 to 3 minutes on 2 cores.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
out="${OUT:-${CARGO_TARGET_DIR:-$repo/target}/tools/dashboard-check}"
stamp="$out.stamp"

if ! command -v go >/dev/null 2>&1; then
	echo "error: 'go' is not installed; dashboard-check is built from Go modules (https://go.dev/doc/install)" >&2
	exit 1
fi

cd "$here"
mkdir -p "$(dirname "$out")"

# Serialise concurrent invocations (several test binaries starting at once)
# so they neither build twice nor see a half-written binary.
if command -v flock >/dev/null 2>&1; then
	exec 9>"$out.lock"
	flock 9
fi

# LC_ALL=C makes the glob order, and so the hash, locale-independent.
want="$(LC_ALL=C sha256sum go.mod go.sum build.sh ./*.go | sha256sum | cut -d' ' -f1)"
if [[ -x "$out" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
	echo "dashboard-check up to date ($out)" >&2
	echo "$out"
	exit 0
fi

echo "building dashboard-check (the first build takes a few minutes)…" >&2

# sum.golang.org may be unreachable: the module is verified against the
# committed go.sum instead, and -mod=readonly makes a missing entry an error
# rather than something fetched and trusted silently. GOTOOLCHAIN=local stops
# the go command from trying to download a different toolchain.
export GOSUMDB=off GOFLAGS="-mod=readonly -buildvcs=false" GOTOOLCHAIN=local CGO_ENABLED=0

tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT
start=$SECONDS
go build -trimpath -ldflags="-s -w" -o "$tmp" .
mv -f "$tmp" "$out"
echo "$want" >"$stamp"
echo "built $out in $((SECONDS - start))s" >&2
echo "$out"
