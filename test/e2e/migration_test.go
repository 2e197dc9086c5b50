//go:build e2e

package e2e

import (
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// beforeEtcdCA is the last commit whose clusters have no etcd CA (etcd trusts
// the cluster CA).
const beforeEtcdCA = "798422c"

// buildOld builds hardway as of commit rev into dir; the test fails when
// the clone does not have that commit (it was asked for).
func buildOld(t *testing.T, rev string) string {
	t.Helper()
	if err := osexec.Command("git", "cat-file", "-e", rev+"^{commit}").Run(); err != nil {
		t.Fatalf("commit %s is not in this clone, so the old hardway cannot be built: fetch the history (git fetch --unshallow)", rev)
	}
	src := t.TempDir()
	archive := osexec.Command("sh", "-c", `git archive "$1" | tar -x -C "$2"`, "sh", rev, src)
	archive.Dir = "../.."
	if out, err := archive.CombinedOutput(); err != nil {
		t.Fatalf("git archive %s: %v\n%s", rev, err, out)
	}
	bin := filepath.Join(t.TempDir(), "hardway-old")
	build := osexec.Command("go", "build", "-o", bin, "./cmd/hardway")
	build.Dir = src
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building hardway %s: %v\n%s", rev, err, out)
	}
	return bin
}

// A cluster made by hardway as of commit 798422c (etcd trusted the cluster
// CA), migrated by this hardway. It builds the old binary and the old
// artifacts (etcd 3.6.5, CoreDNS 1.12.4): too slow for CI, so it runs only
// with HARDWAY_E2E_OLD_BINARY=1 (hack/test-etcd-ca-migration.sh).
// TestEtcdCAMigration covers the same migration in CI on a cluster given the
// old trust layout by hand.
func TestEtcdCAMigrationFromOldBinary(t *testing.T) {
	if os.Getenv("HARDWAY_E2E_OLD_BINARY") == "" {
		t.Skip("set HARDWAY_E2E_OLD_BINARY=1 (or run hack/test-etcd-ca-migration.sh): builds the old hardway and its artifacts")
	}
	const name = "e2emigold"
	old := buildOld(t, beforeEtcdCA)
	if out, err := osexec.Command(old, "artifacts", "build").CombinedOutput(); err != nil {
		t.Fatalf("old artifacts build: %v\n%s", err, out)
	}
	cfg := clusterConfig(t, name, "network:\n  nodeSubnet: {subnet}\n")
	cleanup(t, name)
	// The old binary skips verify: the new one checks the result.
	if out, err := osexec.Command(old, "up", "-c", cfg, "--only", "check").CombinedOutput(); err != nil {
		t.Fatalf("old up --only check: %v\n%s", err, out)
	}
	for _, step := range []string{"nodes", "pki", "kubeconfigs", "encryption", "etcd", "control-plane", "workers", "network", "dns"} {
		if out, err := osexec.Command(old, "up", "-c", cfg, "--only", step).CombinedOutput(); err != nil {
			t.Fatalf("old up --only %s: %v\n%s", step, err, out)
		}
	}
	state := strings.TrimSpace(lastLine(hw(t, "kubeconfig", "--name", name)))
	pkiDir := filepath.Join(filepath.Dir(filepath.Dir(state)), "pki")
	if _, err := os.Stat(filepath.Join(pkiDir, "etcd-ca.pem")); err == nil {
		t.Fatal("the old hardway made an etcd CA: the test does not start from the old layout")
	}
	adminKubeconfig := state
	kubectl := func(args ...string) (string, error) {
		if out, err := docker("cp", adminKubeconfig, name+"-node-0:/root/admin.kubeconfig"); err != nil {
			return out, err
		}
		return docker(append([]string{"exec", name + "-node-0", "kubectl", "--kubeconfig=/root/admin.kubeconfig"}, args...)...)
	}
	if out, err := kubectl("create", "configmap", "before-migration", "--from-literal=k=v"); err != nil {
		t.Fatalf("create configmap: %v %s", err, out)
	}

	migrateEtcdCA(t, name, pkiDir, "10.249.0.2", kubectl)
}

