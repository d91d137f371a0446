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
source "$here/../tools/go-tool.sh"
out="$(go_tool_out dashboard-check)"
cd "$here"
want="$(go_tool_hash go.mod go.sum build.sh ./*.go)"
go_tool_start dashboard-check "$out" "$want" "$out"
go_tool_build dashboard-check "$out" "$want" -ldflags="-s -w" .
