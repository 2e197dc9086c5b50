package cli

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/xml"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/html"

	"hardway.dev/hardway/internal/book"
	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/lab"
	"hardway.dev/hardway/internal/provider"
	"hardway.dev/hardway/internal/state"
	"hardway.dev/hardway/internal/steps"
)

const oneNodeConfig = "apiVersion: hardway.dev/v1alpha1\nkind: Cluster\nname: tiny\nnetwork:\n  nodeSubnet: 10.251.0.0/24\nnodes:\n- name: solo\n"

// tutorialCases are the books every test renders: the default config and a
// one-node cluster from a file.
var tutorialCases = []struct {
	name   string
	config string // file content; "" for the defaults
	nodes  []string
}{
	{"default", "", []string{"node-0", "node-1", "node-2"}},
	{"one node", oneNodeConfig, []string{"solo"}},
}

// isolate gives the test its own state and artifact directories.
func isolate(t *testing.T) string {
	home := t.TempDir()
	t.Setenv("HARDWAY_HOME", home)
	t.Setenv("HARDWAY_CACHE", t.TempDir())
	return home
}

// configArgs writes a config file when there is one and returns its flags.
func configArgs(t *testing.T, doc string) []string {
	if doc == "" {
		return nil
	}
	p := filepath.Join(t.TempDir(), "cluster.yaml")
	if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return []string{"-c", p}
}

func wantChapters() []string {
	ids := []string{"index", "prerequisites", "architecture", "control-loops", "pod-0-kubectl", "pod-1-control-plane", "pod-2-auth-network", "pod-3-node"}
	for _, s := range steps.All() {
		ids = append(ids, book.StepChapterID(s.Name))
	}
	return append(ids, "networking", "traffic", "operating", "gitops", "managed", "files")
}

