#!/usr/bin/env bash
# Prints how long `hardway up` takes with a warm artifact cache and node
# image, each figure the median (with min and max) of RUNS runs (default 3):
# a fresh 1-node and 3-node cluster to every smoke test passing, and a
# second `up` on each healthy cluster (a no-op), side by side with the
# targets of issue 14, then the median time of every step.
# The last run of each kind is repeated with --trace-timings into
# $OUT/trace-*.txt (default OUT=bench-up-out) for the per-node breakdown.
#
# Usage: RUNS=3 hack/bench-up.sh   (needs: make setup; artifacts and node image built)
# The clusters are called bench1/bench3 on their own subnets and are removed.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
go build -o bin/hardway ./cmd/hardway
hw=bin/hardway
runs=${RUNS:-3}
out=${OUT:-bench-up-out}
mkdir -p "$out"
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

now() { date +%s.%N; }
# seconds "1m02s" / "9.5s" / "27s" -> seconds
seconds() { awk '{s=$0; m=0; if (index(s,"m")) {split(s,a,"m"); m=a[1]; s=a[2]} sub("s","",s); printf "%.1f", m*60+s}' <<<"$1"; }
# steps FILE: "name seconds" for every step line of up's output.
steps() {
  grep -E '^[✓✗] \[' "$1" | sed -E 's/^[^]]*\] +([a-z-]+) .*  ([0-9.]+m?[0-9.]*s)  .*$/\1 \2/' | while read -r n t; do echo "$n $(seconds "$t")"; done
}
stats() { sort -n | awk '{v[NR]=$1} END{if(NR==0){print "     -       -       -"; exit} m=(NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2; printf "%6.1fs %6.1fs %6.1fs", m, v[1], v[NR]}'; }

run() { # kind config
  local kind=$1 cfg=$2 t0 t1
  t0=$(now)
  if ! $hw up -c "$cfg" >"$work/out" 2>&1; then echo "$kind: FAILED"; tail -20 "$work/out"; exit 1; fi
  t1=$(now)
  awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f\n", b-a}' >>"$work/$kind.total"
  steps "$work/out" >>"$work/$kind.steps"
}

for n in 1 3; do
  for _ in $(seq "$runs"); do
    $hw down --name "bench$n" >/dev/null 2>&1 || true
    run "fresh$n" "$work/bench$n.yaml"
    run "noop$n" "$work/bench$n.yaml"
  done
  $hw up -c "$work/bench$n.yaml" --trace-timings >"$out/trace-noop$n.txt" 2>&1 || true
  $hw down --name "bench$n" >/dev/null
  $hw up -c "$work/bench$n.yaml" --trace-timings >"$out/trace-fresh$n.txt" 2>&1 || true
  $hw down --name "bench$n" >/dev/null
done

printf '%-30s %7s %7s %7s  %s\n' RUN MEDIAN MIN MAX TARGET
printf '%-30s %s  %s\n' "3 nodes, fresh, verify passing" "$(stats <"$work/fresh3.total")" "<= 20 s"
printf '%-30s %s  %s\n' "1 node, fresh"                  "$(stats <"$work/fresh1.total")" "<= 10 s"
printf '%-30s %s  %s\n' "3 nodes, no-op up"              "$(stats <"$work/noop3.total")"  "<= 3 s"
printf '%-30s %s  %s\n' "1 node, no-op up"               "$(stats <"$work/noop1.total")"  "<= 1.5 s"
printf '%-30s %s\n' "first make up, release host up" "not measurable here (no route to the release hosts)"
echo
echo "median per step (seconds):"
for kind in fresh3 noop3 fresh1 noop1; do
  printf '  %-7s' "$kind"
  for s in $(awk '{print $1}' "$work/$kind.steps" | awk '!seen[$0]++'); do
    printf ' %s %s' "$s" "$(awk -v s="$s" '$1==s{print $2}' "$work/$kind.steps" | sort -n | awk '{v[NR]=$1} END{m=(NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2; printf "%.1f", m}')"
  done
  echo
done
echo "per-node breakdown of one run of each: $out/trace-*.txt"
