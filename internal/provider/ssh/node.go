package ssh

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"hardway.dev/hardway/internal/exec"
	"hardway.dev/hardway/internal/lines"
	"hardway.dev/hardway/internal/node"
)

// Node is one machine reached over SSH. It does not implement
// node.ArtifactMount: binaries travel in converge's tar stream, once, and
// only when their hash differs.
type Node struct {
	pool *Pool
	m    Machine
	// sessions bounds concurrent sessions on the connection.
	sessions chan struct{}

	mu     sync.Mutex
	client *ssh.Client
	// checked: this connection passed the sudo check.
	checked bool
	stop    chan struct{} // ends the keepalive loop of client
}

func (n *Node) Name() string { return n.m.Name }
func (n *Node) IP() string   { return n.m.IP }
func (n *Node) Role() string { return n.m.Role }

// Machine is how the node is reached.
func (n *Node) Machine() Machine { return n.m }

func (n *Node) close() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.dropLocked()
}

func (n *Node) dropLocked() {
	if n.client != nil {
		n.client.Close()
		close(n.stop)
	}
	n.client, n.checked, n.stop = nil, false, nil
}

// Connect logs in (reusing the connection when there is one) and, for a user
// other than root, checks that sudo works without a password.
func (n *Node) Connect(ctx context.Context) error {
	_, err := n.conn(ctx)
	return err
}

func (n *Node) conn(ctx context.Context) (*ssh.Client, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.client != nil && n.checked {
		return n.client, nil
	}
	if n.client == nil {
		c, err := n.pool.dial(ctx, n.m)
		if err != nil {
			return nil, err
		}
		n.client, n.stop = c, make(chan struct{})
		if ka := n.pool.o.KeepAlive; ka > 0 {
			go keepAlive(c, ka, n.stop)
		}
	}
	if err := n.checkSudo(ctx); err != nil {
		n.dropLocked()
		return nil, err
	}
	n.checked = true
	return n.client, nil
}

// keepAlive pings the server so idle NAT and firewall state survives the
// minutes a step may wait on the API between commands.
func keepAlive(c *ssh.Client, every time.Duration, stop <-chan struct{}) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if _, _, err := c.SendRequest("keepalive@openssh.com", true, nil); err != nil {
				return
			}
		}
	}
}

// sudoCheck is what the sudo check runs: nothing, as root, without a
// password (-n fails instead of asking).
var sudoCheck = []string{"sudo", "-n", "true"}

func (n *Node) checkSudo(ctx context.Context) error {
	if n.m.User == "root" {
		return nil
	}
	out, code, err := n.session(ctx, n.client, nil, strings.Join(sudoCheck, " "))
	if err != nil {
		return err
	}
	if code == 0 {
		return nil
	}
	o := strings.TrimSpace(string(out))
	switch {
	case code == 127 || strings.Contains(o, "not found"):
		return &ConnectError{Node: n.m.Name, Kind: KindSudo,
			Msg: fmt.Sprintf("user %s is not root and the machine has no sudo: install sudo (apt-get install sudo) or set ssh.user: root", n.m.User)}
	case strings.Contains(o, "password"), strings.Contains(o, "terminal is required"):
		return &ConnectError{Node: n.m.Name, Kind: KindSudo,
			Msg: fmt.Sprintf("user %s needs a password for sudo: allow it without one (echo '%s ALL=(ALL) NOPASSWD:ALL' | sudo tee /etc/sudoers.d/hardway) or set ssh.user: root", n.m.User, n.m.User)}
	default:
		return &ConnectError{Node: n.m.Name, Kind: KindSudo,
			Msg: fmt.Sprintf("user %s cannot use sudo (%s): allow it without a password in /etc/sudoers.d/hardway or set ssh.user: root", n.m.User, lines.Clip(o, 200))}
	}
}

// session runs one command line on c and returns its combined output and
// exit code; err is set only when the command could not run at all.
func (n *Node) session(ctx context.Context, c *ssh.Client, stdin io.Reader, cmdline string) ([]byte, int, error) {
	s, err := c.NewSession()
	if err != nil {
		return nil, -1, err
	}
	defer s.Close()
	var out bytes.Buffer
	s.Stdout, s.Stderr, s.Stdin = &out, &out, stdin
	if err := s.Run(cmdline); err != nil {
		var ee *ssh.ExitError
		if errors.As(err, &ee) {
			return out.Bytes(), ee.ExitStatus(), nil
		}
		return out.Bytes(), -1, err
	}
	return out.Bytes(), 0, nil
}

// CommandLine is the remote command line for argv: every word quoted for the
// login shell, behind `sudo -n --` for a user other than root.
func (n *Node) CommandLine(argv []string) string {
	return commandLine(n.m.User, argv)
}

func commandLine(user string, argv []string) string {
	words := make([]string, 0, len(argv)+3)
	if user != "root" {
		words = append(words, "sudo", "-n", "--")
	}
	for _, a := range argv {
		words = append(words, shellQuote(a))
	}
	return strings.Join(words, " ")
}

