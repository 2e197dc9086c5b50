package conformance

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"
)

// Case is one test of a JUnit report.
type Case struct {
	Name   string
	Status string // passed, failed, skipped
	Time   time.Duration
	// FirstError is the first non-empty line of the failure message, or
	// for a test that skipped itself (Skip(REASON)) the reason.
	FirstError string
	// SkippedItself: the test was selected and ran, but called Skip (a
	// missing feature, image or node shape); ginkgo's message is then
	// "skipped - REASON", a test the selection left out says "skipped".
	SkippedItself bool
}

// Summary counts a run's tests and lists its failures.
type Summary struct {
	Passed, Failed, Skipped int
	Failures                []Case
	// SkippedAtRun are selected tests that skipped themselves (not counted
	// in Skipped, which are the tests the selection left out).
	SkippedAtRun []Case
	// SuiteFailures are failed suite-level nodes (BeforeSuite, AfterSuite):
	// no test of their own, but the run is not clean.
	SuiteFailures []Case
	Elapsed       time.Duration
}

// OK reports whether nothing failed.
func (s *Summary) OK() bool { return s.Failed == 0 && len(s.SuiteFailures) == 0 }

// junit is what ginkgo's --junit-report writes (JUnit XML, one testsuite
// per suite run).
type junit struct {
	Suites []struct {
		Cases []struct {
			Name    string `xml:"name,attr"`
			Status  string `xml:"status,attr"`
			Time    string `xml:"time,attr"`
			Skipped *struct {
				Message string `xml:"message,attr"`
			} `xml:"skipped"`
			Failure *struct {
				Message string `xml:"message,attr"`
				Type    string `xml:"type,attr"`
				Body    string `xml:",chardata"`
			} `xml:"failure"`
			Error *struct {
				Message string `xml:"message,attr"`
				Body    string `xml:",chardata"`
			} `xml:"error"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

// ParseJUnit reads a ginkgo JUnit report into cases, in report order.
func ParseJUnit(data []byte) ([]Case, error) {
	var j junit
	if err := xml.Unmarshal(data, &j); err != nil {
		return nil, fmt.Errorf("the JUnit report is not XML ginkgo writes: %v", err)
	}
	var out []Case
	for _, s := range j.Suites {
		for _, c := range s.Cases {
			k := Case{Name: c.Name, Status: c.Status}
			if secs, err := time.ParseDuration(c.Time + "s"); err == nil {
				k.Time = secs
			}
			switch {
			case c.Failure != nil:
				k.Status = "failed"
				k.FirstError = firstLine(c.Failure.Message, c.Failure.Body)
			case c.Error != nil:
				k.Status = "failed"
				k.FirstError = firstLine(c.Error.Message, c.Error.Body)
			case c.Skipped != nil:
				k.Status = "skipped"
				if reason, ok := strings.CutPrefix(c.Skipped.Message, "skipped - "); ok {
					k.SkippedItself = true
					k.FirstError = firstLine(reason)
				}
			case k.Status == "":
				k.Status = "passed"
			}
			// ginkgo writes "pending" and "interrupted" too: a test that did
			// not run to its end is a failure of the run.
			if k.Status != "passed" && k.Status != "skipped" && k.Status != "failed" {
				if k.FirstError == "" {
					k.FirstError = "test " + k.Status
				}
				k.Status = "failed"
			}
			out = append(out, k)
		}
	}
	return out, nil
}

// firstLine is the first non-empty line of the first non-empty text.
func firstLine(texts ...string) string {
	for _, t := range texts {
		for _, l := range strings.Split(t, "\n") {
			if l = strings.TrimSpace(l); l != "" {
				return l
			}
		}
	}
	return ""
}

// isSuiteNode: ginkgo reports setup and report nodes as cases named like
// "[SynchronizedBeforeSuite]" or "[ReportAfterSuite] Kubernetes e2e suite
// report"; they are not tests.
func isSuiteNode(name string) bool {
	return strings.HasPrefix(name, "[") && strings.Contains(strings.SplitN(name, "]", 2)[0], "Suite")
}

// Summarize counts cases. Skipped tests are those the selection left out
// (ginkgo reports every test of the suite).
func Summarize(cases []Case) *Summary {
	s := &Summary{}
	for _, c := range cases {
		if isSuiteNode(c.Name) {
			if c.Status == "failed" {
				s.SuiteFailures = append(s.SuiteFailures, c)
			}
			continue
		}
		switch c.Status {
		case "passed":
			s.Passed++
		case "failed":
			s.Failed++
			s.Failures = append(s.Failures, c)
		case "skipped":
			if c.SkippedItself {
				s.SkippedAtRun = append(s.SkippedAtRun, c)
			} else {
				s.Skipped++
			}
		}
	}
	sort.SliceStable(s.Failures, func(i, j int) bool { return s.Failures[i].Name < s.Failures[j].Name })
	return s
}

// Complete reports whether every selected test ran to a verdict: none
// skipped itself for lack of a feature, an image or a node.
func (s *Summary) Complete() bool { return len(s.SkippedAtRun) == 0 }

// Text is the summary file: counts, then every failure with its first error
// line, then the images that stood in for upstream's.
func (s *Summary) Text(what string, images []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Conformance run: %s\n", what)
	fmt.Fprintf(&b, "passed %d, failed %d, skipped %d (not selected), wall time %s\n", s.Passed, s.Failed, s.Skipped, s.Elapsed.Round(time.Second))
	fmt.Fprintf(&b, "skipped at run time %d\n", len(s.SkippedAtRun))
	for _, f := range s.SuiteFailures {
		fmt.Fprintf(&b, "\nSUITE FAILED %s\n  %s\n", f.Name, f.FirstError)
	}
	if len(s.Failures) > 0 {
		fmt.Fprintf(&b, "\nFailures:\n")
		for _, f := range s.Failures {
			fmt.Fprintf(&b, "- %s\n    %s\n", f.Name, f.FirstError)
		}
	}
	if len(s.SkippedAtRun) > 0 {
		fmt.Fprintf(&b, "\nSelected but skipped at run time (%d):\n", len(s.SkippedAtRun))
		for _, f := range s.SkippedAtRun {
			fmt.Fprintf(&b, "- %s\n    %s\n", f.Name, f.FirstError)
		}
	}
	if len(images) > 0 {
		fmt.Fprintf(&b, "\nImages (built here under the references the suite expects):\n")
		for _, l := range images {
			fmt.Fprintf(&b, "- %s\n", l)
		}
	}
	return b.String()
}

// dryRunReport is the part of ginkgo's --json-report a dry run needs.
type dryRunReport []struct {
	PreRunStats struct {
		TotalSpecs       int
		SpecsThatWillRun int
	}
}

// ParseDryRun returns how many specs a run would execute, from the JSON
// report of a dry run.
func ParseDryRun(data []byte) (int, error) {
	var r dryRunReport
	if err := json.Unmarshal(data, &r); err != nil {
		return 0, fmt.Errorf("the dry run's JSON report is unreadable: %v", err)
	}
	if len(r) == 0 {
		return 0, fmt.Errorf("the dry run's JSON report holds no suite")
	}
	return r[0].PreRunStats.SpecsThatWillRun, nil
}

// ParseImageList returns the image references `e2e.test --list-images`
// printed (one per line; log lines, which carry spaces, are ignored).
func ParseImageList(out []byte) []string {
	var refs []string
	seen := map[string]bool{}
	for _, l := range strings.Split(string(out), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.ContainsAny(l, " \t") || !strings.Contains(l, ":") || !strings.Contains(l, "/") || seen[l] {
			continue
		}
		seen[l] = true
		refs = append(refs, l)
	}
	return refs
}

// WriteSummary writes summary.txt into dir.
func WriteSummary(dir, text string) error {
	if err := os.WriteFile(dir+"/summary.txt", []byte(text), 0o644); err != nil {
		return fmt.Errorf("writing the summary into %s: %v", dir, err)
	}
	return nil
}
