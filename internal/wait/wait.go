// Package wait polls real conditions instead of sleeping: every wait in
// hardway has a bound and, on timeout, says what it last saw.
package wait

import (
	"context"
	"fmt"
	"time"
)

// Until calls check every interval until it reports done or timeout passes.
// check's last "not yet" reason is in the timeout error, so a failure says
// what was still wrong. When the caller's context ends first, the error wraps
// its cause (context.Canceled on Ctrl-C).
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
		if notYet != nil {
			last = notYet
		}
		select {
		case <-ctx.Done():
			if parent.Err() != nil {
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
