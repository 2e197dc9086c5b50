#!/bin/sh
# Argo CD end to end, with timings: builds hardway, builds Argo CD and its
# images from source (the artifact cache keeps them; a second run finds
# them cached), then runs TestArgoCD on cluster ag1 (10.216.0.0/24): up with
# addons: [argocd] until verify's gitops check passes, a commit pushed to
# the in-cluster Git repository followed to Synced and Healthy, the memory
# of Argo CD's pods, argocd taken out of addons (removed), down.
#
#   hack/argocd-e2e.sh
#
# Prints the build's wall time and peak memory (GNU time: the largest
# process of the build, the go compiler or linker) and the test's TIMING
# and MEMORY lines. Runs under flock /tmp/e2e.lock like every long run.
set -eu
cd "$(dirname "$0")/.."
go build -o bin/hardway ./cmd/hardway
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/ag1.yaml" <<'YAML'
apiVersion: hardway.dev/v1alpha1
kind: Cluster
name: ag1
network:
  nodeSubnet: 10.216.0.0/24
nodes:
- name: node-0
addons: [argocd]
YAML
echo "== artifacts build (Argo CD $(grep -o 'ArgoCDVersion = "[^"]*"' internal/artifacts/argocd.go | cut -d'"' -f2) and its images)"
/usr/bin/time -f 'build: %e s wall, peak RSS of its largest process %M KiB' bin/hardway artifacts build -c "$tmp/ag1.yaml" 2>&1 |
	grep -E 'argocd|registry|build:' || true
echo "== TestArgoCD"
HARDWAY_E2E_ARGOCD=1 flock /tmp/e2e.lock go test -tags e2e -count=1 -timeout 90m -run '^TestArgoCD$' -v ./test/e2e/ >"$tmp/test.log" 2>&1 || {
	tail -60 "$tmp/test.log"; exit 1; }
grep -E 'TIMING|MEMORY|^(--- |ok|PASS|FAIL)' "$tmp/test.log"
