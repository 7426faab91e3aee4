package lab

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrLabBusy means a running process holds the lab's ID: going on would tear down or boot over that
// run's lab under it.
var ErrLabBusy = errors.New("site lab busy")

// EnvLockWait (a Go duration such as "10m") makes Up and Down wait up to that long for a lab ID another
// process holds, instead of failing at once. The default is not to wait: a lab run lasts minutes, and a
// developer is better served by hearing at once who holds the ID than by a silent hang.
const EnvLockWait = "FERRY_LAB_LOCK_WAIT"

// lockPoll is how often a waiting claim retries: flock has no timed wait, and a goroutine blocked in
// flock(2) could not be cancelled.
const lockPoll = 200 * time.Millisecond

// LockPath is the file whose flock claims lab id for one process. It lies beside the lab's state
// directory, not in it, because Down removes that directory; and it is never removed, because deleting a
// lock file others may be waiting on lets two processes each lock a different file of the same name.
func LockPath(stateRoot string, id int) string {
	if stateRoot == "" {
		stateRoot = DefaultStateRoot
	}
	return filepath.Join(stateRoot, LabName(id)+".lock")
}

// holder is what a lock's owner writes into the lock file, for the message another claimer shows.
type holder struct {
	PID    int       `json:"pid"`
	Cmd    string    `json:"cmd"`
	Parent string    `json:"parent,omitempty"` // "PID: command line" of the process that started the holder
	Since  time.Time `json:"since"`
}

// held keeps the lock files this process has locked, by path. flock belongs to an open file
// description: opening the file a second time in the same process and locking it would find the lock
// taken (by ourselves), so the holder's own Up and Down look here first.
var held = struct {
	sync.Mutex
	files map[string]*os.File
}{files: map[string]*os.File{}}

// claim takes lab id's lock under stateRoot for the rest of this process's life (the kernel drops it
// when the process ends, however it ends, so a crashed run never leaves a stale lock), or returns at
// once if this process holds it already. While another process holds it, claim retries for up to wait,
// then fails with ErrLabBusy naming the holder. The file is opened close-on-exec (Go's default), so the
// nspawn machines the lab starts do not inherit the lock and keep it past the test that made them.
func claim(ctx context.Context, stateRoot string, id int, wait time.Duration) error {
	p := LockPath(stateRoot, id)
	deadline := time.Now().Add(wait)
	var f *os.File
	for {
		// The registry is checked on every try, so two goroutines of one process claiming the same
		// lab both get it instead of the second seeing its own process as the holder.
		held.Lock()
		if _, ok := held.files[p]; ok {
			held.Unlock()
			if f != nil {
				f.Close()
			}
			return nil
		}
		if f == nil {
			var err error
			if f, err = openLockFile(p); err != nil {
				held.Unlock()
				return err
			}
		}
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			// Say who we are for the next claimer. Failing to is no reason to give the lock up:
			// /proc/locks still names our PID.
			b, _ := json.Marshal(self())
			if err := f.Truncate(0); err == nil {
				_, _ = f.WriteAt(append(b, '\n'), 0)
			}
			held.files[p] = f
			held.Unlock()
			return nil
		}
		held.Unlock()
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return fmt.Errorf("locking %s: %w", p, err)
		}
		if !time.Now().Before(deadline) || ctx.Err() != nil {
			who := describeHolder(f)
			f.Close()
			return errors.Join(busyError(id, who, wait), ctx.Err())
		}
		select {
		case <-ctx.Done():
		case <-time.After(min(lockPoll, time.Until(deadline))):
		}
	}
}

func openLockFile(p string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return nil, lockFileError(err)
	}
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, lockFileError(err)
	}
	return f, nil
}

// release gives up lab id's lock if this process holds it (tests; a process otherwise keeps its IDs).
func release(stateRoot string, id int) {
	p := LockPath(stateRoot, id)
	held.Lock()
	defer held.Unlock()
	if f, ok := held.files[p]; ok {
		f.Close() // closing the last descriptor drops the flock
		delete(held.files, p)
	}
}

func lockFileError(err error) error {
	if errors.Is(err, os.ErrPermission) && os.Geteuid() != 0 {
		return fmt.Errorf("%w: %w", ErrNotRoot, err)
	}
	return fmt.Errorf("opening the lab's lock: %w", err)
}

func busyError(id int, who string, wait time.Duration) error {
	waited := ""
	if wait > 0 {
		waited = fmt.Sprintf(" (waited %s)", wait)
	}
	return fmt.Errorf("%w: lab %d is in use by %s%s. Wait for that run to end (or set %s=10m to wait), "+
		"use another lab ID, or stop that process; `lab down --force --id %d` tears the lab down under it",
		ErrLabBusy, id, who, waited, EnvLockWait, id)
}

