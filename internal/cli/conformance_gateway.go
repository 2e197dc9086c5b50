package cli

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"hardway.dev/hardway/internal/conformance"
	"hardway.dev/hardway/internal/host"
	"hardway.dev/hardway/internal/logx"
)

// gatewayFlags are conformance's flags for the Gateway API suite.
type gatewayFlags struct {
	on      bool
	runTest string
}

func (g *gatewayFlags) register(f *pflag.FlagSet) {
	f.BoolVar(&g.on, "gateway", false, "run the Gateway API conformance suite (GATEWAY-HTTP core) against the gateway add-on instead of the Kubernetes suite")
	f.StringVar(&g.runTest, "run-test", "", "with --gateway: run only this test of the suite (its short name, like HTTPRouteSimpleSameNamespace)")
}

func (a *app) conformanceGateway(cmd *cobra.Command, req conformance.Request, g gatewayFlags) error {
	// The Kubernetes suite's selection does not apply: refuse it rather
	// than ignore it.
	for _, name := range []string{"focus", "skip", "quick", "serial", "parallel"} {
		if cmd.Flags().Changed(name) {
			return fmt.Errorf("--%s selects Kubernetes conformance tests; with --gateway use --run-test NAME, or leave --gateway out", name)
		}
	}
	ctx := cmd.Context()
	c, err := a.open(ctx, host.NeedRunning, a.log())
	if err != nil {
		return err
	}
	o, err := conformance.ConformGateway(ctx, conformance.Env{
		Cluster: c,
		Builder: a.builder(a.host.Store()),
		Run:     a.host.Runner(a.log()),
		Log:     &logx.Writer{W: a.out},
		OnProgress: func(p conformance.Progress) {
			fmt.Fprintf(a.out, "%s\n", strings.TrimSpace(fmt.Sprintf("[%d %s, %d failed] %s", p.Done, fmtElapsed(p.Elapsed), p.Failed, p.Last)))
		},
	}, conformance.GatewayRequest{ReportDir: req.ReportDir, RunTest: g.runTest})
	a.registryChanged(o.Registry)
	if err != nil {
		return err
	}
	fmt.Fprint(a.out, "\n"+o.Text)
	fmt.Fprintf(a.out, "\nreport: %s (%s, %s, %s, %s)\n", o.Report, conformance.GatewayLogFile, conformance.GatewayJUnitFile, conformance.GatewaySummary, conformance.GatewayReportFile)
	if s := o.Summary; s.Failed > 0 {
		return fmt.Errorf("%d of %d Gateway API tests failed; see %s", s.Failed, s.Passed+s.Failed, filepath.Join(o.Report, conformance.GatewaySummary))
	}
	return nil
}
