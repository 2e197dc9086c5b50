package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"hardway.dev/hardway/internal/artifacts"
)

// buildOut is hardway's own version, from what the Go toolchain stamped
// into the binary (the module version and the commit it was built from).
type buildOut struct {
	Version  string `json:"version"`
	Commit   string `json:"commit,omitempty"`
	Modified bool   `json:"modified,omitempty"`
	Time     string `json:"time,omitempty"`
	Go       string `json:"go"`
	Platform string `json:"platform"`
}

type versionOut struct {
	Hardway buildOut `json:"hardway"`
	// Kubernetes lists every Kubernetes version hardway can build, each
	// with the components pinned for it.
	Kubernetes []kubeVersionOut `json:"kubernetes"`
}

type kubeVersionOut struct {
	Version    string            `json:"version"`
	Components map[string]string `json:"components"`
}

func buildInfo() buildOut {
	b := buildOut{Version: "(devel)", Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	if v := info.Main.Version; v != "" {
		b.Version = v
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Commit = s.Value
		case "vcs.modified":
			b.Modified = s.Value == "true"
		case "vcs.time":
			b.Time = s.Value
		}
	}
	return b
}

// versionLine is what --version prints: one line.
func versionLine() string {
	b := buildInfo()
	line := "hardway " + b.Version
	if b.Commit != "" {
		c := b.Commit
		if len(c) > 12 {
			c = c[:12]
		}
		if b.Modified {
			c += "+changes"
		}
		line += " (commit " + c + ")"
	}
	return line + ", " + b.Go + ", " + b.Platform
}

func versions() (versionOut, error) {
	out := versionOut{Hardway: buildInfo()}
	for _, v := range artifacts.SupportedVersions() {
		m, err := artifacts.ManifestFor(v)
		if err != nil {
			return out, err
		}
		k := kubeVersionOut{Version: v, Components: map[string]string{}}
		for _, c := range m.Components {
			k.Components[c.Name] = c.Version
		}
		out.Kubernetes = append(out.Kubernetes, k)
	}
	return out, nil
}

func newVersionCmd(a *app) *cobra.Command {
	var o output
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print hardway's version and commit, and the pinned components of each Kubernetes version it builds",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v, err := versions()
			if err != nil {
				return err
			}
			if ok, err := emit(a.out, o, v); ok {
				return err
			}
			fmt.Fprintln(a.out, versionLine())
			fmt.Fprintln(a.out, "\nKubernetes versions it builds, with their pinned components:")
			for _, k := range v.Kubernetes {
				m, _ := artifacts.ManifestFor(k.Version)
				var parts []string
				for _, c := range m.Components {
					if c.Image != "" {
						continue // pod images follow their programs' versions
					}
					parts = append(parts, c.Name+" "+c.Version)
				}
				fmt.Fprintf(a.out, "  %s: %s\n", k.Version, strings.Join(parts, ", "))
			}
			return nil
		},
	}
	addOutputFlag(cmd, &o)
	return cmd
}
