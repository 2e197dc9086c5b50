#!/usr/bin/env bash
# hardway beside a peer on this machine, from the same Kubernetes, containerd,
# runc, CNI plugins and CoreDNS, in one run: the phases of minikube's
# time-to-k8s benchmark, from the command's start to
#   (a) the command's exit,
#   (b) the API server answering (a poller started with the command),
#   (c) a pod's DNS query answered (a pod created after (a) that loops on
#       `nslookup kubernetes.default.svc.cluster.local` until it succeeds).
# Runs alternate (peer 1, hardway 1, peer 3, hardway 3, then the other way
# round) so that load from anything else on the machine hits both alike;
# `uptime`'s 1-minute load is printed beside every run. Then each figure's
# median, min and max, the ratios hardway/peer, hardway's no-op `up`, and the
# targets of issue 20.
#
# The peer is kubeadm built from the same source, on kind-style nodes
# (hack/peers/kubeadm.sh; why not kind itself: hack/peers/README.md).
# hardway runs without add-ons (the peer installs none: no MetalLB). The peer's node
# image is built once; `docker rmi hardway-peer/kubeadm-node:v1.37.2` makes the next run rebuild it.
#
# Usage: RUNS=3 hack/bench-peers.sh   (needs: make setup; artifacts and node image built)
#   TRACE=1 (default) ends with one fresh and one no-op hardway run of each
#   size with --trace-timings into $OUT/trace-*.txt, for the why of a miss.
# Clusters: hardway bp1 (10.212.0.0/24) and bp3 (10.213.0.0/24); the peer's
# kp1 and kp3 on the --internal network hw-peers (10.214.0.0/24). All removed.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
runs=${RUNS:-3}
out=${OUT:-bench-peers-out}
mkdir -p "$out"
export PEERS_STATE=$repo/$out
go build -o bin/hardway ./cmd/hardway
hw=bin/hardway
peer=hack/peers/kubeadm.sh
cache=${HARDWAY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hardway}
kubectl=$cache/artifacts/kubernetes/v1.37.2/source-amd64/kubectl

echo "preparing (cached after the first run): artifacts, kubeadm, node images"
$hw artifacts build --peers >"$out/prepare.log" 2>&1 || { tail -20 "$out/prepare.log"; exit 1; }
$hw node-image build >/dev/null
docker image inspect hardway-peer/kubeadm-node:v1.37.2 >/dev/null 2>&1 || $peer image

work=$(mktemp -d)
cleanup() {
  rm -rf "$work"
  for n in bp1 bp3; do $hw down --name "$n" --yes >/dev/null 2>&1 || true; done
  for n in kp1 kp3; do $peer down "$n" >/dev/null 2>&1 || true; done
}
trap cleanup EXIT
cat >"$work/bp1.yaml" <<'YAML'
apiVersion: hardway.dev/v1alpha1
kind: Cluster
name: bp1
network: {nodeSubnet: 10.212.0.0/24}
nodes: [{name: solo}]
addons: []
YAML
cat >"$work/bp3.yaml" <<'YAML'
apiVersion: hardway.dev/v1alpha1
kind: Cluster
name: bp3
network: {nodeSubnet: 10.213.0.0/24}
addons: []
YAML

# The API address each cluster will have, known before it exists.
endpoint() { # tool size
  case $1-$2 in
    peer-1) echo 10.214.0.11:6443 ;;
    peer-3) echo 10.214.0.20:6443 ;;
    hardway-*)
      $hw render -c "$work/bp$2.yaml" --out "$work/render$2" >/dev/null
      sed -nE 's#^ *server: https://([0-9.]+:[0-9]+)$#\1#p' "$work/render$2/cluster/admin.kubeconfig" | head -1 ;;
  esac
}
ep_peer1=$(endpoint peer 1) ep_peer3=$(endpoint peer 3)
ep_hardway1=$(endpoint hardway 1) ep_hardway3=$(endpoint hardway 3)

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.1f", b-a}'; }
load() { awk '{print $1}' /proc/loadavg; }

# poll_api EP FILE: writes the time the API server first answers HTTP (any
# status: 200, or 401/403 for a server that refuses anonymous requests).
poll_api() {
  local ep=$1 file=$2 code
  while :; do
    code=$(curl -sk -o /dev/null -w '%{http_code}' --max-time 1 "https://$ep/version" 2>/dev/null || true)
    case $code in 200 | 401 | 403) now >"$file"; return ;; esac
    sleep 0.1
  done
}

