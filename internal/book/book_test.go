package book

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/render"
)

func TestExplainMarkdown(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{
			name: "paragraphs are joined and escaped, code spans kept",
			in:   "The kubelet (system:node:<node>) uses\n`hardway verify` and *stars*.\n\nSecond one.\n",
			want: "The kubelet (system:node:\\<node\\>) uses `hardway verify` and \\*stars\\*.\n\nSecond one.\n\n",
		},
		{
			name: "an underlined title becomes a heading",
			in:   "\nMembers\n───────\n  MEMBER  URL\n  node-0  https://10.240.0.10:2380\n",
			want: "## Members\n\n```\nMEMBER  URL\nnode-0  https://10.240.0.10:2380\n```\n\n",
		},
		{
			name: "a blank line inside an indented block keeps the block together",
			in:   "  a\n\n  b\nafter\n",
			want: "```\na\n\nb\n```\n\nafter\n\n",
		},
		{
			name: "a quoted file gets its own block and language, its key is redacted",
			in:   "  /etc/kubernetes/encryption-config.yaml (mode 600):\n    │ kind: EncryptionConfiguration\n    │         secret: c2VjcmV0LWtleS1ub3QtZm9yLXlvdXI=\n  /etc/etcd/ca.pem (mode 644, 562 bytes)\n",
			want: "`/etc/kubernetes/encryption-config.yaml` (mode 600):\n\n```yaml\nkind: EncryptionConfiguration\n        secret: <redacted: the key stays in the state directory>\n```\n\n```\n/etc/etcd/ca.pem (mode 644, 562 bytes)\n```\n\n",
		},
		{
			name: "a paragraph starting like a list item stays a paragraph",
			in:   "- not a list\n",
			want: "\\- not a list\n\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := explainMarkdown(tt.in, "##"); got != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func TestRedact(t *testing.T) {
	key := "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEI...\n-----END EC PRIVATE KEY-----"
	tests := []struct{ in, want string }{
		{"      secret: q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq8w=", "      secret: <redacted: the key stays in the state directory>"},
		{"cert\n" + key + "\nafter", "cert\n<redacted private key>\nafter"},
		{"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"},
	}
	for _, tt := range tests {
		if got := redact(tt.in); got != tt.want {
			t.Errorf("redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestHTMLLink(t *testing.T) {
	tests := []struct{ in, want string }{
		{"architecture.md", "architecture.html"},
		{"index.md#talking-to-the-cluster", "index.html#talking-to-the-cluster"},
		{"img/pki.svg", "img/pki.svg"},
		{"https://example.com/x.md", "https://example.com/x.md"},
		{"#contents", "#contents"},
	}
	for _, tt := range tests {
		if got := htmlLink(tt.in); got != tt.want {
			t.Errorf("htmlLink(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestFileRole(t *testing.T) {
	tests := []struct{ path, step, readBy string }{
		{"/etc/etcd/server.pem", "pki", "etcd"},
		{"/etc/kubernetes/pki/ca-key.pem", "pki", "kube-controller-manager (signs CSRs)"},
		{"/etc/kubernetes/kube-scheduler.kubeconfig", "kubeconfigs", "kube-scheduler"},
		{"/var/lib/kubelet/kubeconfig", "kubeconfigs", "kubelet"},
		{"/etc/kubernetes/encryption-config.yaml", "encryption", "kube-apiserver"},
		{"/etc/kubernetes/audit-policy.yaml", "control-plane", "kube-apiserver"},
		{"/etc/systemd/system/etcd.service", "etcd", "systemd: the etcd unit"},
		{"/etc/systemd/system/kubelet.service", "workers", "systemd: the kubelet unit"},
		{"/etc/systemd/system/hardway-pod-network.service", "network", "systemd: the hardway-pod-network unit"},
		{"/etc/cni/net.d/10-bridge.conflist", "workers", "containerd (and the CNI plugins it runs)"},
		{"/etc/sysctl.d/99-kubernetes.conf", "workers", "kernel (systemd-sysctl, before containerd starts)"},
		{"/srv/unknown", "", "?"},
	}
	for _, tt := range tests {
		step, by := FileRole(tt.path)
		if step != tt.step || by != tt.readBy {
			t.Errorf("FileRole(%s) = %q, %q; want %q, %q", tt.path, step, by, tt.step, tt.readBy)
		}
	}
}

// testInput is a small book input: the default config, two steps with
// texts of their own and a few node files.
func testInput(live bool) Input {
	c := config.Default()
	files := map[string][]render.File{}
	for _, n := range c.Nodes {
		files[n.Name] = []render.File{
			{Path: "/etc/etcd/server-key.pem", Mode: 0o600, Data: []byte("-----BEGIN EC PRIVATE KEY-----\nsecret\n-----END EC PRIVATE KEY-----\n")},
			{Path: "/etc/cni/net.d/10-bridge.conflist", Mode: 0o644, Data: []byte(`{"name": "bridge"}`)},
			{Path: "/etc/systemd/system/hardway-pod-network.service", Mode: 0o644, Data: []byte("[Unit]\n")},
		}
	}
	return Input{
		Cluster: c, Live: live, StateDir: "/state/hardway",
		Steps: []StepText{
			{Name: "pki", Title: "Certificates", Explain: "Certificates are identities.\n"},
			{Name: "network", Title: "Routes", Explain: "Routes\n──────\n  10.200.1.0/24 via 10.200.1.0\n"},
		},
		Files: files,
	}
}

func TestBuild(t *testing.T) {
	for _, live := range []bool{false, true} {
		site, err := Build(testInput(live))
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, ch := range site.Chapters {
			ids = append(ids, ch.ID)
			if len(ch.Try) == 0 {
				t.Errorf("chapter %s has no try-it commands", ch.ID)
			}
		}
		want := []string{"index", "prerequisites", "architecture", "control-loops", "pod-0-kubectl", "pod-1-control-plane", "pod-2-auth-network", "pod-3-node",
			"step-pki", "step-network", "networking", "traffic", "operating", "gitops", "managed", "files"}
		if !slices.Equal(ids, want) {
			t.Fatalf("chapters %v, want %v", ids, want)
		}
		files := map[string]string{}
		for _, f := range site.Files {
			files[f.Path] = string(f.Data)
		}
		banner := map[bool]string{false: "Not a built cluster.", true: "Your cluster."}[live]
		for _, id := range ids {
			for _, ext := range []string{".md", ".html"} {
				page, ok := files[id+ext]
				if !ok {
					t.Errorf("no %s%s", id, ext)
					continue
				}
				if !strings.Contains(page, banner) {
					t.Errorf("%s%s does not say %q", id, ext, banner)
				}
				if strings.Contains(page, "PRIVATE KEY") {
					t.Errorf("%s%s shows a private key", id, ext)
				}
			}
			if strings.Contains(files[id+".html"], `.md"`) {
				t.Errorf("%s.html links to a Markdown page", id)
			}
		}
		if !strings.Contains(files["step-pki.html"], "<h2 id=\"check-it\">Check it</h2>") {
			t.Errorf("the pki chapter has no check")
		}
		if !strings.Contains(files["step-network.md"], "## Routes\n") {
			t.Errorf("the network chapter lost its explain section")
		}
		if !strings.Contains(files["networking.md"], `{"name": "bridge"}`) {
			t.Errorf("the networking chapter does not quote the real bridge config")
		}
		for _, pic := range []string{"architecture", "pki", "network", "launch", "launch-overview"} {
			if !strings.HasPrefix(files["img/"+pic+".svg"], "<?xml") {
				t.Errorf("img/%s.svg missing or not SVG", pic)
			}
		}
	}
}

func TestOrigin(t *testing.T) {
	in := testInput(false)
	tests := []struct {
		live       bool
		configFile string
		want       []string
	}{
		{false, "", []string{"**Not a built cluster.**", "default config", "`hardway up --name hardway`"}},
		{false, "one.yaml", []string{"**Not a built cluster.**", "`one.yaml`", "`hardway up -c one.yaml`"}},
		{true, "", []string{"**Your cluster.**", "as built on this host", "`/state/hardway`"}},
	}
	for _, tt := range tests {
		in.Live, in.ConfigFile = tt.live, tt.configFile
		got := origin(in)
		for _, w := range tt.want {
			if !strings.Contains(got, w) {
				t.Errorf("origin(live=%v, file=%q) = %q, lacks %q", tt.live, tt.configFile, got, w)
			}
		}
	}
}

func TestHandler(t *testing.T) {
	site, err := Build(testInput(false))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(site.Handler())
	defer srv.Close()
	tests := []struct {
		method, path string
		status       int
		contentType  string
		body         string
	}{
		{"GET", "/", 200, "text/html; charset=utf-8", "<h1>Welcome"},
		{"GET", "/architecture.html", 200, "text/html; charset=utf-8", "architecture.svg"},
		{"GET", "/img/network.svg", 200, "image/svg+xml", "<svg"},
		{"GET", "/index.md", 200, "text/markdown; charset=utf-8", "# Welcome"},
		{"GET", "/favicon.ico", 200, "image/svg+xml", "<svg"},
		{"GET", "/../../etc/passwd", 404, "", ""},
		{"GET", "/nope.html", 404, "", ""},
		{"POST", "/index.html", 405, "", ""},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, srv.URL+tt.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.status {
			t.Errorf("%s %s: %d, want %d", tt.method, tt.path, resp.StatusCode, tt.status)
		}
		if tt.contentType != "" && resp.Header.Get("Content-Type") != tt.contentType {
			t.Errorf("%s %s: Content-Type %q, want %q", tt.method, tt.path, resp.Header.Get("Content-Type"), tt.contentType)
		}
		if !strings.Contains(string(body), tt.body) {
			t.Errorf("%s %s: body lacks %q", tt.method, tt.path, tt.body)
		}
	}
}

// TestOffline: no page or picture loads anything from another host (links
// to upstream documentation are followed only when the reader clicks).
func TestOffline(t *testing.T) {
	site, err := Build(testInput(false))
	if err != nil {
		t.Fatal(err)
	}
	remote := regexp.MustCompile(`(?i)<(link|script|img|image|iframe|source|video|audio|embed|object|use)\b[^>]*\b(src|href|data)="(https?:)?//|url\(\s*['"]?(https?:)?//`)
	for _, f := range site.Files {
		if strings.HasSuffix(f.Path, ".md") {
			continue
		}
		if m := remote.Find(f.Data); m != nil {
			t.Errorf("%s loads %s from elsewhere", f.Path, m)
		}
	}
}

// TestFileReadersAreTheUnits: for the certificates and keys of the control
// plane, the appendix's "read by" names exactly the units that are given
// the file (render.Footprint: every unit with its paths), so it never
// names a program that does not read a key.
func TestFileReadersAreTheUnits(t *testing.T) {
	c := config.Default()
	programs := []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy", "etcd"}
	declared := map[string][]string{}
	for _, n := range c.Nodes {
		units, err := render.Footprint(c, n)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range units {
			for _, f := range u.Files {
				if strings.HasPrefix(f.Path, render.PKIDir+"/") && !slices.Contains(declared[f.Path], u.Name) {
					declared[f.Path] = append(declared[f.Path], u.Name)
				}
			}
		}
	}
	if len(declared) < 10 {
		t.Fatalf("only %d files under %s: %v", len(declared), render.PKIDir, declared)
	}
	for p, units := range declared {
		_, by := FileRole(p)
		var named []string
		for _, prog := range programs {
			if regexp.MustCompile(`(^|[^-\w])` + regexp.QuoteMeta(prog) + `($|[^-\w])`).MatchString(by) {
				named = append(named, prog)
			}
		}
		slices.Sort(named)
		slices.Sort(units)
		if !slices.Equal(named, units) {
			t.Errorf("%s: the book says read by %q, the units given it are %v", p, by, units)
		}
	}
}