// shellQuote quotes s for a POSIX shell unless it is plainly safe.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Run implements node.Node: one session on the node's connection, stdin
// streamed. A failure is an *exec.RunError whose Where is the node.
func (n *Node) Run(ctx context.Context, stdin io.Reader, argv ...string) ([]byte, error) {
	if len(argv) == 0 {
		return nil, fmt.Errorf("nothing to run on %s", n.m.Name)
	}
	cmd := exec.Cmd{Name: argv[0], Args: argv[1:]}
	n.pool.o.Log.Logf(1, "  [%s] $ %s", n.m.Name, cmd.Short())
	n.pool.o.Log.Logf(2, "  [%s] full command: %s", n.m.Name, cmd)
	select {
	case n.sessions <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-n.sessions }()

	c, err := n.conn(ctx)
	if err != nil {
		return nil, err
	}
	s, err := c.NewSession()
	if err != nil && stdin == nil {
		// The connection died (machine rebooted, network blip): dial once
		// more. Not with stdin: part of it may be gone already.
		n.mu.Lock()
		if n.client == c {
			n.dropLocked()
		}
		n.mu.Unlock()
		if c, err = n.conn(ctx); err != nil {
			return nil, err
		}
		s, err = c.NewSession()
	}
	if err != nil {
		return nil, fmt.Errorf("node %s: opening an SSH session on %s: %w", n.m.Name, n.m.target(), err)
	}
	defer s.Close()
	var stdout, stderr bytes.Buffer
	s.Stdout, s.Stderr, s.Stdin = &stdout, &stderr, stdin
	if err := s.Start(n.CommandLine(argv)); err != nil {
		return nil, fmt.Errorf("node %s: starting %s: %w", n.m.Name, argv[0], err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		// Closing the session stops the remote command (sshd hangs up its
		// process group).
		_ = s.Signal(ssh.SIGKILL)
		s.Close()
		err = ctx.Err()
	}
	if err == nil {
		return stdout.Bytes(), nil
	}
	re := &exec.RunError{Where: n.m.Name, Cmd: cmd.String(), ExitCode: -1, Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), Err: err}
	var ee *ssh.ExitError
	if errors.As(err, &ee) {
		re.ExitCode = ee.ExitStatus()
	}
	return stdout.Bytes(), re
}

// WriteFile implements node.Node: the file travels on stdin of one command.
func (n *Node) WriteFile(ctx context.Context, path string, data []byte, mode os.FileMode) error {
	return node.WriteFileWith(ctx, n.Run, n.m.Name, path, data, mode)
}

// ReadFile implements node.Node. A missing file matches fs.ErrNotExist.
func (n *Node) ReadFile(ctx context.Context, path string) ([]byte, error) {
	return node.ReadFileWith(ctx, n.Run, path)
}

// WaitForSystemd implements provider.Node. A machine that does not answer
// yet (a VM still booting) is asked again; a refused key, a changed host key
// or sudo wanting a password fail at once.
func (n *Node) WaitForSystemd(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	last := "no answer"
	for {
		out, err := n.Run(ctx, nil, "systemctl", "is-system-running")
		state := strings.TrimSpace(string(out))
		var ce *ConnectError
		switch {
		case errors.As(err, &ce) && !ce.Retryable():
			return err
		case state == "running" || state == "degraded":
			return nil
		case state == "offline" || (err != nil && strings.Contains(err.Error(), "not found")):
			return fmt.Errorf("node %s: systemd is not PID 1 on %s: hardway runs every component as a systemd service; use a machine booted with systemd", n.m.Name, n.m.target())
		case state != "":
			last = state
		case err != nil:
			last = err.Error()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("node %s: systemd not running after %s (last: %s); look with: hardway shell %s -- systemctl --failed", n.m.Name, timeout, last, n.m.Name)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node %s: waiting for systemd: %w", n.m.Name, ctx.Err())
		case <-time.After(time.Second):
		}
	}
}

// Attach implements provider.Node: the ssh command line, with the same key,
// port and known hosts hardway uses, running argv through sudo when needed.
func (n *Node) Attach(tty bool, env []string, argv []string) []string {
	out := []string{"ssh"}
	if tty {
		out = append(out, "-t")
	}
	out = append(out, "-p", strconv.Itoa(n.m.Port))
	if n.m.IdentityFile != "" {
		out = append(out, "-i", n.pool.expand(n.m.IdentityFile), "-o", "IdentitiesOnly=yes")
	}
	if files := n.pool.knownHostsOption(); files != "" {
		out = append(out, "-o", "UserKnownHostsFile="+files)
	}
	out = append(out, "-o", "StrictHostKeyChecking=yes", n.m.User+"@"+n.m.Address, "--")
	remote := argv
	if len(env) > 0 {
		remote = append(append([]string{"env"}, env...), argv...)
	}
	return append(out, commandLine(n.m.User, remote))
}

// knownHostsOption is the UserKnownHostsFile value: the cluster's file, then
// the user's, as this package checks them.
func (p *Pool) knownHostsOption() string {
	var files []string
	for _, f := range []string{p.o.KnownHosts, p.o.UserKnownHosts} {
		if f == "" {
			continue
		}
		if strings.ContainsAny(f, " \t") {
			f = `"` + f + `"`
		}
		files = append(files, f)
	}
	return strings.Join(files, " ")
}
