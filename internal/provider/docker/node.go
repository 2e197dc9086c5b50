package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"hardway.dev/hardway/internal/exec"
	"hardway.dev/hardway/internal/node"
	"hardway.dev/hardway/internal/provider"
)

// Node is one container of a cluster.
type Node struct {
	p         *Provider
	name      string
	container string
	ip        string
	role      string
}

func (n *Node) Name() string      { return n.name }
func (n *Node) IP() string        { return n.ip }
func (n *Node) Role() string      { return n.role }
func (n *Node) Container() string { return n.container }

// Run implements node.Node with `docker exec`. A failure is an
// *exec.RunError whose Where is the node and whose Cmd is what ran in it.
func (n *Node) Run(ctx context.Context, stdin io.Reader, argv ...string) ([]byte, error) {
	if len(argv) == 0 {
		return nil, fmt.Errorf("nothing to run on %s", n.name)
	}
	args := []string{"exec"}
	if stdin != nil {
		args = append(args, "-i")
	}
	args = append(args, n.container)
	args = append(args, argv...)
	cmd := exec.Cmd{Name: argv[0], Args: argv[1:]}
	n.p.log.Logf(1, "  [%s] $ %s", n.name, cmd.Short())
	n.p.log.Logf(2, "  [%s] full command: %s", n.name, cmd)
	out, err := n.p.r.Run(ctx, exec.Cmd{Name: "docker", Args: args, Stdin: stdin})
	if err != nil {
		if re, ok := exec.IsRunError(err); ok {
			cp := *re
			cp.Where = n.name
			cp.Cmd = exec.Cmd{Name: argv[0], Args: argv[1:]}.String()
			return out, &cp
		}
		return out, fmt.Errorf("running %s on %s: %w", argv[0], n.name, err)
	}
	return out, nil
}

// Attach implements provider.Node with docker exec.
func (n *Node) Attach(tty bool, env []string, argv []string) []string {
	out := []string{"docker", "exec", "-i"}
	if tty {
		out = append(out, "-t")
	}
	for _, e := range env {
		out = append(out, "--env", e)
	}
	out = append(out, n.container)
	return append(out, argv...)
}

// ArtifactDir implements node.ArtifactMount: the cache is bind-mounted.
func (n *Node) ArtifactDir() string { return provider.ArtifactsMount }

// WriteFile implements node.Node: the file travels on stdin of one command.
func (n *Node) WriteFile(ctx context.Context, path string, data []byte, mode os.FileMode) error {
	return node.WriteFileWith(ctx, n.Run, n.name, path, data, mode)
}

// ReadFile implements node.Node. A missing file matches fs.ErrNotExist.
func (n *Node) ReadFile(ctx context.Context, path string) ([]byte, error) {
	return node.ReadFileWith(ctx, n.Run, path)
}

// WaitForSystemd implements provider.Node.
func (n *Node) WaitForSystemd(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	ctx, cancel := context.WithDeadline(ctx, deadline.Add(10*time.Second))
	defer cancel()
	last := ""
	for {
		out, _ := n.p.r.Run(ctx, exec.Cmd{Name: "docker", Args: []string{"exec", n.container, "systemctl", "is-system-running"}})
		state := strings.TrimSpace(string(out))
		if state == "running" || state == "degraded" {
			if state == "degraded" {
				n.p.log.Logf(1, "node %s: systemd is degraded (%s)", n.name, n.failedUnits(ctx))
			}
			return nil
		}
		if state != "" {
			last = state
		}
		if err := n.stopped(ctx); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			if last == "" {
				last = "no answer"
			}
			return fmt.Errorf("node %s: systemd not running after %s (state: %s; failed units: %s); look inside with `hardway shell %s -- journalctl -b --no-pager`",
				n.name, timeout, last, n.failedUnits(ctx), n.name)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node %s: waiting for systemd: %w", n.name, ctx.Err())
		case <-time.After(n.p.poll):
		}
	}
}

// stopped returns an error with the container's last log lines when it is
// no longer running (the entrypoint failed or systemd exited): waiting on
// would only hide the cause.
func (n *Node) stopped(ctx context.Context) error {
	out, err := n.p.r.Run(ctx, exec.Cmd{Name: "docker", Args: []string{"container", "inspect", "--format", "{{.State.Status}}", n.container}})
	if err != nil {
		if isNoSuch(err) {
			return fmt.Errorf("node %s: container %s does not exist", n.name, n.container)
		}
		return nil // Docker busy or slow: ask again next round
	}
	st := strings.TrimSpace(string(out))
	if st == "running" || st == "created" || st == "restarting" {
		return nil
	}
	logs, _ := n.p.r.Run(ctx, exec.Cmd{Name: "docker", Args: []string{"logs", "--tail", "20", n.container}})
	var re *exec.RunError
	_ = errors.As(err, &re)
	return fmt.Errorf("node %s stopped (%s) before systemd came up; its last output:\n%s", n.name, st, strings.TrimSpace(string(logs)))
}

func (n *Node) failedUnits(ctx context.Context) string {
	out, _ := n.p.r.Run(ctx, exec.Cmd{Name: "docker", Args: []string{"exec", n.container, "systemctl", "--failed", "--no-legend", "--no-pager", "--plain"}})
	s := strings.Join(strings.Fields(strings.TrimSpace(string(out))), " ")
	if s == "" {
		return "none"
	}
	return s
}
