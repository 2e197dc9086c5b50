//go:build e2e

package e2e

import (
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"hardway.dev/hardway/internal/artifacts"
	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/lab"
	"hardway.dev/hardway/internal/trace"
)

// TestTraceAndLabs builds one 3-node cluster and, on it, traces a pod
// launch and runs every break-and-fix lab the way a learner would: start,
// see check fail, type the fix the hint documents, see check pass, reset,
// and verify the cluster.
func TestTraceAndLabs(t *testing.T) {
	const name = "e2etl"
	only := labsToRun(os.Getenv("HARDWAY_E2E_LABS"))
	cfg := clusterConfig(t, name, "network:\n  nodeSubnet: {subnet}\naddons: ["+strings.Join(labAddons(only), ", ")+"]\n")
	cleanup(t, name)
	start := time.Now()
	// hw fails the test with the output when up fails.
	hw(t, "up", "-c", cfg)
	t.Logf("TIMING up (3 nodes): %s", time.Since(start).Round(time.Second))
	kubeconfig := strings.TrimSpace(lastLine(hw(t, "kubeconfig", "--name", name)))
	tools := learnerPath(t)

	t.Run("trace", func(t *testing.T) {
		svg := filepath.Join(t.TempDir(), "launch.svg")
		// The etcd writes are timed by when a watcher heard of them (or the
		// API server's answer): on a busy host a watcher may hear later
		// than the scheduler. A learner would run it again; so does this.
		var problems []string
		for try := 1; try <= 3; try++ {
			start := time.Now()
			out, err := hwRun("trace", "--name", name, "--svg", svg)
			t.Logf("TIMING trace (try %d): %s\n%s", try, time.Since(start).Round(100*time.Millisecond), out)
			if problems = checkTimeline(out); err != nil {
				problems = append(problems, "exit: "+err.Error())
			}
			if len(problems) == 0 {
				break
			}
			t.Logf("try %d: %s", try, strings.Join(problems, "; "))
		}
		if len(problems) > 0 {
			t.Fatalf("no plausible timeline in 3 tries: %s", strings.Join(problems, "; "))
		}
		pic, err := os.ReadFile(svg)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"<svg", "RunPodSandbox (CRI)", "StartContainer", "watch: Ready"} {
			if !strings.Contains(string(pic), want) {
				t.Errorf("the picture lacks %q", want)
			}
		}
		// The traced pods are deleted with no grace period; the kubelet
		// still has to stop them before they are gone.
		var pods string
		for i := 0; i < 30; i++ {
			if pods = kubectlOut(t, tools, kubeconfig, "-n", trace.Namespace, "get", "pods", "-o", "name"); pods == "" {
				break
			}
			time.Sleep(time.Second)
		}
		if pods != "" {
			t.Errorf("the trace left pods behind: %s", pods)
		}
	})

	t.Run("trace --http", func(t *testing.T) {
		out := hw(t, "trace", "--name", name, "--http")
		for _, want := range []*regexp.Regexp{
			regexp.MustCompile(`(?m)^[+-]\d+\.\d{3}s POST https://\S+/api/v1/namespaces/hardway-trace/pods`),
			regexp.MustCompile(`(?m)^    Response Status: 201 Created in \d+\.\d ms$`),
			regexp.MustCompile(`(?m)^    Request Body: \{"kind":"Pod","apiVersion":"v1"`),
			regexp.MustCompile(`(?m)^    Response Header: Audit-Id: [0-9a-f-]{36}$`),
			regexp.MustCompile(`(?m)^\+\d+\.\d{3}s GET \S+watch=true`),
			regexp.MustCompile(`(?m)^\+\d+\.\d{3}s DELETE \S+/pods/launch-[a-z0-9]{5}`),
			regexp.MustCompile(`(?m)^The watch delivered the pod Ready at \+\d+\.\d{3}s; then the pod was deleted\.$`),
		} {
			if !want.MatchString(out) {
				t.Errorf("output lacks %s:\n%s", want, out)
			}
		}
	})

	for _, l := range lab.All() {
		if only != nil && !slices.Contains(only, l.Name) {
			continue
		}
		t.Run("lab "+l.Name, func(t *testing.T) {
			// A lab that failed half-way must not leave the next one a
			// broken cluster with a lab still active.
			defer func() {
				if t.Failed() {
					out, err := hwRun("lab", "reset", "--name", name)
					t.Logf("after the failure, lab reset: %v\n%s", err, out)
				}
			}()
			var times []string
			phase := func(what string, start time.Time) {
				times = append(times, what+" "+time.Since(start).Round(100*time.Millisecond).String())
			}
			defer func() { t.Logf("TIMING lab %s: %s", l.Name, strings.Join(times, ", ")) }()

			start := time.Now()
			out := hw(t, "lab", "start", l.Name, "--name", name)
			phase("start", start)
			if !strings.Contains(out, "The symptom:") {
				t.Fatalf("start shows no symptom:\n%s", out)
			}

			start = time.Now()
			out, err := hwRun("lab", "check", "--name", name)
			phase("check (broken)", start)
			if err == nil || !strings.Contains(out, "lab "+l.Name+" is not fixed yet") {
				t.Fatalf("check passed on a broken cluster (err %v):\n%s", err, out)
			}

			// The hints in turn, as a learner asks for them: numbered, the
			// fix only in the last, the last repeated after that.
			var fixes []string
			total := len(l.Hints(mustTarget(t, l, cfg)))
			for n := 1; n <= total+1; n++ {
				hint := hw(t, "lab", "hint", "--name", name)
				want := fmt.Sprintf("Hint %d of %d. ", min(n, total), total)
				if !strings.Contains(hint, want) {
					t.Fatalf("hint call %d lacks %q:\n%s", n, want, hint)
				}
				if got := fixLines(hint); (len(got) > 0) != (n >= total) {
					t.Fatalf("hint %d of %d: fix %q (the fix belongs in the last hint only):\n%s", n, total, got, hint)
				} else if n == total {
					fixes = got
				}
			}
			if len(fixes) == 0 {
				t.Fatal("the hint documents no fix")
			}
			start = time.Now()
			for _, f := range fixes {
				cmd := osexec.Command("bash", "-e", "-o", "pipefail", "-c", f)
				cmd.Env = append(os.Environ(), "PATH="+tools+":"+os.Getenv("PATH"), "KUBECONFIG="+kubeconfig)
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("the documented fix %q failed: %v\n%s", f, err, out)
				}
			}
			phase("fix", start)

			// A learner runs check again while the cluster settles (a kubelet
			// remembers a denial for 30 s).
			start = time.Now()
			var tries int
			for tries = 1; tries <= 4; tries++ {
				if out, err = hwRun("lab", "check", "--name", name); err == nil {
					break
				}
			}
			phase("check (fixed, "+strconv.Itoa(min(tries, 4))+" runs)", start)
			if err != nil || !strings.Contains(out, "Fixed: lab "+l.Name+" is solved") {
				t.Fatalf("check still fails after the documented fix %q:\n%s", fixes, out)
			}
			for _, want := range []string{"What broke: " + l.Title, "Why the fix works:", "hardway explain " + l.Step + " --name " + name} {
				if !strings.Contains(out, want) {
					t.Errorf("the debrief lacks %q:\n%s", want, out)
				}
			}

			start = time.Now()
			out = hw(t, "lab", "reset", "--name", name)
			phase("reset", start)
			if !strings.Contains(out, "lab "+l.Name+" ended, every smoke test passes") {
				t.Errorf("reset says:\n%s", out)
			}
			start = time.Now()
			out = hw(t, "verify", "--name", name)
			phase("verify", start)
			if err := smokeTestsPassed(out); err != nil {
				t.Errorf("verify after reset: %v", err)
			}
			out = hw(t, "lab", "list", "--name", name)
			if strings.Contains(out, "(active") {
				t.Errorf("a lab is still active after reset:\n%s", out)
			}
			if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(l.Name) + `\s+✓\s`).MatchString(out) {
				t.Errorf("lab list does not show %s passed:\n%s", l.Name, out)
			}
		})
	}
}