func TestTutorialBook(t *testing.T) {
	for _, tc := range tutorialCases {
		t.Run(tc.name, func(t *testing.T) {
			home := isolate(t)
			out := t.TempDir()
			code, stdout, stderr := runCLI(t, append([]string{"tutorial", "--out", out}, configArgs(t, tc.config)...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if !strings.Contains(stdout, "start at "+out+"/index.html") {
				t.Errorf("output does not say where to start: %s", stdout)
			}
			if entries, _ := os.ReadDir(filepath.Join(home, "clusters")); len(entries) != 0 {
				t.Errorf("tutorial created cluster state: %v", entries)
			}
			for _, id := range wantChapters() {
				for _, ext := range []string{".html", ".md"} {
					if _, err := os.Stat(filepath.Join(out, id+ext)); err != nil {
						t.Errorf("chapter %s: %v", id, err)
					}
				}
			}
			checkLinks(t, out)
			checkPictures(t, out, tc.nodes)
			checkNoSecrets(t, out)
			checkNoScratch(t, out)
			pages, _ := filepath.Glob(filepath.Join(out, "*.html"))
			for _, p := range pages {
				data, _ := os.ReadFile(p)
				if !bytes.Contains(data, []byte("Not a built cluster.")) {
					t.Errorf("%s does not say it is rendered from a config, not a cluster", filepath.Base(p))
				}
			}
			welcome, _ := os.ReadFile(filepath.Join(out, "index.md"))
			for _, n := range tc.nodes {
				if !bytes.Contains(welcome, []byte("`"+n+"`")) {
					t.Errorf("the welcome chapter does not list node %s", n)
				}
			}
		})
	}
}

// checkLinks resolves every link and image of every page: the file exists
// and a #fragment names an element of the target page.
func checkLinks(t *testing.T, dir string) {
	t.Helper()
	ids := map[string]map[string]bool{} // HTML page → element ids
	pages, _ := filepath.Glob(filepath.Join(dir, "*.html"))
	type ref struct{ from, to, tag string }
	var refs []ref
	upstream := map[string]bool{}
	for _, links := range book.ReadMore() {
		for _, l := range links {
			upstream[l.URL] = true
		}
	}
	for _, p := range pages {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := html.Parse(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		page := filepath.Base(p)
		ids[page] = map[string]bool{}
		var walk func(n *html.Node)
		walk = func(n *html.Node) {
			if n.Type == html.ElementNode {
				for _, a := range n.Attr {
					switch {
					case a.Key == "id":
						ids[page][a.Val] = true
					case a.Key == "href" && n.Data == "a", a.Key == "src" && n.Data == "img", a.Key == "href" && n.Data == "link":
						refs = append(refs, ref{page, a.Val, n.Data})
					}
				}
			}
			for c := n.FirstChild; c != nil; c = c.NextSibling {
				walk(c)
			}
		}
		walk(doc)
	}
	mdLink := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	mds, _ := filepath.Glob(filepath.Join(dir, "*.md"))
	for _, p := range mds {
		data, _ := os.ReadFile(p)
		for _, m := range mdLink.FindAllSubmatch(data, -1) {
			refs = append(refs, ref{filepath.Base(p), string(m[1]), "md"})
		}
	}
	if len(refs) < 100 {
		t.Errorf("only %d links found: the pages are not linked together", len(refs))
	}
	for _, r := range refs {
		if strings.HasPrefix(r.to, "data:") {
			continue
		}
		if strings.Contains(r.to, "://") {
			// Only the upstream pages a chapter deepens, as clickable links.
			if !upstream[r.to] || r.tag == "img" || r.tag == "link" {
				t.Errorf("%s links outside the book: %s", r.from, r.to)
			}
			continue
		}
		target, frag, _ := strings.Cut(r.to, "#")
		if target == "" {
			target = r.from
		}
		if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(target))); err != nil {
			t.Errorf("%s links to %s, which does not exist", r.from, r.to)
			continue
		}
		if frag != "" {
			page := strings.TrimSuffix(target, ".md")
			page = strings.TrimSuffix(page, ".html") + ".html"
			if !ids[page][frag] {
				t.Errorf("%s links to %s: %s has no element with id %q", r.from, r.to, page, frag)
			}
		}
		if strings.HasSuffix(r.from, ".html") && strings.HasSuffix(target, ".md") {
			t.Errorf("HTML page %s links to the Markdown page %s", r.from, target)
		}
	}
}

// svgElement is what the picture checks need of an element.
type svgElement struct {
	class, node string
}

// parseSVG parses a picture as XML and returns its elements; not XML or not
// an <svg> root fails the test.
func parseSVG(t *testing.T, name string, data []byte) (els []svgElement, text string) {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(data))
	var b strings.Builder
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s is not well-formed XML: %v", name, err)
		}
		switch tk := tok.(type) {
		case xml.StartElement:
			if len(els) == 0 && tk.Name.Local != "svg" {
				t.Fatalf("%s: root element <%s>, want <svg>", name, tk.Name.Local)
			}
			e := svgElement{}
			for _, a := range tk.Attr {
				switch a.Name.Local {
				case "class":
					e.class = a.Value
				case "data-node":
					e.node = a.Value
				}
			}
			els = append(els, e)
		case xml.CharData:
			b.Write(tk)
		}
	}
	return els, b.String()
}

// checkPictures parses every picture the pages show and checks that the
// pictures of the cluster show exactly its nodes, by name.
func checkPictures(t *testing.T, dir string, nodes []string) {
	t.Helper()
	pics, _ := filepath.Glob(filepath.Join(dir, book.ImageDir, "*.svg"))
	if len(pics) < 5 {
		t.Fatalf("%d pictures, want at least 5", len(pics))
	}
	nodesOf := func(els []svgElement, class string) []string {
		var out []string
		for _, e := range els {
			if slices.Contains(strings.Fields(e.class), class) && e.node != "" {
				out = append(out, e.node)
			}
		}
		sort.Strings(out)
		return out
	}
	anyNode := func(els []svgElement) []string {
		var out []string
		for _, e := range els {
			if e.node != "" {
				out = append(out, e.node)
			}
		}
		sort.Strings(out)
		return slices.Compact(out)
	}
	want := slices.Sorted(slices.Values(nodes))
	for _, p := range pics {
		data, _ := os.ReadFile(p)
		els, text := parseSVG(t, filepath.Base(p), data)
		var got []string
		switch filepath.Base(p) {
		case "architecture.svg", "network.svg":
			got = nodesOf(els, "node") // one box per node, exactly
		case "launch.svg", "launch-overview.svg":
			got = nodesOf(els, "candidate") // every node is a worker here
		case "pki.svg":
			got = anyNode(els)
		default:
			continue
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s shows nodes %v, want exactly %v", filepath.Base(p), got, want)
		}
		for _, n := range nodes {
			if !strings.Contains(text, n) {
				t.Errorf("%s does not name node %s", filepath.Base(p), n)
			}
		}
	}
}

