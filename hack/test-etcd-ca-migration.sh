#!/usr/bin/env bash
# Migrates a cluster built by hardway as of commit 798422c (before etcd had
# its own CA: etcd trusted the cluster CA) with this hardway, under an API
# poller: builds the old binary and its artifacts (etcd 3.6.5, CoreDNS
# 1.12.4), so it takes long; CI runs the same migration on a cluster given
# the old trust layout by hand (TestEtcdCAMigration).
# Usage: hack/test-etcd-ca-migration.sh   (needs: make setup, a full clone)
set -euo pipefail
cd "$(dirname "$0")/.."
HARDWAY_E2E_OLD_BINARY=1 go test -tags e2e -count=1 -timeout 60m -v -run 'TestEtcdCAMigrationFromOldBinary' ./test/e2e/
