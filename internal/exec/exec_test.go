package exec

import (
	"context"
	"strings"
	"testing"
)

func TestRunErrorNamesCommandAndCause(t *testing.T) {
	tests := []struct {
		name string
		err  RunError
		want []string
		not  []string
	}{
		{"stderr is the cause", RunError{Where: "node-0", Cmd: "systemctl start etcd", ExitCode: 1, Stderr: []byte("Job failed\n")},
			[]string{"on node-0", "exit 1", "systemctl start etcd", "Job failed"}, nil},
		{"a script shows its first line only", RunError{Cmd: "sh -c 'set -e\ncp a b\ncp c d'", ExitCode: 1, Stderr: []byte("cp: cannot stat")},
			[]string{"sh -c 'set -e …", "cannot stat"}, []string{"cp c d"}},
		{"stdout when stderr is empty", RunError{Cmd: "x", ExitCode: 2, Stdout: []byte("said this")}, []string{"said this"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := tt.err.Error()
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("%q lacks %q", msg, w)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(msg, n) {
					t.Errorf("%q contains %q", msg, n)
				}
			}
		})
	}
}

func TestOSRunCarriesOutput(t *testing.T) {
	out, err := OS{}.Run(context.Background(), Cmd{Name: "sh", Args: []string{"-c", "echo out; echo boom >&2; exit 3"}})
	re, ok := IsRunError(err)
	if !ok || re.ExitCode != 3 || string(out) != "out\n" || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("out %q, err %v", out, err)
	}
	if _, err := (OS{}).Run(context.Background(), Cmd{Name: "cat", Stdin: strings.NewReader("in")}); err != nil {
		t.Fatal(err)
	}
}

func TestCmdShort(t *testing.T) {
	c := Cmd{Name: "sh", Args: []string{"-c", "set -e\necho $1", "probe", "f", "/etc/a b"}}
	if got, want := c.Short(), "sh -c <script> probe f '/etc/a b'"; got != want {
		t.Errorf("Short() = %q, want %q", got, want)
	}
	if got := (Cmd{Name: "cat", Args: []string{"/x"}}).Short(); got != "cat /x" {
		t.Errorf("Short() = %q", got)
	}
}
