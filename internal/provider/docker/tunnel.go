package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"

	"hardway.dev/hardway/internal/exec"
)

// Tunnel connects to addr (host:port on the node network) from inside one
// of the cluster's machines: `docker exec -i CONTAINER socat STDIO
// TCP:addr`, the process's stdin and stdout carrying the connection. A host
// without a route to the nodes (Docker Desktop, a remote or rootless
// engine) reaches them this way; socat is in the node image for kubectl
// port-forward already.
func (p *Provider) Tunnel(ctx context.Context, cluster, machine, addr string) (net.Conn, error) {
	st, ok := p.r.(exec.Starter)
	if !ok {
		return nil, fmt.Errorf("tunnel to %s through %s: this runner cannot stream a command (a bug in hardway)", addr, machine)
	}
	// The process outlives the dial: it ends when the connection closes.
	proc, err := st.Start(context.WithoutCancel(ctx), exec.Cmd{Name: "docker", Args: []string{"exec", "-i", ContainerName(cluster, machine), "socat", "STDIO", "TCP:" + addr + ",connect-timeout=5"}})
	if err != nil {
		return nil, fmt.Errorf("tunnel to %s through machine %s: %w", addr, machine, err)
	}
	return newProcConn(proc, fmt.Sprintf("%s through machine %s", addr, machine)), nil
}

// procConn is a net.Conn over a process's stdin and stdout. It is one end
// of a net.Pipe, so deadlines work as for any connection; the other end is
// copied to and from the process. When the process ends first (socat could
// not connect), a read says why instead of a bare EOF.
type procConn struct {
	net.Conn
	proc exec.Process
	what string

	mu  sync.Mutex
	err error // why the process ended, once it did
}

func newProcConn(proc exec.Process, what string) *procConn {
	mine, theirs := net.Pipe()
	c := &procConn{Conn: mine, proc: proc, what: what}
	go func() {
		_, _ = io.Copy(proc.Stdin(), theirs)
		proc.Stdin().Close()
	}()
	go func() {
		_, _ = io.Copy(theirs, proc.Stdout())
		err := proc.Wait()
		c.mu.Lock()
		if err != nil {
			c.err = fmt.Errorf("connection to %s ended: %s", what, processWords(err))
		}
		c.mu.Unlock()
		theirs.Close()
	}()
	return c
}

func (c *procConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if errors.Is(err, io.EOF) {
		c.mu.Lock()
		if c.err != nil {
			err = c.err
		}
		c.mu.Unlock()
	}
	return n, err
}

func (c *procConn) Close() error {
	err := c.Conn.Close()
	c.proc.Kill()
	return err
}

// processWords is the first line the process wrote to stderr (socat's
// "Connection refused"), else its error.
func processWords(err error) string {
	if re, ok := exec.IsRunError(err); ok {
		if s := strings.TrimSpace(string(re.Stderr)); s != "" {
			line, _, _ := strings.Cut(s, "\n")
			return line
		}
	}
	return err.Error()
}
