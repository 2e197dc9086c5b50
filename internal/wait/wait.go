// Package wait polls real conditions instead of sleeping: every wait in
// hardway has a bound and, on timeout, says what it last saw.
package wait

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// permanent marks a check error that no amount of waiting will fix.
type permanent struct{ err error }

func (p permanent) Error() string { return p.err.Error() }
func (p permanent) Unwrap() error { return p.err }

// Permanent wraps an error a check returns to stop waiting at once (a
// request the server rejects, say), instead of retrying until the timeout.
func Permanent(err error) error { return permanent{err} }

// Until calls check every interval until it reports done or timeout passes.
// check's last "not yet" reason is in the timeout error, so a failure says
// what was still wrong. When the caller's context ends first, the error wraps
// its cause (context.Canceled on Ctrl-C); a caller's deadline counts as a
// timeout. A check error wrapped with Permanent ends the wait with that error.
func Until(parent context.Context, what string, interval, timeout time.Duration, check func(ctx context.Context) (done bool, notYet error)) error {
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	t := time.NewTicker(interval)
	defer t.Stop()
	var last error
	for {
		done, notYet := check(ctx)
		if done {
			return nil
		}
		var p permanent
		if errors.As(notYet, &p) {
			return p.err
		}
		// A check cut short by the deadline says nothing about the
		// condition: keep the last real reason for the timeout message.
		if notYet != nil && ctx.Err() == nil && !cutShort(notYet) {
			last = notYet
		}
		select {
		case <-ctx.Done():
			if errors.Is(parent.Err(), context.Canceled) {
				// Interrupted (Ctrl-C), not timed out: say so.
				return fmt.Errorf("waiting for %s: %w", what, parent.Err())
			}
			if last != nil {
				return fmt.Errorf("timed out after %s waiting for %s: %v", timeout, what, last)
			}
			return fmt.Errorf("timed out after %s waiting for %s", timeout, what)
		case <-t.C:
		}
	}
}

// cutShort: err says only that the deadline is near. client-go's rate
// limiter refuses a request it could not send before the deadline
// ("rate: Wait(n=1) would exceed context deadline") while ctx.Err() is
// still nil, and does not wrap context.DeadlineExceeded.
func cutShort(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "would exceed context deadline")
}
