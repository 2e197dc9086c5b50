#!/usr/bin/env bash
# Runs every [Conformance] test but the [Serial] and [Disruptive] ones on a
# fresh 3-node cluster and prints total, passed, failed, skipped and wall time,
# then every failure with its first error line.
#
# Usage: hack/conformance.sh [--keep] [--parallel N] [--serial | --certified] [-- MORE CONFORMANCE FLAGS]
#   --keep       leave the cluster up afterwards
#   --certified  the certified run (hardway conformance --certified): every
#                [Conformance] test, [Serial] and [Disruptive] included, on
#                cluster cert3 (10.215.0.0/24); the report directory is laid
#                out as a submission (e2e.log, junit_01.xml, PRODUCT.yaml,
#                README.md). About 50 minutes once built.
#   (default cluster: conf3, 10.247.0.0/24)
# Needs: make setup (artifacts, node image); the first run builds e2e.test
# (about 17 minutes on 2 cores) and the e2e images into the artifact cache.
# Takes about 25 minutes once built. The report stays in $report (printed).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
keep=0
name=conf3
subnet=10.247.0.0/24
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --keep) keep=1 ;;
    --parallel) args+=(--parallel "$2"); shift ;;
    --serial) args+=(--serial) ;;
    --certified) args+=(--certified); name=cert3; subnet=10.215.0.0/24 ;;
    --) shift; args+=("$@"); break ;;
    *) echo "conformance.sh: unknown argument $1 (see the header of $0)" >&2; exit 2 ;;
  esac
  shift
done
# The commit goes into the binary (and so into a certified run's README).
GOFLAGS= go build -buildvcs=true -o bin/hardway ./cmd/hardway 2>/dev/null || go build -o bin/hardway ./cmd/hardway
hw=bin/hardway
work=$(mktemp -d)
report=$(mktemp -d /tmp/hardway-conformance-XXXXXX)
cleanup() { rm -rf "$work"; if [ "$keep" = 0 ]; then $hw down --name "$name" >/dev/null 2>&1 || true; fi; }
trap cleanup EXIT

cat >"$work/$name.yaml" <<YAML
apiVersion: hardway.dev/v1alpha1
kind: Cluster
name: $name
network: {nodeSubnet: $subnet}
YAML

echo "$($hw --version); cluster $name ($subnet); load: $(uptime | sed 's/.*load average/load average/')"
$hw down --name "$name" >/dev/null 2>&1 || true
if ! $hw up -c "$work/$name.yaml" >"$work/up.log" 2>&1; then
  echo "hardway up failed:"; tail -20 "$work/up.log"; exit 1
fi
start=$(date +%s)
set +e
$hw conformance --name "$name" --report "$report" "${args[@]}" >"$work/run.log" 2>&1
rc=$?
set -e
wall=$(( $(date +%s) - start ))
cp "$work/run.log" "$report/run.log" 2>/dev/null || true
if [ ! -s "$report/summary.txt" ]; then
  echo "the conformance run left no summary (exit $rc):"; tail -30 "$work/run.log"; exit 1
fi
# "passed P, failed F, skipped S (not selected), wall time W"
read -r passed failed skipped < <(sed -nE 's/^passed ([0-9]+), failed ([0-9]+), skipped ([0-9]+).*/\1 \2 \3/p' "$report/summary.txt")
atrun=$(sed -nE 's/^skipped at run time ([0-9]+)$/\1/p' "$report/summary.txt")
printf 'total %d  passed %d  failed %d  skipped at run time %s  not selected %d  wall time %dm%02ds (tools, images and tests)\n' \
  "$((passed + failed + ${atrun:-0}))" "$passed" "$failed" "${atrun:-0}" "$skipped" "$((wall / 60))" "$((wall % 60))"
echo "load at the end: $(uptime | sed 's/.*load average/load average/')"
sed -n '/^Failures:/,/^Images/p' "$report/summary.txt" | sed '$d'
sed -n '/^Selected but skipped/,/^Images/p' "$report/summary.txt" | sed '$d'
echo "report: $report"
exit "$rc"
