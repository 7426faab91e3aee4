//go:build unix

package packaging

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// ErrBuildRunning is returned when another build holds the work directory.
var ErrBuildRunning = errors.New("another build of this app is running")

// lockDir takes an exclusive, non-blocking flock on dir/.lock. The kernel drops it when the process dies,
// so a killed build never leaves a stale lock behind.
func lockDir(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("locking work directory: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("locking work directory %s: %w (wait for it, or use another --work-dir)", dir, ErrBuildRunning)
		}
		return nil, fmt.Errorf("locking work directory: %w", err)
	}
	return func() { f.Close() }, nil
}
