// Package logx is the one logging seam: libraries log through a Logger they
// are given, never to stdout directly, so the CLI decides what a user sees.
package logx

import (
	"fmt"
	"io"
	"sync"
)

// Logger receives diagnostic lines. Level 0 is always shown; higher levels
// only with -v N.
type Logger interface {
	Logf(level int, format string, args ...any)
}

// Discard drops everything; handy in tests and for quiet callers.
type Discard struct{}

func (Discard) Logf(int, string, ...any) {}

// Writer prints lines up to Verbosity to W.
type Writer struct {
	mu        sync.Mutex
	W         io.Writer
	Verbosity int
}

func (w *Writer) Logf(level int, format string, args ...any) {
	if level > w.Verbosity {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	fmt.Fprintf(w.W, format+"\n", args...)
}
