#!/usr/bin/env bash
# Runs the upstream NetworkPolicy e2e tests ([sig-network] Netpol, from the
# same e2e.test binary as hardway conformance) on a 3-node cluster with the
# netpol add-on (kube-network-policies), offline, and prints total, passed,
# failed, skipped and wall time, then every failure with its first error line.
#
# Usage: hack/netpol-e2e.sh [--keep] [--parallel N] [-- MORE CONFORMANCE FLAGS]
#   --keep      leave the cluster (np3, 10.221.0.0/24) up afterwards; an np3
#               that is already up is used as it is
# Needs: make setup (artifacts, node image); the first run builds e2e.test
# (about 17 minutes on 2 cores) and the e2e images into the artifact cache.
# Tests that need SCTP ([Feature:SCTPConnectivity]) are not selected: they are
# feature-gated upstream too, outside the default Netpol run.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
keep=0
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --keep) keep=1 ;;
    --parallel) args+=(--parallel "$2"); shift ;;
    --) shift; args+=("$@"); break ;;
    *) echo "netpol-e2e.sh: unknown argument $1 (see the header of $0)" >&2; exit 2 ;;
  esac
  shift
done
go build -o bin/hardway ./cmd/hardway
hw=bin/hardway
name=np3
work=$(mktemp -d)
report=$(mktemp -d /tmp/hardway-netpol-e2e-XXXXXX)
cleanup() { rm -rf "$work"; if [ "$keep" = 0 ]; then $hw down --name "$name" --yes >/dev/null 2>&1 || true; fi; }
trap cleanup EXIT

cat >"$work/$name.yaml" <<YAML
apiVersion: hardway.dev/v1alpha1
kind: Cluster
name: $name
network: {nodeSubnet: 10.221.0.0/24}
YAML

start=$(date +%s)
if ! $hw up -c "$work/$name.yaml" >"$work/up.log" 2>&1; then
  echo "hardway up failed:"; tail -20 "$work/up.log"; exit 1
fi
grep -q '✓ networkpolicy' "$work/up.log" || { echo "up's verify did not pass networkpolicy:"; tail -30 "$work/up.log"; exit 1; }
up=$(( $(date +%s) - start ))
start=$(date +%s)
set +e
$hw conformance --name "$name" --report "$report" \
  --focus '\[sig-network\] Netpol' --skip 'SCTPConnectivity' "${args[@]}" >"$work/run.log" 2>&1
rc=$?
set -e
wall=$(( $(date +%s) - start ))
if [ ! -s "$report/summary.txt" ]; then
  echo "the run left no summary (exit $rc):"; tail -30 "$work/run.log"; exit 1
fi
read -r passed failed skipped < <(sed -nE 's/^passed ([0-9]+), failed ([0-9]+), skipped ([0-9]+).*/\1 \2 \3/p' "$report/summary.txt")
printf 'up %dm%02ds; Netpol: total %d  passed %d  failed %d  skipped %d (not selected)  wall time %dm%02ds (tools, images and tests)\n' \
  "$((up / 60))" "$((up % 60))" "$((passed + failed))" "$passed" "$failed" "$skipped" "$((wall / 60))" "$((wall % 60))"
sed -n '/^Failures:/,/^Images/p' "$report/summary.txt" | sed '$d'
echo "report: $report"
exit "$rc"
