package ssh

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferry-delivery/ferry/installer/audit"
	"github.com/ferry-delivery/ferry/installer/host"
	"github.com/ferry-delivery/ferry/installer/ssh/sshtest"
	"github.com/ferry-delivery/ferry/installer/transfer"
	"github.com/ferry-delivery/ferry/internal/progress"
	xssh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

func TestMain(m *testing.M) {
	// Small verification chunks so small test files exercise resumption.
	transfer.VerifyChunk = 2 << 20
	os.Exit(m.Run())
}

func rootConfig(t *testing.T, s *sshtest.Server, records string) Config {
	return Config{Name: "node1", Address: "127.0.0.1", Port: s.Port, User: "root", KeyFile: s.ClientKey,
		KnownHosts: filepath.Join(records, "known_hosts"), AcceptHostKeys: []string{s.Fingerprint}, KeepAlive: -1}
}

func dial(t *testing.T, cfg Config) *Host {
	t.Helper()
	h, err := Dial(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func TestKeyAuthRunAndAudit(t *testing.T) {
	s := sshtest.Start(t, sshtest.Options{})
	rec := t.TempDir()
	cfg := rootConfig(t, s, rec)
	log, _ := audit.Open(rec)
	cfg.Audit = log
	h := dial(t, cfg)
	if !h.IsRoot() {
		t.Fatal("root login not detected as root")
	}
	res, err := h.Run(context.Background(), host.Cmd{Line: "echo hello; echo oops >&2", Redact: []string{"hello"}})
	if err != nil || string(res.Stdout) != "hello\n" || string(res.Stderr) != "oops\n" {
		t.Fatalf("run: %q %q %v", res.Stdout, res.Stderr, err)
	}
	_, err = h.Run(context.Background(), host.Cmd{Line: "exit 3"})
	var xe *host.ExitError
	if !errors.As(err, &xe) || xe.ExitCode != 3 {
		t.Fatalf("exit 3: err = %v", err)
	}
	res, err = h.Run(context.Background(), host.Cmd{Line: "cat", Stdin: strings.NewReader("from stdin")})
	if err != nil || string(res.Stdout) != "from stdin" {
		t.Fatalf("stdin: %q %v", res.Stdout, err)
	}
	es, err := audit.Read(log.Path())
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, e := range es {
		lines = append(lines, e.Cmd)
		if strings.Contains(e.Cmd, "hello") {
			t.Errorf("secret not redacted in audit: %q", e.Cmd)
		}
	}
	want := []string{"ssh " + s.Addr(), "echo *** ; echo oops >&2", "exit 3", "cat"}
	want[1] = "echo ***; echo oops >&2"
	if strings.Join(lines, "|") != strings.Join(want, "|") {
		t.Fatalf("audit commands %q, want %q", lines, want)
	}
	if es[2].ExitCode != 3 {
		t.Fatalf("audit exit code %d, want 3", es[2].ExitCode)
	}
}

func TestHostKeyVerification(t *testing.T) {
	s := sshtest.Start(t, sshtest.Options{})
	rec := t.TempDir()
	cfg := rootConfig(t, s, rec)
	ctx := context.Background()

	// First contact without acceptance: refused, with the fingerprint to compare, nothing recorded.
	cfg.AcceptHostKeys = nil
	_, err := Dial(ctx, cfg)
	var hk *HostKeyError
	if !errors.Is(err, ErrUnknownHostKey) || !errors.As(err, &hk) || hk.Fingerprint != s.Fingerprint {
		t.Fatalf("unknown key: err = %v, want ErrUnknownHostKey with %s", err, s.Fingerprint)
	}
	if !strings.Contains(err.Error(), "--accept-host-key "+s.Fingerprint) {
		t.Fatalf("error does not say how to accept: %v", err)
	}
	// Accepting some other fingerprint does not help.
	cfg.AcceptHostKeys = []string{"SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}
	if _, err := Dial(ctx, cfg); !errors.Is(err, ErrUnknownHostKey) {
		t.Fatalf("wrong acceptance: err = %v", err)
	}
	if b, _ := os.ReadFile(cfg.KnownHosts); len(b) != 0 {
		t.Fatalf("known_hosts written without acceptance: %q", b)
	}
	// Explicit acceptance records the key; later connections need no acceptance.
	cfg.AcceptHostKeys = []string{s.Fingerprint}
	dial(t, cfg).Close()
	cfg.AcceptHostKeys = nil
	dial(t, cfg).Close()

	// A changed key is refused even when the new fingerprint is offered for acceptance.
	old := s.Fingerprint
	s.RestartWithNewHostKey()
	cfg.AcceptHostKeys = []string{s.Fingerprint}
	_, err = Dial(ctx, cfg)
	if !errors.Is(err, ErrHostKeyMismatch) || !errors.As(err, &hk) || hk.Fingerprint != s.Fingerprint || len(hk.Known) != 1 || hk.Known[0] != old {
		t.Fatalf("changed key: err = %v", err)
	}
	if errors.Is(err, ErrUnknownHostKey) {
		t.Fatal("mismatch also matches ErrUnknownHostKey")
	}
}

func TestPassphraseKeyAndAgent(t *testing.T) {
	s := sshtest.Start(t, sshtest.Options{})
	rec := t.TempDir()
	enc := filepath.Join(t.TempDir(), "enc_key")
	pub := sshtest.WriteKey(t, enc, []byte("correct horse"))
	s.Authorize(t, "root", pub)
	cfg := rootConfig(t, s, rec)
	cfg.KeyFile = enc
	if _, err := Dial(context.Background(), cfg); !errors.Is(err, ErrPassphraseNeeded) {
		t.Fatalf("no passphrase: err = %v", err)
	}
	cfg.KeyPassphrase = []byte("wrong")
	if _, err := Dial(context.Background(), cfg); err == nil || errors.Is(err, ErrPassphraseNeeded) {
		t.Fatalf("wrong passphrase: err = %v", err)
	}
	cfg.KeyPassphrase = []byte("correct horse")
	dial(t, cfg)

	// ssh-agent: an in-process agent speaking the real protocol on a unix socket.
	keyring := agent.NewKeyring()
	raw, _, err := parseRawKey(s.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	keyring.Add(agent.AddedKey{PrivateKey: raw})
	sock := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go agent.ServeAgent(keyring, c)
		}
	}()
	cfg = rootConfig(t, s, rec)
	cfg.KeyFile, cfg.UseAgent, cfg.AgentSocket = "", true, sock
	h := dial(t, cfg)
	if _, err := h.Run(context.Background(), host.Cmd{Line: "true"}); err != nil {
		t.Fatal(err)
	}
}

func TestWrongPasswordRefused(t *testing.T) {
	s := sshtest.Start(t, sshtest.Options{PasswordAuth: true})
	cfg := rootConfig(t, s, t.TempDir())
	cfg.KeyFile, cfg.Password = "", []byte("not-the-password")
	_, err := Dial(context.Background(), cfg)
	if !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("err = %v, want ErrAuthFailed", err)
	}
	if strings.Contains(err.Error(), "not-the-password") {
		t.Fatal("password leaked into the error")
	}
}

// viaBastion starts a bastion and a target sshd and returns the target's root config reaching it through
// the bastion, sharing one known_hosts; the caller says which host keys are accepted.
func viaBastion(t *testing.T) (cfg Config, bastion, target *sshtest.Server) {
	t.Helper()
	bastion = sshtest.Start(t, sshtest.Options{})
	target = sshtest.Start(t, sshtest.Options{})
	rec := t.TempDir()
	cfg = rootConfig(t, target, rec)
	jump := rootConfig(t, bastion, rec)
	cfg.Jump = &jump
	return cfg, bastion, target
}

func TestJumpHost(t *testing.T) {
	cfg, bastion, target := viaBastion(t)
	cfg.AcceptHostKeys = []string{target.Fingerprint, bastion.Fingerprint}
	h := dial(t, cfg)
	// sshd logs the client's address: through the jump host the target sees a connection from the
	// bastion (also loopback here), so prove the route by stopping the bastion: a new connection fails.
	if _, err := h.Run(context.Background(), host.Cmd{Line: "true"}); err != nil {
		t.Fatal(err)
	}
	h.Close()
	bastion.Stop()
	if _, err := Dial(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "jump") {
		t.Fatalf("with the bastion down: err = %v, want a jump host error", err)
	}
}

// A Dial that logs into the jump host but fails at the host behind it (here: the host's key was never
// accepted) must not leave the bastion's connection open: with one left, the bastion's sshd keeps a
// session process and stopping it hangs.
func TestJumpHostConnectionClosedWhenTheHostFails(t *testing.T) {
	cfg, bastion, _ := viaBastion(t)
	cfg.AcceptHostKeys = []string{bastion.Fingerprint} // not the target's
	if _, err := Dial(context.Background(), cfg); !errors.Is(err, ErrUnknownHostKey) {
		t.Fatalf("err = %v, want the target's unknown key", err)
	}
	stopped := make(chan struct{})
	go func() { bastion.Stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("the bastion's sshd still serves a session after the failed Dial: its connection leaked")
	}
}

func TestReconnectAfterDropAndCancel(t *testing.T) {
	s := sshtest.Start(t, sshtest.Options{})
	h := dial(t, rootConfig(t, s, t.TempDir()))
	ctx := context.Background()
	h.drop()
	time.Sleep(50 * time.Millisecond)
	res, err := h.Run(ctx, host.Cmd{Line: "echo back"})
	if err != nil || string(res.Stdout) != "back\n" {
		t.Fatalf("after a drop: %q %v", res.Stdout, err)
	}
	cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = h.Run(cctx, host.Cmd{Line: "sleep 30"})
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Fatalf("cancel: err = %v after %v", err, time.Since(start))
	}
	if _, err := h.Run(ctx, host.Cmd{Line: "true"}); err != nil {
		t.Fatalf("connection unusable after a cancelled command: %v", err)
	}
}

