package lab

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The lock tests claim IDs under a t.TempDir() state root and swap the machine teardown for a recorder:
// lab kernel objects are named by ID alone, so a real teardown here could hit another run's lab.

const (
	envHolderRoot = "FERRY_LAB_LOCK_TEST_ROOT"
	envHolderID   = "FERRY_LAB_LOCK_TEST_ID"
)

// TestLockHolderProcess is not a test: re-executed by the tests below (as os/exec's TestHelperProcess),
// it claims a lab ID, says "locked" or the error, and holds the ID until its stdin closes.
func TestLockHolderProcess(t *testing.T) {
	root := os.Getenv(envHolderRoot)
	if root == "" {
		return
	}
	id, _ := strconv.Atoi(os.Getenv(envHolderID))
	if err := claim(context.Background(), root, id, 0); err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("locked")
	_, _ = io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}

type holderProc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	line  string // the first thing it said
}

// startHolder re-executes this test binary as a process that claims lab id under root, and returns once
// it has said whether it got the lock.
func startHolder(t *testing.T, root string, id int) *holderProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockHolderProcess$")
	for _, kv := range os.Environ() {
		// The child must not take FERRY_LAB=1 along: the package's TestMain would tear labs down.
		if !strings.HasPrefix(kv, "FERRY_LAB") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, envHolderRoot+"="+root, envHolderID+"="+strconv.Itoa(id))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &holderProc{cmd: cmd, stdin: stdin}
	t.Cleanup(h.stop)
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("holder process said nothing: %v; stderr: %s", err, stderr.String())
	}
	h.line = strings.TrimSpace(line)
	return h
}

// stop lets the holder exit normally (idempotent).
func (h *holderProc) stop() {
	h.stdin.Close()
	_ = h.cmd.Wait()
}

func recordTeardown(t *testing.T) *atomic.Int32 {
	var n atomic.Int32
	saved := teardownFn
	teardownFn = func(context.Context, string, int) error { n.Add(1); return nil }
	t.Cleanup(func() { teardownFn = saved })
	return &n
}

func claimed(t *testing.T, root string, id int) {
	t.Helper()
	if err := claim(context.Background(), root, id, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { release(root, id) })
}

// A second process is refused with the holder named, and neither Up nor Down touches anything; a
// waiting claim gets the lab once the holder ends; --force goes on regardless.
func TestLockSecondProcessRefused(t *testing.T) {
	t.Setenv(EnvLockWait, "")
	ctx := context.Background()
	root, id := t.TempDir(), 65
	h := startHolder(t, root, id)
	if h.line != "locked" {
		t.Fatalf("holder: %s", h.line)
	}
	pid := h.cmd.Process.Pid
	torn := recordTeardown(t)

	err := claim(ctx, root, id, 0)
	if !errors.Is(err, ErrLabBusy) {
		t.Fatalf("claim while held = %v, want ErrLabBusy", err)
	}
	for _, want := range []string{"lab 65 is in use by", fmt.Sprintf("PID %d (", pid), "TestLockHolderProcess", fmt.Sprintf("started by PID %d", os.Getpid()), "since "} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("busy error %q lacks %q", err, want)
		}
	}
	t.Logf("busy error: %v", err)
	// The kernel's word on the holder, not only the holder's own record in the file.
	if f, err := os.Open(LockPath(root, id)); err != nil {
		t.Fatal(err)
	} else if got := flockPID(f); got != pid {
		t.Errorf("/proc/locks names PID %d as holder, want %d", got, pid)
	} else {
		f.Close()
	}
	if who := Holder(root, id); !strings.HasPrefix(who, fmt.Sprintf("PID %d (", pid)) {
		t.Errorf("Holder = %q, want PID %d", who, pid)
	}
	if err := Down(ctx, root, id); !errors.Is(err, ErrLabBusy) || !strings.Contains(err.Error(), fmt.Sprintf("PID %d", pid)) {
		t.Errorf("Down of a held lab = %v, want ErrLabBusy naming PID %d", err, pid)
	}
	_, err = Up(ctx, Options{ID: id, Hosts: Spec(1, 0), StateRoot: root, CacheDir: root})
	if !errors.Is(err, ErrLabBusy) {
		t.Errorf("Up of a held lab = %v, want ErrLabBusy", err)
	}
	if _, err := os.Stat(StateDir(root, id)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("refused Up left the state directory: %v", err)
	}
	if n := torn.Load(); n != 0 {
		t.Fatalf("a refused Down or Up tore down %d times", n)
	}
	if err := DownWith(ctx, root, id, DownOptions{Force: true}); err != nil || torn.Load() != 1 {
		t.Fatalf("forced Down = %v after %d teardowns, want nil after 1", err, torn.Load())
	}

	got := make(chan error, 1)
	go func() { got <- claim(ctx, root, id, time.Minute) }()
	select {
	case err := <-got:
		t.Fatalf("waiting claim returned %v while the lab was still held", err)
	case <-time.After(3 * lockPoll):
	}
	h.stop()
	if err := <-got; err != nil {
		t.Fatalf("waiting claim after the holder ended: %v", err)
	}
	t.Cleanup(func() { release(root, id) })
	if who := Holder(root, id); !strings.Contains(who, "this process") {
		t.Errorf("Holder after taking over = %q", who)
	}
}

