package artifacts

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// releaseHost is a local HTTPS release host: it serves files by path and
// counts the requests for each, so tests can assert what was fetched.
type releaseHost struct {
	srv   *httptest.Server
	mu    sync.Mutex
	files map[string][]byte
	hits  map[string]int
}

func newReleaseHost(t *testing.T, files map[string][]byte) *releaseHost {
	t.Helper()
	h := &releaseHost{files: files, hits: map[string]int{}}
	h.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.hits[r.URL.Path]++
		body, ok := h.files[r.URL.Path]
		h.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(body)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *releaseHost) hitsFor(path string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.hits[path]
}

// builderFor is a test builder whose HTTP client trusts the host's
// certificate (and nothing else).
func builderFor(t *testing.T, h *releaseHost) *Builder {
	b := newTestBuilder(t, &fakeRunner{versions: map[string]string{"tool": "tool v1.2.3"}})
	b.HTTP = h.srv.Client()
	return b
}

// recordLog keeps log lines for assertions.
type recordLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *recordLog) Logf(_ int, format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

func (l *recordLog) has(line string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, x := range l.lines {
		if x == line {
			return true
		}
	}
	return false
}

func TestReleaseChecksums(t *testing.T) {
	arch := runtime.GOARCH
	file := "tool-" + arch + ".tgz"
	archive := tgz(t, map[string]string{"tool-" + arch + "/tool": "release tool"})
	good := sum(archive)
	other := sum([]byte("something else"))
	h := newReleaseHost(t, map[string][]byte{
		"/" + file:          archive,
		"/tampered-" + file: archive[:len(archive)-1],
		"/bare/good":        []byte(good + "\n"),
		"/bare/other":       []byte(other + "\n"),
		"/bare/html":        []byte("<html><body>Not Found</body></html>\n"),
		"/line/good":        []byte(good + "  " + file + "\n"),
		"/line/other":       []byte(other + "  " + file + "\n"),
		"/line/bare":        []byte(good + "\n"),
		// etcd's SHA256SUMS and runc's runc.sha256sum: one line per file of
		// the release, ours in the middle, uppercase and in binary mode.
		"/SHA256SUMS": []byte(other + "  tool-other.tgz\n" +
			strings.ToUpper(good) + " *" + file + "\n" +
			other + "  " + file + ".sig\n"),
		"/SHA256SUMS-without": []byte(other + "  tool-other.tgz\n"),
		"/huge":               []byte(strings.Repeat(good+"  "+file+"\n", 1000)),
	})
	base := h.srv.URL
	archiveURL := base + "/" + file

	tests := []struct {
		name     string
		path     string // of the archive, with {arch}
		pin      string
		sum      PublishedSum
		wantErr  string
		wantBy   Vouch
		sumsHits int // requests the checksum file must have had
		getHits  int // requests the archive must have had
	}{
		{name: "pinned: the published sum is not fetched", path: "/tool-{arch}.tgz", pin: good,
			sum:    PublishedSum{URL: base + "/bare/other", Format: SumBare},
			wantBy: Vouch{Pinned: true}, sumsHits: 0, getHits: 1},
		{name: "pin disagrees with the published sum: the pin decides", path: "/tool-{arch}.tgz", pin: other,
			sum: PublishedSum{URL: base + "/bare/good", Format: SumBare},
			wantErr: "checksum mismatch for " + file + " (" + archiveURL + "): expected sha256 " + other +
				" (pinned in hardway's manifest), got " + good + "; nothing was cached; if the project's published checksum says " + good +
				", hardway's pin is wrong (the pin decides; report it); otherwise a proxy or mirror altered the download: retry, or use --source source",
			sumsHits: 0, getHits: 1},
		{name: "published bare digest", path: "/tool-{arch}.tgz",
			sum:    PublishedSum{URL: base + "/bare/good", Format: SumBare},
			wantBy: Vouch{URL: base + "/bare/good"}, sumsHits: 1, getHits: 1},
		{name: "published sha256sum line", path: "/tool-{arch}.tgz",
			sum:    PublishedSum{URL: base + "/line/good", Format: SumLines},
			wantBy: Vouch{URL: base + "/line/good"}, sumsHits: 1, getHits: 1},
		{name: "multi-entry SHA256SUMS picks the right line", path: "/tool-{arch}.tgz",
			sum:    PublishedSum{URL: base + "/SHA256SUMS", Format: SumLines},
			wantBy: Vouch{URL: base + "/SHA256SUMS"}, sumsHits: 1, getHits: 1},
		{name: "published checksum missing (404)", path: "/tool-{arch}.tgz",
			sum:      PublishedSum{URL: base + "/missing.sha256", Format: SumBare},
			wantErr:  "no published checksum for " + file + " (tool v1.2.3) at " + base + "/missing.sha256; use --source source",
			sumsHits: 1, getHits: 0},
		{name: "published checksum wrong", path: "/tool-{arch}.tgz",
			sum: PublishedSum{URL: base + "/line/other", Format: SumLines},
			wantErr: "checksum mismatch for " + file + " (" + archiveURL + "): expected sha256 " + other +
				" (published checksum at " + base + "/line/other), got " + good +
				"; nothing was cached; a proxy or mirror may have altered it: retry, or use --source source",
			sumsHits: 1, getHits: 1},
		{name: "download altered on the way", path: "/tampered-tool-{arch}.tgz",
			sum:      PublishedSum{URL: base + "/bare/good", Format: SumBare},
			wantErr:  "checksum mismatch for tampered-" + file + " (" + base + "/tampered-" + file + "): expected sha256 " + good + " (published checksum at " + base + "/bare/good), got ",
			sumsHits: 1, getHits: 1},
		{name: "malformed: an HTML page where a digest belongs", path: "/tool-{arch}.tgz",
			sum:      PublishedSum{URL: base + "/bare/html", Format: SumBare},
			wantErr:  "published checksum file " + base + "/bare/html: want one 64-digit hex SHA-256 and nothing else, got \"<html><body>Not Found</body></html>\"; use --source source",
			sumsHits: 1, getHits: 0},
		{name: "malformed: a bare digest where sha256sum lines belong", path: "/tool-{arch}.tgz",
			sum:      PublishedSum{URL: base + "/line/bare", Format: SumLines},
			wantErr:  "published checksum file " + base + "/line/bare: line 1 is not \"<sha256>  <file>\": \"" + good + "\"; use --source source",
			sumsHits: 1, getHits: 0},
		{name: "sums file without our file", path: "/tool-{arch}.tgz",
			sum:      PublishedSum{URL: base + "/SHA256SUMS-without", Format: SumLines},
			wantErr:  "published checksum file " + base + "/SHA256SUMS-without: lists no " + file + "; use --source source",
			sumsHits: 1, getHits: 0},
		{name: "checksum file too large to be one", path: "/tool-{arch}.tgz",
			sum:      PublishedSum{URL: base + "/huge", Format: SumLines},
			wantErr:  "published checksum file " + base + "/huge is larger than 64 KiB, so it is not one; use --source source",
			sumsHits: 1, getHits: 0},
		{name: "release file missing (404)", path: "/gone-{arch}.tgz", pin: good,
			wantErr: "downloading " + base + "/gone-" + arch + ".tgz: HTTP 404 Not Found; use --source source",
			getHits: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.mu.Lock()
			h.hits = map[string]int{}
			h.mu.Unlock()
			b := builderFor(t, h)
			got := progressRecorder(b)
			var pins map[string]string
			if tt.pin != "" {
				pins = map[string]string{arch: tt.pin}
			}
			c := testComponent(base+tt.path, pins)
			c.Release[0].Sum = tt.sum
			_, err := b.Build(context.Background(), &Manifest{Components: []Component{c}}, Option{Source: SourceRelease})
			if tt.sum.URL != "" {
				if n := h.hitsFor(strings.TrimPrefix(tt.sum.URL, base)); n != tt.sumsHits {
					t.Errorf("checksum file fetched %d times, want %d", n, tt.sumsHits)
				}
			}
			if n := h.hitsFor(strings.ReplaceAll(tt.path, "{arch}", arch)); n != tt.getHits {
				t.Errorf("archive fetched %d times, want %d (a missing checksum must fail before the download)", n, tt.getHits)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("err =\n  %v\nwant\n  %s", err, tt.wantErr)
				}
				if strings.HasPrefix(tt.wantErr, "checksum mismatch") == IsUnavailable(err) {
					t.Errorf("IsUnavailable(%v) = %v: a mismatch must never count as unavailable, everything else must", err, IsUnavailable(err))
				}
				if _, ok := b.Store.Find("tool", "v1.2.3"); ok {
					t.Error("a failed download left a cache entry")
				}
				assertNoStaging(t, b.Store)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(*got) != 1 || (*got)[0].Status != "downloaded" || (*got)[0].Source != SourceRelease {
				t.Fatalf("progress %+v", *got)
			}
			// What vouched is kept in the entry's marker, not only in memory.
			e, ok := b.Store.Get("tool", "v1.2.3", SourceRelease)
			if !ok {
				t.Fatal("no release entry")
			}
			want := []Verified{{URL: archiveURL, SHA256: good, By: tt.wantBy, Files: []string{"tool"}}}
			if !reflect.DeepEqual(e.Verified, want) {
				t.Errorf("entry records %+v, want %+v", e.Verified, want)
			}
			if v, ok := e.VouchFor("tool"); !ok || v != tt.wantBy {
				t.Errorf("VouchFor(tool) = %v, %v", v, ok)
			}
			if b, _ := os.ReadFile(filepath.Join(e.Dir, "tool")); string(b) != "release tool" {
				t.Errorf("extracted %q", b)
			}
			assertNoStaging(t, b.Store)
		})
	}
}