func TestUploadResumeSkipCancel(t *testing.T) {
	s := sshtest.Start(t, sshtest.Options{})
	h := dial(t, rootConfig(t, s, t.TempDir()))
	ctx := context.Background()
	const size = 24 << 20
	data := make([]byte, size)
	rand.Read(data)
	src := filepath.Join(t.TempDir(), "images.tar")
	os.WriteFile(src, data, 0o644)
	dst := filepath.Join(t.TempDir(), "remote", "images.tar") // loopback: the "remote" is this machine

	// Cut the link once 16 MiB have gone.
	var cut bool
	opts := host.UploadOptions{Progress: func(e progressEvent) {
		if !cut && e.Done > 16<<20 {
			cut = true
			h.drop()
		}
	}}
	if _, err := h.Upload(ctx, src, dst, opts); err == nil {
		t.Fatal("upload survived a cut connection")
	}
	if _, err := os.Stat(dst); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("target exists after a cut")
	}
	res, err := h.Upload(ctx, src, dst, host.UploadOptions{Mode: 0o600})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Resumed || res.Sent >= size {
		t.Fatalf("re-run after cut: %+v, want resumed with Sent < %d", res, size)
	}
	got, _ := os.ReadFile(dst)
	if !bytes.Equal(got, data) {
		t.Fatal("uploaded file differs")
	}
	if fi, _ := os.Stat(dst); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode())
	}
	res, err = h.Upload(ctx, src, dst, host.UploadOptions{})
	if err != nil || !res.Skipped || res.Sent != 0 {
		t.Fatalf("present file: %+v %v, want skipped", res, err)
	}

	// Cancel stops within a second.
	dst2 := filepath.Join(filepath.Dir(dst), "again.tar")
	cctx, cancel := context.WithCancel(ctx)
	var at time.Time
	opts = host.UploadOptions{Progress: func(e progressEvent) {
		if at.IsZero() && e.Done > 2<<20 {
			at = time.Now()
			cancel()
		}
	}}
	_, err = h.Upload(cctx, src, dst2, opts)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled upload: err = %v", err)
	}
	if at.IsZero() || time.Since(at) > time.Second {
		t.Fatalf("cancel took %v", time.Since(at))
	}
	if _, err := os.Stat(dst2); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("target exists after cancel")
	}
}

