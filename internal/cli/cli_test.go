package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestExplainEveryStepWithoutDocker(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HARDWAY_HOME", home)
	t.Setenv("HARDWAY_CACHE", t.TempDir())
	tests := []struct {
		step string
		want []string
	}{
		{"pki", []string{"system:node:node-0", "system:masters", "kubernetes.default.svc.cluster.local", "10.32.0.1", "used by:"}},
		{"etcd", []string{"--initial-cluster=node-0=https://10.240.0.10:2380", "--client-cert-auth", "--peer-client-cert-auth", "Quorum: 2 of 3"}},
		{"control-plane", []string{"--authorization-mode=Node,RBAC", "--encryption-provider-config", "haproxy at 10.240.0.2"}},
		{"workers", []string{"10.200.1.0/24", "/var/lib/kubelet/kubelet-config.yaml"}},
		{"kubeconfigs", []string{"admin.kubeconfig", "https://10.240.0.2:6443", "https://127.0.0.1:6443"}},
		{"encryption", []string{"aescbc", "identity"}},
		{"network", []string{"10.200.1.0/24", "via", "10.240.0.11"}},
		{"dns", []string{"10.32.0.10", "kube-dns"}},
		{"verify", []string{"port-forward", "encryption"}},
		{"nodes", []string{"node-2", "10.240.0.12", "--internal"}},
		{"check", []string{"Preflight"}},
	}
	for _, tt := range tests {
		t.Run(tt.step, func(t *testing.T) {
			code, out, errOut := runCLI(t, "explain", tt.step)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("explain %s lacks %q", tt.step, w)
				}
			}
		})
	}
	// Explaining must not leave cluster state behind.
	if entries, _ := os.ReadDir(filepath.Join(home, "clusters")); len(entries) != 0 {
		t.Errorf("explain created state: %v", entries)
	}
}

func TestBadConfigOneLinePerProblem(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bad.yaml")
	doc := "apiVersion: hardway.dev/v1alpha1\nkind: Cluster\nkubernetesVersion: latest\nnetwork:\n  podCIDR: 10.240.0.0/16\nnodes:\n- name: a\n  ip: 192.168.9.9\n"
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range [][]string{{"up", "-c", path}, {"render", "-c", path, "--out", filepath.Join(dir, "out")}, {"explain", "-c", path}} {
		code, _, errOut := runCLI(t, cmd...)
		if code == 0 {
			t.Fatalf("%v: exit 0 for a bad config", cmd)
		}
		lines := strings.Split(strings.TrimSpace(errOut), "\n")
		if len(lines) != 3 {
			t.Errorf("%v: want 3 error lines, got %q", cmd, lines)
		}
		for _, l := range lines {
			if !strings.HasPrefix(l, "error: ") {
				t.Errorf("%v: line %q is not a one-line error", cmd, l)
			}
		}
	}
}

func TestUnknownStep(t *testing.T) {
	code, _, errOut := runCLI(t, "up", "--only", "bogus", "--dry-run")
	if code == 0 || !strings.Contains(errOut, `no step "bogus"`) {
		t.Fatalf("exit %d, %q", code, errOut)
	}
}

func TestDryRunTouchesNothing(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HARDWAY_HOME", home)
	code, out, errOut := runCLI(t, "up", "--dry-run", "--from", "etcd")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "etcd") || strings.Contains(out, " pki ") {
		t.Errorf("dry run lists the wrong steps:\n%s", out)
	}
	if entries, _ := os.ReadDir(home); len(entries) != 0 {
		t.Errorf("dry run created state: %v", entries)
	}
}
