# Shared steps of the scripts that build test tools from Go modules
# (tests/cluster, tests/prometheus, tests/dashboard); source it, then:
#
#   go_tool_out NAME
#       Prints where the tool NAME goes: $OUT when set, else
#       $CARGO_TARGET_DIR/tools/NAME (<repo>/target/tools/NAME without it),
#       so worktrees sharing one target dir share one build.
#   go_tool_hash FILE...
#       Prints one hash of the contents of the FILEs (taken in the C
#       locale's order of their names) and of this file: the inputs a stamp
#       records, the same wherever the checkout is.
#   go_tool_start NAME OUT HASH [EXECUTABLE...]
#       Serialises concurrent builds of OUT (several test binaries may start
#       at once: none builds twice or sees a half-written binary). When the
#       stamp OUT.stamp records HASH and every EXECUTABLE exists, prints OUT
#       and exits the calling script: nothing to do. Otherwise sets up the
#       build environment and returns.
#   go_tool_build NAME OUT HASH GO-BUILD-ARGS...
#       Builds the one executable OUT (`go build -trimpath ARGS`) through a
#       temporary file, so no reader sees it half-written, then
#       go_tool_done.
#   go_tool_done NAME OUT HASH
#       Records the stamp and prints OUT as the last line on stdout.
#
# HASH is the caller's hash of its inputs (go.mod, go.sum, sources, its own
# script and this file). Go's build cache still makes a rebuild after a
# changed stamp fast; only a first build (module download and compile) is
# slow.

go_tool_lib="${BASH_SOURCE[0]}"
go_tool_repo="$(cd "$(dirname "$go_tool_lib")/../.." && pwd)"

go_tool_out() {
	echo "${OUT:-${CARGO_TARGET_DIR:-$go_tool_repo/target}/tools/$1}"
}

go_tool_hash() {
	printf '%s\n' "$@" "$go_tool_lib" | LC_ALL=C sort | while read -r file; do
		sha256sum <"$file"
	done | sha256sum | cut -d' ' -f1
}

go_tool_start() {
	local name="$1" out="$2" want="$3" path fresh=1
	shift 3
	mkdir -p "$(dirname "$out")"
	if command -v flock >/dev/null 2>&1; then
		exec 9>"$out.lock"
		flock 9
	fi
	for path in "$@"; do
		[[ -x "$path" ]] || fresh=0
	done
	if ((fresh)) && [[ -f "$out.stamp" && "$(cat "$out.stamp")" == "$want" ]]; then
		echo "$name up to date ($out)" >&2
		echo "$out"
		exit 0
	fi
	if ! command -v go >/dev/null 2>&1; then
		echo "error: 'go' is not installed; $name is built from Go modules (https://go.dev/doc/install)" >&2
		exit 1
	fi
	echo "building $name (a first build takes several minutes)…" >&2
	# sum.golang.org may be unreachable: everything is verified against the
	# committed go.sum instead, and -mod=readonly makes a missing entry an
	# error rather than something fetched and trusted silently.
	# GOTOOLCHAIN=local stops the go command from downloading a toolchain.
	export GOSUMDB=off GOFLAGS="-mod=readonly -buildvcs=false" GOTOOLCHAIN=local CGO_ENABLED=0
	GO_TOOL_STARTED=$SECONDS
}

go_tool_done() {
	local name="$1" out="$2" want="$3"
	echo "$want" >"$out.stamp"
	echo "built $name into $out in $((SECONDS - GO_TOOL_STARTED))s" >&2
	echo "$out"
}

go_tool_build() {
	local name="$1" out="$2" want="$3"
	shift 3
	local tmp="$out.tmp.$$"
	# shellcheck disable=SC2064 # the name is fixed now, on purpose
	trap "rm -f '$tmp'" EXIT
	go build -trimpath -o "$tmp" "$@"
	mv -f "$tmp" "$out"
	go_tool_done "$name" "$out" "$want"
}