// checkNoSecrets: the book may be served to others; no key may be in it.
func checkNoSecrets(t *testing.T, dir string) {
	t.Helper()
	secret := regexp.MustCompile(`secret:\s*[A-Za-z0-9+/]{20,}|PRIVATE KEY`)
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, _ := os.ReadFile(p)
		if m := secret.Find(data); m != nil {
			t.Errorf("%s holds a secret: %q", p, m)
		}
		return nil
	})
}

// checkNoScratch: the book names the cluster's state directory, never the
// scratch copy it was read from (which is gone once the book is written).
func checkNoScratch(t *testing.T, dir string) {
	t.Helper()
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if data, _ := os.ReadFile(p); bytes.Contains(data, []byte("hardway-scratch-")) {
			t.Errorf("%s names the scratch copy of the state", p)
		}
		return nil
	})
}

// TestTutorialTryItCommandsExist runs every hardway command of every try-it
// table through the real command line: the command and its flags must
// exist, and named nodes and components must be the cluster's.
func TestTutorialTryItCommandsExist(t *testing.T) {
	for _, tc := range tutorialCases {
		t.Run(tc.name, func(t *testing.T) {
			isolate(t)
			a := &app{out: io.Discard, errOut: io.Discard, host: testHost(t)}
			root := newRoot(a)
			if err := root.ParseFlags(configArgs(t, tc.config)); err != nil {
				t.Fatal(err)
			}
			_, in, err := a.buildBook()
			if err != nil {
				t.Fatal(err)
			}
			chapters, _, err := book.Chapters(in)
			if err != nil {
				t.Fatal(err)
			}
			hwCmd := regexp.MustCompile(`hardway ([^|;&)]*)`)
			checked := 0
			for _, ch := range chapters {
				for _, try := range ch.Try {
					for _, m := range hwCmd.FindAllStringSubmatch(try.Command, -1) {
						checkCommand(t, ch.ID, m[1], in.Cluster)
						checked++
					}
				}
			}
			if checked < 40 {
				t.Errorf("only %d hardway commands in the try-it tables", checked)
			}
		})
	}
}

// checkCommand parses args like the CLI would and checks what it names.
func checkCommand(t *testing.T, chapter, line string, c *config.Cluster) {
	t.Helper()
	args := strings.Fields(line)
	var after []string
	if i := slices.Index(args, "--"); i >= 0 {
		args, after = args[:i], args[i+1:]
	}
	root := newRoot(&app{out: io.Discard, errOut: io.Discard, host: testHost(t)})
	cmd, rest, err := root.Find(args)
	if err != nil || cmd == root {
		t.Errorf("%s: `hardway %s`: no such command", chapter, line)
		return
	}
	if err := cmd.ParseFlags(rest); err != nil {
		t.Errorf("%s: `hardway %s`: %v", chapter, line, err)
		return
	}
	if err := cmd.ValidateArgs(cmd.Flags().Args()); err != nil {
		t.Errorf("%s: `hardway %s`: %v", chapter, line, err)
	}
	if name, _ := cmd.Flags().GetString("name"); name != c.Name {
		t.Errorf("%s: `hardway %s` does not name the cluster (--name %s)", chapter, line, c.Name)
	}
	pos := cmd.Flags().Args()
	if cmd.Name() == "start" && cmd.Parent().Name() == "lab" && len(pos) == 1 {
		if _, err := lab.Find(pos[0]); err != nil {
			t.Errorf("%s: `hardway %s`: %v", chapter, line, err)
		}
	}
	switch cmd.Name() {
	case "shell", "logs":
		if len(pos) == 0 {
			return
		}
		if _, ok := c.Node(pos[0]); !ok && pos[0] != "NODE" {
			t.Errorf("%s: `hardway %s` names node %s, which cluster %s does not have", chapter, line, pos[0], c.Name)
		}
		if cmd.Name() == "logs" && len(pos) > 1 && pos[1] != "COMPONENT" && !slices.Contains(components(), pos[1]) {
			t.Errorf("%s: `hardway %s`: no component %s", chapter, line, pos[1])
		}
		if cmd.Name() == "shell" && len(after) == 0 && len(pos) > 1 {
			t.Errorf("%s: `hardway %s`: a command in a node must follow --", chapter, line)
		}
	}
}

