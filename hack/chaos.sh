#!/usr/bin/env bash
# The fault soak (issue 21): on cluster ch3 (3 nodes, 10.218.0.0/24, made
# here if it does not exist), for DURATION, a writer creates ConfigMaps
# through the API load balancer as fast as one client can and a poller asks
# a NodePort Service on every node, while faults hit random machines one at
# a time: kill -9 of etcd, kube-apiserver, kubelet, containerd; docker
# restart; docker pause and an iptables partition for 10-30 s; a bounded
# disk fill. Then: every acknowledged write readable, every etcd member's
# hashkv at one revision equal, verify passing. Prints each fault, then the
# table (per kind: count, API / Service / units back, median and max) and
# the machine's load before and after (the figures depend on it).
#
# Usage: hack/chaos.sh [DURATION (default 30m)] [-- MORE 'hardway chaos' FLAGS]
#   KEEP=1 leaves ch3 up; SEED=N repeats a run; REPORT=FILE keeps the JSON.
# Needs: make setup (artifacts, node image). Only ch3's containers are touched.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
duration=${1:-30m}
[ $# -gt 0 ] && shift
[ "${1:-}" = "--" ] && shift
go build -o bin/hardway ./cmd/hardway
hw=bin/hardway
name=ch3
work=$(mktemp -d)
cleanup() { rm -rf "$work"; if [ "${KEEP:-0}" != 1 ]; then $hw down --name "$name" --yes >/dev/null 2>&1 || true; fi; }
trap cleanup EXIT
cat >"$work/$name.yaml" <<YAML
apiVersion: hardway.dev/v1alpha1
kind: Cluster
name: $name
network: {nodeSubnet: 10.218.0.0/24}
YAML
if ! $hw list | awk -v n="$name" '$1 == n && $NF == "running" {f=1} END {exit !f}'; then
  echo "making cluster $name"
  if ! $hw up -c "$work/$name.yaml" >"$work/up.log" 2>&1; then
    echo "hardway up failed:"; tail -20 "$work/up.log"; exit 1
  fi
fi
echo "load before: $(uptime | sed 's/.*load average/load average/') ($(nproc) cores, shared with whatever else runs)"
report=${REPORT:-$work/report.json}
set +e
$hw chaos --name "$name" --duration "$duration" --report "$report" ${SEED:+--seed "$SEED"} "$@"
rc=$?
set -e
echo "load after: $(uptime | sed 's/.*load average/load average/')"
exit "$rc"
