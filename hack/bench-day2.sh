#!/usr/bin/env bash
# Prints how long the day-2 operations take on a 3-node cluster, each the
# median (with min and max) of RUNS runs (default 3):
#   start            hardway stop, then hardway start until verify passes
#   restart recovery docker restart of every machine (what a dockerd restart
#                    or a reboot does), then hardway start until verify passes
#   node replacement docker rm -f -v of node-1 (machine and disk gone), then
#                    hardway up until the cluster is whole again
#   upgrade          hardway upgrade v1.36.3 -> v1.37.2 of a fresh cluster
#                    (UPGRADE_RUNS, default 1: each run builds a cluster;
#                    0 leaves it out)
#
# Usage: hack/bench-day2.sh   (needs: make setup; artifacts for v1.37.2 and
#        v1.36.3 and the node image built; the clusters are removed after)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
go build -o bin/hardway ./cmd/hardway
hw=bin/hardway
runs=${RUNS:-3}
upgrade_runs=${UPGRADE_RUNS:-1}
work=$(mktemp -d)
trap 'rm -rf "$work"; $hw down --name bday2 >/dev/null 2>&1 || true; $hw down --name bday2up >/dev/null 2>&1 || true' EXIT

cat >"$work/c.yaml" <<'YAML'
apiVersion: hardway.dev/v1alpha1
kind: Cluster
name: bday2
network: {nodeSubnet: 10.246.0.0/24}
YAML
cat >"$work/up.yaml" <<'YAML'
apiVersion: hardway.dev/v1alpha1
kind: Cluster
name: bday2up
kubernetesVersion: v1.36.3
network: {nodeSubnet: 10.246.0.0/24}
YAML

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.1f", b-a}'; }
# stats FILE: "median min max" of the numbers in FILE, one per line.
stats() { sort -n "$1" | awk '{v[NR]=$1} END{m=(NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2; printf "%6.1fs %6.1fs %6.1fs", m, v[1], v[NR]}'; }
must() { if ! "$@" >"$work/out" 2>&1; then echo "FAILED: $*"; tail -20 "$work/out"; exit 1; fi; }

$hw down --name bday2 >/dev/null 2>&1 || true
must $hw up -c "$work/c.yaml"

: >"$work/start"
for _ in $(seq "$runs"); do
  must $hw stop --name bday2
  t0=$(now); must $hw start --name bday2; elapsed "$t0" "$(now)" >>"$work/start"; echo >>"$work/start"
done
: >"$work/restart"
for _ in $(seq "$runs"); do
  must docker restart --time 30 bday2-node-0 bday2-node-1 bday2-node-2 bday2-lb
  t0=$(now); must $hw start --name bday2; elapsed "$t0" "$(now)" >>"$work/restart"; echo >>"$work/restart"
done
: >"$work/replace"
for _ in $(seq "$runs"); do
  must docker rm --force --volumes bday2-node-1
  t0=$(now); must $hw up --name bday2; elapsed "$t0" "$(now)" >>"$work/replace"; echo >>"$work/replace"
done
$hw down --name bday2 >/dev/null

: >"$work/upgrade"
for _ in $(seq "$upgrade_runs"); do
  must $hw up -c "$work/up.yaml"
  t0=$(now); must $hw upgrade v1.37.2 --name bday2up; elapsed "$t0" "$(now)" >>"$work/upgrade"; echo >>"$work/upgrade"
  $hw down --name bday2up >/dev/null
done

printf '%-18s %7s %7s %7s  %s\n' OPERATION MEDIAN MIN MAX RUNS
printf '%-18s %s  %s\n' "start" "$(stats "$work/start")" "$runs"
printf '%-18s %s  %s\n' "restart recovery" "$(stats "$work/restart")" "$runs"
printf '%-18s %s  %s\n' "node replacement" "$(stats "$work/replace")" "$runs"
if [ "$upgrade_runs" -gt 0 ]; then
  printf '%-18s %s  %s\n' "upgrade" "$(stats "$work/upgrade")" "$upgrade_runs"
fi