// TestTutorialFilesAreClassified: every file a node receives has a step
// and a reader in the book, so no file is missing from its step's chapter.
func TestTutorialFilesAreClassified(t *testing.T) {
	for _, tc := range tutorialCases {
		t.Run(tc.name, func(t *testing.T) {
			isolate(t)
			a := &app{out: io.Discard, errOut: io.Discard, host: testHost(t)}
			root := newRoot(a)
			if err := root.ParseFlags(configArgs(t, tc.config)); err != nil {
				t.Fatal(err)
			}
			_, in, err := a.buildBook()
			if err != nil {
				t.Fatal(err)
			}
			names := steps.Names(steps.All())
			for node, files := range in.Files {
				for _, f := range files {
					step, by := book.FileRole(f.Path)
					if !slices.Contains(names, step) || by == "?" {
						t.Errorf("%s:%s: step %q, read by %q; teach book.FileRole about it", node, f.Path, step, by)
					}
				}
			}
		})
	}
}

// TestTutorialLiveCluster: with a cluster's state on this host (as `up`
// leaves it), the book says so, shows the issued certificates, and the
// state is unchanged afterwards.
func TestTutorialLiveCluster(t *testing.T) {
	home := isolate(t)
	cfgArgs := configArgs(t, oneNodeConfig)
	if code, _, stderr := runCLI(t, append([]string{"render", "--out", t.TempDir()}, cfgArgs...)...); code != 0 {
		t.Fatalf("render: %s", stderr)
	}
	cfg, err := config.Parse([]byte(oneNodeConfig))
	if err != nil {
		t.Fatal(err)
	}
	if err := saveConfig(state.For("tiny"), cfg); err != nil {
		t.Fatal(err)
	}
	before := treeHash(t, home)
	out := t.TempDir()
	if code, _, stderr := runCLI(t, "tutorial", "--name", "tiny", "--out", out); code != 0 {
		t.Fatalf("tutorial: %s", stderr)
	}
	if after := treeHash(t, home); after != before {
		t.Errorf("tutorial changed the cluster's state")
	}
	pkiPage, _ := os.ReadFile(filepath.Join(out, "step-pki.md"))
	for _, want := range []string{"**Your cluster.**", "## The certificates as issued", "`system:node:solo`", "| kubernetes-ca |"} {
		if !bytes.Contains(pkiPage, []byte(want)) {
			t.Errorf("the pki chapter of a live cluster lacks %q", want)
		}
	}
	checkNoSecrets(t, out)
}

// treeHash hashes every file under dir, names and contents.
func treeHash(t *testing.T, dir string) string {
	t.Helper()
	h := sha256.New()
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, _ := os.ReadFile(p)
		fmt.Fprintf(h, "%s %x\n", p, sha256.Sum256(data))
		return nil
	})
	return fmt.Sprintf("%x", h.Sum(nil))
}

func TestTutorialNeedsOutOrServe(t *testing.T) {
	isolate(t)
	code, _, stderr := runCLI(t, "tutorial")
	if code == 0 || !strings.Contains(stderr, "--out DIR") || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
		t.Errorf("exit %d, want one line naming --out and --serve: %q", code, stderr)
	}
}

// syncBuffer is an io.Writer the test can read while the command writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestTutorialServe(t *testing.T) {
	isolate(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, testHost(t), []string{"tutorial", "--serve", "127.0.0.1:0"}, &out, &errOut) }()
	url := ""
	urlRE := regexp.MustCompile(`http://127\.0\.0\.1:\d+/`)
	for deadline := time.Now().Add(30 * time.Second); url == "" && time.Now().Before(deadline); {
		url = urlRE.FindString(out.String())
		time.Sleep(20 * time.Millisecond)
	}
	if url == "" {
		t.Fatalf("no URL printed: %q %q", out.String(), errOut.String())
	}
	for _, p := range []string{"", "architecture.html", "img/architecture.svg", "step-pki.md"} {
		resp, err := http.Get(url + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("GET /%s: %s", p, resp.Status)
		}
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("serve ended with exit %d after Ctrl-C: %s", code, errOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop after its context ended")
	}
}