// stageLine is one stage of the trace's timeline: time and name.
var stageLine = regexp.MustCompile(`(?m)^\s+([+-]\d+\.\d{3})s  (\S+)\s`)

// checkTimeline lists what is implausible in a trace's output: every stage
// must be there, in causal order, each no earlier than the one before, all
// from the create (0) to the moment the pod was seen Ready.
func checkTimeline(out string) []string {
	var problems []string
	var names []string
	var times []float64
	for _, m := range stageLine.FindAllStringSubmatch(out, -1) {
		v, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			problems = append(problems, err.Error())
		}
		names = append(names, m[2])
		times = append(times, v)
	}
	if !slices.Equal(names, trace.StageNames()) {
		return append(problems, "stages "+strings.Join(names, ",")+", want "+strings.Join(trace.StageNames(), ","))
	}
	if times[0] != 0 {
		problems = append(problems, "the create is not at 0")
	}
	for i := 1; i < len(times); i++ {
		if times[i] < times[i-1] {
			problems = append(problems, names[i]+" before "+names[i-1])
		}
	}
	if last := times[len(times)-1]; last <= 0 || last > 60 {
		problems = append(problems, "Ready after "+strconv.FormatFloat(last, 'f', 3, 64)+"s")
	}
	if strings.Contains(out, "no evidence found") {
		problems = append(problems, "a stage without evidence")
	}
	return problems
}

