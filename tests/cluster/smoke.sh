#!/usr/bin/env bash
# End-to-end check of test-apiserver with kubectl: start it, exercise
# namespaces, a CRD, RBAC with a TokenRequest-issued ServiceAccount token,
# namespace deletion and ownerReference garbage collection, then SIGTERM it
# and check that it exits 0, removes its data dir and frees its port.
#
#   bash tests/cluster/smoke.sh        # needs kubectl on PATH
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bin="$(bash "$here/build.sh" | tail -n1)"
work="$(mktemp -d)"
pid=""
cleanup() {
	if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then kill "$pid"; wait "$pid" || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	echo "--- test-apiserver stderr:" >&2
	cat "$work/stderr" >&2 || true
	exit 1
}

# Start it and wait for the one stdout line.
start=$(date +%s%N)
"$bin" --kubeconfig "$work/kubeconfig" >"$work/stdout" 2>"$work/stderr" &
pid=$!
for _ in $(seq 1 600); do
	grep -q '^KUBECONFIG=' "$work/stdout" && break
	kill -0 "$pid" 2>/dev/null || fail "exited before printing KUBECONFIG"
	sleep 0.1
done
line="$(grep '^KUBECONFIG=' "$work/stdout")" || fail "no KUBECONFIG line within 60s"
echo "startup: $((($(date +%s%N) - start) / 1000000)) ms (polled every 0.1s)"
[[ "$(wc -l <"$work/stdout")" -eq 1 ]] || fail "stdout has more than one line"
export KUBECONFIG="${line#KUBECONFIG=}"
[[ "$KUBECONFIG" == "$work/kubeconfig" ]] || fail "unexpected kubeconfig path $KUBECONFIG"

server="$(kubectl config view -o jsonpath='{.clusters[0].cluster.server}')"
port="${server##*:}"
data_dir="$(sed -n 's/.*(data in \(.*\))$/\1/p' "$work/stderr")"
[[ -d "$data_dir" ]] || fail "data dir not found in stderr"

step() { echo "--- $*"; }
step version
kubectl version
kubectl get ns default kube-system
kubectl api-resources >/dev/null

step namespaces and a CRD
kubectl create ns smoke
kubectl apply -f - <<'EOF'
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.smoke.example.com
spec:
  group: smoke.example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer, minimum: 1}
EOF
kubectl wait --for=condition=Established crd/widgets.smoke.example.com --timeout=30s
kubectl -n smoke apply -f - <<'EOF'
apiVersion: smoke.example.com/v1
kind: Widget
metadata: {name: w1}
spec: {size: 3}
EOF
# Schema validation is enforced.
! kubectl -n smoke apply -f - <<'EOF' || exit 1
apiVersion: smoke.example.com/v1
kind: Widget
metadata: {name: bad}
spec: {size: 0}
EOF

step RBAC
# The admin is in system:masters and may do anything.
[[ "$(kubectl auth can-i '*' '*' --all-namespaces)" == yes ]]

# A ServiceAccount token from the TokenRequest API authenticates, and RBAC
# denies it until a binding to the (aggregated) "view" role exists.
kubectl -n smoke create serviceaccount robot
token="$(kubectl -n smoke create token robot)"
[[ "$(kubectl --token "$token" auth whoami -o jsonpath='{.status.userInfo.username}')" == system:serviceaccount:smoke:robot ]]
[[ "$(kubectl --token "$token" -n smoke auth can-i get pods || true)" == no ]]
! kubectl --token "$token" -n smoke get configmaps || exit 1
kubectl -n smoke create rolebinding robot-view --clusterrole=view --serviceaccount=smoke:robot
for _ in $(seq 1 50); do
	[[ "$(kubectl --token "$token" -n smoke auth can-i get pods || true)" == yes ]] && break
	sleep 0.1
done
[[ "$(kubectl --token "$token" -n smoke auth can-i get pods)" == yes ]]
[[ "$(kubectl --token "$token" -n smoke auth can-i delete pods || true)" == no ]]

step garbage collection
# Garbage collection: a ConfigMap owned by the Widget goes with it.
uid="$(kubectl -n smoke get widget w1 -o jsonpath='{.metadata.uid}')"
kubectl -n smoke apply -f - <<EOF
apiVersion: v1
kind: ConfigMap
metadata:
  name: owned
  ownerReferences:
  - {apiVersion: smoke.example.com/v1, kind: Widget, name: w1, uid: "$uid"}
EOF
kubectl -n smoke delete widget w1
kubectl -n smoke wait --for=delete configmap/owned --timeout=30s

step namespace deletion
kubectl delete ns smoke --timeout=30s

step SIGTERM

kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
pid=""
[[ $rc -eq 0 ]] || fail "exit code $rc after SIGTERM"
[[ ! -e "$data_dir" ]] || fail "data dir $data_dir still exists"
if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then fail "port $port still open"; fi
echo "smoke: 1 passed, 0 failed"
