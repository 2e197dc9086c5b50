#!/usr/bin/env bash
# Runs kube-bench (the CIS Kubernetes Benchmark checker) inside one node of a
# running hardway cluster, prints its full result, then a summary of the
# automated (scored) checks. Exits 1 when an automated check FAILs, except
# 1.1.13 and 1.1.14: they want /etc/kubernetes/admin.conf, and hardway keeps
# no admin credential on its nodes on purpose (it stays on the host).
#
# Usage: hack/kube-bench.sh [--name CLUSTER] [--node NODE] [--cfg DIR] KUBE_BENCH_BINARY
#   --name   cluster (default: hardway)
#   --node   node to check (default: node-0)
#   --cfg    kube-bench's cfg/ directory, the benchmark definitions it reads
#            at run time (default: cfg/ next to the binary)
#   HARDWAY=path overrides the hardway binary (default: bin/hardway, `make build`)
#
# kube-bench is not part of hardway and is not in this repository. Build it
# outside the repository from its public source
# (https://github.com/aquasecurity/kube-bench), statically:
#   git clone https://github.com/aquasecurity/kube-bench /opt/kube-bench-src
#   cd /opt/kube-bench-src && CGO_ENABLED=0 go build -o /opt/kube-bench/kube-bench .
#   cp -R cfg /opt/kube-bench/cfg
#   hack/kube-bench.sh /opt/kube-bench/kube-bench
#
# What goes to the node (under /opt/hardway-kube-bench, removed afterwards):
# the binary, the benchmark files of its targets from cfg/ and hack/kube-bench/config.yaml,
# hardway's map of where each component keeps its unit, flags, kubeconfigs,
# certificates and data (kube-bench's own map describes kubeadm's layout).
# Targets follow the node's roles: master, controlplane and etcd where
# kube-apiserver runs, node where kubelet runs, policies always. The policies
# checks ask the API server through kubectl, and a node has no credential for
# that: they are all manual and end up WARN. For the same reason kube-bench
# warns that it could not detect the Kubernetes version; the benchmark is
# named explicitly, so that warning changes nothing.
set -euo pipefail

benchmark=cis-1.12
allowed_fails=(1.1.13 1.1.14)
remote=/opt/hardway-kube-bench

repo=$(cd "$(dirname "$0")/.." && pwd)
mapping=$repo/hack/kube-bench/config.yaml
hw=${HARDWAY:-$repo/bin/hardway}

usage() { echo "usage: hack/kube-bench.sh [--name CLUSTER] [--node NODE] [--cfg DIR] KUBE_BENCH_BINARY" >&2; exit 2; }
die() { echo "kube-bench.sh: $*" >&2; exit 1; }

name=hardway node=node-0 cfg="" bin=""
while [ $# -gt 0 ]; do
  case "$1" in
    --name) [ $# -ge 2 ] || usage; name=$2; shift 2 ;;
    --node) [ $# -ge 2 ] || usage; node=$2; shift 2 ;;
    --cfg) [ $# -ge 2 ] || usage; cfg=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) usage ;;
    *) [ -z "$bin" ] || usage; bin=$1; shift ;;
  esac
done
[ -n "$bin" ] || usage

{ [ -f "$bin" ] && [ -x "$bin" ]; } || die "no kube-bench binary at $bin: build it (see the header of this script)"
[ -n "$cfg" ] || cfg=$(dirname "$bin")/cfg
[ -f "$cfg/$benchmark/master.yaml" ] || die "no $benchmark benchmark in $cfg: pass kube-bench's cfg/ directory with --cfg (copy it from kube-bench's source next to the binary)"
[ -f "$mapping" ] || die "no $mapping: run this script from a hardway checkout"
[ -x "$hw" ] || die "no hardway binary at $hw: run make build (or set HARDWAY=path)"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
: >"$work/empty"

# on CMD...: run a fixed command in the node. Its stdin is an empty regular
# file: `hardway shell` asks docker for a TTY when stdin and stdout look like
# character devices, and /dev/null is one ("the input device is not a TTY").
# on_stdin CMD...: the same, reading this script's stdin (the tar stream).
on() { "$hw" shell --name "$name" "$node" -- "$@" <"$work/empty"; }
on_stdin() { "$hw" shell --name "$name" "$node" -- "$@"; }

on true >/dev/null 2>&1 || die "cannot reach node $node of cluster $name: is it up? (hardway status --name $name)"

# unit_state UNIT: "active", "inactive" (installed, not running) or "absent".
unit_state() {
  if on systemctl is-active --quiet "$1"; then echo active
  elif on test -e "/etc/systemd/system/$1.service"; then echo inactive
  else echo absent; fi
}