// mustTarget is what lab l works on in the e2e cluster, from its config
// file.
func mustTarget(t *testing.T, l lab.Lab, file string) lab.Target {
	t.Helper()
	cfg, err := config.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	tg, err := l.TargetIn(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

// fixLines are the commands under "Fix it:" in a lab's hint.
func fixLines(hint string) []string {
	var out []string
	in := false
	for _, l := range strings.Split(hint, "\n") {
		switch {
		case l == "Fix it:":
			in = true
		case in && strings.HasPrefix(l, "  "):
			out = append(out, strings.TrimSpace(l))
		case in:
			return out
		}
	}
	return out
}

// learnerPath is a directory with what a learner types: hardway (the binary
// under test) and kubectl (the one built for the cluster, so the test needs
// none on the host).
func learnerPath(t *testing.T) string {
	t.Helper()
	root, err := artifacts.DefaultRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := artifacts.NewStore(root).Resolve(config.Default().KubernetesVersion)
	if err != nil {
		t.Fatal(err)
	}
	k, ok := b.Binary("kubectl")
	if !ok {
		t.Fatal("no kubectl in the artifact cache")
	}
	dir := t.TempDir()
	for link, target := range map[string]string{"hardway": hardway, "kubectl": b.HostPath(k.Rel)} {
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// kubectlOut runs the cluster's own kubectl (in tools) from the host.
func kubectlOut(t *testing.T, tools, kubeconfig string, args ...string) string {
	t.Helper()
	cmd := osexec.Command(filepath.Join(tools, "kubectl"), append([]string{"--kubeconfig", kubeconfig}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// ciLabs run in make e2e (CI's time budget): one lab per layer the others
// share (etcd, node routes, kubelet certificates, CoreDNS's config,
// kube-proxy, RBAC) and two build labs (CoreDNS; a kubelet identity made
// with openssl). Every lab runs with
// HARDWAY_E2E_LABS=all (hack/test-labs.sh, ~15 min).
var ciLabs = []string{"etcd-member", "pod-route", "kubelet-cert", "coredns-corefile", "kube-proxy", "kubelet-rbac", "build-coredns", "build-kubeconfig"}

// labsToRun: nil runs every lab ("all"); a,b runs those (while working on
// them); empty runs ciLabs.
// labAddons is the lab cluster's add-on set: the default one and every
// add-on a lab to run needs (only: the labs to run, nil for all), in
// install order.
func labAddons(only []string) []string {
	want := config.Default().DefaultAddons()
	for _, l := range lab.All() {
		if l.Needs != "" && (only == nil || slices.Contains(only, l.Name)) {
			want = append(want, l.Needs)
		}
	}
	var out []string
	for _, a := range config.KnownAddons() {
		if slices.Contains(want, a) {
			out = append(out, a)
		}
	}
	return out
}

func labsToRun(env string) []string {
	switch env {
	case "all":
		return nil
	case "":
		return ciLabs
	}
	return strings.Split(env, ",")
}
