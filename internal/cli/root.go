// Package cli is the command line. It is the only package that prints errors
// or decides exit codes.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"k8s.io/klog/v2"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/logx"
	"hardway.dev/hardway/internal/state"
)

// app carries what every command shares; one per process, never global.
type app struct {
	out, errOut io.Writer
	configFile  string
	name        string
	verbosity   int
	// traceTimings: up prints where its time went.
	traceTimings bool
}

func (a *app) log() logx.Logger { return &logx.Writer{W: a.errOut, Verbosity: a.verbosity} }

// loadConfig reads -c FILE; without it, the config the cluster was built
// with (saved by `up`), else the defaults. It applies --name and validates.
// Reading the saved config matters: `hardway up --from dns` after a failed
// `up -c one-node.yaml` must not rebuild the cluster from the defaults.
func (a *app) loadConfig() (*config.Cluster, error) {
	c, err := a.readConfig(a.nameOrDefault())
	if err != nil {
		return nil, err
	}
	if a.name != "" {
		c.Name = a.name
	}
	warnings, err := c.Validate()
	for _, w := range warnings {
		fmt.Fprintln(a.errOut, "warning:", w)
	}
	return c, err
}

// readConfig is -c FILE, else the config cluster name was built with, else
// the defaults; unvalidated.
func (a *app) readConfig(name string) (*config.Cluster, error) {
	if a.configFile != "" {
		return config.Load(a.configFile)
	}
	if saved := state.For(name).Config(); fileExists(saved) {
		return config.Load(saved)
	}
	return config.Default(), nil
}

func (a *app) nameOrDefault() string {
	if a.name != "" {
		return a.name
	}
	return config.DefaultName
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// Main runs the CLI and returns the process exit code.
func Main() int {
	// client-go logs through klog to stderr, e.g. when a stream it copies
	// ends because the caller's context did (every retried exec of the
	// smoke tests). hardway reports its own errors; these lines only bury
	// them.
	klog.SetLogger(logr.Discard())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return run(ctx, os.Args[1:], os.Stdout, os.Stderr)
}

func run(ctx context.Context, args []string, out, errOut io.Writer) int {
	a := &app{out: out, errOut: errOut}
	root := newRoot(a)
	root.SetArgs(args)
	root.SetOut(out)
	root.SetErr(errOut)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ve *config.ValidationError
	switch {
	case errors.As(err, &ve):
		for _, p := range ve.Problems {
			fmt.Fprintln(errOut, "error:", p)
		}
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(errOut, "error: interrupted")
	default:
		fmt.Fprintln(errOut, "error:", strings.TrimSpace(err.Error()))
	}
	return 1
}

func newRoot(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:           "hardway",
		Short:         "Build a real Kubernetes cluster from scratch, the hard way, and explain every step",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVarP(&a.configFile, "config", "c", "", "cluster config file (YAML, kind: Cluster); defaults need none")
	root.PersistentFlags().StringVar(&a.name, "name", "", "cluster name (default \"hardway\", or the config's name)")
	root.PersistentFlags().IntVarP(&a.verbosity, "v", "v", 0, "verbosity: 1 shows commands run on nodes, 2 also host commands")
	root.AddCommand(newNodeImageCmd(a))
	root.AddCommand(newShellCmd(a))
	root.AddCommand(newStatusCmd(a))
	root.AddCommand(newDownCmd(a))
	root.AddCommand(newCheckCmd(a))
	root.AddCommand(newArtifactsCmd(a))
	root.AddCommand(newRenderCmd(a))
	root.AddCommand(newStepsCmd(a), newExplainCmd(a), newUpCmd(a), newVerifyCmd(a),
		newKubeconfigCmd(a), newCertsCmd(a), newEncryptionCmd(a), newLogsCmd(a),
		newStopCmd(a), newStartCmd(a), newEtcdCmd(a), newUpgradeCmd(a))
	root.AddCommand(newTutorialCmd(a))
	root.AddCommand(newTraceCmd(a), newLabCmd(a))
	root.AddCommand(newConformanceCmd(a), newRegistryCmd(a))
	return root
}