func TestParseSumFile(t *testing.T) {
	a := strings.Repeat("a", 64)
	c := strings.Repeat("c", 64)
	tests := []struct {
		name    string
		body    string
		format  SumFormat
		want    string
		wantErr string
	}{
		{"bare", a + "\n", SumBare, a, ""},
		{"bare uppercase, no newline", strings.ToUpper(a), SumBare, a, ""},
		{"bare with a file name", a + "  kubelet\n", SumBare, "", `want one 64-digit hex SHA-256 and nothing else, got "` + a + `  kubelet"`},
		{"bare too short", a[:63], SumBare, "", `want one 64-digit hex SHA-256 and nothing else, got "` + a[:63] + `"`},
		{"bare not hex", strings.Repeat("g", 64), SumBare, "", `want one 64-digit hex SHA-256 and nothing else, got "` + strings.Repeat("g", 64) + `"`},
		{"bare empty", "", SumBare, "", `want one 64-digit hex SHA-256 and nothing else, got ""`},
		{"one line", a + "  f.tgz\n", SumLines, a, ""},
		{"binary mode", a + " *f.tgz\n", SumLines, a, ""},
		{"leading ./", a + "  ./f.tgz\n", SumLines, a, ""},
		{"CRLF and blank lines", "\r\n" + c + "  g.tgz\r\n" + a + "  f.tgz\r\n\r\n", SumLines, a, ""},
		{"many lines, ours last", c + "  f.tgz.asc\n" + c + "  f\n" + a + "  f.tgz\n", SumLines, a, ""},
		{"same line twice", a + "  f.tgz\n" + a + "  f.tgz\n", SumLines, a, ""},
		{"two different sums", a + "  f.tgz\n" + c + "  f.tgz\n", SumLines, "", "lists f.tgz twice with different sums"},
		{"one line for another file", c + "  g.tgz\n", SumLines, "", "lists no f.tgz"},
		{"empty list", "\n", SumLines, "", "lists no f.tgz"},
		{"a line with three fields", a + "  f.tgz extra\n", SumLines, "", `line 1 is not "<sha256>  <file>": "` + a + `  f.tgz extra"`},
		{"a bad digest on another line", a + "  f.tgz\nzz  g.tgz\n", SumLines, "", `line 2 is not "<sha256>  <file>": "zz  g.tgz"`},
		{"unknown format", a, SumFormat("md5"), "", `unknown checksum format "md5" (a bug in hardway's manifest)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseSumFile([]byte(tt.body), tt.format, "f.tgz")
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want %s", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("= %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestAutoChoosesSource(t *testing.T) {
	arch := runtime.GOARCH
	archive := tgz(t, map[string]string{"tool-" + arch + "/tool": "release tool"})
	h := newReleaseHost(t, map[string][]byte{
		"/t.tgz":        archive,
		"/t.tgz.sha256": []byte(sum(archive) + "\n"),
		"/bad.sha256":   []byte(sum([]byte("not it")) + "\n"),
	})
	// A host that accepts connections but never answers: the probe must give
	// up after ProbeTimeout rather than hang.
	hang := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer hang.Close()
	closed := "https://" + strings.TrimPrefix(closedURL(t), "http://")

	tests := []struct {
		name    string
		url     string
		sumURL  string
		want    Source
		wantLog string // a line the log must hold, verbatim
		wantErr string
	}{
		{"release host answers, published sum", h.srv.URL + "/t.tgz", h.srv.URL + "/t.tgz.sha256", SourceRelease,
			"release host " + h.srv.URL + " answers: downloading releases from it", ""},
		{"release host answers, no published sum: build instead", h.srv.URL + "/t.tgz", h.srv.URL + "/none.sha256", SourceBuild,
			"tool v1.2.3: release download not usable (no published checksum for t.tgz (tool v1.2.3) at " + h.srv.URL + "/none.sha256; use --source source): building from source instead", ""},
		{"release host silent", hang.URL + "/t.tgz", hang.URL + "/t.tgz.sha256", SourceBuild,
			"release host " + hang.URL + " did not answer within 500ms (no answer): building from source instead", ""},
		{"release host refuses connections", closed + "/t.tgz", closed + "/t.tgz.sha256", SourceBuild,
			"release host " + closed + " did not answer within 500ms (dial tcp " + strings.TrimPrefix(closed, "https://") + ": connect: connection refused): building from source instead", ""},
		{"no checksum of any kind", h.srv.URL + "/t.tgz", "", SourceBuild,
			"tool v1.2.3: no pinned or published checksum for t.tgz, building from source", ""},
		{"mismatch is not papered over by a source build", h.srv.URL + "/t.tgz", h.srv.URL + "/bad.sha256", "", "",
			"checksum mismatch for t.tgz (" + h.srv.URL + "/t.tgz): expected sha256 " + sum([]byte("not it"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run := &fakeRunner{versions: map[string]string{"tool": "tool v1.2.3"}}
			b := newTestBuilder(t, run)
			b.HTTP = h.srv.Client()
			log := &recordLog{}
			b.Log = log
			got := progressRecorder(b)
			c := testComponent(tt.url, nil)
			c.Release[0].Sum = PublishedSum{URL: tt.sumURL, Format: SumBare}
			start := time.Now()
			_, err := b.Build(context.Background(), &Manifest{Components: []Component{c}}, Option{Source: SourceAuto})
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("auto took %s", d)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %s…", err, tt.wantErr)
				}
				if run.goCalls() != 0 {
					t.Error("a checksum mismatch fell back to a source build")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (*got)[0].Source != tt.want {
				t.Errorf("auto chose %s, want %s", (*got)[0].Source, tt.want)
			}
			if !log.has(tt.wantLog) {
				t.Errorf("log lacks %q; has:\n%s", tt.wantLog, strings.Join(log.lines, "\n"))
			}
		})
	}
}

// TestReleaseURLs pins every release file and checksum file of both
// manifests, as each project names them (see the list above
// kubernetesComponent).
func TestReleaseURLs(t *testing.T) {
	// members: "path in archive=file in entry", sorted, with amd64; for a
	// single-file download "=" + the file name. Archive layouts are the
	// projects' (etcd: etcd-vX-linux-ARCH/ from scripts/build-binary.sh;
	// containerd: bin/ from the Makefile's pack_release; CNI: ./ from `tar
	// cfz ... .` in bin/; crictl and CoreDNS: the bare binary, tar -C).
	type dl struct {
		url, sum string
		format   SumFormat
		pinned   bool
		members  string
	}
	gh := "https://github.com/"
	kube := func(v string, pinned ...string) []dl {
		var out []dl
		for _, b := range kubeBinaryNames() {
			u := "https://dl.k8s.io/release/" + v + "/bin/linux/amd64/" + b
			isPinned := false
			for _, p := range pinned {
				isPinned = isPinned || p == b
			}
			out = append(out, dl{u, u + ".sha256", SumBare, isPinned, "=" + b})
		}
		return out
	}
	tests := []struct {
		kube string
		want map[string][]dl
	}{
		{"v1.37.2", map[string][]dl{
			CompKubernetes: kube("v1.37.2"),
			CompEtcd: {{gh + "etcd-io/etcd/releases/download/v3.7.0/etcd-v3.7.0-linux-amd64.tar.gz",
				gh + "etcd-io/etcd/releases/download/v3.7.0/SHA256SUMS", SumLines, false,
				"etcd-v3.7.0-linux-amd64/etcd=etcd etcd-v3.7.0-linux-amd64/etcdctl=etcdctl etcd-v3.7.0-linux-amd64/etcdutl=etcdutl"}},
			CompContainerd: {{gh + "containerd/containerd/releases/download/v2.2.0/containerd-static-2.2.0-linux-amd64.tar.gz",
				gh + "containerd/containerd/releases/download/v2.2.0/containerd-static-2.2.0-linux-amd64.tar.gz.sha256sum", SumLines, true,
				"bin/containerd-shim-runc-v2=containerd-shim-runc-v2 bin/containerd=containerd bin/ctr=ctr"}},
			CompRunc: {{gh + "opencontainers/runc/releases/download/v1.5.2/runc.amd64",
				gh + "opencontainers/runc/releases/download/v1.5.2/runc.sha256sum", SumLines, false, "=runc"}},
			CompCNI: {{gh + "containernetworking/plugins/releases/download/v1.9.1/cni-plugins-linux-amd64-v1.9.1.tgz",
				gh + "containernetworking/plugins/releases/download/v1.9.1/cni-plugins-linux-amd64-v1.9.1.tgz.sha256", SumLines, false,
				"./bridge=bridge ./host-local=host-local ./loopback=loopback ./portmap=portmap"}},
			CompCrictl: {{gh + "kubernetes-sigs/cri-tools/releases/download/v1.37.0/crictl-v1.37.0-linux-amd64.tar.gz",
				gh + "kubernetes-sigs/cri-tools/releases/download/v1.37.0/crictl-v1.37.0-linux-amd64.tar.gz.sha256", SumBare, false, "crictl=crictl"}},
			CompCoreDNS: {{gh + "coredns/coredns/releases/download/v1.14.6/coredns_1.14.6_linux_amd64.tgz",
				gh + "coredns/coredns/releases/download/v1.14.6/coredns_1.14.6_linux_amd64.tgz.sha256", SumLines, false, "coredns=coredns"}},
		}},
		{"v1.36.3", map[string][]dl{
			CompKubernetes: kube("v1.36.3", "kubelet", "kubectl"),
			CompEtcd: {{gh + "etcd-io/etcd/releases/download/v3.6.16/etcd-v3.6.16-linux-amd64.tar.gz",
				gh + "etcd-io/etcd/releases/download/v3.6.16/SHA256SUMS", SumLines, false,
				"etcd-v3.6.16-linux-amd64/etcd=etcd etcd-v3.6.16-linux-amd64/etcdctl=etcdctl etcd-v3.6.16-linux-amd64/etcdutl=etcdutl"}},
			CompContainerd: {{gh + "containerd/containerd/releases/download/v2.2.0/containerd-static-2.2.0-linux-amd64.tar.gz",
				gh + "containerd/containerd/releases/download/v2.2.0/containerd-static-2.2.0-linux-amd64.tar.gz.sha256sum", SumLines, true,
				"bin/containerd-shim-runc-v2=containerd-shim-runc-v2 bin/containerd=containerd bin/ctr=ctr"}},
			CompRunc: {{gh + "opencontainers/runc/releases/download/v1.5.2/runc.amd64",
				gh + "opencontainers/runc/releases/download/v1.5.2/runc.sha256sum", SumLines, false, "=runc"}},
			CompCNI: {{gh + "containernetworking/plugins/releases/download/v1.9.1/cni-plugins-linux-amd64-v1.9.1.tgz",
				gh + "containernetworking/plugins/releases/download/v1.9.1/cni-plugins-linux-amd64-v1.9.1.tgz.sha256", SumLines, false,
				"./bridge=bridge ./host-local=host-local ./loopback=loopback ./portmap=portmap"}},
			CompCrictl: {{gh + "kubernetes-sigs/cri-tools/releases/download/v1.36.0/crictl-v1.36.0-linux-amd64.tar.gz",
				gh + "kubernetes-sigs/cri-tools/releases/download/v1.36.0/crictl-v1.36.0-linux-amd64.tar.gz.sha256", SumBare, false, "crictl=crictl"}},
			CompCoreDNS: {{gh + "coredns/coredns/releases/download/v1.14.2/coredns_1.14.2_linux_amd64.tgz",
				gh + "coredns/coredns/releases/download/v1.14.2/coredns_1.14.2_linux_amd64.tgz.sha256", SumLines, false, "coredns=coredns"}},
		}},
	}
	b := &Builder{Store: &Store{Arch: "amd64"}}
	for _, tt := range tests {
		t.Run(tt.kube, func(t *testing.T) {
			m, err := ManifestFor(tt.kube)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string][]dl{}
			for _, c := range m.Components {
				for _, d := range c.Release {
					members := "=" + d.As
					if d.Members != nil {
						var ms []string
						for k, v := range d.Members {
							ms = append(ms, b.expand(k)+"="+v)
						}
						sort.Strings(ms)
						members = strings.Join(ms, " ")
					}
					got[c.Name] = append(got[c.Name], dl{b.expand(d.URL), b.expand(d.Sum.URL), d.Sum.Format, d.SHA256["amd64"] != "", members})
				}
			}
			for name, want := range tt.want {
				if !reflect.DeepEqual(got[name], want) {
					t.Errorf("%s:\n got %+v\nwant %+v", name, got[name], want)
				}
			}
			if len(got) != len(tt.want) {
				t.Errorf("components with a release form: got %d, want %d (images have none)", len(got), len(tt.want))
			}
		})
	}
}

// TestManifestReleasesEndToEnd downloads every real component of the v1.37.2
// manifest, pins set aside, from a local host with the same paths, checksum
// files in the declared formats (lists holding other files too) and archives
// with the declared members: the whole path from manifest to cache entry,
// for each component. (That the declared names and members are upstream's is
// TestReleaseURLs' job.)
func TestManifestReleasesEndToEnd(t *testing.T) {
	m, err := ManifestFor("v1.37.2")
	if err != nil {
		t.Fatal(err)
	}
	arch := runtime.GOARCH
	files := map[string][]byte{}
	h := newReleaseHost(t, files)
	var comps []Component
	versions := map[string]string{}
	for _, c := range m.Components {
		if len(c.Release) == 0 {
			continue
		}
		c.Release = append([]Download{}, c.Release...)
		for i, d := range c.Release {
			d.SHA256 = nil // exercise the published sums, not the pins
			path := strings.ReplaceAll(pathOf(d.URL), "{arch}", arch)
			var body []byte
			if d.Members == nil {
				body = []byte("binary " + d.As)
			} else {
				content := map[string]string{}
				for member, as := range d.Members {
					content[strings.ReplaceAll(member, "{arch}", arch)] = "binary " + as
				}
				body = tgz(t, content)
			}
			files[path] = body
			sumPath := strings.ReplaceAll(pathOf(d.Sum.URL), "{arch}", arch)
			switch d.Sum.Format {
			case SumBare:
				files[sumPath] = []byte(sum(body) + "\n")
			case SumLines:
				// Lists carry other files of the release too.
				files[sumPath] = append(files[sumPath], []byte(sum([]byte("other"))+"  unrelated-file\n"+sum(body)+"  "+path[strings.LastIndex(path, "/")+1:]+"\n")...)
			}
			d.URL = h.srv.URL + pathOf(d.URL)
			d.Sum.URL = h.srv.URL + pathOf(d.Sum.URL)
			c.Release[i] = d
		}
		for _, f := range c.Files {
			versions[f.Name] = f.VersionWant
		}
		comps = append(comps, c)
	}
	run := &fakeRunner{versions: versions}
	b := newTestBuilder(t, run)
	b.HTTP = h.srv.Client()
	entries, err := b.Build(context.Background(), &Manifest{KubernetesVersion: m.KubernetesVersion, Components: comps}, Option{Source: SourceRelease})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 7 {
		t.Fatalf("%d entries, want 7", len(entries))
	}
	for _, e := range entries {
		for _, f := range e.Files {
			v, ok := e.VouchFor(f.Name)
			if !ok || v.Pinned || !strings.HasPrefix(v.URL, h.srv.URL+"/") {
				t.Errorf("%s/%s vouched by %+v, %v", e.Component, f.Name, v, ok)
			}
			if b, _ := os.ReadFile(filepath.Join(e.Dir, f.Name)); string(b) != "binary "+f.Name {
				t.Errorf("%s/%s holds %q", e.Component, f.Name, b)
			}
		}
	}
	if run.goCalls() != 0 {
		t.Error("a release download ran the go tool")
	}
}

// pathOf is the path of an https:// URL (kept as written, {arch} included).
func pathOf(u string) string {
	rest := strings.TrimPrefix(u, "https://")
	return rest[strings.Index(rest, "/"):]
}

// Every pin belongs to a release URL of a supported manifest: a pin of a
// version the manifest moved away from fails here rather than lingering.
func TestPinsAreUsed(t *testing.T) {
	used := map[string]bool{}
	for _, v := range SupportedVersions() {
		m, err := ManifestFor(v)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range m.Components {
			for _, d := range c.Release {
				used[d.URL] = true
			}
		}
	}
	for u, byArch := range pinnedSHA256() {
		if !used[u] {
			t.Errorf("pin for %s: no manifest downloads it", u)
		}
		for arch, s := range byArch {
			if !isSHA256(s) || s != strings.ToLower(s) {
				t.Errorf("pin for %s (%s): %q is not 64 lowercase hex digits", u, arch, s)
			}
			if arch != "amd64" && arch != "arm64" {
				t.Errorf("pin for %s: unknown arch %q", u, arch)
			}
		}
	}
}

func TestIsUnavailable(t *testing.T) {
	if !IsUnavailable(fmt.Errorf("wrapped: %w", unavailable("x"))) {
		t.Error("a wrapped UnavailableError is not recognised")
	}
	if IsUnavailable(&ChecksumError{}) || IsUnavailable(errors.New("x")) {
		t.Error("other errors count as unavailable")
	}
}