// TestStatusSVG draws the status picture from a fake provider's view.
func TestStatusSVG(t *testing.T) {
	isolate(t)
	cfg := config.Default()
	if err := saveConfig(state.For(cfg.Name), cfg); err != nil {
		t.Fatal(err)
	}
	p := &fakeProvider{
		machines: []provider.NodeStatus{
			{Name: "node-0", State: "running"}, {Name: "node-1", State: "running"}, {Name: "node-2", State: "exited"}, {Name: "lb", State: "running"},
		},
		units: map[string]string{
			"node-0": unitStates(map[string]string{"etcd": "active", "kube-apiserver": "active", "kube-controller-manager": "active", "kube-scheduler": "active", "containerd": "active", "kubelet": "active", "kube-proxy": "active", "hardway-pod-network": "active"}),
			"node-1": unitStates(map[string]string{"etcd": "active", "kube-apiserver": "failed", "kube-controller-manager": "active", "kube-scheduler": "active", "containerd": "active", "kubelet": "active", "kube-proxy": "active", "hardway-pod-network": "active"}),
			"lb":     unitStates(map[string]string{"haproxy": "active"}),
		},
	}
	var out bytes.Buffer
	a := &app{out: &out, errOut: io.Discard, host: testHost(t)}
	file := filepath.Join(t.TempDir(), "status.svg")
	if err := a.printStatus(context.Background(), p, cfg, file, outputTable); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	els, _ := parseSVG(t, "status.svg", data)
	var failed, down []string
	for _, e := range els {
		switch {
		case strings.Contains(e.class, "health-failed"):
			failed = append(failed, e.node)
		case strings.Contains(e.class, "health-down"):
			down = append(down, e.node)
		}
	}
	if !slices.Equal(failed, []string{"node-1"}) {
		t.Errorf("failed components on %v, want one on node-1", failed)
	}
	if len(down) != 8 || slices.ContainsFunc(down, func(n string) bool { return n != "node-2" }) {
		t.Errorf("down components %v, want node-2's eight", down)
	}
	if !strings.Contains(out.String(), "kube-apiserver ✗ failed") || !strings.Contains(out.String(), "wrote the architecture") {
		t.Errorf("status output:\n%s", out.String())
	}
	sc := bufio.NewScanner(strings.NewReader(out.String()))
	lines := 0
	for sc.Scan() {
		lines++
	}
	if lines != 6 {
		t.Errorf("status printed %d lines, want a header, 4 machines and the picture's line", lines)
	}
}

// fakeProvider reports machines and answers `systemctl is-active` on each
// with a fixed line of states (in the order of components()).
type fakeProvider struct {
	machines []provider.NodeStatus
	units    map[string]string
}

func (f *fakeProvider) Create(context.Context, *config.Cluster, provider.CreateOptions) ([]provider.Node, error) {
	return nil, fmt.Errorf("fake provider creates nothing")
}

func (f *fakeProvider) Nodes(context.Context, string) ([]provider.Node, error) {
	var out []provider.Node
	for _, m := range f.machines {
		out = append(out, fakeNode{name: m.Name, states: f.units[m.Name]})
	}
	return out, nil
}

func (f *fakeProvider) Status(context.Context, string) ([]provider.NodeStatus, error) {
	return f.machines, nil
}

func (f *fakeProvider) Delete(context.Context, string) ([]string, error) { return nil, nil }
func (f *fakeProvider) Stop(context.Context, string) ([]string, error)   { return nil, nil }
func (f *fakeProvider) Start(context.Context, string) ([]provider.Node, error) {
	return nil, fmt.Errorf("fake provider starts nothing")
}

// unitStates is a `systemctl is-active` answer for every unit of
// components(): the given states, inactive for the rest.
func unitStates(m map[string]string) string {
	var out []string
	for _, u := range components() {
		st, ok := m[u]
		if !ok {
			st = "inactive"
		}
		out = append(out, st)
	}
	return strings.Join(out, " ")
}

type fakeNode struct{ name, states string }

func (n fakeNode) Name() string { return n.name }
func (n fakeNode) IP() string   { return "" }
func (n fakeNode) Role() string { return "" }
func (n fakeNode) Run(_ context.Context, _ io.Reader, argv ...string) ([]byte, error) {
	if len(argv) < 2 || argv[0] != "systemctl" || argv[1] != "is-active" {
		return nil, fmt.Errorf("fake node runs only systemctl is-active, not %v", argv)
	}
	return []byte(strings.ReplaceAll(n.states, " ", "\n")), nil
}
func (n fakeNode) WriteFile(context.Context, string, []byte, os.FileMode) error { return nil }
func (n fakeNode) ReadFile(context.Context, string) ([]byte, error)             { return nil, nil }
func (n fakeNode) WaitForSystemd(context.Context, time.Duration) error          { return nil }
func (n fakeNode) Attach(bool, []string, []string) []string                     { return nil }

