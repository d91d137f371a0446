#!/usr/bin/env bash
# Installs the ICANN reference RDAP server (rdap-srv + rdap-srv-data) that the
# RDAP checker tests run against, into <repo>/.tools (git-ignored).
#
# Pinned to 0.0.25: later releases need a newer rustc than the project's.
# Skips the build when a stamp says this exact version is already installed.
# The build uses its own target dir so it never waits on (or blocks) the
# project's target-dir lock. DM_TOOLS_DIR overrides the install location.
# The last line printed is the bin directory.
set -euo pipefail

VERSION=0.0.25
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TOOLS_DIR="${DM_TOOLS_DIR:-$REPO_ROOT/.tools}"
BIN_DIR="$TOOLS_DIR/bin"
STAMP="$TOOLS_DIR/icann-rdap-srv.version"

if [[ -x "$BIN_DIR/rdap-srv" && -x "$BIN_DIR/rdap-srv-data" && -f "$STAMP" &&
    "$(cat "$STAMP")" == "$VERSION" ]]; then
    echo "icann-rdap-srv $VERSION already installed" >&2
    echo "$BIN_DIR"
    exit 0
fi

mkdir -p "$TOOLS_DIR"
start=$(date +%s)
# --locked: the dependency versions the release was published with, so the
# build is reproducible and no newer crate asks for a newer rustc.
CARGO_TARGET_DIR="$TOOLS_DIR/build" cargo install --locked --force \
    --root "$TOOLS_DIR" "icann-rdap-srv@$VERSION" >&2
# The intermediate build (~1 GB) is not needed once the binaries are installed.
rm -rf "$TOOLS_DIR/build"
echo "$VERSION" >"$STAMP"
echo "icann-rdap-srv $VERSION installed in $(($(date +%s) - start))s" >&2
echo "$BIN_DIR"
