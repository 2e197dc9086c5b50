// Package cli is the command line: it parses flags, opens the cluster a
// command names (open.go, one way for every command), calls a procedure
// from the package that owns it, and prints. It is the only package that
// prints or decides exit codes.
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
	"hardway.dev/hardway/internal/host"
	"hardway.dev/hardway/internal/logx"
	"hardway.dev/hardway/internal/steps"
)

// app carries what every command shares; one per process, never global.
type app struct {
	out, errOut io.Writer
	// host is this machine: artifact cache and host commands. Tests give
	// one whose runner reaches no Docker engine.
	host       *host.Host
	configFile string
	name       string
	verbosity  int
}

func (a *app) log() logx.Logger { return &logx.Writer{W: a.errOut, Verbosity: a.verbosity} }

// Main runs the CLI and returns the process exit code.
func Main() int {
	// client-go logs through klog to stderr, e.g. when a stream it copies
	// ends because the caller's context did (every retried exec of the
	// smoke tests). hardway reports its own errors; these lines only bury
	// them.
	klog.SetLogger(logr.Discard())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	h, err := host.Local()
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		return 1
	}
	return run(ctx, h, os.Args[1:], os.Stdout, os.Stderr)
}

func run(ctx context.Context, h *host.Host, args []string, out, errOut io.Writer) int {
	a := &app{out: out, errOut: errOut, host: h}
	root := newRoot(a)
	root.SetArgs(args)
	root.SetOut(out)
	root.SetErr(errOut)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	printError(errOut, ctx, err)
	return 1
}

// printError writes err as "error: ..." lines: one per problem of a config,
// one line for an interruption (with how to resume), else the error.
func printError(w io.Writer, ctx context.Context, err error) {
	var ve *config.ValidationError
	var se *steps.StepError
	switch {
	case errors.As(err, &ve):
		for _, p := range ve.Problems {
			fmt.Fprintln(w, "error:", p)
		}
	case ctx.Err() != nil || errors.Is(err, context.Canceled):
		// Whatever a command was doing when Ctrl-C came (a docker exec
		// killed half-way, a wait cut short) is noise: say what happened
		// and how to go on.
		msg := "error: interrupted"
		if errors.As(err, &se) {
			msg += " during step " + se.Step
		}
		fmt.Fprintln(w, msg)
		if r := resumeHint(err); r != "" {
			fmt.Fprintln(w, "  "+r)
		}
	default:
		fmt.Fprintln(w, "error:", cobraOneLine(strings.TrimSpace(err.Error())))
	}
}

// cobraOneLine folds cobra's multi-line "unknown command" error (a blank
// line, "Did you mean this?", tab-indented names) into one line.
func cobraOneLine(msg string) string {
	if !strings.HasPrefix(msg, "unknown command ") {
		return msg
	}
	if before, after, ok := strings.Cut(msg, "\n\nDid you mean this?\n"); ok {
		return before + " (did you mean " + strings.Join(strings.Fields(after), " or ") + "?)"
	}
	// `unknown command "pod" for "hardway trace"`: point at that command's
	// help, which lists what it takes.
	cmd := "hardway"
	if i := strings.LastIndex(msg, ` for "`); i >= 0 {
		cmd = strings.TrimSuffix(msg[i+len(` for "`):], `"`)
	}
	return msg + " (see: " + cmd + " --help)"
}

// resumable marks an error of `up` with the command that continues it.
type resumable struct {
	err    error
	resume string
}

func (r *resumable) Error() string {
	return fmt.Sprintf("%v\n  fix the cause, then resume with: %s", r.err, r.resume)
}
func (r *resumable) Unwrap() error { return r.err }

func resumeHint(err error) string {
	var r *resumable
	if errors.As(err, &r) {
		return "resume with: " + r.resume
	}
	return ""
}

func newRoot(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:           "hardway",
		Short:         "Build a real Kubernetes cluster from scratch, the hard way, and explain every step",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       versionLine(),
		// Every command names its cluster through --name (or the config's
		// name): refuse a bad one before anything reads or writes state,
		// or passes it to docker.
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("name") {
				if err := config.ValidateName(a.name); err != nil {
					return fmt.Errorf("--name: %w", err)
				}
			}
			return nil
		},
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.PersistentFlags().StringVarP(&a.configFile, "config", "c", "", "cluster config file (YAML, kind: Cluster); defaults need none")
	root.PersistentFlags().StringVar(&a.name, "name", "", "cluster name (default \"hardway\", or the config's name)")
	root.PersistentFlags().IntVarP(&a.verbosity, "v", "v", 0, "verbosity: 1 shows commands run on nodes, 2 also host commands")
	root.AddCommand(newNodeImageCmd(a), newShellCmd(a), newStatusCmd(a), newListCmd(a), newDownCmd(a), newCheckCmd(a),
		newArtifactsCmd(a), newRenderCmd(a))
	root.AddCommand(newStepsCmd(a), newExplainCmd(a), newUpCmd(a), newVerifyCmd(a),
		newKubeconfigCmd(a), newCertsCmd(a), newEncryptionCmd(a), newLogsCmd(a),
		newStopCmd(a), newStartCmd(a), newEtcdCmd(a), newUpgradeCmd(a))
	root.AddCommand(newTutorialCmd(a))
	root.AddCommand(newTraceCmd(a), newLabCmd(a))
	root.AddCommand(newConformanceCmd(a), newRegistryCmd(a), newChaosCmd(a))
	root.AddCommand(newVersionCmd(a))
	registerCompletions(a, root)
	return root
}
