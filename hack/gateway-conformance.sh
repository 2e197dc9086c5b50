#!/bin/sh
# The Gateway API conformance suite (GATEWAY-HTTP core) against a fresh
# 1-node cluster with the add-ons metallb and gateway: up, then
# `hardway conformance --gateway`, then the summary and the wall time of
# each phase; the cluster is removed at the end unless KEEP=1.
#
#   hack/gateway-conformance.sh            (cluster gw1, 10.222.0.0/24)
#   KEEP=1 RUN_TEST=HTTPRouteSimpleSameNamespace hack/gateway-conformance.sh
#
# The first run builds the suite (go test -c sigs.k8s.io/gateway-api/conformance)
# and echo-basic into the artifact cache; docs/conformance.md has the results.
set -eu
HW=${HW:-bin/hardway}
NAME=gw1
REPORT=${REPORT:-gateway-conformance-out}
tmp=$(mktemp -d)
cleanup() {
	[ "${KEEP:-}" = 1 ] || "$HW" down --name "$NAME" --yes >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT
cat >"$tmp/cluster.yaml" <<CFG
apiVersion: hardway.dev/v1alpha1
kind: Cluster
name: $NAME
network:
  nodeSubnet: 10.222.0.0/24
nodes: [{name: node-0}]
addons: [metallb, gateway]
CFG
# up builds nothing: the add-on's artifacts first (cached after the first run).
"$HW" artifacts build -c "$tmp/cluster.yaml"
t0=$(date +%s)
"$HW" up -c "$tmp/cluster.yaml"
t1=$(date +%s)
set -- --report "$REPORT"
[ -n "${RUN_TEST:-}" ] && set -- "$@" --run-test "$RUN_TEST"
rc=0
"$HW" conformance --gateway --name "$NAME" "$@" || rc=$?
t2=$(date +%s)
echo "up: $((t1 - t0)) s; conformance --gateway (build when cold, push, run): $((t2 - t1)) s; exit $rc"
echo "report: $REPORT"
exit $rc
