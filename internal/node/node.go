// Package node defines what every step may do with a machine of the cluster,
// whatever provider made it (a container, a VM, an SSH host).
package node

import (
	"context"
	"io"
	"os"
)

// Node is one machine of the cluster. Failures of Run are *exec.RunError
// values that carry the command's output.
type Node interface {
	Name() string
	IP() string
	// Run runs argv inside the node and returns its stdout. stdin may be nil.
	Run(ctx context.Context, stdin io.Reader, argv ...string) ([]byte, error)
	// WriteFile creates or replaces path (and its parent directories) with
	// data and mode, atomically from the node's point of view.
	WriteFile(ctx context.Context, path string, data []byte, mode os.FileMode) error
	ReadFile(ctx context.Context, path string) ([]byte, error)
}

// Sh runs a shell snippet in the node.
func Sh(ctx context.Context, n Node, script string) ([]byte, error) {
	return n.Run(ctx, nil, "sh", "-c", script)
}

// ArtifactMount is implemented by nodes that see the host's artifact cache
// in their own file system (a read-only bind mount): binaries are copied from
// there on the node instead of being sent over the transport.
type ArtifactMount interface {
	// ArtifactDir is where the cache root appears inside the node.
	ArtifactDir() string
}
