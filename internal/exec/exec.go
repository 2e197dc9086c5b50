// Package exec runs host commands behind an interface so that everything that
// drives docker (or any other tool) can be tested with a fake.
package exec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	osexec "os/exec"
	"strings"

	"hardway.dev/hardway/internal/logx"
)

// Cmd is one command to run.
type Cmd struct {
	Name  string
	Args  []string
	Stdin io.Reader
	// Stream, when set, also receives stdout and stderr as they are produced
	// (for long builds where a user wants to see progress).
	Stream io.Writer
}

func (c Cmd) String() string {
	parts := append([]string{c.Name}, c.Args...)
	for i, p := range parts {
		if p == "" || strings.ContainsAny(p, " \t\n'\"$`\\|&;<>(){}*?") {
			parts[i] = "'" + strings.ReplaceAll(p, "'", `'\''`) + "'"
		}
	}
	return strings.Join(parts, " ")
}

// Short is String with every multi-line argument (a script passed to sh -c)
// replaced by <script>: the words after it (its $0 and arguments) say what
// runs, and -v 2 shows the script itself.
func (c Cmd) Short() string {
	args := make([]string, len(c.Args))
	for i, a := range c.Args {
		args[i] = a
		if strings.Contains(a, "\n") {
			args[i] = "\x00script"
		}
	}
	return strings.ReplaceAll(Cmd{Name: c.Name, Args: args}.String(), "\x00script", "<script>")
}

// Runner runs commands. It returns stdout; a failure is a *RunError.
type Runner interface {
	Run(ctx context.Context, c Cmd) ([]byte, error)
}

// RunError says which command failed and carries everything it printed, so a
// caller can show the real cause instead of "exit status 1".
type RunError struct {
	Where    string // e.g. the node name; empty for the host
	Cmd      string
	ExitCode int
	Stdout   []byte
	Stderr   []byte
	Err      error
}

func (e *RunError) Error() string {
	out := strings.TrimSpace(string(e.Stderr))
	if out == "" {
		out = strings.TrimSpace(string(e.Stdout))
	}
	if len(out) > 2000 {
		out = "…" + out[len(out)-2000:]
	}
	where := ""
	if e.Where != "" {
		where = " on " + e.Where
	}
	// A long script would bury the cause: show its first line only.
	cmd := e.Cmd
	if i := strings.IndexByte(cmd, '\n'); i >= 0 {
		cmd = cmd[:i] + " …"
	}
	if len(cmd) > 200 {
		cmd = cmd[:200] + "…"
	}
	msg := fmt.Sprintf("command failed%s (exit %d): %s", where, e.ExitCode, cmd)
	if out != "" {
		msg += ": " + out
	} else if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *RunError) Unwrap() error { return e.Err }

// Output is the command's combined output, for messages.
func (e *RunError) Output() string { return string(e.Stdout) + string(e.Stderr) }

// IsRunError reports whether err is a command that ran and failed.
func IsRunError(err error) (*RunError, bool) {
	var re *RunError
	ok := errors.As(err, &re)
	return re, ok
}

// OS runs commands on this machine.
type OS struct {
	Log logx.Logger
}

func (o OS) Run(ctx context.Context, c Cmd) ([]byte, error) {
	if o.Log != nil {
		o.Log.Logf(2, "  $ %s", c)
	}
	cmd := osexec.CommandContext(ctx, c.Name, c.Args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdin = c.Stdin
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if c.Stream != nil {
		cmd.Stdout = io.MultiWriter(&stdout, c.Stream)
		cmd.Stderr = io.MultiWriter(&stderr, c.Stream)
	}
	err := cmd.Run()
	if err != nil {
		code := -1
		var ee *osexec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		}
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return stdout.Bytes(), &RunError{Cmd: c.String(), ExitCode: code, Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), Err: err}
	}
	return stdout.Bytes(), nil
}

// Process is a started command whose stdin and stdout the caller streams.
type Process interface {
	Stdin() io.WriteCloser
	Stdout() io.ReadCloser
	// Wait waits for the command to end; its error carries what the
	// command wrote to stderr (a *RunError).
	Wait() error
	// Kill ends it at once.
	Kill()
}

// Starter runs a command in the background with its stdin and stdout
// connected to the caller: a TCP connection carried through `docker exec`
// is one. Runners that can (OS) implement it next to Run.
type Starter interface {
	Start(ctx context.Context, c Cmd) (Process, error)
}

// Start implements Starter.
func (o OS) Start(ctx context.Context, c Cmd) (Process, error) {
	if o.Log != nil {
		o.Log.Logf(2, "  $ %s &", c)
	}
	ctx, cancel := context.WithCancel(ctx)
	cmd := osexec.CommandContext(ctx, c.Name, c.Args...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		cancel()
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		return nil, err
	}
	p := &osProcess{cmd: cmd, stdin: stdin, stdout: stdout, cancel: cancel, name: c.String()}
	cmd.Stderr = &p.stderr
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, &RunError{Cmd: c.String(), ExitCode: -1, Err: err}
	}
	return p, nil
}

type osProcess struct {
	cmd    *osexec.Cmd
	stdin  io.WriteCloser
	stdout io.ReadCloser
	stderr bytes.Buffer
	cancel context.CancelFunc
	name   string
}

func (p *osProcess) Stdin() io.WriteCloser { return p.stdin }
func (p *osProcess) Stdout() io.ReadCloser { return p.stdout }
func (p *osProcess) Kill()                 { p.cancel() }

func (p *osProcess) Wait() error {
	defer p.cancel()
	err := p.cmd.Wait()
	if err == nil {
		return nil
	}
	code := -1
	var ee *osexec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	}
	return &RunError{Cmd: p.name, ExitCode: code, Stderr: p.stderr.Bytes(), Err: err}
}
