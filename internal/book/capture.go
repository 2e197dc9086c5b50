package book

import (
	"strings"

	"hardway.dev/hardway/internal/images"
)

// The level-0 chapter quotes kubectl's -v=8 output as this cluster
// answered it: the CLI runs these commands while it builds the book of a
// live cluster (with --dry-run=server, so the API server authenticates,
// authorizes, admits and validates, and stores nothing), and the book
// prints what they printed. Without a running cluster it says so instead
// of showing output nobody captured.

// HelloManifest is hello.yaml, the Deployment the chapter applies.
var HelloManifest = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: hello
  labels:
    app: hello
spec:
  replicas: 1
  selector:
    matchLabels:
      app: hello
  template:
    metadata:
      labels:
        app: hello
    spec:
      containers:
      - name: hello
        image: ` + images.TestApp + `
`

// CaptureSpec is one command to capture: its key and its arguments after
// "kubectl", as a reader types them (hello.yaml is HelloManifest).
type CaptureSpec struct {
	Key  string
	Args []string
}

// The captured commands.
const (
	CaptureCreate     = "create"
	CaptureApply      = "apply"
	CaptureServerSide = "server-side"
)

// CaptureSpecs are the commands the chapter quotes, in its order.
func CaptureSpecs() []CaptureSpec {
	return []CaptureSpec{
		{CaptureCreate, append(strings.Fields(strings.TrimPrefix(createHello, "kubectl ")), "--dry-run=server", "-v=8")},
		{CaptureApply, []string{"apply", "-f", "hello.yaml", "--dry-run=server", "-v=8"}},
		{CaptureServerSide, []string{"apply", "--server-side", "-f", "hello.yaml", "--dry-run=server", "-v=8"}},
	}
}

// Capture is what one command printed on this cluster.
type Capture struct {
	// Command is the command line as the reader types it.
	Command string
	Output  string
}

// CleanCapture makes kubectl's output fit a page: scratch paths become the
// names the reader uses (hello.yaml, ~/.kube/cache), the lines listing
// kubectl's own feature gates are counted instead of shown, and long lines
// (response bodies) are cut.
func CleanCapture(out string, replace map[string]string) string {
	for from, to := range replace {
		out = strings.ReplaceAll(out, from, to)
	}
	const maxLine = 240
	var lines []string
	gates := 0
	for _, l := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		if strings.Contains(l, `"Feature gate default state"`) {
			gates++
			continue
		}
		if r := []rune(l); len(r) > maxLine {
			l = string(r[:maxLine]) + "…"
		}
		lines = append(lines, l)
	}
	if gates > 0 && len(lines) > 0 {
		lines = append(lines[:1], append([]string{"  (" + plural(gates, "line", "lines") + " listing kubectl's feature gates left out)"}, lines[1:]...)...)
	}
	return strings.Join(lines, "\n")
}