# The DNS pod: allowed by the restricted Pod Security level (hardway's
# default namespace enforces it), same image on both (baked into the
# peer's node image, imported by hardway's workers step).
dns_pod='apiVersion: v1
kind: Pod
metadata: {name: dns-check}
spec:
  restartPolicy: Never
  securityContext: {runAsNonRoot: true, runAsUser: 65534, seccompProfile: {type: RuntimeDefault}}
  containers:
  - name: q
    image: hardway.local/testapp:1.1
    imagePullPolicy: Never
    command: [sh, -c, "until nslookup kubernetes.default.svc.cluster.local >/dev/null 2>&1; do sleep 0.2; done"]
    securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}'

# one TOOL SIZE: a fresh cluster timed, then (hardway) a no-op up timed.
one() {
  local tool=$1 n=$2 ep kc t0 t1 t2 l rc=0
  local name
  case $tool in peer) name=kp$n ;; hardway) name=bp$n ;; esac
  case $tool in
    peer) $peer down "$name" >/dev/null 2>&1 || true ;;
    hardway) $hw down --name "$name" --yes >/dev/null 2>&1 || true ;;
  esac
  eval "ep=\$ep_${tool}$n"
  l=$(load)
  rm -f "$work/api"
  t0=$(now)
  poll_api "$ep" "$work/api" &
  local poller=$!
  case $tool in
    peer) $peer up "$name" "$n" >"$work/out" 2>&1 || rc=$? ;;
    hardway) $hw up -c "$work/bp$n.yaml" >"$work/out" 2>&1 || rc=$? ;;
  esac
  t1=$(now)
  if [ $rc != 0 ]; then
    kill "$poller" 2>/dev/null || true
    echo "$tool $n: FAILED (exit $rc)"; tail -20 "$work/out"; exit 1
  fi
  case $tool in
    peer) kc=$($peer kubeconfig "$name") ;;
    hardway) kc=$($hw kubeconfig --name "$name" | tail -1) ;;
  esac
  # A fresh cluster's default ServiceAccount is made by the controller
  # manager a moment after the API answers, and kubeadm can exit before
  # that ("serviceaccount default not found"): the pod is created as soon
  # as it can be, which phase (c) counts, within 120 s.
  local tries=0
  until echo "$dns_pod" | KUBECONFIG=$kc "$kubectl" apply -f - >"$work/apply" 2>&1; do
    tries=$((tries + 1))
    if [ "$tries" -ge 600 ]; then
      kill "$poller" 2>/dev/null || true
      echo "$tool $n: the DNS pod could not be created in 120 s:"; cat "$work/apply"; exit 1
    fi
    sleep 0.2
  done
  if ! KUBECONFIG=$kc "$kubectl" wait --for=jsonpath='{.status.phase}'=Succeeded pod/dns-check --timeout=300s >/dev/null; then
    kill "$poller" 2>/dev/null || true
    echo "$tool $n: the DNS pod did not succeed in 300 s"; KUBECONFIG=$kc "$kubectl" describe pod dns-check | tail -15; exit 1
  fi
  t2=$(now)
  # The API answered before the command could create the pod: the poller
  # has finished (a bounded wait in case it has not written yet).
  for _ in $(seq 50); do [ -s "$work/api" ] && break; sleep 0.1; done
  kill "$poller" 2>/dev/null || true; wait "$poller" 2>/dev/null || true
  local api=-
  [ -s "$work/api" ] && api=$(since "$t0" "$(cat "$work/api")")
  echo "$tool$n $(since "$t0" "$t1") $api $(since "$t0" "$t2") $l" >>"$work/fresh"
  printf '  %-9s exit %6ss  API %6ss  DNS %6ss  (load %s)\n' "$tool $n" "$(since "$t0" "$t1")" "$api" "$(since "$t0" "$t2")" "$l"
  KUBECONFIG=$kc "$kubectl" delete pod dns-check --wait=false >/dev/null 2>&1 || true
  if [ "$tool" = hardway ]; then
    l=$(load); t0=$(now)
    $hw up -c "$work/bp$n.yaml" >"$work/out" 2>&1 || { echo "hardway $n: no-op up FAILED"; tail -20 "$work/out"; exit 1; }
    t1=$(now)
    echo "noop$n $(since "$t0" "$t1") $l" >>"$work/noop"
    printf '  %-9s no-op up %6ss  (load %s)\n' "$tool $n" "$(since "$t0" "$t1")" "$l"
  fi
  case $tool in
    peer) $peer down "$name" >/dev/null ;;
    hardway) $hw down --name "$name" --yes >/dev/null ;;
  esac
}

