#!/usr/bin/env bash
# A no-op `hardway up` on a running cluster, timed: RUNS runs (default 5) of
# each binary given, alternating, and the median (min-max) of the whole
# command, of the steps before verify (summed from up's own step lines) and
# of verify. With two binaries it is a before/after comparison on the same
# cluster at the same load.
#
# Usage: RUNS=5 hack/bench-noop.sh --name CLUSTER [BINARY ...]
#   (default BINARY: bin/hardway, built here). Build an older one with e.g.
#   git worktree add /tmp/old COMMIT && (cd /tmp/old && go build -o /tmp/hw-old ./cmd/hardway)
# Needs: a running, healthy cluster (the first run of each binary is not
# counted: it may change something).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
name=
bins=()
while [ $# -gt 0 ]; do
  case "$1" in
    --name) name=$2; shift ;;
    -*) echo "bench-noop.sh: unknown flag $1 (usage: --name CLUSTER [BINARY ...])" >&2; exit 2 ;;
    *) bins+=("$1") ;;
  esac
  shift
done
[ -n "$name" ] || { echo "bench-noop.sh: --name CLUSTER is required" >&2; exit 2; }
if [ ${#bins[@]} -eq 0 ]; then go build -o bin/hardway ./cmd/hardway; bins=(bin/hardway); fi
runs=${RUNS:-5}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "no-op up on $name, $runs runs per binary, alternating; load: $(uptime | sed 's/.*load average: //')"
for b in "${bins[@]}"; do "$b" up --name "$name" >/dev/null 2>&1 || { echo "$b up --name $name failed: is the cluster healthy?" >&2; exit 1; }; done
for i in $(seq 1 "$runs"); do
  for j in "${!bins[@]}"; do
    log=$work/$j-$i.log
    s=$(date +%s%N)
    "${bins[$j]}" up --name "$name" >"$log" 2>&1 || { echo "run $i of ${bins[$j]} failed:"; tail -5 "$log"; exit 1; }
    e=$(date +%s%N)
    whole=$(( (e - s) / 1000000 ))
    steps=$(grep -E '^✓ \[' "$log" | grep -v ' verify ' | grep -oE ' [0-9.]+s  ' | tr -d ' s' | awk '{t+=$1} END {printf "%d", t*1000}')
    ver=$(grep -E '^✓ \[.*\] verify ' "$log" | grep -oE ' [0-9.]+s' | head -1 | tr -d ' s' | awk '{printf "%d", $1*1000}')
    echo "$whole $steps ${ver:-0}" >>"$work/$j"
  done
done
med() { sort -n | awk '{a[NR]=$1} END {printf "%5.1f s (%.1f-%.1f)", a[int((NR+1)/2)]/1000, a[1]/1000, a[NR]/1000}'; }
printf '%-28s %-22s %-22s %-22s\n' BINARY "WHOLE up" "STEPS BEFORE VERIFY" "VERIFY"
for j in "${!bins[@]}"; do
  printf '%-28s %-22s %-22s %-22s\n' "${bins[$j]}" \
    "$(cut -d' ' -f1 "$work/$j" | med)" "$(cut -d' ' -f2 "$work/$j" | med)" "$(cut -d' ' -f3 "$work/$j" | med)"
done
