#!/usr/bin/env bash
# How hardway's time grows with the node count, and what a node costs in
# memory. For each size in SIZES (default "1 3 6 15": 1 node; 3 control
# planes; 3 control planes + 3 workers; 3 control planes + 12 workers) it
# makes a fresh cluster RUNS times (default 1: a 15-node cluster is slow on
# 2 cores) and prints the median (min, max) of:
#   fresh    `hardway up` from nothing to every smoke test passing
#   no-op    a second `hardway up` on the healthy cluster
#   verify   `hardway verify` alone
# then, on the largest size, the resident memory of each node's processes
# (the sum of RSS of everything in the node container: systemd, etcd, the
# control plane, kubelet, containerd and its pods), per control-plane node
# and per worker node.
#
# Usage: SIZES="1 3 6 15" RUNS=1 hack/bench-scale.sh
# Needs: make setup; artifacts and node image built. The cluster is called
# scale, on 10.211.0.0/24, and is removed at the end (also on failure).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
go build -o bin/hardway ./cmd/hardway
hw=bin/hardway
sizes=${SIZES:-1 3 6 15}
runs=${RUNS:-1}
work=$(mktemp -d)
trap 'rm -rf "$work"; $hw down --name scale >/dev/null 2>&1 || true' EXIT

config() { # nodes -> config file
  local n=$1 f="$work/scale$1.yaml"
  {
    echo "apiVersion: hardway.dev/v1alpha1"
    echo "kind: Cluster"
    echo "name: scale"
    echo "network: {nodeSubnet: 10.211.0.0/24}"
    echo "nodes:"
    if [ "$n" = 1 ]; then
      echo "- {name: solo}"
    else
      for i in 0 1 2; do echo "- {name: cp-$i}"; done
      for ((i = 0; i < n - 3; i++)); do echo "- {name: worker-$i, roles: [worker]}"; done
    fi
  } >"$f"
  echo "$f"
}

now() { date +%s.%N; }
timed() { # file-for-seconds command... ; fails loudly with the output's tail
  local t0 t1 into=$1
  shift
  t0=$(now)
  if ! "$@" >"$work/out" 2>&1; then
    echo "FAILED: $*"
    tail -20 "$work/out"
    exit 1
  fi
  t1=$(now)
  awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f\n", b-a}' >>"$into"
}
stats() { sort -n | awk '{v[NR]=$1} END{if(NR==0){print "-"; exit} m=(NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2; printf "%6.1fs (%.1f-%.1f)", m, v[1], v[NR]}'; }

# rss NODE-CONTAINER: MiB of resident memory of every process in it.
rss() { docker exec "$1" ps -eo rss= | awk '{s+=$1} END{printf "%.0f", s/1024}'; }

load0=$(cut -d' ' -f1-3 /proc/loadavg)
largest=""
for n in $sizes; do
  cfg=$(config "$n")
  for _ in $(seq "$runs"); do
    $hw down --name scale >/dev/null 2>&1 || true
    timed "$work/fresh$n" $hw up -c "$cfg"
    timed "$work/noop$n" $hw up -c "$cfg"
    timed "$work/verify$n" $hw verify --name scale
  done
  largest=$n
  if [ "$n" = "${sizes##* }" ]; then
    # Memory on the settled largest cluster: a minute after the last up.
    sleep 60
    for c in $(docker ps --format '{{.Names}}' | grep '^scale-' | sort); do
      case $c in
        scale-lb) role=lb ;;
        scale-solo | scale-cp-*) role=control-plane ;;
        *) role=worker ;;
      esac
      echo "$role $(rss "$c")" >>"$work/mem"
    done
  fi
  $hw down --name scale >/dev/null
done

echo "hardway scale, $(date -u +%Y-%m-%d), $(nproc) cores, load before: $load0, after: $(cut -d' ' -f1-3 /proc/loadavg), RUNS=$runs"
printf '%-6s  %-22s %-22s %-22s\n' NODES "FRESH UP" "NO-OP UP" VERIFY
for n in $sizes; do
  printf '%-6s  %-22s %-22s %-22s\n' "$n" "$(stats <"$work/fresh$n")" "$(stats <"$work/noop$n")" "$(stats <"$work/verify$n")"
done
echo
echo "memory on the $largest-node cluster (RSS of every process in the node, MiB):"
for role in control-plane worker lb; do
  awk -v r="$role" '$1==r{print $2}' "$work/mem" | sort -n | awk -v r="$role" 'NR>0{v[NR]=$1; s+=$1} END{if(NR==0) exit; m=(NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2; printf "  %-14s %2d machines, median %d MiB (%d-%d), total %d MiB\n", r, NR, m, v[1], v[NR], s}'
done
