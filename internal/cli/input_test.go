package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"hardway.dev/hardway/internal/artifacts"
	"hardway.dev/hardway/internal/exec"
	"hardway.dev/hardway/internal/lab"
	"hardway.dev/hardway/internal/steps"
)

// TestRefusedInputTouchesNothing: each bad input gets exactly its one line,
// and leaves the state directory empty and Docker unasked beyond read-only
// questions.
func TestRefusedInputTouchesNothing(t *testing.T) {
	dir := t.TempDir()
	file := func(name, doc string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	head := "apiVersion: hardway.dev/v1alpha1\nkind: Cluster\n"
	unpinned := file("unpinned.yaml", head+"kubernetesVersion: v1.30.0\n")
	empty := file("empty.yaml", head+"nodes: []\n")
	dup := file("dup.yaml", head+"name: a\nname: b\n")
	out := filepath.Join(dir, "rendered")
	notPinned := "error: kubernetesVersion v1.30.0 has no pinned artifacts; use one of " + strings.Join(artifacts.SupportedVersions(), ", ")
	emptyName := `error: --name: the cluster name is empty: give one like "lab", or leave it out for the default "hardway"`
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"up", "--name", ""}, []string{emptyName}},
		{[]string{"down", "--name", ""}, []string{emptyName}},
		{[]string{"status", "--name", "Bad_Name"}, []string{`error: --name: "Bad_Name" is not a valid cluster name: use 1 to 40 lower-case letters, digits and '-', starting and ending with a letter or digit (Docker names its network hardway-NAME), e.g. "bad-name"`}},
		{[]string{"up", "-c", unpinned}, []string{notPinned}},
		{[]string{"render", "-c", unpinned, "--out", out}, []string{notPinned}},
		{[]string{"up", "-c", empty}, []string{"error: " + empty + ":3: nodes: the list is empty: remove the key for the default 3 nodes, or list at least one node"}},
		{[]string{"up", "-c", dup}, []string{"error: " + dup + ":4: name: given twice (lines 3 and 4); YAML would silently keep only the last: keep one"}},
		{[]string{"verify", "--name", "ghost"}, []string{`error: cluster "ghost" has no state on this host (` + "HOME/clusters/ghost" + `); create it with: hardway up --name ghost (the clusters here: hardway list)`}},
		{[]string{"etcd", "snapshot", "restore", filepath.Join(dir, "missing.db")}, []string{"error: snapshot " + filepath.Join(dir, "missing.db") + " does not exist; nothing was changed (take one with: hardway etcd snapshot save FILE --name hardway)"}},
		{[]string{"status", "-o", "xml"}, []string{`error: invalid argument "xml" for "-o, --output" flag: "xml": want json or yaml (or leave -o out for the table)`}},
		{[]string{"upgrade"}, []string{"error: name the version to move to: hardway upgrade VERSION (e.g. v1.37.2)"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			home := t.TempDir()
			t.Setenv("HARDWAY_HOME", home)
			h := testHost(t)
			code, _, errOut := runCLIOn(h, tt.args...)
			got := strings.Split(strings.TrimSpace(strings.ReplaceAll(errOut, home, "HOME")), "\n")
			if code != 1 || !slices.Equal(got, tt.want) {
				t.Errorf("exit %d, stderr:\n%s\nwant:\n%s", code, errOut, strings.Join(tt.want, "\n"))
			}
			if entries, _ := os.ReadDir(home); len(entries) != 0 {
				t.Errorf("state written: %v", entries)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("render wrote %s", out)
			}
			for _, c := range h.Runner(nil).(*noEngine).ran {
				if !strings.HasPrefix(c, "docker container ls") && !strings.HasPrefix(c, "docker image inspect") && !strings.HasPrefix(c, "docker network inspect") {
					t.Errorf("ran %s", c)
				}
			}
		})
	}
}

