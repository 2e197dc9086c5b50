#!/usr/bin/env bash
# Prints the time of each step and the total of `hardway up` with a warm
# artifact cache and node image: a fresh 1-node and 3-node cluster, then a
# second `up` on each healthy cluster (which should change nothing).
#
# Usage: hack/bench-up.sh            (needs: make setup; artifacts and node image built)
# The clusters are called bench1/bench3 on their own subnets and are removed.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
go build -o bin/hardway ./cmd/hardway
hw=bin/hardway
work=$(mktemp -d)
trap 'rm -rf "$work"; $hw down --name bench1 >/dev/null 2>&1 || true; $hw down --name bench3 >/dev/null 2>&1 || true' EXIT

cat >"$work/bench1.yaml" <<'YAML'
apiVersion: hardway.dev/v1alpha1
kind: Cluster
name: bench1
network: {nodeSubnet: 10.245.0.0/24}
nodes: [{name: solo}]
YAML
cat >"$work/bench3.yaml" <<'YAML'
apiVersion: hardway.dev/v1alpha1
kind: Cluster
name: bench3
network: {nodeSubnet: 10.246.0.0/24}
YAML

# steps OUT: the per-step times from up's progress lines, as "name=time".
steps() { grep -E '^[✓✗] \[' "$1" | sed -E 's/^[^]]*\] +([a-z-]+) .* ([0-9.ms]+)$/\1=\2/' | paste -sd' ' -; }

run() { # label config
  local label=$1 cfg=$2 start end
  start=$(date +%s.%N)
  if ! $hw up -c "$cfg" >"$work/out" 2>&1; then
    echo "$label: FAILED"; tail -20 "$work/out"; exit 1
  fi
  end=$(date +%s.%N)
  printf '%-22s %6.1fs   %s\n' "$label" "$(awk -v a="$start" -v b="$end" 'BEGIN{print b-a}')" "$(steps "$work/out")"
}

printf '%-22s %7s   %s\n' "RUN" "TOTAL" "STEPS"
for n in 1 3; do
  $hw down --name "bench$n" >/dev/null 2>&1 || true
  run "up, $n node(s), fresh" "$work/bench$n.yaml"
  run "up, $n node(s), again" "$work/bench$n.yaml"
  $hw down --name "bench$n" >/dev/null
done
