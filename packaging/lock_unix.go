//go:build unix

package packaging

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// ErrBuildRunning is returned when another build holds the work directory.
var ErrBuildRunning = errors.New("another build of this app is running")

// lockDir takes an exclusive flock on dir/.lock. The kernel drops it when the process dies, so a killed
// build never leaves a stale lock behind. Without wait it fails at once with ErrBuildRunning; with wait it
// retries until ctx ends.
func lockDir(ctx context.Context, dir string, wait bool) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("locking work directory: %w", err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("locking work directory: %w", err)
		}
		if !wait {
			f.Close()
			return nil, fmt.Errorf("locking work directory %s: %w (wait for it, or use another --work-dir)", dir, ErrBuildRunning)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
