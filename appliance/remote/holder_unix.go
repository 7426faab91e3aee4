//go:build unix

package remote

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// holdersDir is where each running session keeps its lock file, under the site records.
const holdersDir = ".holders"

// holder is this process's appliance.Liveness: a lock file <records>/.holders/<token>.lock, flocked for
// as long as the session is open. The kernel drops the lock when the process dies, SIGKILL included, so
// the next ferryctl (or wizard) on this laptop knows at once that a change it finds in progress has no
// process behind it, instead of waiting for the record's heartbeat to age out. A token whose file is not
// here (another laptop's) is never called gone: the heartbeat decides.
type holder struct {
	dir   string
	token string
	f     *os.File
}

func newHolder(recordsDir string) (*holder, error) {
	dir := filepath.Join(recordsDir, holdersDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w", dir, err)
	}
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	h := &holder{dir: dir, token: hex.EncodeToString(b)}
	f, err := os.OpenFile(h.path(h.token), os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("creating session lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("locking session lock: %w", err)
	}
	h.f = f
	h.sweep()
	return h, nil
}

func (h *holder) path(token string) string { return filepath.Join(h.dir, token+".lock") }

func (h *holder) Token() string { return h.token }

// Gone says true only when token's lock file is here and nobody holds its lock.
func (h *holder) Gone(token string) bool {
	if len(token) != 32 {
		return false
	}
	if _, err := hex.DecodeString(token); err != nil {
		return false
	}
	f, err := os.OpenFile(h.path(token), os.O_RDWR, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) || err != nil {
		return false
	}
	// Its process is dead. The file stays: every later run must be able to tell the same (status, then
	// the re-run). sweep removes it once the record's heartbeat has long aged out anyway.
	syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return true
}

// staleHolder is how old an unlocked lock file must be before a new session removes it. By then the
// heartbeat of any record its process held has aged out (three intervals, 45 s by default), so removing
// it loses nothing; at worst a record that process refreshed until the moment it died waits for the
// heartbeat rule.
const staleHolder = time.Hour

// sweep removes the lock files of processes that are gone and have been for a while.
func (h *holder) sweep() {
	ents, err := os.ReadDir(h.dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		tok, ok := strings.CutSuffix(e.Name(), ".lock")
		if !ok || tok == h.token {
			continue
		}
		if fi, err := e.Info(); err != nil || time.Since(fi.ModTime()) < staleHolder {
			continue
		}
		if h.Gone(tok) {
			os.Remove(h.path(tok))
		}
	}
}

// Close releases the lock and removes the file.
func (h *holder) Close() {
	if h == nil || h.f == nil {
		return
	}
	os.Remove(h.f.Name())
	h.f.Close()
	h.f = nil
}
