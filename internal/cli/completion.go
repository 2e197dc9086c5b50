package cli

import (
	"os"
	"path/filepath"
	"sort"

	"github.com/spf13/cobra"

	"hardway.dev/hardway/internal/lab"
	"hardway.dev/hardway/internal/provider"
	"hardway.dev/hardway/internal/state"
	"hardway.dev/hardway/internal/steps"
)

// registerCompletions teaches the shell completion (cobra's `hardway
// completion bash|zsh|fish`) this host's clusters for --name, the named
// cluster's nodes for shell and logs, the components for logs, the labs for
// lab start, and the steps for --from, --only and explain. Completion only
// reads state directories and configs: it never contacts a machine.
func registerCompletions(a *app, root *cobra.Command) {
	noFiles := cobra.ShellCompDirectiveNoFileComp
	_ = root.RegisterFlagCompletionFunc("name", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return clusterNames(), noFiles
	})
	stepNames := func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return steps.Names(steps.All()), noFiles
	}
	nodes := func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, noFiles
		}
		return a.nodeNames(), noFiles
	}
	for _, c := range root.Commands() {
		switch c.Name() {
		case "up":
			_ = c.RegisterFlagCompletionFunc("from", stepNames)
			_ = c.RegisterFlagCompletionFunc("only", stepNames)
		case "explain":
			c.ValidArgsFunction = func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
				if len(args) > 0 {
					return nil, noFiles
				}
				names := steps.Names(steps.All())
				for _, t := range steps.Topics() {
					names = append(names, t.Name)
				}
				return names, noFiles
			}
		case "shell":
			c.ValidArgsFunction = nodes
		case "logs":
			c.ValidArgsFunction = func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
				switch len(args) {
				case 0:
					return a.nodeNames(), noFiles
				case 1:
					return components(), noFiles
				}
				return nil, noFiles
			}
		case "lab":
			for _, sub := range c.Commands() {
				if sub.Name() == "start" {
					sub.ValidArgsFunction = func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
						if len(args) > 0 {
							return nil, noFiles
						}
						return lab.Names(), noFiles
					}
				}
			}
		}
	}
}

// clusterNames are the clusters with state on this host.
func clusterNames() []string {
	entries, _ := os.ReadDir(filepath.Join(state.Root(), "clusters"))
	var out []string
	for _, e := range entries {
		if e.IsDir() && fileExists(state.For(e.Name()).Config()) {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out
}

// nodeNames are the machines of the named cluster, from its config.
func (a *app) nodeNames() []string {
	cfg, err := a.namedConfig()
	if err != nil {
		return nil
	}
	var out []string
	for _, n := range cfg.Nodes {
		out = append(out, n.Name)
	}
	if cfg.Network.LoadBalancerIP != "" {
		out = append(out, provider.LBName)
	}
	return out
}
