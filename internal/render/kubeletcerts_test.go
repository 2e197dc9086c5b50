package render

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// renderedFile is the content of the file at path among node's units.
func renderedFile(t *testing.T, in Inputs, node, path string) string {
	t.Helper()
	f, ok := nodeFiles(t, in, node)[path]
	if !ok {
		t.Fatalf("%s gets no %s", node, path)
	}
	return string(f.Data)
}

// TestKubeletCertsScript runs the kubelet's ExecStartPre on a temporary
// directory: the newer of hardway's pair and the kubelet's rotated one is
// what kubelet-client-current.pem and kubelet-server-current.pem leave the
// kubelet to load, judged by modification time.
func TestKubeletCertsScript(t *testing.T) {
	in := inputs(cluster(t, 1), hostV1)
	script := renderedFile(t, in, "node-0", KubeletCertsScript)
	unit := renderedFile(t, in, "node-0", SystemdDir+"/kubelet.service")
	if want := "\nExecStartPre=/bin/sh " + KubeletCertsScript + " " + KubeletCertDir + " " + KubeletClientPair + " " + KubeletDir + "/kubelet.pem\n"; !strings.Contains(unit, want) {
		t.Fatalf("kubelet.service lacks %q:\n%s", want, unit)
	}
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	at := func(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }
	const own, serving, rotatedClient, rotatedServer = "own", "serving", "pki/kubelet-client-2026-01-01-00-00-00.pem", "pki/kubelet-server-2026-01-01-00-00-00.pem"
	type file struct {
		name string
		at   int // minutes after t0
	}
	tests := []struct {
		name  string
		files []file
		links map[string]string // link in pki/ → file
		// after: each link → what it points at ("" for absent)
		client, server string
		says           []string
	}{
		{"a new node: the client link points at hardway's pair, no serving link",
			[]file{{own, 0}, {serving, 0}}, nil,
			own, "", []string{"kubelet-client-current.pem -> "}},
		{"nothing newer: the links stay as they are",
			[]file{{own, 0}, {serving, 0}, {rotatedServer, 5}}, map[string]string{"kubelet-client-current.pem": own, "kubelet-server-current.pem": rotatedServer},
			own, rotatedServer, nil},
		{"the kubelet rotated after hardway wrote: its own pairs stay",
			[]file{{own, 0}, {serving, 0}, {rotatedClient, 10}, {rotatedServer, 11}},
			map[string]string{"kubelet-client-current.pem": rotatedClient, "kubelet-server-current.pem": rotatedServer},
			rotatedClient, rotatedServer, nil},
		{"hardway wrote after the rotation (certs renew): hardway's pairs win",
			[]file{{rotatedClient, 10}, {rotatedServer, 11}, {own, 20}, {serving, 20}},
			map[string]string{"kubelet-client-current.pem": rotatedClient, "kubelet-server-current.pem": rotatedServer},
			own, "", []string{"kubelet-client-current.pem -> ", "kubelet-server-current.pem removed"}},
		{"only the serving pair rewritten: the rotated client stays",
			[]file{{own, 0}, {rotatedClient, 10}, {rotatedServer, 11}, {serving, 20}},
			map[string]string{"kubelet-client-current.pem": rotatedClient, "kubelet-server-current.pem": rotatedServer},
			rotatedClient, "", []string{"kubelet-server-current.pem removed"}},
		{"links to files that are gone: the client one is made anew, the serving one removed",
			[]file{{own, 0}, {serving, 0}},
			map[string]string{"kubelet-client-current.pem": rotatedClient, "kubelet-server-current.pem": rotatedServer},
			own, "", []string{"kubelet-client-current.pem -> ", "kubelet-server-current.pem removed"}},
		{"no pair from hardway: no link to nothing",
			[]file{{serving, 0}}, nil,
			"", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			p := func(name string) string { return filepath.Join(root, name) }
			if err := os.MkdirAll(p("pki"), 0o755); err != nil {
				t.Fatal(err)
			}
			for _, f := range tt.files {
				if err := os.WriteFile(p(f.name), []byte(f.name), 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Chtimes(p(f.name), at(f.at), at(f.at)); err != nil {
					t.Fatal(err)
				}
			}
			for link, to := range tt.links {
				if err := os.Symlink(p(to), p("pki/"+link)); err != nil {
					t.Fatal(err)
				}
			}
			sh := p("kubelet-certs.sh")
			if err := os.WriteFile(sh, []byte(script), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command("sh", sh, p("pki"), p(own), p(serving)).CombinedOutput()
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			for link, want := range map[string]string{"kubelet-client-current.pem": tt.client, "kubelet-server-current.pem": tt.server} {
				got, err := os.Readlink(p("pki/" + link))
				switch {
				case want == "" && err == nil:
					t.Errorf("%s -> %s, want no link", link, got)
				case want != "" && got != p(want):
					t.Errorf("%s -> %q (%v), want %s", link, got, err, p(want))
				}
			}
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			if len(tt.says) == 0 && strings.TrimSpace(string(out)) != "" {
				t.Errorf("said %q, want nothing", out)
			}
			for i, want := range tt.says {
				if i >= len(lines) || !strings.HasPrefix(lines[i], want) {
					t.Errorf("said %q, want line %d to start %q", out, i+1, want)
				}
			}
		})
	}
}
