# domain-monitor tasks. `just --list` shows them all.

set shell := ["bash", "-euo", "pipefail", "-c"]

# Show the recipes.
default:
    @just --list

# Build the operator (debug).
build:
    cargo build --locked

# Run the local demo: API server, CRD, example domains, the operator.
demo:
    bash scripts/demo.sh

# Run `domain-monitor check` against local DNS, RDAP and WHOIS servers.
check-local *ARGS:
    bash scripts/check-local.sh {{ARGS}}

# Run every check CI runs: lints, CRD drift, unit and integration tests.
test:
    bash scripts/test.sh

# Fault and security scenarios at full scale; writes chaos/results.json.
chaos:
    bash scripts/chaos.sh

# Benchmarks on this machine (~40 min once built): writes bench/results/summary.{json,md}.
bench:
    bash bench/run.sh

# Format and lint only.
lint:
    cargo fmt --all -- --check
    cargo clippy --locked --all-targets -- -D warnings

# Regenerate crds/ and the chart's copy from the Rust types.
crd:
    cargo run --locked -q -- crd > crds/monitoreddomain.yaml
    cp crds/monitoreddomain.yaml charts/domain-monitor/crds/monitoreddomain.yaml
    cargo run --locked -q -- crd --kind domain-health-check > crds/domainhealthcheck.yaml
    cp crds/domainhealthcheck.yaml charts/domain-monitor/crds/domainhealthcheck.yaml

# Render the chart with its default values into manifests/domain-monitor.yaml.
manifests:
    bash scripts/manifests.sh

# Build (or reuse) the test Kubernetes API server.
apiserver:
    bash tests/cluster/build.sh

# Build (or reuse) Prometheus 3 and promtool for the telemetry and chart tests.
prometheus:
    bash tests/prometheus/build.sh

# Run the local Kubernetes API server in the foreground (Ctrl-C stops it).
cluster:
    bash scripts/cluster.sh
