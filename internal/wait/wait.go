// Package wait polls real conditions instead of sleeping: every wait in
// hardway has a bound and, on timeout, says what it last saw.
package wait

import (
	"context"
	"fmt"
	"time"
)

// Until calls check every interval until it reports done, returns a hard
// error, or timeout passes. check's last "not yet" reason is in the timeout
// error, so a failure says what was still wrong.
func Until(ctx context.Context, what string, interval, timeout time.Duration, check func(ctx context.Context) (done bool, notYet error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
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
			if last != nil {
				return fmt.Errorf("timed out after %s waiting for %s: %v", timeout, what, last)
			}
			return fmt.Errorf("timed out after %s waiting for %s", timeout, what)
		case <-t.C:
		}
	}
}
