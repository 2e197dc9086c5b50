#!/usr/bin/env bash
# How long each API server keeps a deleted CustomResourceDefinition in
# discovery: the wait that the conformance tests' CRD cleanup
# (fixtures.DeleteV1CustomResourceDefinition) bounds at 30 s, polling through
# one connection, so through one API server. For RUNS rounds (default 5) it
# creates a small CRD, waits until every API server lists it, deletes it and
# polls /apis/GROUP/v1 on every API server directly (not through the load
# balancer) every 200 ms until it is gone; prints each server's time, then
# the median and max over all rounds and servers, and the number of CRDs
# (and their total size) the servers hold, which every OpenAPI rebuild after
# a CRD change goes through.
#
# Usage: RUNS=5 hack/crd-delete-latency.sh --name CLUSTER
# Needs: a running cluster; kubectl from the artifact cache; a route from this
# host to the node network (network.hostAccess: routed): it asks each API
# server on its node address, which a host without that route (Docker
# Desktop, hostAccess: published) cannot reach.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
name=hardway
while [ $# -gt 0 ]; do
  case "$1" in
    --name) name=$2; shift ;;
    *) echo "crd-delete-latency.sh: unknown argument $1 (usage: --name CLUSTER)" >&2; exit 2 ;;
  esac
  shift
done
runs=${RUNS:-5}
hw=bin/hardway
[ -x "$hw" ] || go build -o "$hw" ./cmd/hardway
kc=$($hw kubeconfig --name "$name" | tail -1)
kubectl=$(ls "${HARDWAY_CACHE:-$HOME/.cache/hardway}"/artifacts/kubernetes/*/source-"$(go env GOARCH)"/kubectl 2>/dev/null | tail -1)
[ -x "$kubectl" ] || { echo "no kubectl in the artifact cache; run: hardway artifacts build" >&2; exit 1; }
k() { "$kubectl" --kubeconfig "$kc" "$@"; }
# The API servers' own addresses: every control plane's InternalIP.
servers=$(k get nodes -l node-role.kubernetes.io/control-plane -o jsonpath='{range .items[*]}{.status.addresses[?(@.type=="InternalIP")].address}{" "}{end}')
[ -n "$servers" ] || { echo "no control-plane nodes found in cluster $name" >&2; exit 1; }
port=$(k config view --minify -o jsonpath='{.clusters[0].cluster.server}' | sed 's/.*://')
ms() { echo $(( $(date +%s%N) / 1000000 )); }
crds=$(k get crd --no-headers 2>/dev/null | wc -l)
bytes=$(k get crd -o json | wc -c)
echo "cluster $name: API servers $servers; $crds CRDs ($((bytes / 1024)) KiB as JSON); load: $(uptime | sed 's/.*load average: //')"
group=latency.hardway.dev
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
all=()
for r in $(seq 1 "$runs"); do
  plural=probes$r
  k apply -f - >/dev/null <<YAML
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: $plural.$group}
spec:
  group: $group
  scope: Namespaced
  names: {plural: $plural, singular: probe$r, kind: Probe$r}
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
YAML
  for s in $servers; do
    t0=$(ms)
    until k --server "https://$s:$port" get --raw "/apis/$group/v1" 2>/dev/null | grep -q "\"$plural\""; do
      if [ $(( $(ms) - t0 )) -gt 60000 ]; then echo "  $s never listed $plural" >&2; exit 1; fi
      sleep 0.2
    done
  done
  k delete crd "$plural.$group" --wait=false >/dev/null
  start=$(ms)
  # Every server polled at once, each from the deletion on.
  for s in $servers; do
    (
      until ! k --server "https://$s:$port" get --raw "/apis/$group/v1" 2>/dev/null | grep -q "\"$plural\""; do
        if [ $(( $(ms) - start )) -gt 120000 ]; then break; fi
        sleep 0.2
      done
      echo $(( $(ms) - start )) >"$work/$s"
    ) &
  done
  wait
  line="round $r:"
  for s in $servers; do
    d=$(cat "$work/$s")
    all+=("$d")
    line="$line $s $(awk -v d="$d" 'BEGIN{printf "%.1fs", d/1000}')"
  done
  echo "$line"
done
printf '%s\n' "${all[@]}" | sort -n | awk '{a[NR]=$1} END {printf "gone from every server after deletion: median %.1f s, max %.1f s (%d server-rounds; the conformance cleanup allows 30 s)\n", a[int((NR+1)/2)]/1000, a[NR]/1000, NR}'
