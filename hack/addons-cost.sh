#!/bin/sh
# What MetalLB costs on a running cluster: the time `up` spends installing
# it (registry, image pushes, CRDs, workloads, until a speaker is ready on
# every node) and the memory its pods use once settled, summed over nodes.
#
#   hack/addons-cost.sh [NAME]      (default: hardway; the cluster must have the add-on in addons)
#   ADDON=netpol|gateway hack/addons-cost.sh [NAME]   another add-on (default: metallb)
#
# It takes the add-on out (up without it in addons) and puts it back, timing the
# second up, then waits 30 s and reads each container's working set with
# crictl stats on every node. Build time is what `hardway artifacts build`
# printed for metallb and its images (README, docs/addons.md).
set -eu
NAME=${1:-hardway}
ADDON=${ADDON:-metallb}
# Two branches each added their add-on to a copy of this list; one list now.
case "$ADDON" in
	metallb) NS=metallb-system ;;
	netpol) NS=kube-network-policies ;;
	gateway) NS=traefik ;;
	*) echo "ADDON=$ADDON: use metallb, netpol or gateway" >&2; exit 2 ;;
esac
HW=${HW:-bin/hardway}
SAVED=${XDG_DATA_HOME:-$HOME/.local/share}/hardway/clusters/$NAME/cluster.yaml
[ -f "$SAVED" ] || { echo "no saved config for cluster $NAME: $SAVED" >&2; exit 1; }
grep -qx -- "- $ADDON" "$SAVED" || { echo "cluster $NAME does not have $ADDON in addons" >&2; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cp "$SAVED" "$tmp/on.yaml"
# The saved config lists addons as "addons:" then "- NAME" lines: drop
# the one add-on ("addons: []" when it was the only one); metallb takes
# the gateway with it (the gateway needs metallb).
drop="- $ADDON"
[ "$ADDON" = metallb ] && drop="$drop|- gateway"
awk -v a="$drop" '/^addons:/{inl=1; n=0; print; next} inl && /^- /{if (index("|" a "|", "|" $0 "|") == 0) {print; n++}; next} inl{if (n == 0) print "  []"; inl=0} {print}' "$tmp/on.yaml" |
	awk '/^addons:$/{getline nx; if (nx == "  []") {print "addons: []"} else {print; print nx}; next} {print}' > "$tmp/off.yaml"

t0=$(date +%s.%N)
"$HW" up -c "$tmp/off.yaml" --from "$ADDON" >"$tmp/off.log" 2>&1 || { cat "$tmp/off.log"; exit 1; }
t1=$(date +%s.%N)
"$HW" up -c "$tmp/on.yaml" --from "$ADDON" >"$tmp/on.log" 2>&1 || { cat "$tmp/on.log"; exit 1; }
t2=$(date +%s.%N)
step=$(grep -o "$ADDON [0-9.]*[a-zµ]*s" "$tmp/on.log" | head -1 || true)
echo "removal (up --from $ADDON without it in addons): $(echo "$t1 - $t0" | bc) s"
echo "install (up --from $ADDON, then verify):    $(echo "$t2 - $t1" | bc) s; step alone: ${step:-?}"

sleep 30
total=0
for node in $("$HW" status --name "$NAME" -o json | python3 -c 'import json,sys; print(" ".join(n["name"] for n in json.load(sys.stdin)["nodes"] if n["role"]!="lb"))'); do
	kb=$("$HW" shell "$node" --name "$NAME" -- crictl stats -o json --label io.kubernetes.pod.namespace=$NS |
		python3 -c 'import json,sys; print(sum(int(s["memory"]["workingSetBytes"]["value"]) for s in json.load(sys.stdin)["stats"])//1024)')
	echo "$node: $ADDON containers' working set ${kb} KiB"
	total=$((total + kb))
done
reg=$("$HW" shell "$( [ -n "$(docker ps -q -f name="^$NAME-lb\$")" ] && echo lb || echo node-0)" --name "$NAME" -- sh -c 'ps -o rss= -C registry | awk "{s+=\$1} END {print s+0}"')
echo "total $ADDON: $((total / 1024)) MiB; the registry process: $((reg / 1024)) MiB"
