//go:build e2e

package e2e

import (
	"fmt"
	"io"
	"net"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestPublishedFromAContainer is a Mac's Docker Desktop on this host: a
// hardway that lives in a container with the engine's socket but no route
// to any node network (its network does no NAT and the container has no
// default route at all) builds a 3-node cluster and runs the whole flow —
// up, verify, trace, a lab, a registry push, the tutorial — reaching the API
// at the published address and everything else through the nodes.
//
// The API is published on the default 127.0.0.1 of the engine's host. On a
// Mac, Docker Desktop carries the Mac's 127.0.0.1:PORT to the VM's; here
// the test plays that part with two forwarders: socat on the container's
// 127.0.0.1:PORT to the client network's gateway, and one in this process
// from the gateway to the host's 127.0.0.1:PORT, where docker publishes.
func TestPublishedFromAContainer(t *testing.T) {
	const (
		name      = "e2epub"
		clientNet = "e2epub-client"
		gateway   = "10.228.0.1"
		client    = "e2epub-client"
		port      = 26443
	)
	clientCIDR := e2eClusters()[clientNet]
	cleanup(t, name)
	dockerBin, err := osexec.LookPath("docker")
	if err != nil {
		t.Fatalf("no docker client on PATH: %v", err)
	}
	cache := cacheDir(t)
	img := strings.TrimSpace(hw(t, "node-image", "tag"))
	docker("rm", "-f", client)
	docker("network", "rm", clientNet)
	if out, err := docker("network", "create", "--driver", "bridge", "--subnet", clientCIDR, "--gateway", gateway,
		"--opt", "com.docker.network.bridge.enable_ip_masquerade=false", clientNet); err != nil {
		t.Fatalf("client network: %v %s", err, out)
	}
	t.Cleanup(func() {
		docker("rm", "-f", client)
		docker("network", "rm", clientNet)
	})
	if out, err := docker("run", "--detach", "--name", client, "--network", clientNet, "--cap-add", "NET_ADMIN",
		"--volume", "/var/run/docker.sock:/var/run/docker.sock",
		"--volume", dockerBin+":/usr/local/bin/docker:ro",
		"--volume", hardway+":/usr/local/bin/hardway:ro",
		"--volume", cache+":"+cache,
		"--env", "HARDWAY_CACHE="+cache,
		"--entrypoint", "sleep", img, "infinity"); err != nil {
		t.Fatalf("client container: %v %s", err, out)
	}
	in := func(args ...string) (string, error) {
		return docker(append([]string{"exec", client}, args...)...)
	}
	mustIn := func(args ...string) string {
		t.Helper()
		out, err := in(args...)
		if err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	// No default route: nothing the container sends can reach a node
	// network, or anything else off its own bridge.
	mustIn("ip", "route", "del", "default")
	if routes := mustIn("ip", "-4", "route"); strings.Contains(routes, "default") || strings.Contains(routes, "10.229.") {
		t.Fatalf("the client container still has a way to the nodes:\n%s", routes)
	}

	cfgFile := clusterConfig(t, name, fmt.Sprintf("network:\n  nodeSubnet: {subnet}\n  apiPublishPort: %d\n", port))
	cfg, err := os.ReadFile(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	cmd := osexec.Command("docker", "exec", "-i", client, "sh", "-c", "cat > /cluster.yaml")
	cmd.Stdin = strings.NewReader(string(cfg))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("writing the config: %v %s", err, out)
	}

	// Docker Desktop's part: the container's 127.0.0.1:PORT reaches the
	// engine host's.
	stopFwd := forward(t, fmt.Sprintf("%s:%d", gateway, port), fmt.Sprintf("127.0.0.1:%d", port))
	defer stopFwd()
	if out, err := docker("exec", "--detach", client, "socat", fmt.Sprintf("TCP-LISTEN:%d,bind=127.0.0.1,fork,reuseaddr", port), fmt.Sprintf("TCP:%s:%d", gateway, port)); err != nil {
		t.Fatalf("socat in the client container: %v %s", err, out)
	}
	// hostAccess is auto: hardway must find out by itself.
	out := mustIn("hardway", "check", "-c", "/cluster.yaml")
	if !strings.Contains(out, "how this host reaches the nodes: published: the engine's bridge gateway") {
		t.Errorf("check does not say the host reaches the nodes through published ports:\n%s", out)
	}
	start := time.Now()
	out, err = in("hardway", "up", "-c", "/cluster.yaml")
	t.Logf("TIMING up (published, from a container): %s", time.Since(start).Round(time.Second))
	if err != nil {
		t.Fatalf("up: %v\n%s", err, out)
	}
	saved := mustIn("cat", "/root/.local/share/hardway/clusters/"+name+"/cluster.yaml")
	if !strings.Contains(saved, "hostAccess: published") {
		t.Errorf("the saved config does not keep hostAccess: published:\n%s", saved)
	}
	kc := mustIn("hardway", "kubeconfig", "--name", name)
	kcPath := lastLine(kc)
	if server := mustIn("grep", "server:", kcPath); !strings.Contains(server, fmt.Sprintf("https://127.0.0.1:%d", port)) {
		t.Errorf("admin kubeconfig server: %s", server)
	}
	// The premise again, now that the nodes exist: no way to them.
	if out, err := in("timeout", "3", "bash", "-c", "</dev/tcp/10.229.0.2/6443"); err == nil {
		t.Fatalf("the client container reaches the load balancer directly: %s", out)
	}
	// kubectl through the published port on 127.0.0.1, from the container.
	kubectl := filepath.Join(kubectlDir(t, cache), "kubectl")
	if out := mustIn(kubectl, "--kubeconfig", kcPath, "get", "nodes", "--no-headers"); strings.Count(out, " Ready ") != 3 {
		t.Errorf("kubectl get nodes through the published port:\n%s", out)
	}
	if out := mustIn("hardway", "verify", "--name", name); !strings.Contains(out, "All checks passed.") {
		t.Errorf("verify:\n%s", out)
	}
	if out := mustIn("hardway", "trace", "--name", name); !strings.Contains(out, "From create to Ready as this host saw it") {
		t.Errorf("trace:\n%s", out)
	}
	// A lab: start (the symptom), check fails, reset restores, verify.
	mustIn("hardway", "lab", "start", "coredns-corefile", "--name", name)
	if out, err := in("hardway", "lab", "check", "--name", name); err == nil {
		t.Errorf("lab check passed on a broken cluster:\n%s", out)
	}
	if out := mustIn("hardway", "lab", "reset", "--name", name); !strings.Contains(out, "every smoke test passes") {
		t.Errorf("lab reset:\n%s", out)
	}
	// The registry: push the test app's archive from the cache.
	archive := testAppArchive(t, cache)
	if out := mustIn("hardway", "registry", "push", archive, "--name", name); !strings.Contains(out, "pushed ") {
		t.Errorf("registry push:\n%s", out)
	}
	if out := mustIn("hardway", "tutorial", "--out", "/tmp/book", "--name", name); !strings.Contains(out, "wrote ") {
		t.Errorf("tutorial:\n%s", out)
	}
	if out := mustIn("hardway", "status", "--name", name); strings.Contains(out, "API unreachable") || strings.Count(out, "Ready") != 3 {
		t.Errorf("status:\n%s", out)
	}
	out = mustIn("hardway", "down", "--name", name)
	if !strings.Contains(out, "network hardway-"+name+"-publish") {
		t.Errorf("down does not remove the publish network:\n%s", out)
	}
	if l := leftovers(name); l != "" {
		t.Errorf("down left: %s", l)
	}
}

// cacheDir is the artifact cache the tests share.
func cacheDir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("HARDWAY_CACHE"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(home, ".cache", "hardway")
}

// kubectlDir is where the cache keeps the default version's kubectl.
func kubectlDir(t *testing.T, cache string) string {
	t.Helper()
	matches, _ := filepath.Glob(filepath.Join(cache, "artifacts", "kubernetes", "*", "*-amd64", "kubectl"))
	if len(matches) == 0 {
		t.Fatalf("no kubectl in %s", cache)
	}
	return filepath.Dir(matches[len(matches)-1])
}

// testAppArchive is the test app image's archive in the cache.
func testAppArchive(t *testing.T, cache string) string {
	t.Helper()
	matches, _ := filepath.Glob(filepath.Join(cache, "artifacts", "*testapp*", "*", "*", "*.tar"))
	if len(matches) == 0 {
		t.Fatalf("no test app image archive in %s", cache)
	}
	return matches[len(matches)-1]
}

// forward accepts on from and carries each connection to to, until the
// returned function is called.
func forward(t *testing.T, from, to string) func() {
	t.Helper()
	ln, err := net.Listen("tcp", from)
	if err != nil {
		t.Fatalf("forwarder on %s: %v", from, err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				up, err := net.DialTimeout("tcp", to, 5*time.Second)
				if err != nil {
					return
				}
				defer up.Close()
				done := make(chan struct{}, 2)
				go func() { io.Copy(up, c); done <- struct{}{} }()
				go func() { io.Copy(c, up); done <- struct{}{} }()
				<-done
			}()
		}
	}()
	return func() { ln.Close() }
}