// Holder describes the running process that holds lab id's lock ("PID 123 (go test ...) since ..."),
// or returns "" when none does. It only looks (at /proc/locks and the lock file), so it never delays or
// confuses a process claiming the lab at the same moment.
func Holder(stateRoot string, id int) string {
	p := LockPath(stateRoot, id)
	held.Lock()
	_, mine := held.files[p]
	held.Unlock()
	if mine {
		return fmt.Sprintf("this process (PID %d)", os.Getpid())
	}
	f, err := os.Open(p)
	if err != nil {
		return ""
	}
	defer f.Close()
	if flockPID(f) == 0 {
		return ""
	}
	return describeHolder(f)
}

// describeHolder names the process holding f's flock: its PID from the kernel, its command line from
// /proc, and the parent and start time it recorded in the file (when the record is that process's: the
// file may still carry a dead holder's record for a moment after a new one took the lock).
func describeHolder(f *os.File) string {
	pid := flockPID(f)
	var rec holder
	if b, err := io.ReadAll(io.NewSectionReader(f, 0, 1<<16)); err == nil {
		_ = json.Unmarshal(b, &rec)
	}
	if pid == 0 { // /proc/locks unreadable or lock just dropped: fall back to the record
		pid = rec.PID
	}
	if pid == 0 {
		return "another process (not yet recorded)"
	}
	cmd := cmdline(pid)
	if cmd == "" && rec.PID == pid {
		cmd = rec.Cmd
	}
	s := fmt.Sprintf("PID %d", pid)
	if cmd != "" {
		s += " (" + cmd + ")"
	}
	if rec.PID == pid {
		if rec.Parent != "" {
			s += ", started by PID " + rec.Parent
		}
		if !rec.Since.IsZero() {
			s += fmt.Sprintf(", since %s (%s ago)", rec.Since.UTC().Format("15:04:05 UTC"), time.Since(rec.Since).Round(time.Second))
		}
	}
	return s
}

func self() holder {
	h := holder{PID: os.Getpid(), Cmd: cmdline(os.Getpid()), Since: time.Now()}
	if pp := os.Getppid(); pp > 1 {
		h.Parent = strconv.Itoa(pp)
		if c := cmdline(pp); c != "" {
			h.Parent += " (" + c + ")"
		}
	}
	return h
}

// cmdline returns pid's command line, shortened to stay readable in an error message.
func cmdline(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return ""
	}
	s := strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
	if len(s) > 160 {
		s = s[:157] + "..."
	}
	return s
}

// flockPID returns the PID holding a flock on f's file according to /proc/locks, or 0.
func flockPID(f *os.File) int {
	st, err := f.Stat()
	if err != nil {
		return 0
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return 0
	}
	locks, err := os.Open("/proc/locks")
	if err != nil {
		return 0
	}
	defer locks.Close()
	return parseProcLocks(locks, uint64(sys.Dev), sys.Ino)
}

// parseProcLocks finds the FLOCK entry on (dev, ino) in /proc/locks, whose lines read
// "1: FLOCK  ADVISORY  WRITE 4711 fe:00:1368992 0 EOF" (device as hex major:minor). Lines of
// waiters ("1: -> FLOCK ...") are skipped.
func parseProcLocks(r io.Reader, dev, ino uint64) int {
	want := fmt.Sprintf("%02x:%02x:%d", devMajor(dev), devMinor(dev), ino)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 6 || fs[1] != "FLOCK" || fs[5] != want {
			continue
		}
		if pid, err := strconv.Atoi(fs[4]); err == nil && pid > 0 {
			return pid
		}
	}
	return 0
}

// The kernel's encoding of device numbers in st_dev (glibc's gnu_dev_major/minor).
func devMajor(dev uint64) uint64 { return (dev>>8)&0xfff | (dev>>32)&^0xfff }
func devMinor(dev uint64) uint64 { return dev&0xff | (dev>>12)&^0xff }

// lockWait returns how long to wait for a held lab: explicit if set, else $FERRY_LAB_LOCK_WAIT.
func lockWait(explicit time.Duration) (time.Duration, error) {
	if explicit != 0 {
		return explicit, nil
	}
	v := os.Getenv(EnvLockWait)
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%w: %s=%q is not a duration such as 10m", ErrBadOptions, EnvLockWait, v)
	}
	return d, nil
}