// TestTutorialTrueToProvider renders the book of a Docker, an ssh (direct
// routes and VXLAN) and a Lima cluster and checks that each describes its
// own machines and pod routes, in the text and in the pictures, and not
// another provider's.
func TestTutorialTrueToProvider(t *testing.T) {
	const sshDoc = "apiVersion: hardway.dev/v1alpha1\nkind: Cluster\nname: lab\nprovider: ssh\nnetwork:\n  nodeSubnet: 192.168.50.0/24\nnodes:\n- name: m-0\n  ip: 192.168.50.10\n- name: m-1\n  ip: 192.168.50.11\n  roles: [worker]\n"
	tests := []struct {
		name, config string
		says, lacks  []string
	}{
		{"docker", "",
			[]string{"the Docker network `hardway-hardway`", "docker ps --filter label=dev.hardway.cluster=hardway", "Between nodes: routes, carried over VXLAN", "10.200.1.0/24 via 10.200.1.0 dev hardway.vxlan", "VXLAN UDP :4789", "Docker network hardway-hardway: 10.240.0.0/24", "MTU is 1450", "read-only at"},
			[]string{"one plain route per peer", "limactl", "pod packets as they are"}},
		{"ssh direct", sshDoc,
			[]string{"the machines' own network: `192.168.50.0/24`", "Between nodes: one plain route per peer", "10.200.1.0/24 via 192.168.50.11", "pod packets as they are, 192.168.50.10 ⇄ 192.168.50.11", "hardway check --name lab", "MTU is 1500", "over SSH", "provider: ssh."},
			[]string{"Docker network", "is a Docker container", "docker ps", "docker exec", "hardway.vxlan", "Tunnel address", "VXLAN UDP", "limactl", "provider: docker (the default).", "read-only at"}},
		{"ssh vxlan", strings.Replace(sshDoc, "network:\n", "network:\n  podRoutes: vxlan\n", 1),
			[]string{"Between nodes: routes, carried over VXLAN", "network.podRoutes: vxlan", "dev hardway.vxlan", "VXLAN UDP :4789 192.168.50.10 ⇄ 192.168.50.11", "MTU is 1450"},
			[]string{"Docker network", "docker ps", "docker exec", "created with `--internal`", "one plain route per peer"}},
		{"lima", "apiVersion: hardway.dev/v1alpha1\nkind: Cluster\nname: vms\nprovider: lima\nnodes:\n- name: vm-0\n- name: vm-1\n  roles: [worker]\n",
			[]string{"A node here is a Lima VM", "`vms-vm-0`", "limactl list", "Lima's shared network (lima0 in each VM)", "Between nodes: one plain route per peer", "provider: lima."},
			[]string{"Docker network", "docker ps", "docker exec", "hardway.vxlan", "VXLAN UDP", "provider: ssh."}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolate(t)
			out := t.TempDir()
			if code, _, stderr := runCLI(t, append([]string{"tutorial", "--out", out}, configArgs(t, tt.config)...)...); code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			var all strings.Builder
			for _, pat := range []string{"*.md", "img/*.svg"} {
				files, _ := filepath.Glob(filepath.Join(out, pat))
				for _, f := range files {
					data, _ := os.ReadFile(f)
					if strings.HasSuffix(f, ".svg") {
						_, text := parseSVG(t, f, data)
						all.WriteString(text + "\n")
						continue
					}
					all.Write(data)
				}
			}
			text := strings.Join(strings.Fields(all.String()), " ")
			for _, s := range tt.says {
				if !strings.Contains(text, strings.Join(strings.Fields(s), " ")) {
					t.Errorf("the book does not say %q", s)
				}
			}
			for _, s := range tt.lacks {
				if i := strings.Index(text, s); i >= 0 {
					t.Errorf("the book says %q: …%s…", s, text[max(0, i-80):min(len(text), i+80)])
				}
			}
		})
	}
}

