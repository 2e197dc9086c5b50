#!/usr/bin/env bash
# Every lab as a learner runs it (start, check fails, each graded hint, the
# fix, check passes with the debrief, reset, verify) on cluster e2etl
# (10.248.0.0/24), plus trace. make e2e runs only the labs in ciLabs
# (test/e2e/trace_lab_test.go) to stay inside CI's time budget.
# LABS=a,b runs only those. The cluster gets the default add-ons plus those
# the chosen labs need (gateway-port: gateway, gitops-drift: argocd; their
# first build is long). Prints each lab's TIMING line and the result.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH
export HARDWAY_E2E_LABS=${LABS:-all}
go test -tags e2e -count=1 -timeout 60m -v -run 'TestTraceAndLabs$' ./test/e2e/ 2>&1 |
  tee /tmp/test-labs.log | grep -E 'TIMING|^ *--- |^(ok|FAIL|PASS)'
# pipefail: the script fails when go test does (the whole log: /tmp/test-labs.log).
