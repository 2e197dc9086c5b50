#!/usr/bin/env bash
# Prints cold and warm `hardway artifacts build --source source` times per
# component.
#
#   cold: an empty artifact cache (a fresh HARDWAY_CACHE). With --cold-go the
#         Go build cache is fresh too (GOCACHE in a temp dir), which is what a
#         first-ever build costs; without it the Go build cache is the user's,
#         so "cold" measures a rebuild of everything from warm compiler caches.
#   warm: the same command again: every component comes from the cache.
#
# Usage: hack/bench-artifacts.sh [--cold-go] [--kube v1.37.2]
# The module cache (GOMODCACHE) is always the user's: downloading the
# sources is not what we measure and would only repeat the proxy traffic.
set -euo pipefail

cold_go=0
kube=""
while [ $# -gt 0 ]; do
	case "$1" in
	--cold-go) cold_go=1 ;;
	--kube) kube="$2"; shift ;;
	*) echo "usage: $0 [--cold-go] [--kube vX.Y.Z]" >&2; exit 2 ;;
	esac
	shift
done

repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT

go -C "$repo" build -o "$work/hardway" ./cmd/hardway
export HARDWAY_CACHE="$work/cache"
if [ "$cold_go" = 1 ]; then
	export GOCACHE="$work/gocache"
fi
cfg=()
if [ -n "$kube" ]; then
	printf 'apiVersion: hardway.dev/v1alpha1\nkind: Cluster\nkubernetesVersion: %s\n' "$kube" >"$work/cluster.yaml"
	cfg=(-c "$work/cluster.yaml")
fi

run() { # $1 = label
	local start end
	start=$(date +%s)
	if ! "$work/hardway" "${cfg[@]}" artifacts build --source source >"$work/$1.txt" 2>"$work/$1.err"; then
		cat "$work/$1.txt" "$work/$1.err" >&2
		exit 1
	fi
	end=$(date +%s)
	echo "$1 total: $((end - start))s" >>"$work/totals.txt"
}
run cold
run warm

printf '%-16s %-9s %12s %12s\n' COMPONENT VERSION COLD WARM
# Progress lines are: component version source status elapsed.
join <(awk 'NF==5 && $1 != "all" {print $1, $2, $5}' "$work/cold.txt" | sort) \
     <(awk 'NF==5 && $1 != "all" {print $1, $5}' "$work/warm.txt" | sort) |
	awk '{printf "%-16s %-9s %12s %12s\n", $1, $2, $3, $4}'
cat "$work/totals.txt"