echo "$(date -u +%FT%TZ), $(nproc) cores, $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg), RUNS=$runs"
for r in $(seq "$runs"); do
  echo "run $r"
  if [ $((r % 2)) = 1 ]; then order="peer-1 hardway-1 peer-3 hardway-3"; else order="hardway-1 peer-1 hardway-3 peer-3"; fi
  for o in $order; do one "${o%-*}" "${o#*-}"; done
done

# col FILE KEY FIELD: the values of one figure.
col() { awk -v k="$2" -v f="$3" '$1==k && $f!="-" {print $f}' "$1"; }
stats() { sort -n | awk '{v[NR]=$1} END{if(NR==0){printf "%21s", "-"; exit} m=(NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2; printf "%6.1f %6.1f-%-6.1f", m, v[1], v[NR]}'; }
median() { sort -n | awk '{v[NR]=$1} END{if(NR==0){print ""; exit} print (NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{if(a==""||b==""||b==0){print "-"} else printf "%.2f", a/b}'; }

echo
echo "seconds from the command's start: median min-max of $runs runs (load: median of the 1-minute load at each start)"
printf '%-28s %-21s %-21s %-21s %s\n' CLUSTER "(a) COMMAND EXIT" "(b) API ANSWERS" "(c) POD DNS ANSWERED" LOAD
for k in peer1 hardway1 peer3 hardway3; do
  case $k in
    peer1) label="kubeadm, 1 control plane" ;; hardway1) label="hardway, 1 node" ;;
    peer3) label="kubeadm, 3 control planes" ;; hardway3) label="hardway, 3 nodes (HA)" ;;
  esac
  printf '%-28s %s %s %s %s\n' "$label" "$(col "$work/fresh" $k 2 | stats)" "$(col "$work/fresh" $k 3 | stats)" "$(col "$work/fresh" $k 4 | stats)" "$(col "$work/fresh" $k 5 | median)"
done
echo
echo "ratios hardway/kubeadm of the medians (below 1: hardway is faster)"
for n in 1 3; do
  printf '  %s: exit %s, API %s, DNS %s\n' "$([ $n = 1 ] && echo '1 node / 1 control plane  ' || echo '3 nodes / 3 control planes')" \
    "$(ratio "$(col "$work/fresh" hardway$n 2 | median)" "$(col "$work/fresh" peer$n 2 | median)")" \
    "$(ratio "$(col "$work/fresh" hardway$n 3 | median)" "$(col "$work/fresh" peer$n 3 | median)")" \
    "$(ratio "$(col "$work/fresh" hardway$n 4 | median)" "$(col "$work/fresh" peer$n 4 | median)")"
done
echo
h3=$(col "$work/fresh" hardway3 2 | median) p3=$(col "$work/fresh" peer3 2 | median)
h1=$(col "$work/fresh" hardway1 2 | median) p1=$(col "$work/fresh" peer1 2 | median)
n3=$(col "$work/noop" noop3 2 | median) n1=$(col "$work/noop" noop1 2 | median)
verdict() { awk -v c="$1" 'BEGIN{print (c ? "met" : "MISSED")}'; }
echo "targets (issue 20), on the command's exit:"
printf '  hardway 3 nodes <= half the peer 3 and <= 20 s: %ss vs %ss -> %s\n' "$h3" "$p3" "$(verdict "$(awk -v h="$h3" -v p="$p3" 'BEGIN{print (h<=p/2 && h<=20)}')")"
printf '  hardway 1 node <= the peer 1 and <= 10 s:       %ss vs %ss -> %s\n' "$h1" "$p1" "$(verdict "$(awk -v h="$h1" -v p="$p1" 'BEGIN{print (h<=p && h<=10)}')")"
printf '  no-op up, 3 nodes <= 3 s:                       %ss (%s) -> %s\n' "$n3" "$(col "$work/noop" noop3 2 | stats | tr -s ' ')" "$(verdict "$(awk -v h="$n3" 'BEGIN{print (h<=3)}')")"
printf '  no-op up, 1 node <= 1.5 s:                      %ss (%s) -> %s\n' "$n1" "$(col "$work/noop" noop1 2 | stats | tr -s ' ')" "$(verdict "$(awk -v h="$n1" 'BEGIN{print (h<=1.5)}')")"

if [ "${TRACE:-1}" = 1 ]; then
  for n in 1 3; do
    $hw down --name "bp$n" --yes >/dev/null 2>&1 || true
    $hw up -c "$work/bp$n.yaml" --trace-timings >"$out/trace-fresh$n.txt" 2>&1 || true
    $hw up -c "$work/bp$n.yaml" --trace-timings >"$out/trace-noop$n.txt" 2>&1 || true
    $hw down --name "bp$n" --yes >/dev/null
  done
  echo "hardway's per-node breakdown (--trace-timings): $out/trace-*.txt"
fi
