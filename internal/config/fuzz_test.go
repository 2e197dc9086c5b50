package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// FuzzParse feeds the loader arbitrary documents (seed corpus in
// testdata/fuzz/FuzzParse). It must never panic; every problem it reports,
// and every problem and warning Validate reports for what it accepts, is
// one non-empty line; and an accepted document survives Marshal and Parse
// unchanged.
//
//	go test -run='^$' -fuzz=FuzzParse -fuzztime=60s ./internal/config/
func FuzzParse(f *testing.F) {
	f.Add([]byte("apiVersion: hardway.dev/v1alpha1\nkind: Cluster\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || len(ve.Problems) == 0 {
				t.Fatalf("Parse error is not a ValidationError with problems: %v", err)
			}
			checkLines(t, "Parse problem", ve.Problems)
			return
		}
		warnings, err := c.Validate()
		checkLines(t, "warning", warnings)
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || len(ve.Problems) == 0 {
				t.Fatalf("Validate error is not a ValidationError with problems: %v", err)
			}
			checkLines(t, "Validate problem", ve.Problems)
		}
		out, err := c.Marshal()
		if err != nil {
			t.Fatalf("Marshal of an accepted config: %v", err)
		}
		back, err := Parse(out)
		if err != nil {
			t.Fatalf("re-reading the marshalled config: %v\n%s", err, out)
		}
		again, err := back.Marshal()
		if err != nil {
			t.Fatalf("second Marshal: %v", err)
		}
		if string(again) != string(out) || !reflect.DeepEqual(c.clone(), back.clone()) {
			t.Fatalf("round trip changed the config:\n%s\nbecame\n%s", out, again)
		}
	})
}

func checkLines(t *testing.T, what string, lines []string) {
	t.Helper()
	for _, l := range lines {
		if strings.TrimSpace(l) == "" || strings.ContainsAny(l, "\n\r") {
			t.Fatalf("%s is not one non-empty line: %q", what, l)
		}
	}
}