// TestTutorialClaims: claims that were wrong once stay out of the book (and
// of explain, whose texts it quotes), each with what is true instead; and a
// sentence announcing "N things:" is followed by a list of N.
func TestTutorialClaims(t *testing.T) {
	wrong := []struct{ claim, truth string }{
		{"makes three calls", "the kubelet's calls for a pod are listed one by one"},
		{"PullImage: here it finds", "under IfNotPresent the kubelet asks ImageStatus and skips PullImage for an image that is present"},
		{"it signs service-account tokens", "the API server signs pod tokens (TokenRequest); the controller manager only legacy token Secrets"},
		{"controller-manager: tokens", "the PKI picture: the API server signs pod tokens"},
		{"checked against the cluster CA", "etcd trusts only etcd-ca; the legend reads pki.Spec.TrustedBy"},
		{"every component trusts it", "etcd does not trust the cluster CA"},
		{"only a superuser may impersonate", "any subject granted the impersonate verb may"},
		{"only the leader logs bindings", "the scheduler logs a binding at -v=2, its unit runs at -v=1"},
		{"tutorial used VMs (Lima", "the original tutorials also ran privileged Docker containers"},
		{"like the ones above", "no sequence picture is above in that chapter"},
	}
	number := map[string]int{"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7}
	announce := regexp.MustCompile(`\b(two|three|four|five|six|seven) ([a-z]+)[^.:\n]*:\n\n((?:- .*\n)+)`)
	for _, tc := range tutorialCases {
		t.Run(tc.name, func(t *testing.T) {
			isolate(t)
			out := t.TempDir()
			if code, _, stderr := runCLI(t, append([]string{"tutorial", "--out", out}, configArgs(t, tc.config)...)...); code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			mds, _ := filepath.Glob(filepath.Join(out, "*.md"))
			svgs, _ := filepath.Glob(filepath.Join(out, "img", "*.svg"))
			lists := 0
			for _, p := range append(mds, svgs...) {
				data, _ := os.ReadFile(p)
				text := string(data)
				flat := strings.Join(strings.Fields(strings.ReplaceAll(text, "`", "")), " ")
				for _, w := range wrong {
					if strings.Contains(flat, w.claim) || strings.Contains(text, w.claim) {
						t.Errorf("%s says %q; true is: %s", filepath.Base(p), w.claim, w.truth)
					}
				}
				for _, m := range announce.FindAllStringSubmatch(text, -1) {
					lists++
					if got := strings.Count(m[3], "\n- ") + 1; got != number[m[1]] {
						t.Errorf("%s announces %s %s and lists %d: %q", filepath.Base(p), m[1], m[2], got, m[0])
					}
				}
			}
			if lists == 0 {
				t.Error("no announced list found: the check reads nothing")
			}
		})
	}
}

// TestTutorialBannerCommands: every command the book's banner names works
// as written: it exists in the command tree with its flags, names this
// cluster, and a -c file exists.
func TestTutorialBannerCommands(t *testing.T) {
	for _, tc := range tutorialCases {
		t.Run(tc.name, func(t *testing.T) {
			isolate(t)
			out := t.TempDir()
			args := configArgs(t, tc.config)
			if code, _, stderr := runCLI(t, append([]string{"tutorial", "--out", out}, args...)...); code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			index, _ := os.ReadFile(filepath.Join(out, "index.md"))
			banner, _, _ := strings.Cut(string(index[bytes.Index(index, []byte("> **")):]), "\n")
			cmds := regexp.MustCompile("`hardway ([^`]+)`").FindAllStringSubmatch(banner, -1)
			if len(cmds) == 0 {
				t.Fatalf("the banner names no command: %s", banner)
			}
			for _, m := range cmds {
				fields := strings.Fields(m[1])
				root := newRoot(&app{out: io.Discard, errOut: io.Discard, host: testHost(t)})
				cmd, rest, err := root.Find(fields)
				if err != nil || cmd == root {
					t.Errorf("banner: `hardway %s`: no such command", m[1])
					continue
				}
				if err := cmd.ParseFlags(rest); err != nil {
					t.Errorf("banner: `hardway %s`: %v", m[1], err)
					continue
				}
				if err := cmd.ValidateArgs(cmd.Flags().Args()); err != nil {
					t.Errorf("banner: `hardway %s`: %v", m[1], err)
				}
				if f, _ := cmd.Flags().GetString("config"); f != "" {
					if _, err := os.Stat(f); err != nil {
						t.Errorf("banner: `hardway %s`: %v", m[1], err)
					}
				} else if name, _ := cmd.Flags().GetString("name"); name == "" {
					t.Errorf("banner: `hardway %s` names neither a cluster nor a config", m[1])
				}
			}
		})
	}
}
