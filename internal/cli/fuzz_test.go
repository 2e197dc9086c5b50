package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hardway.dev/hardway/internal/exec"
	"hardway.dev/hardway/internal/logx"
)

// FuzzCLI runs the command line with arguments the fuzzer makes up, on a
// host without a container engine, in a scratch directory: it must never
// panic, exit 0 or 1, and report a failure as one "error: ..." line (with
// at most indented detail lines under it), never a Go message or a stack.
//
//	go test -run='^$' -fuzz=FuzzCLI -fuzztime=60s ./internal/cli/
func FuzzCLI(f *testing.F) {
	for _, s := range []string{
		"up --name x --dry-run", "up --from bogus", "up --only dns --from etcd", "down --name ''", "status -o yaml",
		"list -o json", "verify --name ghost", "certs -o json", "certs check --within -1h", "lab start", "lab start nope",
		"lab list -o yaml", "explain pki", "explain nothing", "render", "render --out out --cgroup v3", "etcd snapshot restore x.db",
		"upgrade v0.0.1", "trace --timeout 0s", "conformance --parallel 0", "conformance --focus (", "registry push",
		"artifacts build --arch sparc", "kubeconfig --name a-b", "logs node-0", "shell", "version -o xml", "--version",
		"-v 9 steps", "-c missing.yaml up", "explain --name UPPER", "node-image tag", "tutorial", "completion bash",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		args := strings.Fields(line)
		for i, a := range args {
			// Nothing may be written outside the scratch directory.
			if strings.ContainsAny(a, `/\~`) || strings.HasPrefix(a, "..") {
				t.Skip()
			}
			if a == "''" {
				args[i] = ""
			}
		}
		dir := t.TempDir()
		t.Chdir(dir)
		t.Setenv("HARDWAY_HOME", filepath.Join(dir, "state"))
		t.Setenv("HARDWAY_CACHE", filepath.Join(dir, "cache"))
		t.Setenv("KUBECONFIG", filepath.Join(dir, "kubeconfig"))
		h := testHost(t)
		h.Runner = func(logx.Logger) exec.Runner { return refuseAll{} }
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var out, errOut bytes.Buffer
		code := run(ctx, h, args, &out, &errOut)
		if code != 0 && code != 1 {
			t.Fatalf("%q: exit %d", args, code)
		}
		text := errOut.String()
		for _, bad := range []string{"goroutine ", "panic:", "cannot unmarshal", "Go struct field", "runtime error"} {
			if strings.Contains(text, bad) {
				t.Fatalf("%q: %q reached the user:\n%s", args, bad, text)
			}
		}
		if code == 0 || ctx.Err() != nil {
			return
		}
		// The error is the last block of stderr: "error: ..." lines, each
		// followed only by indented details.
		lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
		first := len(lines)
		for first > 0 && (strings.HasPrefix(lines[first-1], "error: ") || strings.HasPrefix(lines[first-1], "  ")) {
			first--
		}
		if first == len(lines) || !strings.HasPrefix(lines[first], "error: ") || strings.TrimSpace(strings.TrimPrefix(lines[first], "error:")) == "" {
			t.Fatalf("%q: exit 1 without an \"error: ...\" line at the end:\n%s", args, text)
		}
	})
}

// refuseAll is a host where every command fails, the way a machine
// without Docker behaves.
type refuseAll struct{}

func (refuseAll) Run(_ context.Context, c exec.Cmd) ([]byte, error) {
	return nil, &exec.RunError{Cmd: c.String(), ExitCode: 127, Stderr: []byte(c.Name + ": not found"), Err: os.ErrNotExist}
}
