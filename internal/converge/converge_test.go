package converge

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	osexec "os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"hardway.dev/hardway/internal/exec"
	"hardway.dev/hardway/internal/node"
)

// dirNode is a machine whose root is a temporary directory. It runs the real
// node scripts with /bin/sh, with $HARDWAY_ROOT pointing at the directory and
// a fake systemctl (and id/useradd) first on PATH that keeps unit state in
// files: the scripts under test are exactly the ones nodes run.
type dirNode struct {
	root, fakebin, mount string
	runs                 int
}

const fakeSystemctl = `#!/bin/sh
d=$HARDWAY_ROOT/.systemd
mkdir -p "$d"
cmd=$1; shift
while [ "${1#-}" != "$1" ]; do
  case $1 in -p) shift ;; esac
  shift
done
case $cmd in
show)
  # Like systemd: one block per unit in argument order, an empty line
  # between blocks, properties in systemd's order whatever -p asked.
  sep=
  for u in "$@"; do
    printf "$sep"; sep='\n'
    a=inactive; [ -f "$d/$u.active" ] && a=active
    e=; [ -f "$d/$u.enabled" ] && e=enabled
    printf 'Id=%s.service\nActiveState=%s\nUnitFileState=%s\n' "$u" "$a" "$e"
  done ;;
enable) touch "$d/$1.enabled" ;;
daemon-reload) echo reload >>"$d/log" ;;
start|restart)
  if [ -f "$d/$1.fail" ]; then echo "Job for $1.service failed." >&2; exit 1; fi
  touch "$d/$1.active"
  echo "$cmd $1" >>"$d/log" ;;
*) echo "fake systemctl: $cmd" >&2; exit 1 ;;
esac
`

const fakeID = `#!/bin/sh
[ -f "$HARDWAY_ROOT/.users/$2" ] && echo 999
[ -f "$HARDWAY_ROOT/.users/$2" ]
`

const fakeUseradd = `#!/bin/sh
for last; do :; done
mkdir -p "$HARDWAY_ROOT/.users"
touch "$HARDWAY_ROOT/.users/$last"
`

func newDirNode(t *testing.T) *dirNode {
	t.Helper()
	// The scripts run here exactly as on a node: GNU tar extracts with
	// --same-owner (root only), sha256sum and stat come from coreutils.
	if os.Geteuid() != 0 {
		t.Fatal("the converge tests extract files as their owners, as nodes do: run them as root")
	}
	for _, tool := range []string{"sha256sum", "stat", "tar"} {
		if _, err := osexec.LookPath(tool); err != nil {
			t.Fatalf("the converge tests run the node scripts, which need %s: install coreutils and tar", tool)
		}
	}
	d := &dirNode{root: t.TempDir(), fakebin: t.TempDir(), mount: t.TempDir()}
	for name, body := range map[string]string{"systemctl": fakeSystemctl, "id": fakeID, "useradd": fakeUseradd} {
		if err := os.WriteFile(filepath.Join(d.fakebin, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

func (d *dirNode) Name() string { return "mem" }
func (d *dirNode) IP() string   { return "10.0.0.1" }

func (d *dirNode) Run(ctx context.Context, stdin io.Reader, argv ...string) ([]byte, error) {
	d.runs++
	cmd := osexec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "HARDWAY_ROOT="+d.root, "PATH="+d.fakebin+":"+os.Getenv("PATH"))
	cmd.Stdin = stdin
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		code := -1
		var ee *osexec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		}
		return out.Bytes(), &exec.RunError{Where: "mem", Cmd: argv[0], ExitCode: code, Stdout: out.Bytes(), Stderr: errb.Bytes(), Err: err}
	}
	return out.Bytes(), nil
}

func (d *dirNode) WriteFile(context.Context, string, []byte, os.FileMode) error {
	return errors.New("unused")
}
func (d *dirNode) ReadFile(context.Context, string) ([]byte, error) { return nil, errors.New("unused") }

// mountedNode also sees an artifact cache, like a Docker node.
type mountedNode struct{ *dirNode }

func (m mountedNode) ArtifactDir() string { return m.mount }

func (d *dirNode) read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(d.root, p))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func (d *dirNode) log(t *testing.T) []string {
	b, _ := os.ReadFile(filepath.Join(d.root, ".systemd", "log"))
	return strings.Fields(strings.ReplaceAll(string(b), "\n", " ; "))
}

