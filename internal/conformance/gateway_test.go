package conformance

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseGoTest(t *testing.T) {
	out := `=== RUN   TestConformance
=== RUN   TestConformance/HTTPRouteSimpleSameNamespace
=== RUN   TestConformance/HTTPRouteSimpleSameNamespace/Simple_HTTP_request_should_reach_infra-backend
    --- PASS: TestConformance/HTTPRouteSimpleSameNamespace/Simple_HTTP_request_should_reach_infra-backend (0.10s)
--- PASS: TestConformance/HTTPRouteSimpleSameNamespace (1.50s)
=== RUN   TestConformance/HTTPRouteMultipleGateways
    suite.go:1: Skipping HTTPRouteMultipleGateways: test explicitly skipped
--- SKIP: TestConformance/HTTPRouteMultipleGateways (0.00s)
=== RUN   TestConformance/GatewayInvalidTLSConfiguration
    --- FAIL: TestConformance/GatewayInvalidTLSConfiguration (30.00s)
        helpers.go:200: timed out waiting for Programmed=False
        more detail
--- FAIL: TestConformance (31.50s)
FAIL
`
	got := ParseGoTest(out)
	want := []Case{
		{Name: "GatewayInvalidTLSConfiguration", Status: "failed", Time: 30 * time.Second, FirstError: "helpers.go:200: timed out waiting for Programmed=False"},
		{Name: "HTTPRouteMultipleGateways", Status: "skipped", Time: 0, FirstError: "suite.go:1: Skipping HTTPRouteMultipleGateways: test explicitly skipped"},
		{Name: "HTTPRouteSimpleSameNamespace", Status: "passed", Time: 1500 * time.Millisecond},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	text := gatewaySummaryText(Summarize(got), got, "test", nil)
	for _, w := range []string{"passed 1, failed 1, skipped 1", "Failed:\n- GatewayInvalidTLSConfiguration\n    helpers.go:200", "Skipped:\n- HTTPRouteMultipleGateways\n    suite.go:1: Skipping"} {
		if !strings.Contains(text, w) {
			t.Errorf("summary lacks %q:\n%s", w, text)
		}
	}
}
