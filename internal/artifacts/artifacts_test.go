package artifacts

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	hexec "hardway.dev/hardway/internal/exec"
	"hardway.dev/hardway/internal/images"
)

// fakeRunner pretends to be the go tool and the built binaries.
//   - `env ... GOBIN=DIR go ... install pkg@v...` writes one file per package
//     into DIR (named after the package's last element);
//   - running a binary writes versions[basename] to Stream (and fails with
//     exit 1 when failing[basename]).
type fakeRunner struct {
	mu       sync.Mutex
	calls    []string
	versions map[string]string
	failGo   error
	modJSON  string // answer to `go mod download -json`
}

func (f *fakeRunner) Run(_ context.Context, c hexec.Cmd) ([]byte, error) {
	f.mu.Lock()
	f.calls = append(f.calls, c.String())
	f.mu.Unlock()
	if c.Name == "env" {
		if slices.Contains(c.Args, "download") && f.modJSON != "" {
			return []byte(f.modJSON), nil
		}
		if f.failGo != nil {
			return nil, &hexec.RunError{Cmd: c.String(), ExitCode: 1, Stderr: []byte(f.failGo.Error()), Err: f.failGo}
		}
		gobin := ""
		for _, a := range c.Args {
			if v, ok := strings.CutPrefix(a, "GOBIN="); ok {
				gobin = v
			}
		}
		for _, a := range c.Args {
			if pkg, _, ok := strings.Cut(a, "@"); ok && gobin != "" {
				name := pkg[strings.LastIndex(pkg, "/")+1:]
				if err := os.WriteFile(filepath.Join(gobin, name), []byte("#!fake "+name), 0o755); err != nil {
					return nil, err
				}
			}
		}
		return nil, nil
	}
	bin := c.Name
	if strings.HasPrefix(filepath.Base(bin), "qemu-") && len(c.Args) > 0 {
		bin = c.Args[0] // qemu-user runs the program it is given
	}
	out := f.versions[filepath.Base(bin)]
	if c.Stream != nil {
		fmt.Fprint(c.Stream, out)
	}
	return []byte(out), nil
}

func (f *fakeRunner) goCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if strings.HasPrefix(c, "env ") {
			n++
		}
	}
	return n
}

// testComponent is a tiny component built by `go install` with one binary.
func testComponent(releaseURL string, sha map[string]string) Component {
	return Component{
		Name:    "tool",
		Version: "v1.2.3",
		Files:   []File{{Name: "tool", DestDir: BinDir, VersionArgs: []string{"--version"}, VersionWant: "tool v1.2.3"}},
		Source: &SourceRecipe{
			Kind: KindGoInstall, Module: "example.com/tool", ModuleVersion: "v1.2.3",
			Packages: []string{"example.com/tool/cmd/tool"},
		},
		Release: []Download{{URL: releaseURL, SHA256: sha, Members: map[string]string{"tool-{arch}/tool": "tool"}}},
	}
}

func newTestBuilder(t *testing.T, run hexec.Runner) *Builder {
	t.Helper()
	store := NewStore(t.TempDir())
	return &Builder{Store: store, Run: run, ProbeTimeout: 500 * time.Millisecond, HaveSeccomp: func(string) bool { return true }, HaveTool: func(string) bool { return true }}
}

func progressRecorder(b *Builder) *[]Progress {
	var got []Progress
	b.OnProgress = func(p Progress) { got = append(got, p) }
	return &got
}

func assertNoStaging(t *testing.T, s *Store) {
	t.Helper()
	ents, _ := os.ReadDir(filepath.Join(s.Root, "tmp"))
	if len(ents) != 0 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("staging directories left behind: %v", names)
	}
}

