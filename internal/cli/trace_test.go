package cli

import (
	"bytes"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hardway.dev/hardway/internal/trace"
)

func TestTraceArguments(t *testing.T) {
	home := isolate(t)
	saveCluster(t, home, "demo", "")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"trace", "--http", "--svg", "x.svg", "--name", "demo"}, "error: --svg draws the components' timeline, which --http does not collect; drop one of them"},
		{[]string{"trace", "--timeout", "0s", "--name", "demo"}, "error: --timeout 0s: must be positive, e.g. --timeout 2m"},
		{[]string{"trace", "pod", "--name", "demo"}, `error: unknown command "pod" for "hardway trace" (see: hardway trace --help)`},
		{[]string{"trace", "--name", "demo"}, "error: cluster demo has no machines (provider docker), only its saved state in " + filepath.Join(home, "clusters", "demo") + ": create them with: hardway up --name demo (or forget the cluster: hardway down --name demo)"},
		{[]string{"trace", "--name", "ghost"}, `error: cluster "ghost" has no state on this host (` + filepath.Join(home, "clusters", "ghost") + `); create it with: hardway up --name ghost (the clusters here: hardway list)`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, _, errOut := runCLI(t, tt.args...)
			if code == 0 || strings.TrimSpace(errOut) != tt.want {
				t.Errorf("exit %d, stderr %q\nwant %q", code, errOut, tt.want)
			}
		})
	}
}

func TestPrintTimeline(t *testing.T) {
	start := time.Date(2026, 11, 27, 14, 29, 18, 900_000_000, time.UTC)
	tl := trace.Timeline{
		Namespace: "hardway-trace", Name: "launch-abcde", Image: "hardway.local/testapp:1.0", Node: "node-2", IP: "10.200.2.4", Start: start,
		Stages: []trace.Stage{
			{Name: trace.StageCreate, Component: "hardway", What: "POST …/pods", Evidence: "this host's clock"},
			{Name: trace.StageAPIRequest, At: 2 * time.Millisecond, Component: "kube-apiserver", Node: "node-0", What: "received the create", Evidence: "audit log of node-0"},
			{Name: trace.StageSeen, At: 1360 * time.Millisecond, Component: "hardway", What: "Ready", Evidence: "this host's clock"},
		},
		Missing: []trace.Missing{{Stage: trace.StageIP, Looked: "a file under /var/lib/cni/networks on node-2"}},
	}
	var b bytes.Buffer
	printTimeline(&b, tl)
	want := `Pod hardway-trace/launch-abcde (image hardway.local/testapp:1.0) ran on node-2 with IP 10.200.2.4.
Times are from the moment the create request left this host (14:29:18.900); the nodes share its clock.

  +0.000s  create            hardway                    POST …/pods
                                                        evidence: this host's clock
  +0.002s  api-request       kube-apiserver@node-0      received the create
                                                        evidence: audit log of node-0
  +1.360s  client-ready      hardway                    Ready
                                                        evidence: this host's clock
        ?  ip-assigned       no evidence found; looked for a file under /var/lib/cni/networks on node-2

From create to Ready as this host saw it: +1.360s.
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestPrintExchanges(t *testing.T) {
	start := time.Date(2026, 11, 27, 14, 29, 18, 900_000_000, time.UTC)
	ex := []trace.Exchange{{
		Start: start, Method: "POST", URL: "https://10.240.0.2:6443/api/v1/namespaces/hardway-trace/pods?timeout=30s",
		RequestHeader: http.Header{"Content-Type": {"application/json"}, "Accept": {"application/json"}},
		RequestBody:   []byte("{\"kind\":\"Pod\",\n \"apiVersion\":\"v1\"}"),
		Status:        "201 Created", Code: 201, Latency: 27 * time.Millisecond,
		ResponseHeader: http.Header{"Audit-Id": {"abc"}},
		ResponseBody:   []byte(`{"kind":"Pod"}`), BodyBytes: 14, BodyDone: 28 * time.Millisecond,
	}, {
		Start: start.Add(30 * time.Millisecond), Method: "GET", URL: "https://10.240.0.2:6443/api/v1/namespaces/hardway-trace/pods?watch=true",
		Status: "200 OK", Code: 200, Latency: 3 * time.Millisecond, BodyBytes: 9290, BodyDone: 1878 * time.Millisecond,
	}, {
		Start: start.Add(2 * time.Second), Method: "DELETE", URL: "https://10.240.0.2:6443/api/v1/namespaces/hardway-trace/pods/launch-abcde",
		Latency: 30 * time.Second, Err: "context deadline exceeded",
	}}
	var b bytes.Buffer
	printExchanges(&b, start, ex)
	want := `The HTTP requests of this trace, as a client makes them (kubectl -v=8 shows the same).
Times are from the moment the create request left this host.

+0.000s POST https://10.240.0.2:6443/api/v1/namespaces/hardway-trace/pods?timeout=30s
    Request Header: Accept: application/json
    Request Header: Content-Type: application/json
    Request Body: {"kind":"Pod", "apiVersion":"v1"}
    Response Status: 201 Created in 27.0 ms
    Response Header: Audit-Id: abc
    Response Body: {"kind":"Pod"}

+0.030s GET https://10.240.0.2:6443/api/v1/namespaces/hardway-trace/pods?watch=true
    Response Status: 200 OK in 3.0 ms
    (a stream: 9290 bytes until it closed after 1878.0 ms)

+2.000s DELETE https://10.240.0.2:6443/api/v1/namespaces/hardway-trace/pods/launch-abcde
    no response after 30000.0 ms: context deadline exceeded
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}
