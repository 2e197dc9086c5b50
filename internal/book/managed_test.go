package book

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestPrerequisitesAreTheScripts: the Linux packages the chapter lists are
// exactly those hack/setup-host.sh installs, and every Homebrew command is
// one hardway check gives on macOS.
func TestPrerequisitesAreTheScripts(t *testing.T) {
	script, err := os.ReadFile("../../hack/setup-host.sh")
	if err != nil {
		t.Fatal(err)
	}
	var pkgs []string
	for _, m := range regexp.MustCompile(`need_pkgs\+=\(([^)]*)\)`).FindAllStringSubmatch(string(script), -1) {
		pkgs = append(pkgs, strings.Fields(m[1])...)
	}
	if !slices.Equal(pkgs, LinuxPackages) {
		t.Errorf("setup-host.sh installs %v; the chapter lists %v", pkgs, LinuxPackages)
	}
	check, err := os.ReadFile("../machinecheck/host.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range MacFixes {
		if f == "brew install go" {
			continue // Go is what builds hardway: the README's first line on a Mac
		}
		if !strings.Contains(string(check), f) {
			t.Errorf("%q is no fix hardway check gives on macOS", f)
		}
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "brew install go") || !strings.Contains(string(readme), "node-image build --dockerfile") {
		t.Error("the README's Mac section no longer says brew install go / node-image build --dockerfile")
	}
}

// TestCaptures: kubectl's output is quoted only when it was captured; a
// book without a running cluster says so and shows the command instead.
func TestCaptures(t *testing.T) {
	for _, tt := range []struct {
		name     string
		live     bool
		captures map[string]Capture
		want     []string
		not      []string
	}{
		{"not built", false, nil, []string{"Not captured: this book was built without a running cluster", "kubectl apply --server-side -f hello.yaml --dry-run=server -v=8"}, []string{"round_trippers"}},
		{"live, not answering", true, nil, []string{"Not captured: the cluster did not answer while this book was built (no kubectl)"}, []string{"round_trippers"}},
		{"live", true, map[string]Capture{
			CaptureCreate:     {"kubectl create x", `I1 round_trippers.go] "Request" verb="POST"`},
			CaptureApply:      {"kubectl apply x", `I2 round_trippers.go] "Request" verb="GET"`},
			CaptureServerSide: {"kubectl apply --server-side x", "Content-Type: application/apply-patch+yaml"},
		}, []string{"$ kubectl create x\nI1 round_trippers", "$ kubectl apply --server-side x\nContent-Type: application/apply-patch+yaml"}, []string{"Not captured"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := testInput(tt.live)
			in.Captures = tt.captures
			if tt.live && tt.captures == nil {
				in.CaptureNote = "no kubectl"
			}
			chapters, _, err := Chapters(in)
			if err != nil {
				t.Fatal(err)
			}
			var body string
			for _, ch := range chapters {
				if ch.ID == "pod-0-kubectl" {
					body = ch.Body
				}
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("lacks %q", w)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(body, n) {
					t.Errorf("has %q", n)
				}
			}
		})
	}
	got := CleanCapture("I1 loader.go] Config loaded\nI2 envvar.go] \"Feature gate default state\" feature=\"A\"\nI3 envvar.go] \"Feature gate default state\" feature=\"B\"\n-f /tmp/x/hello.yaml "+strings.Repeat("y", 300)+"\n",
		map[string]string{"/tmp/x/hello.yaml": "hello.yaml"})
	want := "I1 loader.go] Config loaded\n  (2 lines listing kubectl's feature gates left out)\n-f hello.yaml " + strings.Repeat("y", 240-len("-f hello.yaml ")) + "…"
	if got != want {
		t.Errorf("CleanCapture:\n%s\nwant\n%s", got, want)
	}
}
