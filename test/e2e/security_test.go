//go:build e2e

package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// apiPoller asks the API (through the load balancer) every interval with the
// admin identity, the way a client would, and remembers every failure.
type apiPoller struct {
	mu       sync.Mutex
	total    int
	failures []string
	longest  time.Duration // longest run of consecutive failures
	cancel   context.CancelFunc
	done     chan struct{}
}

func pollAPI(t *testing.T, pkiDir, url string, interval time.Duration) *apiPoller {
	t.Helper()
	ca, err := os.ReadFile(filepath.Join(pkiDir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	cert, err := tls.LoadX509KeyPair(filepath.Join(pkiDir, "admin.pem"), filepath.Join(pkiDir, "admin-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}},
	}}
	ctx, cancel := context.WithCancel(context.Background())
	p := &apiPoller{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		var failingSince time.Time
		for ctx.Err() == nil {
			start := time.Now()
			err := get(ctx, client, url)
			p.mu.Lock()
			p.total++
			if err != nil && ctx.Err() == nil {
				p.failures = append(p.failures, start.Format("15:04:05.000")+" "+err.Error())
				if failingSince.IsZero() {
					failingSince = start
				}
				if d := time.Since(failingSince); d > p.longest {
					p.longest = d
				}
			} else {
				failingSince = time.Time{}
			}
			p.mu.Unlock()
			select {
			case <-ctx.Done():
			case <-time.After(interval):
			}
		}
	}()
	return p
}

func get(ctx context.Context, c *http.Client, url string) error {
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s", resp.Status)
	}
	return nil
}

func (p *apiPoller) stop() (total int, failures []string, longest time.Duration) {
	p.cancel()
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.total, p.failures, p.longest
}

// serials reads the serial of every certificate in the cluster's PKI.
func serials(t *testing.T, pkiDir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	files, _ := filepath.Glob(filepath.Join(pkiDir, "*.pem"))
	for _, f := range files {
		if strings.HasSuffix(f, "-key.pem") || strings.HasSuffix(f, "-previous.pem") {
			continue
		}
		data, _ := os.ReadFile(f)
		cert, err := parsePEMCert(data)
		if err != nil {
			continue // the service-account public key
		}
		out[strings.TrimSuffix(filepath.Base(f), ".pem")] = cert.SerialNumber.String()
	}
	return out
}

// etcdctlAs reads etcd on a node's container as the client of cert and
// key (paths in the node).
func etcdctlAs(container, cert, key string) (string, error) {
	return docker("exec", container, "etcdctl", "--endpoints=https://127.0.0.1:2379", "--cacert=/etc/etcd/ca.pem",
		"--cert="+cert, "--key="+key, "--command-timeout=5s", "get", "/registry/clusterroles", "--prefix", "--keys-only", "--limit=1")
}

// etcdRefusesIssuer fails the test unless etcd in container refuses the
// client of cert and key because it does not trust the certificate's
// issuer: any other failure (no such container or file, etcd down) is not
// the refusal under test. The client's error says so with TLS 1.2; with
// TLS 1.3 a refused client certificate is only reported after the
// handshake, so the client may see a closed connection ("broken pipe"), and
// etcd's log, read from just before the attempt, must then say why.
func etcdRefusesIssuer(t *testing.T, container, cert, key string) {
	t.Helper()
	last, err := docker("exec", container, "journalctl", "-u", "etcd", "-n", "1", "--show-cursor", "--no-pager", "-o", "cat")
	_, cursor, found := strings.Cut(last, "-- cursor: ")
	if err != nil || !found {
		t.Fatalf("reading etcd's journal cursor in %s: %v\n%s", container, err, last)
	}
	out, err := etcdctlAs(container, cert, key)
	if err == nil {
		t.Errorf("etcd answered the client of %s:\n%s", cert, out)
		return
	}
	if strings.Contains(out, "unknown certificate authority") {
		return
	}
	journal, jerr := docker("exec", container, "journalctl", "-u", "etcd", "--after-cursor", strings.TrimSpace(cursor), "--no-pager", "-o", "cat")
	if jerr == nil && strings.Contains(journal, "certificate signed by unknown authority") {
		return
	}
	t.Errorf("etcdctl with %s failed, but not because etcd refused its issuer: %v\n%s\netcd's log since the attempt (%v):\n%s", cert, err, out, jerr, journal)
}

// securityChecks runs on the 3-node cluster of TestThreeNodeCluster.
func securityChecks(t *testing.T, name, pkiDir string) {
	node0 := name + "-node-0"
	t.Run("etcd opens only to its own CA's clients", func(t *testing.T) {
		if out, err := etcdctlAs(node0, "/etc/etcd/healthcheck-client.pem", "/etc/etcd/healthcheck-client-key.pem"); err != nil || !strings.Contains(out, "/registry/clusterroles/") {
			t.Fatalf("the health-check client cannot read etcd: %v\n%s", err, out)
		}
		etcdRefusesIssuer(t, node0, kubeletCert, kubeletKey)
		// The cluster CA's admin certificate (system:masters).
		for _, f := range []string{"admin.pem", "admin-key.pem"} {
			if out, err := docker("cp", filepath.Join(pkiDir, f), node0+":/root/"+f); err != nil {
				t.Fatalf("docker cp: %v %s", err, out)
			}
		}
		etcdRefusesIssuer(t, node0, "/root/admin.pem", "/root/admin-key.pem")
		docker("exec", node0, "rm", "-f", "/root/admin.pem", "/root/admin-key.pem")
	})
	t.Run("files and processes are hardened", func(t *testing.T) {
		out, err := docker("exec", node0, "stat", "-c", "%n %a %U:%G",
			"/etc/systemd/system/kube-apiserver.service", "/etc/systemd/system/etcd.service", "/etc/systemd/system/kubelet.service",
			"/var/lib/kubelet/kubelet-config.yaml", "/var/lib/etcd", "/etc/etcd/server-key.pem")
		if err != nil {
			t.Fatalf("stat: %v %s", err, out)
		}
		for _, want := range []string{
			"/etc/systemd/system/kube-apiserver.service 600 root:root", "/etc/systemd/system/etcd.service 600 root:root",
			"/etc/systemd/system/kubelet.service 600 root:root", "/var/lib/kubelet/kubelet-config.yaml 600 root:root",
			"/var/lib/etcd 700 etcd:etcd", "/etc/etcd/server-key.pem 600 etcd:etcd",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("want %q in:\n%s", want, out)
			}
		}
		if user, _ := docker("exec", node0, "ps", "-o", "user=", "-C", "etcd"); strings.TrimSpace(user) != "etcd" {
			t.Errorf("etcd runs as %q, want etcd", user)
		}
		ps, _ := docker("exec", node0, "ps", "-o", "args=", "-C", "kube-apiserver")
		for _, flag := range []string{"--profiling=false", "--service-account-extend-token-expiration=false", "--tls-min-version=VersionTLS12"} {
			if !strings.Contains(ps, flag) {
				t.Errorf("kube-apiserver runs without %s", flag)
			}
		}
	})
	t.Run("certs renew --all keeps the API up through the load balancer", func(t *testing.T) {
		before := serials(t, pkiDir)
		p := pollAPI(t, pkiDir, "https://10.243.0.2:6443/api/v1/namespaces/default", 200*time.Millisecond)
		start := time.Now()
		out, err := hwRun("certs", "renew", "--all", "--name", name)
		total, failures, longest := p.stop()
		t.Logf("TIMING certs renew --all: %s; %d API requests, %d failed, longest outage %s", time.Since(start).Round(time.Second), total, len(failures), longest)
		if err != nil {
			t.Fatalf("certs renew: %v\n%s", err, out)
		}
		if len(failures) > 0 {
			t.Errorf("the API failed %d of %d requests during the renewal (longest run %s):\n%s", len(failures), total, longest, strings.Join(failures, "\n"))
		}
		after := serials(t, pkiDir)
		for n, s := range before {
			isCA := n == "ca" || strings.HasSuffix(n, "-ca") // gateway-ca too, with the gateway add-on
			if isCA && after[n] != s {
				t.Errorf("%s changed: renew --all must keep the CAs", n)
			}
			if !isCA && after[n] == s {
				t.Errorf("%s kept its serial %s", n, s)
			}
		}
		if err := smokeTestsPassed(out); err != nil {
			t.Errorf("certs renew --all: %v", err)
		}
	})
	t.Run("certs renew refuses bad input in one line", func(t *testing.T) {
		for _, tt := range []struct {
			args []string
			want string
		}{
			{[]string{"certs", "renew", "no-such-cert"}, `no certificate "no-such-cert" in this cluster; the certificates are: admin,`},
			{[]string{"certs", "renew", "etcd-ca"}, "hardway certs renew --ca etcd-ca"},
			{[]string{"certs", "renew", "--ca", "kubelet-node-0"}, `"kubelet-node-0" is not a CA`},
			{[]string{"certs", "check", "--within", "100000h"}, "expire within"},
		} {
			out, err := hwRun(append(tt.args, "--name", name)...)
			if err == nil || !strings.Contains(out, tt.want) || strings.Count(strings.TrimSpace(out), "\n") > 0 {
				t.Errorf("hardway %v: err=%v, want one line with %q:\n%s", tt.args, err, tt.want, out)
			}
		}
		if out, err := hwRun("certs", "check", "--within", "720h", "--name", name); err != nil {
			t.Errorf("certs check --within 720h on fresh certificates: %v %s", err, out)
		}
	})
	t.Run("encryption rotate re-encrypts every Secret", func(t *testing.T) {
		p := pollAPI(t, pkiDir, "https://10.243.0.2:6443/api/v1/namespaces/kube-system/secrets", 200*time.Millisecond)
		out, err := hwRun("encryption", "rotate", "--name", name)
		total, failures, longest := p.stop()
		t.Logf("encryption rotate: %d Secret lists, %d failed (longest %s)", total, len(failures), longest)
		if err != nil {
			t.Fatalf("encryption rotate: %v\n%s", err, out)
		}
		if len(failures) > 0 {
			t.Errorf("reading Secrets failed %d times during the rotation:\n%s", len(failures), strings.Join(failures, "\n"))
		}
		raw, err := docker("exec", node0, "sh", "-c", "etcdctl --endpoints=https://127.0.0.1:2379 --cacert=/etc/etcd/ca.pem --cert=/etc/etcd/healthcheck-client.pem --key=/etc/etcd/healthcheck-client-key.pem get /registry/secrets/ --prefix --keys-only | grep -c .; etcdctl --endpoints=https://127.0.0.1:2379 --cacert=/etc/etcd/ca.pem --cert=/etc/etcd/healthcheck-client.pem --key=/etc/etcd/healthcheck-client-key.pem get /registry/secrets/ --prefix --print-value-only | grep -ac 'k8s:enc:aescbc:v1:key2:'")
		lines := strings.Fields(raw)
		if err != nil || len(lines) != 2 || lines[0] != lines[1] || lines[0] == "0" {
			t.Errorf("want every Secret under key2 (keys, values with the prefix): %v %q", err, raw)
		}
		if cfg, _ := os.ReadFile(filepath.Join(filepath.Dir(pkiDir), "encryption-config.yaml")); strings.Contains(string(cfg), "key1") || !strings.Contains(string(cfg), "key2") {
			t.Errorf("the old key is still in the config:\n%s", cfg)
		}
	})
}

func parsePEMCert(data []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("no certificate")
	}
	return x509.ParseCertificate(block.Bytes)
}
