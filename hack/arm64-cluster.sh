#!/usr/bin/env bash
# An arm64 cluster on this amd64 host, end to end, under qemu-user emulation:
# the proof that the arm64 artifacts and node image (the Apple Silicon path)
# work. As root, on a Debian/Ubuntu amd64 machine:
#
#   hack/arm64-cluster.sh            1 node:  cluster arm1, 10.230.0.0/24
#   NODES=3 hack/arm64-cluster.sh    3 nodes: cluster arm3, 10.231.0.0/24
#   KEEP=1 ...                       leave the cluster (and binfmt) up
#
# Phases, each timed: setup (host packages + the arm64 cross toolchain and
# qemu-user-static), binfmt (register qemu-aarch64 with binfmt_misc), build
# (arm64 artifacts, the host's runc, the arm64 node image), up, verify, down,
# and binfmt off again. binfmt_misc is undone by a trap on any exit, also
# when a phase fails (unless KEEP=1).
#
# What runs emulated and what does not (see DEVELOPERS.md, "arm64"): every
# program in the nodes is arm64 except runc, containerd's shim and the
# netfilter tools, which qemu-user cannot run (clone(CLONE_PARENT),
# prctl(PR_SET_CHILD_SUBREAPER), netfilter netlink).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
export PATH=/usr/local/go/bin:$PATH
export HARDWAY_CACHE=${HARDWAY_CACHE:-$HOME/.cache/hardway}

nodes=${NODES:-1}
case $nodes in
1) name=arm1 subnet=10.230.0.0/24 ;;
3) name=arm3 subnet=10.231.0.0/24 ;;
*) echo "arm64-cluster: NODES=1 or NODES=3" >&2; exit 2 ;;
esac
hw=bin/hardway
work=$(mktemp -d)
timings=()

now() { date +%s; }
phase() { # name command...
  local n=$1 t0 rc=0
  shift
  echo
  echo "=== $n ($(date -u +%H:%M:%S) UTC)"
  t0=$(now)
  "$@" || rc=$?
  timings+=("$(printf '%-8s %5ds  %s' "$n" $(($(now) - t0)) "$([ $rc = 0 ] && echo ok || echo "FAILED ($rc)")")")
  if [ $rc != 0 ]; then
    echo "arm64-cluster: phase $n failed" >&2
    exit $rc
  fi
}

finish() {
  local rc=$?
  if [ "${KEEP:-}" != 1 ]; then
    [ -x $hw ] && $hw down --name $name >/dev/null 2>&1 || true
    ./hack/binfmt-arm64.sh disable || true
  fi
  rm -rf "$work"
  echo
  echo "=== times ($name, $nodes node(s), $(nproc) cores)"
  printf '%s\n' "${timings[@]}"
  exit $rc
}
trap finish EXIT

cat >"$work/$name.yaml" <<YAML
apiVersion: hardway.dev/v1alpha1
kind: Cluster
name: $name
arch: arm64
network: {nodeSubnet: $subnet}
YAML
if [ "$nodes" = 1 ]; then
  echo "nodes: [{name: solo}]" >>"$work/$name.yaml"
fi

setup() {
  HARDWAY_ARM64=1 ./hack/setup-host.sh
  go build -trimpath -o $hw ./cmd/hardway
}
build() {
  # runc and containerd's shim run natively in emulated nodes: the host's
  # artifacts are needed too.
  $hw artifacts build
  $hw artifacts build --arch arm64
  $hw artifacts list --arch arm64
  $hw node-image build --arch arm64
}

phase setup setup
phase binfmt ./hack/binfmt-arm64.sh enable
phase build build
$hw down --name $name >/dev/null 2>&1 || true
phase up $hw up -c "$work/$name.yaml"
phase verify $hw verify --name $name
# What runs there: the nodes' architecture as the kubelets report it, and a
# pod's own uname -m (the test app's busybox, arm64 through binfmt).
arch() {
  local kc kubectl
  kc=$($hw kubeconfig --name $name | tail -1)
  # A fresh machine may have no kubectl: this host's from the artifact cache.
  kubectl=$(command -v kubectl || ls "$HARDWAY_CACHE"/artifacts/kubernetes/*/source-"$(go env GOARCH)"/kubectl | tail -1)
  "$kubectl" --kubeconfig "$kc" get nodes -o jsonpath='{range .items[*]}{.metadata.name}: {.status.nodeInfo.architecture}, {.status.nodeInfo.containerRuntimeVersion}, kubelet {.status.nodeInfo.kubeletVersion}{"\n"}{end}'
  local m
  # The test app's busybox has few applet links: call uname through it.
  m=$("$kubectl" --kubeconfig "$kc" -n hardway-verify exec deploy/hello -- /bin/busybox uname -m)
  echo "uname -m in a pod: $m"
  [ "$m" = aarch64 ]
}
phase arch arch
if [ "${KEEP:-}" = 1 ]; then
  echo "KEEP=1: cluster $name and binfmt_misc left as they are"
  exit 0
fi
phase down $hw down --name $name
phase unbinfmt ./hack/binfmt-arm64.sh disable
