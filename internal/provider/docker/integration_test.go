//go:build integration

// Real Docker: go test -tags integration ./internal/provider/docker/
// Needs root, a running dockerd and debootstrap (the node image is built when
// missing, ~1-3 minutes). It creates the cluster "hw-it" on an --internal
// network (traffic cannot leave the machine) and removes it at the end.
package docker

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/exec"
	"hardway.dev/hardway/internal/logx"
	"hardway.dev/hardway/internal/nodeimage"
	"hardway.dev/hardway/internal/provider"
)

const itCluster = "hw-it"

type testLog struct{ t *testing.T }

func (l testLog) Logf(level int, format string, args ...any) {
	if level <= 1 {
		l.t.Logf(format, args...)
	}
}

func TestIntegrationNodes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 9*time.Minute)
	defer cancel()
	var log logx.Logger = testLog{t}
	r := exec.OS{}
	if _, err := r.Run(ctx, exec.Cmd{Name: "docker", Args: []string{"info"}}); err != nil {
		t.Fatalf("docker daemon not reachable: %v", err)
	}
	tag, err := nodeimage.Ensure(ctx, nodeimage.Options{Runner: r, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	c, err := config.Parse([]byte("apiVersion: hardway.dev/v1alpha1\nkind: Cluster\nname: " + itCluster + "\nnetwork:\n  nodeSubnet: 10.250.0.0/24\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !c.IsIsolated() {
		t.Fatal("integration clusters must be isolated")
	}
	p := New(Options{Runner: r, Log: log})
	if _, err := p.Delete(ctx, itCluster); err != nil { // leftovers of an interrupted run
		t.Fatal(err)
	}
	var volumes []string
	t.Cleanup(func() {
		ctx := context.Background()
		if _, err := p.Delete(ctx, itCluster); err != nil {
			t.Errorf("delete: %v", err)
		}
		assertGone(t, r, volumes)
	})

	opts := provider.CreateOptions{Image: tag}
	cache := artifactsCache()
	if cache != "" {
		opts.ArtifactsDir = cache
	}
	start := time.Now()
	nodes, err := p.Create(ctx, c, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 4 {
		t.Fatalf("%d nodes, want 3 + lb", len(nodes))
	}
	if err := provider.WaitAll(ctx, nodes, 3*time.Minute); err != nil {
		t.Fatal(err)
	}
	t.Logf("4 machines with systemd up in %s", time.Since(start).Round(time.Millisecond))

	for _, n := range nodes {
		out, err := n.Run(ctx, nil, "hostname")
		if err != nil || strings.TrimSpace(string(out)) != n.Name() {
			t.Errorf("%s: hostname %q, %v", n.Name(), out, err)
		}
		// Every node reaches every other by IP.
		for _, m := range nodes {
			if m != n {
				if _, err := n.Run(ctx, nil, "ping", "-c", "1", "-W", "2", m.IP()); err != nil {
					t.Errorf("%s cannot ping %s: %v", n.Name(), m.Name(), err)
				}
			}
		}
	}

	n0 := nodes[0]
	// Files: atomic write with mode, read back, missing file.
	data := []byte("line 1\n\x00binary\xff\n")
	if err := n0.WriteFile(ctx, "/etc/hardway-it/dir with space/f.conf", data, 0o640); err != nil {
		t.Fatal(err)
	}
	got, err := n0.ReadFile(ctx, "/etc/hardway-it/dir with space/f.conf")
	if err != nil || !bytes.Equal(got, data) {
		t.Errorf("read back %q, %v", got, err)
	}
	if mode, _ := n0.Run(ctx, nil, "stat", "-c", "%a", "/etc/hardway-it/dir with space/f.conf"); strings.TrimSpace(string(mode)) != "640" {
		t.Errorf("mode %q", mode)
	}
	if _, err := n0.ReadFile(ctx, "/nonexistent"); err == nil {
		t.Error("reading a missing file succeeded")
	}

	// Isolation: nothing outside the cluster network is reachable. The
	// network is --internal, so no packet leaves the machine; curl exits 7
	// (no route) or 28 (timeout), never 0.
	_, err = n0.Run(ctx, nil, "curl", "-sS", "-m", "3", "http://1.1.1.1/")
	if re, ok := exec.IsRunError(err); !ok || (re.ExitCode != 7 && re.ExitCode != 28) {
		t.Errorf("a node reached the outside (or curl is missing): %v", err)
	}

	// Idempotent: a second Create keeps the same containers.
	again, err := p.Create(ctx, c, opts)
	if err != nil {
		t.Fatal(err)
	}
	st, err := p.Status(ctx, itCluster)
	if err != nil || len(again) != 4 || len(st) != 4 {
		t.Fatalf("after a second create: %d nodes, status %v, %v", len(again), st, err)
	}
	for _, s := range st {
		if s.State != "running" {
			t.Errorf("%s is %s", s.Name, s.State)
		}
		out, err := r.Run(ctx, exec.Cmd{Name: "docker", Args: []string{"container", "inspect", "--format", "{{json .Mounts}}", s.Container}})
		if err != nil {
			t.Fatal(err)
		}
		var mounts []struct{ Name, Destination string }
		_ = json.Unmarshal(out, &mounts)
		for _, m := range mounts {
			if m.Destination == "/var" {
				volumes = append(volumes, m.Name)
			}
		}
	}
	if len(volumes) != 4 {
		t.Errorf("found %d /var volumes, want 4", len(volumes))
	}

	t.Run("container in a node", func(t *testing.T) {
		if cache == "" || !hasRuntime(cache) {
			t.Fatalf("the artifact cache %q has no containerd and runc: build them first (hardway artifacts build; make integration builds them before this test)", cache)
		}
		// containerd and runc of this host's architecture from the cache (it
		// may also hold arm64 ones: the artifacts test cross-builds runc), a root file system made of the
		// node's own /usr (no image: there is no registry), one process.
		script := `set -e
A=` + provider.ArtifactsMount + `/artifacts
S=source-` + runtime.GOARCH + `
install -m 0755 $A/containerd/*/$S/containerd $A/containerd/*/$S/containerd-shim-runc-v2 $A/containerd/*/$S/ctr $A/runc/*/$S/runc /usr/local/bin/
(containerd >/var/log/it-containerd.log 2>&1 &)
for i in $(seq 1 60); do ctr version >/dev/null 2>&1 && break; sleep 0.5; done
r=/var/lib/it-rootfs; mkdir -p $r/proc $r/dev $r/sys $r/tmp $r/usr
for d in bin lib lib64 sbin; do ln -sfn usr/$d $r/$d; done
mountpoint -q $r/usr || mount --bind -o ro /usr $r/usr
ctr run --rm --rootfs $r it-hello /bin/sh -c 'echo hello from $(cat /proc/sys/kernel/hostname)'`
		out, err := nodes[1].Run(ctx, nil, "bash", "-c", script)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(out), "hello from ") {
			t.Errorf("output %q", out)
		}
	})
}

// assertGone checks that nothing of the cluster is left: no container or
// network with its label, and none of its anonymous volumes.
func assertGone(t *testing.T, r exec.Runner, volumes []string) {
	ctx := context.Background()
	for _, what := range [][]string{
		{"container", "ls", "--all", "--quiet", "--filter", "label=" + LabelCluster + "=" + itCluster},
		{"network", "ls", "--quiet", "--filter", "label=" + LabelCluster + "=" + itCluster},
		{"volume", "ls", "--quiet", "--filter", "label=" + LabelCluster + "=" + itCluster},
	} {
		out, err := r.Run(ctx, exec.Cmd{Name: "docker", Args: what})
		if err != nil || strings.TrimSpace(string(out)) != "" {
			t.Errorf("docker %s: %q left, %v", strings.Join(what[:2], " "), out, err)
		}
	}
	for _, v := range volumes {
		if _, err := r.Run(ctx, exec.Cmd{Name: "docker", Args: []string{"volume", "inspect", v}}); err == nil {
			t.Errorf("volume %s left behind", v)
		}
	}
}

func artifactsCache() string {
	dir := os.Getenv("HARDWAY_CACHE")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		dir = filepath.Join(home, ".cache", "hardway")
	}
	if st, err := os.Stat(dir); err == nil && st.IsDir() {
		return dir
	}
	return ""
}

func hasRuntime(cache string) bool {
	for _, pat := range []string{"artifacts/containerd/*/source-" + runtime.GOARCH + "/containerd", "artifacts/runc/*/source-" + runtime.GOARCH + "/runc"} {
		m, _ := filepath.Glob(filepath.Join(cache, pat))
		if len(m) == 0 {
			return false
		}
	}
	return true
}
