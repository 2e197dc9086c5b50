package cli

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"hardway.dev/hardway/internal/converge"
	"hardway.dev/hardway/internal/steps"
)

// progress draws one line per step: a spinner with elapsed time while it
// runs on a terminal, then ✓ or ✗ with the final time.
type progress struct {
	w     io.Writer
	tty   bool
	mu    sync.Mutex
	stop  chan struct{}
	done  chan struct{}
	label string
}

func newProgress(w io.Writer) *progress {
	tty := false
	if f, ok := w.(*os.File); ok {
		tty = isTerminal(f) && os.Getenv("TERM") != "dumb"
	}
	return &progress{w: w, tty: tty}
}

func (p *progress) StepStarted(s steps.Step, i, total int) {
	p.label = fmt.Sprintf("[%2d/%d] %-13s %s", i+1, total, s.Name, s.Title)
	if !p.tty {
		return
	}
	p.stop, p.done = make(chan struct{}), make(chan struct{})
	start := time.Now()
	go func() {
		defer close(p.done)
		frames := []rune("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏")
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for i := 0; ; i++ {
			p.mu.Lock()
			fmt.Fprintf(p.w, "\r\033[K%c %s  %s", frames[i%len(frames)], p.label, fmtDur(time.Since(start)))
			p.mu.Unlock()
			select {
			case <-p.stop:
				return
			case <-t.C:
			}
		}
	}()
}

func (p *progress) StepDone(s steps.Step, el time.Duration, changes []converge.Change, err error) {
	if p.tty {
		close(p.stop)
		<-p.done
		fmt.Fprint(p.w, "\r\033[K")
	}
	mark := "✓"
	if err != nil {
		mark = "✗"
	}
	summary := ""
	if err == nil {
		summary = "  " + converge.Summary(changes)
	}
	fmt.Fprintf(p.w, "%s %s  %s%s\n", mark, p.label, fmtDur(el), summary)
}

// Logf lets step logs print between spinner frames without garbling them.
func (p *progress) Logf(level int, verbosity int, format string, args ...any) {
	if level > verbosity {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty {
		fmt.Fprint(p.w, "\r\033[K")
	}
	fmt.Fprintf(p.w, format+"\n", args...)
}

func fmtDur(d time.Duration) string {
	if d < 10*time.Second {
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	if d < time.Minute {
		return fmt.Sprintf("%.0fs", d.Seconds())
	}
	return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
}

// progressLogger adapts progress to logx.Logger.
type progressLogger struct {
	p *progress
	v int
}

func (l progressLogger) Logf(level int, format string, args ...any) {
	l.p.Logf(level, l.v, format, args...)
}