func (d *dirNode) resetLog() { os.Remove(filepath.Join(d.root, ".systemd", "log")) }

func (d *dirNode) restarts(t *testing.T) []string {
	b, _ := os.ReadFile(filepath.Join(d.root, ".systemd", "log"))
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if strings.HasPrefix(l, "restart ") || strings.HasPrefix(l, "start ") {
			out = append(out, l)
		}
	}
	return out
}

// binaries is a tiny artifact cache: a host file per binary.
type binaries struct {
	dir  string
	bins map[string]Binary
}

func newBinaries(t *testing.T, mount string, contents map[string]string) *binaries {
	b := &binaries{dir: t.TempDir(), bins: map[string]Binary{}}
	for name, body := range contents {
		b.set(t, mount, name, body)
	}
	return b
}

func (b *binaries) set(t *testing.T, mount, name, body string) {
	t.Helper()
	host := filepath.Join(b.dir, name)
	if err := os.WriteFile(host, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	// The same file where a mounting node sees the cache.
	if err := os.WriteFile(filepath.Join(mount, name), []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(body))
	b.bins[name] = Binary{Name: name, Dst: "/usr/local/bin/" + name, SHA256: hex.EncodeToString(sum[:]), HostPath: host, CacheRel: name}
}

func (b *binaries) opts() Options {
	return Options{Binary: func(name string) (Binary, error) {
		x, ok := b.bins[name]
		if !ok {
			return Binary{}, errors.New("no artifact " + name)
		}
		return x, nil
	}}
}

func converge(t *testing.T, n node.Node, units []Unit, opts Options) []Change {
	t.Helper()
	p, err := NewPlan(context.Background(), n, units, opts)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := Apply(context.Background(), n, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func targets(changes []Change) []string {
	var out []string
	for _, c := range changes {
		out = append(out, string(c.Action)+" "+c.Target)
	}
	sort.Strings(out)
	return out
}

func testUnits(caData string) []Unit {
	return []Unit{
		{Name: "etcd", Binaries: []string{"etcd"}, NoBlock: true, Files: []File{
			{Path: "/etc/systemd/system/etcd.service", Mode: 0o600, Data: []byte("[Service]\nExecStart=/usr/local/bin/etcd\n")},
			{Path: "/etc/etcd/ca.pem", Mode: 0o644, Data: []byte(caData)},
		}},
		{Name: "kube-apiserver", Binaries: []string{"kube-apiserver", "kubectl"}, Files: []File{
			{Path: "/etc/systemd/system/kube-apiserver.service", Mode: 0o600, Data: []byte("[Service]\n")},
			{Path: "/etc/etcd/ca.pem", Mode: 0o644, Data: []byte(caData)},
			{Path: "/etc/kubernetes/pki/kube-apiserver-key.pem", Mode: 0o600, Data: []byte("KEY")},
			{Path: "/etc/crictl.yaml", Mode: 0o644, Data: []byte("x"), NoRestart: true},
		}},
	}
}

func TestFreshNodeThenNoChanges(t *testing.T) {
	for _, mounted := range []bool{false, true} {
		name := "streamed binaries"
		if mounted {
			name = "binaries from the mounted cache"
		}
		t.Run(name, func(t *testing.T) {
			d := newDirNode(t)
			var n node.Node = d
			if mounted {
				n = mountedNode{d}
			}
			bins := newBinaries(t, d.mount, map[string]string{"etcd": "ETCD1", "kube-apiserver": "APISERVER1", "kubectl": "KUBECTL1"})
			got := targets(converge(t, n, testUnits("CA1"), bins.opts()))
			want := []string{
				"enabled unit etcd", "enabled unit kube-apiserver",
				"installed /usr/local/bin/etcd", "installed /usr/local/bin/kube-apiserver", "installed /usr/local/bin/kubectl",
				"started unit etcd", "started unit kube-apiserver",
				"wrote /etc/crictl.yaml", "wrote /etc/etcd/ca.pem", "wrote /etc/kubernetes/pki/kube-apiserver-key.pem",
				"wrote /etc/systemd/system/etcd.service", "wrote /etc/systemd/system/kube-apiserver.service",
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("first run changes:\n got %q\nwant %q", got, want)
			}
			if s := d.read(t, "/usr/local/bin/etcd"); s != "ETCD1" {
				t.Errorf("etcd binary = %q", s)
			}
			fi, err := os.Stat(filepath.Join(d.root, "/etc/kubernetes/pki/kube-apiserver-key.pem"))
			if err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("key mode: %v %v", fi.Mode(), err)
			}
			if left, _ := filepath.Glob(filepath.Join(d.root, "etc/etcd/*"+newSuffix)); len(left) > 0 {
				t.Errorf("temporary files left: %v", left)
			}
			if r := d.restarts(t); !reflect.DeepEqual(r, []string{"start etcd", "start kube-apiserver"}) {
				t.Errorf("systemctl calls = %q", r)
			}
			d.runs = 0
			p, err := NewPlan(context.Background(), n, testUnits("CA1"), bins.opts())
			if err != nil {
				t.Fatal(err)
			}
			if !p.Empty() {
				t.Fatalf("second run would change: %v", p.Changes())
			}
			if d.runs != 1 {
				t.Errorf("a no-op plan took %d commands, want 1", d.runs)
			}
		})
	}
}

func TestChangesRestartExactlyTheirUnits(t *testing.T) {
	tests := []struct {
		name         string
		mutate       func(t *testing.T, d *dirNode, bins *binaries, units []Unit) []Unit
		wantRestarts []string
		wantChanges  []string
	}{
		{
			name: "a shared file (the CA) restarts every unit that reads it",
			mutate: func(t *testing.T, d *dirNode, bins *binaries, units []Unit) []Unit {
				return testUnits("CA2")
			},
			wantRestarts: []string{"restart etcd", "restart kube-apiserver"},
			wantChanges:  []string{"restarted unit etcd", "restarted unit kube-apiserver", "wrote /etc/etcd/ca.pem"},
		},
		{
			name: "a file of one unit restarts only that unit",
			mutate: func(t *testing.T, d *dirNode, bins *binaries, units []Unit) []Unit {
				units[1].Files[2].Data = []byte("NEWKEY")
				return units
			},
			wantRestarts: []string{"restart kube-apiserver"},
			wantChanges:  []string{"restarted unit kube-apiserver", "wrote /etc/kubernetes/pki/kube-apiserver-key.pem"},
		},
		{
			name: "a NoRestart file is written without a restart",
			mutate: func(t *testing.T, d *dirNode, bins *binaries, units []Unit) []Unit {
				units[1].Files[3].Data = []byte("y")
				return units
			},
			wantRestarts: nil,
			wantChanges:  []string{"wrote /etc/crictl.yaml"},
		},
		{
			name: "a wrong mode on the node is repaired and restarts",
			mutate: func(t *testing.T, d *dirNode, bins *binaries, units []Unit) []Unit {
				if err := os.Chmod(filepath.Join(d.root, "/etc/systemd/system/etcd.service"), 0o644); err != nil {
					t.Fatal(err)
				}
				return units
			},
			wantRestarts: []string{"restart etcd"},
			wantChanges:  []string{"restarted unit etcd", "wrote /etc/systemd/system/etcd.service"},
		},
		{
			name: "a new binary restarts its unit",
			mutate: func(t *testing.T, d *dirNode, bins *binaries, units []Unit) []Unit {
				bins.set(t, d.mount, "kubectl", "KUBECTL2")
				return units
			},
			wantRestarts: []string{"restart kube-apiserver"},
			wantChanges:  []string{"installed /usr/local/bin/kubectl", "restarted unit kube-apiserver"},
		},
		{
			name: "a binary changed on the node behind hardway's back is reinstalled",
			mutate: func(t *testing.T, d *dirNode, bins *binaries, units []Unit) []Unit {
				if err := os.WriteFile(filepath.Join(d.root, "/usr/local/bin/etcd"), []byte("tampered, longer"), 0o755); err != nil {
					t.Fatal(err)
				}
				return units
			},
			wantRestarts: []string{"restart etcd"},
			wantChanges:  []string{"installed /usr/local/bin/etcd", "restarted unit etcd"},
		},
		{
			name: "a stopped unit is started, nothing else",
			mutate: func(t *testing.T, d *dirNode, bins *binaries, units []Unit) []Unit {
				os.Remove(filepath.Join(d.root, ".systemd", "etcd.active"))
				return units
			},
			wantRestarts: []string{"start etcd"},
			wantChanges:  []string{"started unit etcd"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDirNode(t)
			bins := newBinaries(t, d.mount, map[string]string{"etcd": "ETCD1", "kube-apiserver": "APISERVER1", "kubectl": "KUBECTL1"})
			converge(t, d, testUnits("CA1"), bins.opts())
			d.resetLog()
			units := tt.mutate(t, d, bins, testUnits("CA1"))
			got := targets(converge(t, d, units, bins.opts()))
			if !reflect.DeepEqual(got, tt.wantChanges) {
				t.Errorf("changes:\n got %q\nwant %q", got, tt.wantChanges)
			}
			if r := d.restarts(t); !reflect.DeepEqual(r, tt.wantRestarts) {
				t.Errorf("systemctl restarts = %q, want %q", r, tt.wantRestarts)
			}
			p, err := NewPlan(context.Background(), d, units, bins.opts())
			if err != nil {
				t.Fatal(err)
			}
			if !p.Empty() {
				t.Errorf("not converged after apply: %v", p.Changes())
			}
		})
	}
}

func TestInterruptedRestartIsRetried(t *testing.T) {
	d := newDirNode(t)
	bins := newBinaries(t, d.mount, map[string]string{"etcd": "ETCD1", "kube-apiserver": "APISERVER1", "kubectl": "KUBECTL1"})
	converge(t, d, testUnits("CA1"), bins.opts())

	// The new CA is written, then the restart fails (as if the run died
	// between writing files and restarting).
	fail := filepath.Join(d.root, ".systemd", "etcd.fail")
	if err := os.WriteFile(fail, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := NewPlan(context.Background(), d, testUnits("CA2"), bins.opts())
	if err != nil {
		t.Fatal(err)
	}
	_, err = Apply(context.Background(), d, p, nil)
	var ue *UnitError
	if !errors.As(err, &ue) || ue.Unit != "etcd" {
		t.Fatalf("want a UnitError for etcd, got %v", err)
	}
	if s := d.read(t, "/etc/etcd/ca.pem"); s != "CA2" {
		t.Fatalf("files were not written before the restart: %q", s)
	}
	os.Remove(fail)
	d.resetLog()

	// Same files on the node now: only the marker says etcd still runs the
	// old CA. (kube-apiserver was never reached: it has its marker too.)
	p, err = NewPlan(context.Background(), d, testUnits("CA2"), bins.opts())
	if err != nil {
		t.Fatal(err)
	}
	got := p.Changes()
	want := []Change{
		{Node: "mem", Action: Restarted, Target: "unit etcd", Reason: "interrupted restart of an earlier run"},
		{Node: "mem", Action: Restarted, Target: "unit kube-apiserver", Reason: "interrupted restart of an earlier run"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("plan after interruption:\n got %+v\nwant %+v", got, want)
	}
	if _, err := Apply(context.Background(), d, p, nil); err != nil {
		t.Fatal(err)
	}
	if r := d.restarts(t); !reflect.DeepEqual(r, []string{"restart etcd", "restart kube-apiserver"}) {
		t.Errorf("restarts = %q", r)
	}
	if p, _ := NewPlan(context.Background(), d, testUnits("CA2"), bins.opts()); !p.Empty() {
		t.Errorf("markers left behind: %v", p.Changes())
	}
}

func TestUserIsCreatedBeforeFilesItOwns(t *testing.T) {
	d := newDirNode(t)
	units := []Unit{{Name: "etcd", User: "nobody", Files: []File{
		{Path: "/etc/etcd/server-key.pem", Mode: 0o600, Owner: "nobody:nogroup", Data: []byte("K")},
	}}}
	got := targets(converge(t, d, units, Options{}))
	want := []string{"created user nobody", "enabled unit etcd", "started unit etcd", "wrote /etc/etcd/server-key.pem"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q want %q", got, want)
	}
	out, err := osexec.Command("stat", "-c", "%U:%G %a", filepath.Join(d.root, "/etc/etcd/server-key.pem")).Output()
	if err != nil || strings.TrimSpace(string(out)) != "nobody:nogroup 600" {
		t.Fatalf("owner/mode = %q %v", out, err)
	}
	if p, _ := NewPlan(context.Background(), d, units, Options{}); !p.Empty() {
		t.Errorf("second plan: %v", p.Changes())
	}
}

func TestBadDeclarationsAreRefused(t *testing.T) {
	tests := []struct {
		name  string
		units []Unit
		want  string
	}{
		{"same path, different content", []Unit{
			{Name: "a", Files: []File{{Path: "/etc/x", Mode: 0o644, Data: []byte("1")}}},
			{Name: "b", Files: []File{{Path: "/etc/x", Mode: 0o644, Data: []byte("2")}}},
		}, "/etc/x is declared by two units"},
		{"relative path", []Unit{{Name: "a", Files: []File{{Path: "etc/x"}}}}, "not a clean absolute path"},
		{"binary without artifacts", []Unit{{Name: "a", Binaries: []string{"etcd"}}}, "no artifacts are given"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDirNode(t)
			_, err := NewPlan(context.Background(), d, tt.units, Options{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if d.runs != 0 {
				t.Errorf("a bad declaration reached the node")
			}
		})
	}
}

func TestRestartsRunning(t *testing.T) {
	d := newDirNode(t)
	bins := newBinaries(t, d.mount, map[string]string{"etcd": "ETCD1", "kube-apiserver": "APISERVER1", "kubectl": "KUBECTL1"})
	p, err := NewPlan(context.Background(), d, testUnits("CA1"), bins.opts())
	if err != nil {
		t.Fatal(err)
	}
	if r := p.RestartsRunning(); len(r) != 0 {
		t.Errorf("first start restarts running units: %v", r)
	}
	if _, err := Apply(context.Background(), d, p, nil); err != nil {
		t.Fatal(err)
	}
	p, err = NewPlan(context.Background(), d, testUnits("CA2"), bins.opts())
	if err != nil {
		t.Fatal(err)
	}
	if r := p.RestartsRunning(); !reflect.DeepEqual(r, []string{"etcd", "kube-apiserver"}) {
		t.Errorf("RestartsRunning = %v", r)
	}
}

// TestNoFilesFromTheFuture: files reach nodes without timestamps in the
// future, which GNU tar warns about for each file ("time stamp ... is 0.27 s
// in the future") in every node output a failure quotes. The stream carries
// whole seconds cut, not rounded up, and the node stamps files with its own
// clock even when the stream's time is ahead of it (a node whose clock is
// behind this host's).
func TestNoFilesFromTheFuture(t *testing.T) {
	now := time.Date(2026, 12, 2, 16, 27, 28, 900_000_000, time.UTC)
	var buf bytes.Buffer
	if err := writeTar(&buf, []member{{path: "/etc/a", mode: 0o644, data: []byte("a")}}, now); err != nil {
		t.Fatal(err)
	}
	h, err := tar.NewReader(&buf).Next()
	if err != nil {
		t.Fatal(err)
	}
	if h.ModTime.After(now) {
		t.Errorf("the stream says %s for a file written at %s", h.ModTime.Format(time.RFC3339Nano), now.Format(time.RFC3339Nano))
	}

	// An hour ahead: this host's clock far ahead of the node's.
	buf.Reset()
	if err := writeTar(&buf, []member{{path: "/etc/b", mode: 0o644, data: []byte("b")}}, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	d := newDirNode(t)
	before := time.Now().Truncate(time.Second)
	// Run the apply script directly to see its stderr, where tar warns.
	cmd := osexec.Command("sh", "-c", applyScript, "apply", "tar", "file", "/etc/b")
	cmd.Env = append(os.Environ(), "HARDWAY_ROOT="+d.root, "PATH="+d.fakebin+":"+os.Getenv("PATH"))
	cmd.Stdin = &buf
	out, err := cmd.CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("apply: %v, output %q; want no output (no timestamp warnings)", err, out)
	}
	fi, err := os.Stat(filepath.Join(d.root, "etc/b"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.ModTime().Before(before) || fi.ModTime().After(time.Now()) {
		t.Errorf("the file's time is %s, want the node's time of writing (%s to now)", fi.ModTime(), before)
	}
}

// A no-op plan on a node with many files costs a few commands on the node,
// not a few per file: the probe hashes, stats and asks systemd once for all
// of them (per file, the forks were most of a no-op `up`).
func TestProbeCommandsDoNotGrowWithFiles(t *testing.T) {
	d := newDirNode(t)
	for _, tool := range []string{"sha256sum", "stat", "systemctl"} {
		real := filepath.Join(d.fakebin, tool)
		if tool != "systemctl" {
			p, err := osexec.LookPath(tool)
			if err != nil {
				t.Fatal(err)
			}
			real = p
		} else {
			if err := os.Rename(real, real+".fake"); err != nil {
				t.Fatal(err)
			}
			real += ".fake"
		}
		counter := "#!/bin/sh\necho x >>\"$HARDWAY_ROOT/.count-" + tool + "\"\nexec " + real + " \"$@\"\n"
		if err := os.WriteFile(filepath.Join(d.fakebin, tool), []byte(counter), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	units := testUnits("CA1")
	for i := 0; i < 40; i++ {
		units[1].Files = append(units[1].Files, File{Path: fmt.Sprintf("/etc/kubernetes/extra-%02d", i), Mode: 0o644, Data: []byte{byte(i)}})
	}
	bins := newBinaries(t, d.mount, map[string]string{"etcd": "ETCD1", "kube-apiserver": "APISERVER1", "kubectl": "KUBECTL1"})
	converge(t, d, units, bins.opts())
	for _, tool := range []string{"sha256sum", "stat", "systemctl"} {
		os.Remove(filepath.Join(d.root, ".count-"+tool))
	}
	p, err := NewPlan(context.Background(), d, units, bins.opts())
	if err != nil {
		t.Fatal(err)
	}
	if !p.Empty() {
		t.Fatalf("second run would change: %v", p.Changes())
	}
	// stat twice: the files' modes and the binaries' stamps.
	for tool, want := range map[string]int{"sha256sum": 1, "stat": 2, "systemctl": 1} {
		b, _ := os.ReadFile(filepath.Join(d.root, ".count-"+tool))
		if got := strings.Count(string(b), "x"); got != want {
			t.Errorf("a no-op probe of %d files ran %s %d times, want %d", len(units[0].Files)+len(units[1].Files), tool, got, want)
		}
	}
}

func TestParseProbe(t *testing.T) {
	units := []string{"etcd", "snapshot.timer"}
	for _, tc := range []struct {
		name, out string
		want      state
		err       string
	}{{
		name: "everything",
		out: "S aaa /etc/a\nM 644 root:root /etc/a\nB bbb /usr/local/bin/etcd\n" +
			"V Id=etcd.service\nV ActiveState=active\nV UnitFileState=enabled\nV \n" +
			"V Id=snapshot.timer\nV ActiveState=inactive\nV UnitFileState=\n" +
			"K 1 etcd\nK 0 snapshot.timer\nP 1 etcd\n",
		want: state{
			files: map[string]string{"/etc/a": "aaa 644 root:root"},
			bins:  map[string]string{"/usr/local/bin/etcd": "bbb"},
			units: map[string]unitState{"etcd": {active: "active", enabled: "enabled", marker: true}, "snapshot.timer": {active: "inactive", enabled: "unknown"}},
			users: map[string]bool{"etcd": true},
		},
	}, {
		name: "systemd did not answer: every unit unknown",
		out:  "K 0 etcd\nK 0 snapshot.timer\n",
		want: state{files: map[string]string{}, bins: map[string]string{}, users: map[string]bool{},
			units: map[string]unitState{"etcd": {active: "unknown", enabled: "unknown"}, "snapshot.timer": {active: "unknown", enabled: "unknown"}}},
	}, {
		name: "a block missing",
		out:  "V Id=etcd.service\nV ActiveState=active\n",
		err:  "answered for 1 units, asked for 2",
	}, {
		name: "blocks out of order",
		out:  "V Id=snapshot.timer\nV \nV Id=etcd.service\n",
		err:  "answered for snapshot.timer where etcd was asked",
	}, {
		name: "a line it does not know",
		out:  "F aaa 644 root:root /etc/a\n",
		err:  "unexpected line",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseProbe([]byte(tc.out), units)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// One probe of every unit answers the plans of any subset of them without
// asking the node again; a unit it never read is refused, not guessed.
func TestSnapshotPlansSubsets(t *testing.T) {
	d := newDirNode(t)
	bins := newBinaries(t, d.mount, map[string]string{"etcd": "ETCD1", "kube-apiserver": "APISERVER1", "kubectl": "KUBECTL1"})
	units := testUnits("CA1")
	converge(t, d, units[:1], bins.opts()) // etcd runs, the API server does not yet
	d.runs = 0
	snap, err := Probe(context.Background(), d, units, bins.opts())
	if err != nil {
		t.Fatal(err)
	}
	etcd, err := snap.Plan(units[:1], bins.opts())
	if err != nil {
		t.Fatal(err)
	}
	if !etcd.Empty() {
		t.Errorf("etcd from the snapshot would change: %v", etcd.Changes())
	}
	api, err := snap.Plan(units[1:], bins.opts())
	if err != nil {
		t.Fatal(err)
	}
	if got := targets(api.Changes()); !slices.Contains(got, "started unit kube-apiserver") || slices.Contains(got, "wrote /etc/etcd/ca.pem") {
		t.Errorf("the API server from the snapshot: %q, want it started and the shared CA (etcd wrote it) left alone", got)
	}
	if d.runs != 1 {
		t.Errorf("three plans took %d commands, want the one probe", d.runs)
	}
	_, err = snap.Plan([]Unit{{Name: "kubelet"}}, bins.opts())
	if !errors.Is(err, ErrNotCovered) || !strings.Contains(err.Error(), "kubelet on mem") {
		t.Errorf("a unit outside the probe: err = %v, want it refused as not covered", err)
	}
	if d.runs != 1 {
		t.Errorf("a refused plan ran a command on the node (%d in all)", d.runs)
	}
}