func TestBuildCacheMissThenHit(t *testing.T) {
	run := &fakeRunner{versions: map[string]string{"tool": "tool v1.2.3\n"}}
	b := newTestBuilder(t, run)
	got := progressRecorder(b)
	m := &Manifest{KubernetesVersion: "v1.37.2", Components: []Component{testComponent("https://example.invalid/t.tgz", nil)}}

	for i, want := range []string{"built", "cached"} {
		entries, err := b.Build(context.Background(), m, Option{Source: SourceBuild})
		if err != nil {
			t.Fatalf("build %d: %v", i, err)
		}
		if len(entries) != 1 || (*got)[i].Status != want {
			t.Fatalf("build %d: status %q, want %q", i, (*got)[i].Status, want)
		}
	}
	if n := run.goCalls(); n != 1 {
		t.Errorf("go ran %d times, want 1 (second build must come from the cache)", n)
	}
	e, ok := b.Store.Get("tool", "v1.2.3", SourceBuild)
	if !ok {
		t.Fatal("no cache entry after build")
	}
	wantDir := filepath.Join(b.Store.Root, "artifacts", "tool", "v1.2.3", "source-"+runtime.GOARCH)
	if e.Dir != wantDir {
		t.Errorf("entry dir %s, want %s", e.Dir, wantDir)
	}
	if len(e.Files) != 1 || e.Files[0].Name != "tool" || len(e.Files[0].SHA256) != 64 {
		t.Errorf("entry files %+v", e.Files)
	}
	assertNoStaging(t, b.Store)
}

func TestExplicitSourceIgnoresOtherSourcesEntry(t *testing.T) {
	run := &fakeRunner{versions: map[string]string{"tool": "tool v1.2.3"}}
	b := newTestBuilder(t, run)
	m := &Manifest{Components: []Component{testComponent("https://example.invalid/t.tgz", nil)}}
	if _, err := b.Build(context.Background(), m, Option{Source: SourceBuild}); err != nil {
		t.Fatal(err)
	}
	// A source build must not satisfy --source release: it should try (and
	// here fail for want of a checksum), not silently reuse.
	_, err := b.Build(context.Background(), m, Option{Source: SourceRelease})
	want := "no pinned or published checksum for t.tgz (tool v1.2.3) on " + runtime.GOARCH + "; use --source source"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %s", err, want)
	}
	// auto takes whatever is cached.
	got := progressRecorder(b)
	if _, err := b.Build(context.Background(), m, Option{Source: SourceAuto}); err != nil || (*got)[0].Status != "cached" {
		t.Fatalf("auto: err %v, progress %+v", err, *got)
	}
}

