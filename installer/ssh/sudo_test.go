package ssh

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-delivery/ferry/installer/audit"
	"github.com/ferry-delivery/ferry/installer/host"
	"github.com/ferry-delivery/ferry/installer/ssh/sshtest"
)

// These tests log in as the throwaway user ferrytest (password auth, sudo with password), created only
// under `make test-installer` (sshtest.UserEnv=1).
func userHost(t *testing.T, shell string) (*Host, string, *audit.Log) {
	t.Helper()
	b := make([]byte, 12)
	rand.Read(b)
	pw := "Pw-" + hex.EncodeToString(b)
	sshtest.EnsureUser(t, shell, pw)
	s := sshtest.Start(t, sshtest.Options{PasswordAuth: true})
	rec := t.TempDir()
	log, _ := audit.Open(rec)
	h := dial(t, Config{Name: "u1", Address: "127.0.0.1", Port: s.Port, User: sshtest.TestUser, Password: []byte(pw),
		KnownHosts: filepath.Join(rec, "known_hosts"), AcceptHostKeys: []string{s.Fingerprint}, Audit: log, KeepAlive: -1})
	return h, pw, log
}

func TestSudoWithPasswordOnStdin(t *testing.T) {
	for _, shell := range []string{"/bin/sh", "/bin/dash", "/bin/bash"} {
		t.Run(filepath.Base(shell), func(t *testing.T) {
			h, pw, log := userHost(t, shell)
			ctx := context.Background()
			if h.IsRoot() {
				t.Fatal("ferrytest detected as root")
			}
			res, err := h.Run(ctx, host.Cmd{Line: "echo $0; id -u"})
			// The login shell really is the one under test, and the user is not root.
			if lines := strings.Fields(string(res.Stdout)); err != nil || len(lines) != 2 || filepath.Base(lines[0]) != filepath.Base(shell) || lines[1] == "0" {
				t.Fatalf("plain run: %q %v", res.Stdout, err)
			}
			res, err = h.Run(ctx, host.Cmd{Line: "id -u", Sudo: true})
			if err != nil || strings.TrimSpace(string(res.Stdout)) != "0" {
				t.Fatalf("sudo id -u: %q %v", res.Stdout, err)
			}

			// The command's own stdin arrives intact after the password line.
			dst := filepath.Join(t.TempDir(), "root-only", "conf")
			res, err = h.Run(ctx, host.Cmd{Line: "mkdir -p " + host.Quote(filepath.Dir(dst)) + " && cat > " + host.Quote(dst), Sudo: true, Stdin: strings.NewReader("token: abc\n")})
			if err != nil {
				t.Fatal(err)
			}
			if b, _ := os.ReadFile(dst); string(b) != "token: abc\n" {
				t.Fatalf("stdin through sudo: %q", b)
			}
			// ReadFile reads root-only files through sudo, tells a missing file (fs.ErrNotExist) from an
			// unreadable one (the installer generates a new cluster token only for the former).
			if b, err := h.ReadFile(ctx, dst); err != nil || string(b) != "token: abc\n" {
				t.Fatalf("ReadFile of a root-only file: %q %v", b, err)
			}
			if _, err := h.ReadFile(ctx, filepath.Join(filepath.Dir(dst), "absent")); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("ReadFile of a missing file: %v, want fs.ErrNotExist", err)
			}
			if _, err := h.ReadFile(ctx, filepath.Dir(dst)); err == nil || errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("ReadFile of a directory: %v, want an error other than fs.ErrNotExist", err)
			}

			// The password is never in any process's argv while sudo runs.
			var seen atomic.Bool
			done := make(chan struct{})
			go func() {
				defer close(done)
				h.Run(ctx, host.Cmd{Line: "sleep 1", Sudo: true})
			}()
			for deadline := time.Now().Add(900 * time.Millisecond); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
				cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
				for _, c := range cmdlines {
					if b, _ := os.ReadFile(c); bytes.Contains(b, []byte(pw)) {
						seen.Store(true)
					}
				}
			}
			<-done
			if seen.Load() {
				t.Fatal("the sudo password appeared in a process's argv")
			}
			if b, _ := os.ReadFile(log.Path()); bytes.Contains(b, []byte(pw)) {
				t.Fatal("the password is in the audit log")
			}
		})
	}
}

func TestSudoWrongPassword(t *testing.T) {
	h, _, _ := userHost(t, "/bin/sh")
	h.cfg.SudoPassword = []byte("wrong-password")
	_, err := h.Run(context.Background(), host.Cmd{Line: "true", Sudo: true})
	if !errors.Is(err, host.ErrSudoFailed) {
		t.Fatalf("err = %v, want ErrSudoFailed", err)
	}
	if strings.Contains(err.Error(), "wrong-password") {
		t.Fatal("password in the error")
	}
}

func TestSudoUploadToRootOwnedPath(t *testing.T) {
	h, _, _ := userHost(t, "/bin/bash")
	data := make([]byte, 5<<20+7)
	rand.Read(data)
	src := filepath.Join(t.TempDir(), "k3s")
	os.WriteFile(src, data, 0o644)
	dst := filepath.Join(t.TempDir(), "usr-local-bin", "k3s") // under root's 0700 temp dir: only sudo can write
	ctx := context.Background()
	res, err := h.Upload(ctx, src, dst, host.UploadOptions{Mode: 0o755})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(dst)
	fi, _ := os.Stat(dst)
	if !bytes.Equal(got, data) || fi.Mode().Perm() != 0o755 || fi.Sys().(*syscall.Stat_t).Uid != 0 || res.Sent != int64(len(data)) {
		t.Fatalf("placed file: equal=%v mode=%v uid=%d res=%+v", bytes.Equal(got, data), fi.Mode(), fi.Sys().(*syscall.Stat_t).Uid, res)
	}
	// Present with the right hash (checked with sudo): skipped.
	res, err = h.Upload(ctx, src, dst, host.UploadOptions{Mode: 0o755})
	if err != nil || !res.Skipped {
		t.Fatalf("second upload: %+v %v", res, err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(dst), ".k3s.ferry-part")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("temporary file left beside the target")
	}
}