// migrateEtcdCA checks what a cluster whose etcd trusts the cluster CA goes
// through: up refuses with the command, the command migrates it while the API
// answers, the data stays, and afterwards a kubelet certificate no longer
// opens etcd.
func migrateEtcdCA(t *testing.T, name, pkiDir, lb string, kubectl func(args ...string) (string, error)) {
	t.Helper()
	out, err := hwRun("up", "--name", name)
	if err == nil || !strings.Contains(out, "hardway certs renew --ca etcd-ca --name "+name) {
		t.Fatalf("up on an old cluster did not refuse with the migration command: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(pkiDir, "etcd-ca.pem")); err == nil {
		t.Fatal("the refused up still made an etcd CA")
	}

	p := pollAPI(t, pkiDir, "https://"+lb+":6443/api/v1/namespaces/default/configmaps/before-migration", 200*time.Millisecond)
	start := time.Now()
	out, err = hwRun("certs", "renew", "--ca", "etcd-ca", "--name", name)
	total, failures, longest := p.stop()
	t.Logf("TIMING etcd CA migration: %s; %d API requests, %d failed, longest outage %s\n%s", time.Since(start).Round(time.Second), total, len(failures), longest, out)
	if err != nil {
		t.Fatalf("migration: %v\n%s", err, out)
	}
	if len(failures) > 0 {
		t.Errorf("the API failed %d of %d requests during the migration:\n%s", len(failures), total, strings.Join(failures, "\n"))
	}
	if got, err := kubectl("get", "configmap", "before-migration", "-o", "jsonpath={.data.k}"); err != nil || got != "v" {
		t.Errorf("data from before the migration: %q %v", got, err)
	}
	// And it refuses it for the right reason: the kubelet's issuer.
	etcdRefusesIssuer(t, name+"-node-0", kubeletCert, kubeletKey)
	// The first up may still bring what is new in this hardway besides the
	// etcd CA (the migration rolls out certificates only); then nothing.
	hw(t, "up", "--name", name)
	if out := hw(t, "up", "--name", name); !strings.Contains(out, "changes: none") {
		t.Errorf("up after the migration is not a no-op:\n%s", out)
	}
}

// The kubelet's client certificate, present on every worker.
const kubeletCert, kubeletKey = "/var/lib/kubelet/kubelet.pem", "/var/lib/kubelet/kubelet-key.pem"

// A cluster with the trust layout of hardway before the etcd CA, made by this
// hardway: the etcd CA is a copy of the cluster CA while the cluster is
// built (so etcd trusts the CA that signs every kubelet), then its files are
// removed, leaving exactly the old state directory.
func TestEtcdCAMigration(t *testing.T) {
	const name = "e2emig"
	cfg := clusterConfig(t, name, "network:\n  nodeSubnet: {subnet}\n")
	cleanup(t, name)
	hw(t, "up", "-c", cfg, "--only", "pki")
	hw(t, "up", "-c", cfg, "--only", "kubeconfigs")
	state := strings.TrimSpace(lastLine(hw(t, "kubeconfig", "--name", name)))
	pkiDir := filepath.Join(filepath.Dir(filepath.Dir(state)), "pki")
	copyFile(t, filepath.Join(pkiDir, "ca.pem"), filepath.Join(pkiDir, "etcd-ca.pem"))
	copyFile(t, filepath.Join(pkiDir, "ca-key.pem"), filepath.Join(pkiDir, "etcd-ca-key.pem"))
	for _, pattern := range []string{"etcd-server-*", "etcd-peer-*", "apiserver-etcd-client*", "etcd-healthcheck-client*"} {
		files, _ := filepath.Glob(filepath.Join(pkiDir, pattern))
		for _, f := range files {
			os.Remove(f)
		}
	}
	hw(t, "up", "-c", cfg)
	if out, err := etcdctlAs(name+"-node-0", kubeletCert, kubeletKey); err != nil {
		t.Fatalf("the old layout was not reproduced: a kubelet certificate does not open etcd: %v\n%s", err, out)
	}
	os.Remove(filepath.Join(pkiDir, "etcd-ca.pem"))
	os.Remove(filepath.Join(pkiDir, "etcd-ca-key.pem"))
	kubectl := func(args ...string) (string, error) { return kubectlIn(t, name, args...) }
	if out, err := kubectl("create", "configmap", "before-migration", "--from-literal=k=v"); err != nil {
		t.Fatalf("create configmap: %v %s", err, out)
	}
	migrateEtcdCA(t, name, pkiDir, "10.245.0.2", kubectl)
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
