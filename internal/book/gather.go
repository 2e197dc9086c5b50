package book

import (
	"fmt"
	"strings"

	"hardway.dev/hardway/internal/pki"
	"hardway.dev/hardway/internal/render"
	"hardway.dev/hardway/internal/state"
	"hardway.dev/hardway/internal/steps"
)

// Gather reads what the book needs from a scratch cluster (host.Scratch: a
// copy of the state, so nothing of a live cluster changes): every step's
// explain text, every node's files, and, for a live cluster, its
// certificates. dir is the cluster's real state directory, which the texts
// name instead of the scratch copy.
func Gather(c *steps.Cluster, dir state.Dir, configFile string, live bool) (Input, error) {
	cfg := c.Config
	in := Input{Cluster: cfg, Live: live, StateDir: dir.Path(), ConfigFile: configFile}
	for _, s := range steps.All() {
		text, err := s.Explain(c)
		if err != nil {
			return in, fmt.Errorf("explain %s for the tutorial: %w", s.Name, err)
		}
		text = strings.ReplaceAll(text, c.State.Path(), dir.Path())
		in.Steps = append(in.Steps, StepText{Name: s.Name, Title: s.Title, Explain: text})
	}
	inputs, err := c.Inputs()
	if err != nil {
		return in, err
	}
	in.Files = map[string][]render.File{}
	for _, n := range cfg.Nodes {
		if in.Files[n.Name], err = render.NodeFiles(inputs, n); err != nil {
			return in, err
		}
	}
	if live {
		set, err := pki.Load(c.State.PKI(), cfg)
		if err != nil {
			return in, err
		}
		if in.Certs, err = pki.Infos(set, cfg); err != nil {
			return in, err
		}
	}
	return in, nil
}
