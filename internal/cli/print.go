package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"hardway.dev/hardway/internal/verify"
)

// output is the -o flag of the commands scripts read: the human table by
// default, or the same facts as JSON or YAML with stable field names (the
// json tags of the *Out types below and beside each command).
type output string

const (
	outputTable output = ""
	outputJSON  output = "json"
	outputYAML  output = "yaml"
)

func (o *output) String() string { return string(*o) }
func (o *output) Type() string   { return "json|yaml" }
func (o *output) Set(v string) error {
	switch output(v) {
	case outputTable, outputJSON, outputYAML:
		*o = output(v)
		return nil
	}
	return fmt.Errorf("%q: want json or yaml (or leave -o out for the table)", v)
}

func addOutputFlag(cmd *cobra.Command, o *output) {
	cmd.Flags().VarP(o, "output", "o", "print json or yaml instead of the table (field names are stable, for scripts)")
	_ = cmd.RegisterFlagCompletionFunc("output", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"json", "yaml"}, cobra.ShellCompDirectiveNoFileComp
	})
}

// emit writes v as o says; for the table it does nothing and reports false.
func emit(w io.Writer, o output, v any) (bool, error) {
	switch o {
	case outputJSON:
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return true, err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return true, err
	case outputYAML:
		b, err := yaml.Marshal(v)
		if err != nil {
			return true, err
		}
		_, err = w.Write(b)
		return true, err
	}
	return false, nil
}

// checkOut is one smoke test's result, for -o json|yaml.
type checkOut struct {
	Name    string  `json:"name"`
	Passed  bool    `json:"passed"`
	Seconds float64 `json:"seconds"`
	Error   string  `json:"error,omitempty"`
	// Detail says what a passed check did (which pod reached which).
	Detail []string `json:"detail,omitempty"`
}

type verifyOut struct {
	Cluster string     `json:"cluster"`
	Passed  bool       `json:"passed"`
	Checks  []checkOut `json:"checks"`
}

func checkOuts(results []verify.Result) []checkOut {
	out := []checkOut{}
	for _, r := range results {
		c := checkOut{Name: r.Name, Passed: r.Err == nil, Seconds: roundTo(r.Elapsed.Seconds(), 1), Detail: r.Detail}
		if r.Err != nil {
			c.Error = r.Err.Error()
		}
		out = append(out, c)
	}
	return out
}

func roundTo(v float64, places int) float64 {
	p := 1.0
	for range places {
		p *= 10
	}
	return float64(int64(v*p+0.5)) / p
}

func dashIfEmpty(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(s, "\n", "\n  ")
}
