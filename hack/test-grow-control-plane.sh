#!/usr/bin/env bash
# A fourth control plane added to a running 3-node cluster (e2egrow3,
# 10.206.0.0/24) and removed again, under an API poller through the load
# balancer and a Service poller on every node: etcd goes to 4 members and
# back to 3, verify passes after each. About 8 minutes on 2 cores, so CI
# runs only the worker case (TestGrowAndShrink).
# Usage: hack/test-grow-control-plane.sh   (needs: make setup; the artifacts
#        and the node image built)
set -euo pipefail
cd "$(dirname "$0")/.."
HARDWAY_E2E_GROW_CP=1 go test -tags e2e -count=1 -timeout 30m -v -run 'TestGrowControlPlane' ./test/e2e/
