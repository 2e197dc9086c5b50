#!/usr/bin/env bash
# Measures the air-gapped bundle (hardway artifacts export / import):
#   export      size of the bundle and time to write it from the cache
#               ($HARDWAY_CACHE, else ~/.cache/hardway) and the node image
#   import      time to verify and install it into an empty cache
#   list        hardway artifacts list against the imported cache: every
#               file's architecture checked, nothing WRONG
#   docker load the node image archive from the bundle loaded again (this
#               host already has the image: Docker reads the whole archive
#               but has every layer, so a machine without it takes longer)
# With UP=1 it then times what `make up` does on the imported cache, for the
# cluster sp3 (3 nodes, 10.232.0.0/24 is sp1's, 10.233.0.0/24 sp3's):
# hack/setup-host.sh, artifacts build (nothing to build), node-image build
# (up to date), up, then removes the cluster.
#
# Usage: hack/bench-bundle.sh     (needs: make setup; the artifacts and the
#        node image built; ~3 GB free under WORK, default /var/tmp)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
go build -o bin/hardway ./cmd/hardway
hw=$repo/bin/hardway
work=$(mktemp -d "${WORK:-/var/tmp}/hardway-bundle-XXXXXX")
cleanup() {
  rm -rf "$work"
  if [ "${UP:-0}" = 1 ]; then $hw down --name sp3 --yes >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.1f", b-a}'; }
must() { if ! "$@" >"$work/out" 2>&1; then echo "FAILED: $*"; tail -20 "$work/out"; exit 1; fi; }

t0=$(now)
must $hw artifacts export "$work/bundle.tar"
t_export=$(elapsed "$t0" "$(now)")
sum=$(awk '/^sha256 /{print $2}' "$work/out")
size=$(stat -c %s "$work/bundle.tar")
files=$(tar -tf "$work/bundle.tar" | wc -l)

t0=$(now)
must env HARDWAY_CACHE="$work/cache" $hw artifacts import "$work/bundle.tar" --sha256 "$sum"
t_import=$(elapsed "$t0" "$(now)")
grep '^imported' "$work/out"

must env HARDWAY_CACHE="$work/cache" $hw artifacts list
if grep -q WRONG "$work/out"; then echo "FAILED: imported files of the wrong architecture"; cat "$work/out"; exit 1; fi
listed=$(($(wc -l <"$work/out") - 1))

img=$(tar -tf "$work/bundle.tar" | grep '^node-image/')
tar -xf "$work/bundle.tar" -C "$work" "$img"
t0=$(now)
must docker load -i "$work/$img"
t_load=$(elapsed "$t0" "$(now)")
rm -f "$work/$img"

printf '\n%-44s %s\n' "bundle" "$(awk -v b="$size" 'BEGIN{printf "%.0f MiB", b/1048576}') in $files tar members"
printf '%-44s %ss\n' "export (cache + docker save)" "$t_export"
printf '%-44s %ss\n' "import (verify, install; image already here)" "$t_import"
printf '%-44s %s files, none WRONG\n' "artifacts list on the imported cache" "$listed"
printf '%-44s %ss\n' "docker load of the node image (present)" "$t_load"

if [ "${UP:-0}" = 1 ]; then
  cat >"$work/sp3.yaml" <<'YAML'
apiVersion: hardway.dev/v1alpha1
kind: Cluster
name: sp3
network: {nodeSubnet: 10.233.0.0/24}
YAML
  $hw down --name sp3 --yes >/dev/null 2>&1 || true
  export HARDWAY_CACHE="$work/cache"
  t0=$(now)
  must ./hack/setup-host.sh
  t1=$(now); must $hw artifacts build -c "$work/sp3.yaml"; t_build=$(elapsed "$t1" "$(now)")
  t1=$(now); must $hw node-image build; t_image=$(elapsed "$t1" "$(now)")
  t1=$(now); must $hw up -c "$work/sp3.yaml"; t_up=$(elapsed "$t1" "$(now)")
  t_all=$(elapsed "$t0" "$(now)")
  printf '%-44s %ss (artifacts build %ss, node-image build %ss, up %ss)\n' "make up's commands on the imported cache" "$t_all" "$t_build" "$t_image" "$t_up"
fi
