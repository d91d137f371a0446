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

source "$repo/tests/tools/go-tool.sh"
cd "$here"
# LC_ALL=C makes the glob order, and so the hash, locale-independent.
want="$(LC_ALL=C sha256sum go.mod go.sum build.sh ./*.go ../tools/go-tool.sh | sha256sum | cut -d' ' -f1)"
go_tool_start dashboard-check "$out" "$want" "$out"

tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT
go build -trimpath -ldflags="-s -w" -o "$tmp" .
mv -f "$tmp" "$out"
go_tool_done dashboard-check "$out" "$want"