func TestVersionCommand(t *testing.T) {
	code, out, errOut := runCLI(t, "version", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var v versionOut
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	var got []string
	for _, k := range v.Kubernetes {
		got = append(got, k.Version)
		if k.Components[artifacts.CompEtcd] == "" || k.Components[artifacts.CompContainerd] == "" {
			t.Errorf("%s: components %v lack etcd or containerd", k.Version, k.Components)
		}
	}
	if !slices.Equal(got, artifacts.SupportedVersions()) || v.Hardway.Go == "" {
		t.Errorf("version %+v", v)
	}
	_, line, _ := runCLI(t, "--version")
	if _, text, _ := runCLI(t, "version"); !strings.HasPrefix(text, "hardway ") || !strings.Contains(text, "v1.36.3: etcd ") {
		t.Errorf("version:\n%s%s", text, line)
	}
}

func TestListShowsStateWithoutMachines(t *testing.T) {
	home := isolate(t)
	saveCluster(t, home, "demo", "")
	code, out, errOut := runCLI(t, "list")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	want := []string{"NAME  PROVIDER  NODES  KUBERNETES  STATE", "demo  docker    3      v1.37.2     no machines"}
	if got := strings.Split(strings.TrimSpace(out), "\n"); !slices.Equal(got, want) {
		t.Errorf("list:\n%s\nwant:\n%s", out, strings.Join(want, "\n"))
	}
	_, js, _ := runCLI(t, "list", "-o", "json")
	var l struct {
		Clusters []struct {
			Name, State string
			Nodes       int
		}
	}
	if err := json.Unmarshal([]byte(js), &l); err != nil || len(l.Clusters) != 1 || l.Clusters[0].State != "no machines" || l.Clusters[0].Nodes != 3 {
		t.Errorf("list -o json: %v\n%s", err, js)
	}
	if _, out, _ := runCLI(t, "status", "--name", "demo"); !strings.Contains(out, "has no machines, only its saved state") {
		t.Errorf("status of a cluster without machines:\n%s", out)
	}
}

func TestCompletion(t *testing.T) {
	home := isolate(t)
	saveCluster(t, home, "demo", "")
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"__complete", "status", "--name", ""}, []string{"demo"}},
		{[]string{"__complete", "shell", "--name", "demo", ""}, []string{"node-0", "node-1", "node-2", "lb"}},
		{[]string{"__complete", "logs", "--name", "demo", "node-0", ""}, components()},
		{[]string{"__complete", "lab", "start", ""}, lab.Names()},
		{[]string{"__complete", "up", "--from", ""}, steps.Names(steps.All())},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, out, errOut := runCLI(t, tt.args...)
			var got []string
			for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
				if !strings.HasPrefix(l, ":") {
					got = append(got, l)
				}
			}
			if code != 0 || !slices.Equal(got, tt.want) {
				t.Errorf("exit %d %s: %v, want %v", code, errOut, got, tt.want)
			}
		})
	}
}

// TestInterruptedIsOneLine: Ctrl-C during up says so once, with the step
// and how to resume, whatever the step's command printed when it was
// killed.
func TestInterruptedIsOneLine(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	killed := &exec.RunError{Where: "node-0", Cmd: "tar -x", ExitCode: -1,
		Stderr: []byte("tar: ./etc/kubernetes/x: time stamp 2026-12-02 is 0.27 s in the future\n"), Err: context.Canceled}
	err := &resumable{err: &steps.StepError{Step: "workers", Err: fmt.Errorf("node-0: applying changes: %w", killed)},
		resume: "hardway up --name hardway --from workers"}
	var b bytes.Buffer
	printError(&b, ctx, err)
	want := "error: interrupted during step workers\n  resume with: hardway up --name hardway --from workers\n"
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	failed := &exec.RunError{Where: "node-0", Cmd: "tar -x", ExitCode: 2, Stderr: []byte("tar: no space left on device"), Err: errors.New("exit status 2")}
	err = &resumable{err: &steps.StepError{Step: "workers", Err: fmt.Errorf("node-0: applying changes: %w", failed)},
		resume: "hardway up --name hardway --from workers"}
	printError(&b, context.Background(), err)
	if !strings.HasPrefix(b.String(), "error: step workers: node-0: applying changes: command failed on node-0") || !strings.Contains(b.String(), "\n  fix the cause, then resume with: hardway up --name hardway --from workers") {
		t.Errorf("a real failure:\n%s", b.String())
	}
}
