#!/usr/bin/env bash
# Builds Prometheus 3 and promtool, which the telemetry and chart tests run
# (OTLP receiver, PromQL API, `promtool check rules`), from the Go module
# pinned in this directory's go.mod (tool directives), and prints the folder
# holding both binaries as the last line on stdout.
#
#   bash tests/prometheus/build.sh         # -> <repo>/target/tools/prometheus
#   OUT=/some/dir bash tests/prometheus/build.sh
#
# With CARGO_TARGET_DIR set, the folder is $CARGO_TARGET_DIR/tools/prometheus,
# so worktrees sharing one target dir share one build.
#
# The build is skipped when both binaries exist and the stamp file next to the
# folder records the same hash of go.mod, go.sum and this script. Otherwise
# Go's own build cache still makes rebuilds fast; only the very first build
# (module download + compiling Prometheus) is slow.
#
# remove_all_sd leaves out the service-discovery plugins (cloud SDKs the tests
# never use: a third of the build). Without the builtinassets tag the web UI
# is not embedded; the API, the OTLP receiver and /-/ready work without it.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/../tools/go-tool.sh"
out="$(go_tool_out prometheus)"
cd "$here"
want="$(go_tool_hash go.mod go.sum build.sh)"
go_tool_start prometheus "$out" "$want" "$out/prometheus" "$out/promtool"

# The Go module v0.MMM.P is Prometheus M.MM.P (v0.316.0 is 3.16.0): stamp that
# into the binaries, as `prometheus --version` and /api/v1/status/buildinfo show.
module_version="$(awk '$1 == "github.com/prometheus/prometheus" && $2 ~ /^v0\./ { print $2; exit }' go.mod)"
IFS=. read -r _ mm patch <<<"${module_version#v}"
version="$((10#$mm / 100)).$((10#$mm % 100)).$patch"

tmp="$out.tmp.$$"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp"
go build -trimpath -tags remove_all_sd \
	-ldflags="-s -w -X github.com/prometheus/common/version.Version=$version" \
	-o "$tmp/" \
	github.com/prometheus/prometheus/cmd/prometheus \
	github.com/prometheus/prometheus/cmd/promtool
rm -rf "$out"
mv "$tmp" "$out"
go_tool_done "prometheus $version and promtool" "$out" "$want"