targets=()
case "$(unit_state kube-apiserver)" in
  active)
    for u in etcd kube-controller-manager kube-scheduler; do
      [ "$(unit_state "$u")" = active ] || die "$u is not running on $node: kube-bench's control-plane checks need it (hardway shell --name $name $node -- systemctl status $u)"
    done
    targets+=(master controlplane etcd) ;;
  inactive) die "kube-apiserver is installed but not running on $node: fix the node first (hardway shell --name $name $node -- systemctl status kube-apiserver)" ;;
esac
case "$(unit_state kubelet)" in
  active)
    [ "$(unit_state kube-proxy)" = active ] || die "kube-proxy is not running on $node (hardway shell --name $name $node -- systemctl status kube-proxy)"
    targets+=(node) ;;
  inactive) die "kubelet is installed but not running on $node: fix the node first (hardway shell --name $name $node -- systemctl status kubelet)" ;;
esac
[ ${#targets[@]} -gt 0 ] || die "$node runs neither kube-apiserver nor kubelet: nothing to check"
targets+=(policies)
target_list=$(IFS=,; echo "${targets[*]}")

cleanup() {
  on rm -rf "$remote" >/dev/null 2>&1 || echo "kube-bench.sh: could not remove $remote from $node: hardway shell --name $name $node -- rm -rf $remote" >&2
  rm -rf "$work"
}
trap cleanup EXIT

# Stage what the node gets, then send it as one tar stream through
# `hardway shell` (stdin), extracted under /opt.
# Only the benchmark files of this node's targets go: kube-bench then runs
# all of them without --targets, which keeps "etcd" off its own command line
# (the etcd audits grep `ps -ef` for "etcd" and would see kube-bench itself).
stage=$work/stage/$(basename "$remote")
mkdir -p "$stage/cfg/$benchmark"
cp "$bin" "$stage/kube-bench"
cp "$mapping" "$stage/config.yaml"
[ ! -f "$cfg/$benchmark/config.yaml" ] || cp "$cfg/$benchmark/config.yaml" "$stage/cfg/$benchmark/"
for t in "${targets[@]}"; do
  [ -f "$cfg/$benchmark/$t.yaml" ] || die "no $cfg/$benchmark/$t.yaml: pass kube-bench's complete cfg/ directory with --cfg"
  cp "$cfg/$benchmark/$t.yaml" "$stage/cfg/$benchmark/"
done
on rm -rf "$remote"
tar -C "$work/stage" -cf - "$(basename "$remote")" | on_stdin tar -x --no-same-owner -C "$(dirname "$remote")" -f -

kb=(on "$remote/kube-bench" run --benchmark "$benchmark"
    --config "$remote/config.yaml" --config-dir "$remote/cfg")

echo "== kube-bench $benchmark on $node of cluster $name (targets: $target_list)"
# The full result: every check, FAILs with the value kube-bench found,
# remediations and per-section totals.
"${kb[@]}" --include-test-output || die "kube-bench failed on $node (its output is above)"
# Again, only the automated (scored) checks, for the summary below.
"${kb[@]}" --unscored=false --noremediations --nosummary --nototals >"$work/scored" 2>"$work/scored.err" ||
  { cat "$work/scored.err" >&2; die "kube-bench failed on $node (its output is above)"; }

pass=0 fail=0 warn=0
fails=() exempt=()
while IFS= read -r line; do
  [[ $line =~ ^\[(PASS|FAIL|WARN)\]\ ([0-9][0-9.]*)\ (.*)$ ]] || continue
  state=${BASH_REMATCH[1]} id=${BASH_REMATCH[2]} text=${BASH_REMATCH[3]}
  case "$state" in
    PASS) pass=$((pass + 1)) ;;
    WARN) warn=$((warn + 1)) ;;
    FAIL)
      fail=$((fail + 1))
      if [[ " ${allowed_fails[*]} " == *" $id "* ]]; then exempt+=("$id $text"); else fails+=("$id $text"); fi ;;
  esac
done <"$work/scored"

echo
echo "== Summary: automated checks of $benchmark on $node"
echo "PASS $pass   FAIL $fail   WARN $warn"
if [ ${#exempt[@]} -gt 0 ]; then
  echo "FAIL, accepted (no admin credential on nodes, by design):"
  printf '%s\n' "${exempt[@]}" | sort -t' ' -k1,1V | sed 's/^/  /'
fi
if [ ${#fails[@]} -gt 0 ]; then
  echo "FAIL:"
  printf '%s\n' "${fails[@]}" | sort -t' ' -k1,1V | sed 's/^/  /'
  exit 1
fi
[ $((pass + fail + warn)) -gt 0 ] || die "kube-bench reported no automated checks: see its output above"
echo "no automated FAIL beyond the accepted ones"
