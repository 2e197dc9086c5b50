package wait

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestUntil(t *testing.T) {
	tests := []struct {
		name    string
		doneAt  int
		wantErr string
	}{
		{"immediately", 1, ""},
		{"after a few tries", 3, ""},
		{"never, reports last reason", 1 << 30, "still starting"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			err := Until(context.Background(), "thing", time.Millisecond, 50*time.Millisecond, func(context.Context) (bool, error) {
				calls++
				if calls >= tt.doneAt {
					return true, nil
				}
				return false, errors.New("still starting")
			})
			if tt.wantErr == "" && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "thing")) {
				t.Fatalf("error %v, want one naming thing and %q", err, tt.wantErr)
			}
		})
	}
}

func TestUntilInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := Until(ctx, "thing", time.Millisecond, time.Minute, func(context.Context) (bool, error) { return false, nil })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}

func TestUntilPermanentAndCallerDeadline(t *testing.T) {
	calls := 0
	boom := errors.New("forbidden")
	err := Until(context.Background(), "thing", time.Millisecond, time.Minute, func(context.Context) (bool, error) {
		calls++
		return false, Permanent(boom)
	})
	if err != boom || calls != 1 {
		t.Fatalf("permanent error: got %v after %d calls, want %v after 1", err, calls, boom)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err = Until(ctx, "thing", time.Millisecond, time.Minute, func(context.Context) (bool, error) { return false, errors.New("still starting") })
	if err == nil || !strings.Contains(err.Error(), "timed out") || !strings.Contains(err.Error(), "still starting") {
		t.Fatalf("caller deadline: got %v, want a timeout with the last reason", err)
	}
}

// The deadline also cuts the last check short; its error ("rate limiter
// would exceed context deadline") must not replace the real reason.
func TestTimeoutKeepsTheLastRealReason(t *testing.T) {
	err := Until(context.Background(), "pods", 5*time.Millisecond, 30*time.Millisecond, func(ctx context.Context) (bool, error) {
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(time.Millisecond):
			return false, errors.New("0 of 2 available")
		}
	})
	if err == nil || !strings.Contains(err.Error(), "0 of 2 available") {
		t.Fatalf("err = %v, want the last real reason", err)
	}
}

// TestUntilKeepsTheRealReason: a last check refused by client-go's rate
// limiter near the deadline does not replace the reason before it.
func TestUntilKeepsTheRealReason(t *testing.T) {
	calls := 0
	err := Until(context.Background(), "thing", time.Millisecond, 30*time.Millisecond, func(ctx context.Context) (bool, error) {
		calls++
		if dl, _ := ctx.Deadline(); time.Until(dl) < 15*time.Millisecond {
			return false, errors.New("client rate limiter Wait returned an error: rate: Wait(n=1) would exceed context deadline")
		}
		return false, errors.New("0 of 2 pods available")
	})
	if err == nil || !strings.Contains(err.Error(), "0 of 2 pods available") {
		t.Errorf("err %v", err)
	}
}