type progressEvent = progress.Event

func parseRawKey(path string) (any, []byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	k, err := xssh.ParseRawPrivateKey(b)
	return k, b, err
}

func TestUnreachableHost(t *testing.T) {
	sshtest.SshdPath(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close() // nothing listens there now
	cfg := Config{Name: "gone", Address: "127.0.0.1", Port: port, User: "root", KeyFile: "/nonexistent", KnownHosts: filepath.Join(t.TempDir(), "kh")}
	if _, err := Dial(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "reading key file") {
		t.Fatalf("missing key file: %v", err)
	}
	s := sshtest.Start(t, sshtest.Options{})
	cfg.KeyFile = s.ClientKey
	start := time.Now()
	_, err = Dial(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "is the host up") || time.Since(start) > 5*time.Second {
		t.Fatalf("closed port: %v after %v", err, time.Since(start))
	}
}

// A bastion with a login of its own: another user (a forward-only account without a shell, as sites give
// for a bastion) and another key than the host behind it. The host is reached with the bastion's own
// credentials; the host's credentials, a wrong password or a missing passphrase on the bastion fail as a
// JumpError naming the bastion, and the host is never contacted.
func TestJumpHostOwnLogin(t *testing.T) {
	bastion := sshtest.Start(t, sshtest.Options{PasswordAuth: true})
	target := sshtest.Start(t, sshtest.Options{})
	keys := t.TempDir()
	jumpKey := filepath.Join(keys, "bastion_key")
	bastion.Authorize(t, sshtest.BastionUser, sshtest.WriteKey(t, jumpKey, nil))
	encKey := filepath.Join(keys, "bastion_enc_key")
	bastion.Authorize(t, sshtest.BastionUser, sshtest.WriteKey(t, encKey, []byte("bastion phrase")))
	rec := t.TempDir()
	cfg := rootConfig(t, target, rec)
	cfg.AcceptHostKeys = []string{target.Fingerprint, bastion.Fingerprint}
	jump := Config{Name: "node1 (jump host bastion)", Address: "127.0.0.1", Port: bastion.Port, User: sshtest.BastionUser, KeyFile: jumpKey, KeepAlive: -1}
	cfg.Jump = &jump
	log, _ := audit.Open(rec)
	cfg.Audit = log

	h := dial(t, cfg)
	res, err := h.Run(context.Background(), host.Cmd{Line: "id -un"})
	if err != nil || strings.TrimSpace(string(res.Stdout)) != "root" || !h.IsRoot() {
		t.Fatalf("on the host through the bastion: %q %v (root %v)", res.Stdout, err, h.IsRoot())
	}
	h.Close()
	es, _ := audit.Read(filepath.Join(rec, audit.FileName))
	var users []string
	for _, e := range es {
		if e.Kind == "connect" {
			users = append(users, e.Host+" as "+e.User)
		}
	}
	if want := []string{"node1 (jump host bastion) as nobody", "node1 as root"}; !slices.Equal(users, want) {
		t.Fatalf("connections recorded %q, want %q", users, want)
	}

	enc := jump
	enc.KeyFile = encKey
	cfg.Jump = &enc
	_, err = Dial(context.Background(), cfg)
	var je *JumpError
	if !errors.Is(err, ErrPassphraseNeeded) || !errors.As(err, &je) || je.Addr != bastion.Addr() {
		t.Fatalf("encrypted bastion key without its passphrase: %v", err)
	}
	enc.KeyPassphrase = []byte("bastion phrase")
	dial(t, cfg).Close()

	for name, wrong := range map[string]Config{
		"the host's key":   {KeyFile: target.ClientKey},
		"a wrong password": {Password: []byte("not-the-bastion-password")},
	} {
		j := jump
		j.KeyFile, j.Password = wrong.KeyFile, wrong.Password
		cfg.Jump = &j
		_, err := Dial(context.Background(), cfg)
		if !errors.Is(err, ErrAuthFailed) || !errors.As(err, &je) || je.Addr != bastion.Addr() {
			t.Fatalf("bastion login with %s: err = %v, want ErrAuthFailed in a JumpError for %s", name, err, bastion.Addr())
		}
		if msg := err.Error(); !strings.Contains(msg, "jump host "+bastion.Addr()) || !strings.Contains(msg, `user "nobody"`) || strings.Contains(msg, "not-the-bastion-password") {
			t.Fatalf("bastion login with %s: the error should name the bastion and its user, never the password: %v", name, err)
		}
	}
}