func TestFailedBuildLeavesNoEntry(t *testing.T) {
	tests := []struct {
		name string
		run  *fakeRunner
		want string
	}{
		{"build fails", &fakeRunner{failGo: errors.New("compile error")}, "compile error"},
		{"wrong version stamped", &fakeRunner{versions: map[string]string{"tool": "tool v0.0.0-master"}}, `tool reports "tool v0.0.0-master", want "tool v1.2.3"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newTestBuilder(t, tt.run)
			m := &Manifest{Components: []Component{testComponent("https://example.invalid/t.tgz", nil)}}
			_, err := b.Build(context.Background(), m, Option{Source: SourceBuild})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if _, ok := b.Store.Find("tool", "v1.2.3"); ok {
				t.Error("a failed build left a cache entry")
			}
			assertNoStaging(t, b.Store)
		})
	}
}

func TestInterruptedWriteIsNoEntry(t *testing.T) {
	s := NewStore(t.TempDir())
	// A crash after files were written but before Commit.
	st, err := s.NewStage("etcd", "v3.6.5", SourceBuild)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(st.Dir, "etcd"), []byte("half a binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Find("etcd", "v3.6.5"); ok {
		t.Fatal("uncommitted stage visible as an entry")
	}
	if l, _ := s.List(); len(l) != 0 {
		t.Fatalf("List shows uncommitted entries: %+v", l)
	}
	// An entry directory without its marker (say, copied by hand and cut
	// short) is not complete either.
	dir := s.EntryDir("etcd", "v3.6.5", SourceBuild)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "etcd"), []byte("x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Get("etcd", "v3.6.5", SourceBuild); ok {
		t.Fatal("entry without marker counted as complete")
	}
	// Committing replaces such a leftover and makes the entry complete.
	e, err := st.Commit([]string{"etcd"}, time.Second, "test")
	if err != nil {
		t.Fatal(err)
	}
	if e.Files[0].Size != int64(len("half a binary")) {
		t.Errorf("committed entry has %+v", e.Files)
	}
	// A file truncated after commit makes the entry incomplete again.
	if err := os.WriteFile(filepath.Join(e.Dir, "etcd"), []byte("h"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Get("etcd", "v3.6.5", SourceBuild); ok {
		t.Error("entry with a truncated file counted as complete")
	}
}

func TestCommitMissingFileFails(t *testing.T) {
	s := NewStore(t.TempDir())
	st, err := s.NewStage("runc", "v1.5.2", SourceBuild)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Abort()
	if _, err := st.Commit([]string{"runc"}, 0, ""); err == nil || !strings.Contains(err.Error(), "expected file runc was not produced") {
		t.Fatalf("err = %v", err)
	}
	if _, ok := s.Find("runc", "v1.5.2"); ok {
		t.Error("entry exists")
	}
}

// tgz makes a .tar.gz holding name → content.
func tgz(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for n, c := range files {
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o755, Size: int64(len(c)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(c))
	}
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

func sum(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }

// closedURL is a loopback address nothing listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

func TestDirSource(t *testing.T) {
	tests := []struct {
		name    string
		files   []string
		version string
		wantErr string
	}{
		{"pinned version", []string{"tool"}, "tool v1.2.3\n", ""},
		{"wrong version", []string{"tool"}, "tool v1.1.0\n", `tool reports "tool v1.1.0", want "tool v1.2.3" (pinned tool v1.2.3); put the pinned version in the directory`},
		{"missing binary", nil, "", "has no tool (tool v1.2.3)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, f := range tt.files {
				os.WriteFile(filepath.Join(dir, f), []byte("user's "+f), 0o755)
			}
			b := newTestBuilder(t, &fakeRunner{versions: map[string]string{"tool": tt.version}})
			opt, err := ParseSource("dir:" + dir)
			if err != nil {
				t.Fatal(err)
			}
			_, err = b.Build(context.Background(), &Manifest{Components: []Component{testComponent("https://example.invalid/x", nil)}}, opt)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if _, ok := b.Store.Find("tool", "v1.2.3"); ok {
					t.Error("rejected binary was cached")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := b.Store.Get("tool", "v1.2.3", SourceDir); !ok {
				t.Error("no dir entry")
			}
		})
	}
}

func TestParseSource(t *testing.T) {
	tests := []struct {
		in      string
		want    Source
		wantErr bool
	}{
		{"", SourceAuto, false},
		{"auto", SourceAuto, false},
		{"source", SourceBuild, false},
		{"release", SourceRelease, false},
		{"dir:/opt/bin", SourceDir, false},
		{"dir:", "", true},
		{"github", "", true},
	}
	for _, tt := range tests {
		got, err := ParseSource(tt.in)
		if (err != nil) != tt.wantErr || got.Source != tt.want {
			t.Errorf("ParseSource(%q) = %+v, %v", tt.in, got, err)
		}
	}
}

func TestManifestFor(t *testing.T) {
	// The versions upstream validates for each Kubernetes release (see
	// kubeReleases for where each one is read).
	tests := []struct {
		kube                            string
		etcd, coredns, cni, crictl      string
		containerd, runc, corednsImageV string
	}{
		{"v1.37.2", "v3.7.0", "v1.14.6", "v1.9.1", "v1.37.0", "v2.2.0", "v1.5.2", "v1.14.6"},
		{"v1.36.3", "v3.6.16", "v1.14.2", "v1.9.1", "v1.36.0", "v2.2.0", "v1.5.2", "v1.14.2"},
	}
	for _, tt := range tests {
		t.Run(tt.kube, func(t *testing.T) {
			m, err := ManifestFor(tt.kube)
			if err != nil {
				t.Fatal(err)
			}
			k, ok := m.Component(CompKubernetes)
			if !ok || k.Version != tt.kube || len(k.Files) != 6 {
				t.Fatalf("kubernetes component %+v", k)
			}
			ld := strings.Join(k.Source.LDFlags, " ")
			for _, want := range []string{
				"k8s.io/component-base/version.gitVersion=" + tt.kube,
				"k8s.io/client-go/pkg/version.gitVersion=" + tt.kube,
				"k8s.io/component-base/version.gitTreeState=clean",
				"k8s.io/component-base/version.gitMinor=" + strings.Split(tt.kube, ".")[1],
			} {
				if !strings.Contains(ld, want) {
					t.Errorf("ldflags lack %s", want)
				}
			}
			got := map[string]string{}
			for _, c := range m.Components {
				got[c.Name] = c.Version
			}
			want := map[string]string{
				CompKubernetes: tt.kube, CompEtcd: tt.etcd, CompCoreDNS: tt.coredns, CompCNI: tt.cni,
				CompCrictl: tt.crictl, CompContainerd: tt.containerd, CompRunc: tt.runc,
				CompPauseImage: "3.10", CompCoreDNSImage: tt.corednsImageV, CompTestAppImage: "1.1", CompBusybox: BusyboxVersion,
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("versions\n got %v\nwant %v", got, want)
			}
			// Every release file can be verified: by a pin or a published sum.
			b := &Builder{Store: &Store{Arch: "amd64"}}
			for _, c := range m.Components {
				if u := b.missingChecksum(&c); u != "" {
					t.Errorf("%s: %s has neither a pin nor a published checksum", c.Name, u)
				}
			}
			// Version checks follow the version table.
			etcd, _ := m.Component(CompEtcd)
			if w := "etcd Version: " + strings.TrimPrefix(tt.etcd, "v"); etcd.Files[0].VersionWant != w {
				t.Errorf("etcd version check %q, want %q", etcd.Files[0].VersionWant, w)
			}
			cd, _ := m.Component(CompCoreDNS)
			if w := "CoreDNS-" + strings.TrimPrefix(tt.coredns, "v"); cd.Files[0].VersionWant != w {
				t.Errorf("coredns version check %q, want %q", cd.Files[0].VersionWant, w)
			}
		})
	}
	if _, err := ManifestFor("v1.20.0"); err == nil || err.Error() != "kubernetesVersion v1.20.0 has no pinned artifacts; use one of v1.36.3, v1.37.2" {
		t.Errorf("unknown version: %v", err)
	}
}

func TestKubernetesWrapper(t *testing.T) {
	gomod := `module k8s.io/kubernetes

go 1.26.0

godebug default=go1.26

require (
	k8s.io/api v0.0.0
	golang.org/x/net v0.1.0 // indirect
)

replace (
	k8s.io/api => ./staging/src/k8s.io/api
	k8s.io/client-go => ./staging/src/k8s.io/client-go // comment
	example.com/fork => example.com/fork v1.0.0
)

replace k8s.io/kubelet => ./staging/src/k8s.io/kubelet
`
	staging, goLines, err := parseKubernetesGoMod([]byte(gomod))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(staging, " "); got != "k8s.io/api k8s.io/client-go k8s.io/kubelet" {
		t.Errorf("staging = %s", got)
	}
	w, err := kubernetesWrapperGoMod("v1.37.2", staging, goLines)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"go 1.26.0\n", "godebug default=go1.26\n", "require k8s.io/kubernetes v1.37.2\n", "\tk8s.io/client-go => k8s.io/client-go v0.37.2\n"} {
		if !strings.Contains(w, want) {
			t.Errorf("wrapper go.mod lacks %q:\n%s", want, w)
		}
	}
	if _, _, err := parseKubernetesGoMod([]byte("module k8s.io/kubernetes\n")); err == nil {
		t.Error("a go.mod without staging replacements was accepted")
	}
}

func TestResolve(t *testing.T) {
	s := NewStore(t.TempDir())
	m, err := ManifestFor("v1.37.2")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ResolveManifest(m); err == nil || !strings.Contains(err.Error(), "artifact etcd v3.7.0 not built; run: hardway artifacts build") {
		t.Fatalf("err = %v", err)
	}
	// Fill every entry with placeholder files.
	for _, c := range m.Components {
		st, err := s.NewStage(c.Name, c.Version, SourceBuild)
		if err != nil {
			t.Fatal(err)
		}
		st.Image = c.Image
		var names []string
		for _, f := range c.Files {
			os.WriteFile(filepath.Join(st.Dir, f.Name), []byte(f.Name), 0o755)
			names = append(names, f.Name)
		}
		if _, err := st.Commit(names, 0, "test"); err != nil {
			t.Fatal(err)
		}
	}
	b, err := s.ResolveManifest(m)
	if err != nil {
		t.Fatal(err)
	}
	kubelet, ok := b.Binary("kubelet")
	if !ok || kubelet.Rel != "artifacts/kubernetes/v1.37.2/source-"+s.Arch+"/kubelet" || kubelet.DestDir != BinDir {
		t.Errorf("kubelet = %+v", kubelet)
	}
	if got := NodePath(kubelet.Rel); got != "/opt/hardway/artifacts/artifacts/kubernetes/v1.37.2/source-"+s.Arch+"/kubelet" {
		t.Errorf("node path %s", got)
	}
	if bridge, ok := b.Binary("bridge"); !ok || bridge.DestDir != CNIDir {
		t.Errorf("bridge = %+v", bridge)
	}
	if _, ok := b.Binary("coredns"); ok {
		t.Error("coredns binary listed for node install; it runs from its image")
	}
	if len(b.Binaries) != 6+3+3+1+4+1 {
		t.Errorf("%d binaries", len(b.Binaries))
	}
	if len(b.Images) != 3 {
		t.Fatalf("images %+v", b.Images)
	}
	for _, im := range b.Images {
		if _, err := os.Stat(b.HostPath(im.Rel)); err != nil {
			t.Errorf("image %s: %v", im.Ref, err)
		}
	}
}

func TestDefaultRoot(t *testing.T) {
	tests := []struct {
		hardway, xdg, home, want string
	}{
		{"/c/h", "/x", "/home/u", "/c/h"},
		{"", "/x", "/home/u", "/x/hardway"},
		{"", "", "/home/u", "/home/u/.cache/hardway"},
	}
	for _, tt := range tests {
		t.Setenv("HARDWAY_CACHE", tt.hardway)
		t.Setenv("XDG_CACHE_HOME", tt.xdg)
		t.Setenv("HOME", tt.home)
		if got, err := DefaultRoot(); err != nil || got != tt.want {
			t.Errorf("DefaultRoot() = %q, %v; want %q", got, err, tt.want)
		}
	}
}

// Two processes building the same entry: the first commit wins and the
// second gets that entry, not a half-replaced directory.
func TestConcurrentCommitKeepsFirst(t *testing.T) {
	s := NewStore(t.TempDir())
	var stages []*Stage
	for _, content := range []string{"first", "second"} {
		st, err := s.NewStage("crictl", "v1.37.0", SourceBuild)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(st.Dir, "crictl"), []byte(content), 0o755)
		stages = append(stages, st)
	}
	for _, st := range stages {
		e, err := st.Commit([]string{"crictl"}, 0, "")
		if err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(filepath.Join(e.Dir, "crictl")); string(b) != "first" {
			t.Errorf("entry holds %q, want the first commit", b)
		}
	}
	assertNoStaging(t, s)
}

// The commands a source build runs carry the flags that matter: static
// builds, version stamps, seccomp for runc, the generated Kubernetes module.
func TestSourceBuildCommands(t *testing.T) {
	m, err := ManifestFor("v1.37.2")
	if err != nil {
		t.Fatal(err)
	}
	modDir := t.TempDir()
	gomod := filepath.Join(modDir, "kubernetes.mod")
	os.WriteFile(gomod, []byte("module k8s.io/kubernetes\n\ngo 1.26.0\n\nreplace k8s.io/api => ./staging/src/k8s.io/api\n"), 0o644)
	info := filepath.Join(modDir, "kubernetes.info")
	os.WriteFile(info, []byte(`{"Version":"v1.37.2","Time":"2026-10-27T12:01:04Z"}`), 0o644)
	modJSON := fmt.Sprintf(`{"Path":"x","Version":"v1","Dir":%q,"GoMod":%q,"Info":%q}`, modDir, gomod, info)

	tests := []struct {
		component string
		seccomp   bool
		want      []string
		wantErr   string
	}{
		{CompKubernetes, true, []string{"CGO_ENABLED=0", "build -mod=mod", "-trimpath", "k8s.io/component-base/version.gitVersion=v1.37.2", "k8s.io/client-go/pkg/version.buildDate=2026-10-27T12:01:04Z", "k8s.io/kubernetes/cmd/kubelet", "k8s.io/kubernetes/cmd/kube-apiserver"}, ""},
		{CompEtcd, true, []string{"CGO_ENABLED=0", "./cmd/etcd", "./cmd/etcdctl"}, ""},
		{CompRunc, true, []string{"CGO_ENABLED=1", "seccomp", "-extldflags -static"}, ""},
		{CompRunc, false, nil, "apt-get install libseccomp-dev"},
		{CompContainerd, true, []string{"CGO_ENABLED=0", "github.com/containerd/containerd/v2/version.Version=v2.2.0", "./cmd/ctr"}, ""},
		{CompCNI, true, []string{"install", "GOBIN=", "plugins/main/bridge@v1.9.1", "buildversion.BuildVersion=v1.9.1"}, ""},
		{CompCrictl, true, []string{"sigs.k8s.io/cri-tools/cmd/crictl@v1.37.0", "version.Version=v1.37.0"}, ""},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s seccomp=%v", tt.component, tt.seccomp), func(t *testing.T) {
			run := &fakeRunner{modJSON: modJSON}
			b := newTestBuilder(t, run)
			b.HaveSeccomp = func(string) bool { return tt.seccomp }
			c, _ := m.Component(tt.component)
			st, err := b.Store.NewStage(c.Name, c.Version, SourceBuild)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Abort()
			_, err = b.buildSource(context.Background(), m, c, st.Dir)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			last := run.calls[len(run.calls)-1]
			for _, w := range tt.want {
				if !strings.Contains(last, w) {
					t.Errorf("build command lacks %q:\n%s", w, last)
				}
			}
		})
	}
}

// An entry cached before its component gained a file does not count as
// built: etcd entries without etcdutl are rebuilt, not used without it.
func TestEntryHasAll(t *testing.T) {
	c := etcdComponent("v3.7.0")
	tests := []struct {
		files []string
		want  bool
	}{
		{[]string{"etcd", "etcdctl", "etcdutl"}, true},
		{[]string{"etcd", "etcdctl"}, false},
		{nil, false},
	}
	for _, tt := range tests {
		e := &Entry{}
		for _, f := range tt.files {
			e.Files = append(e.Files, EntryFile{Name: f})
		}
		if got := e.hasAll(&c); got != tt.want {
			t.Errorf("entry with %v: hasAll = %v, want %v", tt.files, got, tt.want)
		}
	}
	// An image archive tagged with another reference is not the one wanted.
	img := corednsImageComponent("v1.14.6")
	files := []EntryFile{{Name: "coredns.tar"}}
	if (&Entry{Files: files, Image: "hardway.local/coredns:v1.12.4"}).hasAll(&img) {
		t.Error("an archive tagged coredns:v1.12.4 counts as coredns:v1.14.6")
	}
	if !(&Entry{Files: files, Image: img.Image}).hasAll(&img) {
		t.Error("the right archive does not count")
	}
}

// Cross builds: every Go build is GOARCH=arm64; runc's cgo build uses
// Debian's cross gcc and the arm64 pkg-config directory, so the host's
// libseccomp is never linked in; a missing cross toolchain is one line that
// names the setup script.
func TestCrossBuildCommands(t *testing.T) {
	m, err := ManifestFor("v1.37.2")
	if err != nil {
		t.Fatal(err)
	}
	modDir := t.TempDir()
	modJSON := fmt.Sprintf(`{"Path":"x","Version":"v1","Dir":%q}`, modDir)
	os.WriteFile(filepath.Join(modDir, "go.mod"), []byte("module x\n"), 0o644)
	foreign := "arm64"
	if runtime.GOARCH == "arm64" {
		foreign = "amd64"
	}
	cc := triplet(foreign) + "-gcc"
	tests := []struct {
		name      string
		component string
		seccomp   bool
		tools     bool
		want      []string
		notWant   []string
		wantErr   string
	}{
		{"runc cross cgo", CompRunc, true, true,
			[]string{"CGO_ENABLED=1", "GOARCH=" + foreign, "CC=" + cc, "PKG_CONFIG_LIBDIR=/usr/lib/" + triplet(foreign) + "/pkgconfig:/usr/share/pkgconfig", "-tags seccomp,", "-extldflags -static", " -C "},
			nil, ""},
		{"containerd stays pure Go", CompContainerd, true, true,
			[]string{"CGO_ENABLED=0", "GOARCH=" + foreign},
			[]string{"CC=", "PKG_CONFIG_LIBDIR="}, ""},
		// go install refuses GOBIN for cross builds: go build -o instead.
		{"cni plugins: build -o, not install", CompCNI, true, true,
			[]string{"CGO_ENABLED=0", "GOARCH=" + foreign, " build -mod=mod -o ", "github.com/containernetworking/plugins/plugins/main/bridge", "buildversion.BuildVersion=v1.9.1"},
			[]string{"GOBIN=", " install ", "@v1.9.1"}, ""},
		{"no cross compiler", CompRunc, true, false, nil, nil,
			"runc needs cgo: building it for " + foreign + " on this " + runtime.GOARCH + " host needs the cross compiler " + cc + "; run: "},
		{"no arm64 libseccomp", CompRunc, false, true, nil, nil,
			"runc needs libseccomp's " + foreign + " static library (/usr/lib/" + triplet(foreign) + "/libseccomp.a) to build; run: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run := &fakeRunner{modJSON: modJSON}
			b := newTestBuilder(t, run)
			b.Store.Arch = foreign
			var asked []string
			b.HaveSeccomp = func(arch string) bool { asked = append(asked, arch); return tt.seccomp }
			b.HaveTool = func(name string) bool { return tt.tools }
			c, _ := m.Component(tt.component)
			st, err := b.Store.NewStage(c.Name, c.Version, SourceBuild)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Abort()
			_, err = b.buildSource(context.Background(), m, c, st.Dir)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "\n") {
					t.Fatalf("err = %v, want one line containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Source.NeedsSeccomp && (len(asked) != 1 || asked[0] != foreign) {
				t.Errorf("libseccomp checked for %v, want [%s]", asked, foreign)
			}
			last := run.calls[len(run.calls)-1]
			for _, w := range tt.want {
				if !strings.Contains(last, w) {
					t.Errorf("build command lacks %q:\n%s", w, last)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(last, w) {
					t.Errorf("build command has %q:\n%s", w, last)
				}
			}
		})
	}
}

// Binaries of another architecture answer their version through qemu-user
// (no binfmt_misc needed); without qemu-user the check is skipped, not
// failed, and a wrong version still fails.
func TestCrossVersionCheck(t *testing.T) {
	foreign := "arm64"
	if runtime.GOARCH == "arm64" {
		foreign = "amd64"
	}
	c := testComponent("", nil)
	tests := []struct {
		name     string
		qemu     bool
		version  string
		wantErr  string
		wantCall string
	}{
		{"under qemu", true, "tool v1.2.3", "", QemuUser(foreign) + " "},
		{"wrong version under qemu", true, "tool v9", `reports "tool v9", want "tool v1.2.3"`, QemuUser(foreign) + " "},
		{"no qemu: skipped", false, "tool v9", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run := &fakeRunner{versions: map[string]string{"tool": tt.version}}
			b := newTestBuilder(t, run)
			b.Store.Arch = foreign
			b.HaveTool = func(name string) bool { return tt.qemu && name == QemuUser(foreign) }
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, "tool"), []byte("x"), 0o755)
			err := b.checkVersions(context.Background(), &c, dir, SourceBuild)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			ran := strings.Join(run.calls, "\n")
			if tt.wantCall == "" && ran != "" || tt.wantCall != "" && !strings.HasPrefix(ran, tt.wantCall+filepath.Join(dir, "tool")+" --version") {
				t.Errorf("ran %q, want %q", ran, tt.wantCall)
			}
		})
	}
}

// fillStore commits placeholder entries for the named components of m (all
// when names is empty).
func fillStore(t *testing.T, s *Store, m *Manifest, names ...string) {
	t.Helper()
	for _, c := range m.Components {
		if len(names) > 0 && !slices.Contains(names, c.Name) {
			continue
		}
		st, err := s.NewStage(c.Name, c.Version, SourceBuild)
		if err != nil {
			t.Fatal(err)
		}
		st.Image = c.Image
		var files []string
		for _, f := range c.Files {
			os.WriteFile(filepath.Join(st.Dir, f.Name), []byte(f.Name), 0o755)
			files = append(files, f.Name)
		}
		if _, err := st.Commit(files, 0, "test"); err != nil {
			t.Fatal(err)
		}
	}
}

// Nodes under qemu-user get every binary of their architecture but runc,
// which is this host's; a missing entry names the --arch build.
func TestResolveEmulated(t *testing.T) {
	root := t.TempDir()
	arm := &Store{Root: root, Arch: "arm64"}
	host := &Store{Root: root, Arch: "amd64"}
	if runtime.GOARCH == "arm64" {
		arm.Arch, host.Arch = "amd64", "arm64"
	}
	m, err := ManifestFor("v1.37.2")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := arm.ResolveEmulated("v1.37.2", host); err == nil || err.Error() != "artifact etcd v3.7.0 not built for "+arm.Arch+"; run: hardway artifacts build --arch "+arm.Arch {
		t.Fatalf("empty cache: err = %v", err)
	}
	fillStore(t, arm, m)
	if _, err := arm.ResolveEmulated("v1.37.2", host); err == nil || !strings.Contains(err.Error(), "not built; run: hardway artifacts build") {
		t.Fatalf("no host runc: err = %v", err)
	}
	fillStore(t, host, m, CompRunc)
	if _, err := arm.ResolveEmulated("v1.37.2", host); err == nil || !strings.Contains(err.Error(), "artifact containerd v2.2.0 not built; run: hardway artifacts build") {
		t.Fatalf("no host containerd shim: err = %v", err)
	}
	fillStore(t, host, m, CompContainerd)
	b, err := arm.ResolveEmulated("v1.37.2", host)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Binaries) != 6+3+3+1+4+1 || len(b.Images) != 3 {
		t.Errorf("%d binaries, %d images", len(b.Binaries), len(b.Images))
	}
	for _, bin := range b.Binaries {
		want := "-" + arm.Arch + "/"
		if slices.Contains(EmulatedNative(), bin.Name) {
			want = "-" + host.Arch + "/"
		}
		if !strings.Contains(bin.Rel, want) {
			t.Errorf("%s from %s, want the %s entry", bin.Name, bin.Rel, want)
		}
	}
	for _, im := range b.Images {
		if !strings.Contains(im.Rel, "-"+arm.Arch+"/") {
			t.Errorf("image %s from %s, want %s", im.Ref, im.Rel, arm.Arch)
		}
	}
}

// TestRelabelImages: an emulated bundle's image archives point at copies
// naming the host's architecture, made once and reused.
func TestRelabelImages(t *testing.T) {
	root := t.TempDir()
	prog := filepath.Join(root, "prog")
	if err := os.WriteFile(prog, []byte("arm64 program"), 0o755); err != nil {
		t.Fatal(err)
	}
	img, err := images.ProgramImage("arm64", prog, "/prog", "")
	if err != nil {
		t.Fatal(err)
	}
	const ref = "example.test/prog:1"
	if err := os.MkdirAll(filepath.Join(root, "entry"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := images.WriteArchive(filepath.Join(root, "entry", "prog.tar"), ref, img); err != nil {
		t.Fatal(err)
	}
	orig, _, _ := fileSHA256(filepath.Join(root, "entry", "prog.tar"))
	b := &Bundle{Root: root, Images: []ImageArchive{{Ref: ref, Rel: "entry/prog.tar", SHA256: orig}}}
	if err := b.RelabelImages("amd64"); err != nil {
		t.Fatal(err)
	}
	im := b.Images[0]
	if !strings.HasPrefix(im.Rel, "emulated-amd64/") || im.SHA256 == orig {
		t.Fatalf("relabeled %+v", im)
	}
	if sum, _, _ := fileSHA256(filepath.Join(root, im.Rel)); sum != im.SHA256 {
		t.Errorf("SHA-256 %s, the copy's is %s", im.SHA256, sum)
	}
	got, err := images.LoadArchive(filepath.Join(root, im.Rel), ref)
	if err != nil {
		t.Fatal(err)
	}
	if cf, _ := got.ConfigFile(); cf.Architecture != "amd64" {
		t.Errorf("architecture %s", cf.Architecture)
	}
	// A second bundle reuses the copy.
	again := &Bundle{Root: root, Images: []ImageArchive{{Ref: ref, Rel: "entry/prog.tar", SHA256: orig}}}
	if err := again.RelabelImages("amd64"); err != nil || again.Images[0] != im {
		t.Errorf("second run: %v %+v, want %+v", err, again.Images[0], im)
	}
}