// The holder's own Down and Up go on (flock is per open file, so a naive second lock would refuse our
// own process); a child process is refused, naming us.
func TestLockHolderOwnDown(t *testing.T) {
	t.Setenv(EnvLockWait, "")
	ctx := context.Background()
	root, id := t.TempDir(), 66
	torn := recordTeardown(t)
	claimed(t, root, id)
	if err := Down(ctx, root, id); err != nil || torn.Load() != 1 {
		t.Fatalf("holder's Down = %v after %d teardowns, want nil after 1", err, torn.Load())
	}
	if err := claim(ctx, root, id, 0); err != nil {
		t.Fatalf("claiming a held ID again: %v", err)
	}
	if err := Down(ctx, root, id); err != nil || torn.Load() != 2 {
		t.Fatalf("holder's second Down = %v after %d teardowns", err, torn.Load())
	}
	h := startHolder(t, root, id)
	if want := fmt.Sprintf("lab 66 is in use by PID %d (", os.Getpid()); !strings.Contains(h.line, want) {
		t.Fatalf("second process said %q, want it to contain %q", h.line, want)
	}
	// A lock file per ID: another ID under the same root is free.
	if h := startHolder(t, root, id+1); h.line != "locked" {
		t.Fatalf("other ID: %s", h.line)
	}
}

// A holder killed -9 gets no chance to clean up; the kernel drops its lock all the same.
func TestLockReleasedWhenHolderKilled(t *testing.T) {
	t.Setenv(EnvLockWait, "")
	ctx := context.Background()
	root, id := t.TempDir(), 67
	h := startHolder(t, root, id)
	if h.line != "locked" {
		t.Fatalf("holder: %s", h.line)
	}
	if err := claim(ctx, root, id, 0); !errors.Is(err, ErrLabBusy) {
		t.Fatalf("claim while held = %v", err)
	}
	if err := h.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	h.stop()
	if who := Holder(root, id); who != "" {
		t.Errorf("Holder after the holder died = %q, want none", who)
	}
	claimed(t, root, id)
	if _, err := os.Stat(LockPath(root, id)); err != nil {
		t.Fatalf("lock file: %v", err)
	}
}

func TestLockWaitSetting(t *testing.T) {
	t.Setenv(EnvLockWait, "soon")
	if _, err := lockWait(0); !errors.Is(err, ErrBadOptions) {
		t.Errorf("bad %s accepted: %v", EnvLockWait, err)
	}
	if _, err := Up(context.Background(), Options{ID: 68, Hosts: Spec(1, 0), StateRoot: t.TempDir()}); !errors.Is(err, ErrBadOptions) {
		t.Errorf("Up with bad %s = %v", EnvLockWait, err)
	}
	t.Setenv(EnvLockWait, "90s")
	if d, err := lockWait(0); err != nil || d != 90*time.Second {
		t.Errorf("lockWait = %v, %v", d, err)
	}
	if d, _ := lockWait(time.Second); d != time.Second {
		t.Errorf("explicit wait overridden: %v", d)
	}
}

func TestParseProcLocks(t *testing.T) {
	const locks = "1: OFDLCK ADVISORY  WRITE -1 fe:00:950970 0 EOF\n" +
		"2: POSIX  ADVISORY  WRITE 300 fe:00:1234 0 EOF\n" +
		"3: FLOCK  ADVISORY  WRITE 4711 fe:00:1234 0 EOF\n" +
		"3: -> FLOCK  ADVISORY  WRITE 4712 fe:00:1234 0 EOF\n" +
		"4: FLOCK  ADVISORY  WRITE 99 08:01:1234 0 EOF\n"
	dev := uint64(0xfe << 8) // major 0xfe, minor 0
	tests := []struct {
		name string
		dev  uint64
		ino  uint64
		want int
	}{
		{"holder, not waiter or POSIX lock", dev, 1234, 4711},
		{"other device", 8<<8 | 1, 1234, 99},
		{"no lock", dev, 5678, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseProcLocks(strings.NewReader(locks), tt.dev, tt.ino); got != tt.want {
				t.Fatalf("pid = %d, want %d", got, tt.want)
			}
		})
	}
}
