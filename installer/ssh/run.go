package ssh

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ferry-delivery/ferry/installer/audit"
	"github.com/ferry-delivery/ferry/installer/host"
	xssh "golang.org/x/crypto/ssh"
)

var _ host.Host = (*Host)(nil)

// Run runs c on the host, records it in the audit log and returns *host.ExitError on a non-zero exit.
func (h *Host) Run(ctx context.Context, c host.Cmd) (host.Result, error) {
	start := time.Now()
	line, stdin := c.Line, c.Stdin
	sudo := c.Sudo && !h.IsRoot()
	if sudo {
		var err error
		if line, stdin, err = h.sudoWrap(ctx, c); err != nil {
			return host.Result{}, err
		}
	}
	res, err := h.exec(ctx, line, stdin)
	shown := host.Redact(c.Line, c.Redact)
	e := audit.Entry{Host: h.cfg.Name, User: h.cfg.User, Kind: "run", Cmd: shown, Sudo: sudo, ExitCode: res.ExitCode, DurationMs: time.Since(start).Milliseconds()}
	if err != nil {
		e.ExitCode, e.Err = -1, host.Redact(err.Error(), c.Redact)
	}
	if aerr := h.cfg.Audit.Record(e); aerr != nil && err == nil {
		err = aerr
	}
	if err != nil {
		return res, fmt.Errorf("running %q on %s: %w", shown, h.cfg.Name, err)
	}
	if res.ExitCode != 0 {
		xe := &host.ExitError{Host: h.cfg.Name, Line: shown, ExitCode: res.ExitCode, Stderr: host.Redact(string(res.Stderr), c.Redact)}
		if sudo && sudoRefused(res) {
			return res, errors.Join(fmt.Errorf("%w on %s for user %s: check the sudo password and the user's sudoers entry", host.ErrSudoFailed, h.cfg.Name, h.cfg.User), xe)
		}
		return res, xe
	}
	return res, nil
}

// exec runs line in a new session, reconnecting once if the connection had died before the command
// started (never after: a command is not run twice).
func (h *Host) exec(ctx context.Context, line string, stdin io.Reader) (host.Result, error) {
	for attempt := 0; ; attempt++ {
		c, err := h.getClient(ctx)
		if err != nil {
			return host.Result{}, err
		}
		res, err := runOn(ctx, c, line, stdin)
		var ns *newSessionError
		if errors.As(err, &ns) && attempt == 0 {
			h.discard(c)
			continue
		}
		return res, err
	}
}

type newSessionError struct{ err error }

func (e *newSessionError) Error() string { return "opening session: " + e.err.Error() }
func (e *newSessionError) Unwrap() error { return e.err }

// runOn runs one command on c. It returns an error only for transport failures; the exit status is in
// the Result.
func runOn(ctx context.Context, c *xssh.Client, line string, stdin io.Reader) (host.Result, error) {
	s, err := c.NewSession()
	if err != nil {
		return host.Result{}, &newSessionError{err}
	}
	defer s.Close()
	var out, errb bytes.Buffer
	s.Stdout, s.Stderr = &out, &errb
	if stdin != nil {
		s.Stdin = stdin
	}
	if err := s.Start(line); err != nil {
		return host.Result{}, err
	}
	done := make(chan error, 1)
	go func() { done <- s.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		s.Signal(xssh.SIGKILL)
		s.Close()
		// The output buffers are written by the session's copiers until Wait returns.
		select {
		case <-done:
			return host.Result{Stdout: out.Bytes(), Stderr: errb.Bytes(), ExitCode: -1}, ctx.Err()
		case <-time.After(time.Second):
			return host.Result{ExitCode: -1}, ctx.Err()
		}
	}
	res := host.Result{Stdout: out.Bytes(), Stderr: errb.Bytes()}
	var xe *xssh.ExitError
	var missing *xssh.ExitMissingError
	switch {
	case err == nil:
	case errors.As(err, &xe):
		res.ExitCode = xe.ExitStatus()
		if xe.Signal() != "" && res.ExitCode == 0 {
			res.ExitCode = 128
		}
	case errors.As(err, &missing), errors.Is(err, io.EOF):
		res.ExitCode = -1
		return res, errConnLost
	default:
		res.ExitCode = -1
		return res, err
	}
	return res, nil
}

type sudoMode int

const (
	sudoUnknown sudoMode = iota
	sudoNoPassword
	sudoWithPassword
)

// sudoWrap turns c into a sudo invocation. The password, if any, goes first on stdin (`sudo -S -p ”`);
// `-k` makes sudo read it every time, so it is never mistaken for the command's own input. Lines run
// under `sh -c`, so the login shell (sh, dash, bash) does not matter.
func (h *Host) sudoWrap(ctx context.Context, c host.Cmd) (string, io.Reader, error) {
	mode, err := h.sudoReady(ctx)
	if err != nil {
		return "", nil, err
	}
	in := c.Stdin
	if in == nil {
		in = strings.NewReader("")
	}
	if mode == sudoNoPassword {
		return "sudo -n -- sh -c " + host.Quote(c.Line), in, nil
	}
	return "sudo -k -S -p '' -- sh -c " + host.Quote(c.Line), io.MultiReader(bytes.NewReader(h.sudoPassword()), strings.NewReader("\n"), in), nil
}

func (h *Host) sudoPassword() []byte {
	if len(h.cfg.SudoPassword) > 0 {
		return h.cfg.SudoPassword
	}
	return h.cfg.Password
}

// sudoReady learns, once, whether sudo needs a password, and checks the password before any command
// that carries other input on stdin relies on it.
func (h *Host) sudoReady(ctx context.Context) (sudoMode, error) {
	h.sudoMu.Lock()
	defer h.sudoMu.Unlock()
	if h.sudoMode != sudoUnknown {
		return h.sudoMode, nil
	}
	start := time.Now()
	res, err := h.exec(ctx, "sudo -n true", nil)
	h.cfg.Audit.Record(audit.Entry{Host: h.cfg.Name, User: h.cfg.User, Kind: "run", Cmd: "sudo -n true", ExitCode: res.ExitCode, DurationMs: time.Since(start).Milliseconds()})
	if err != nil {
		return 0, fmt.Errorf("checking sudo on %s: %w", h.cfg.Name, err)
	}
	if res.ExitCode == 0 {
		h.sudoMode = sudoNoPassword
		return h.sudoMode, nil
	}
	if res.ExitCode == 127 || bytes.Contains(res.Stderr, []byte("not found")) {
		return 0, fmt.Errorf("%w: sudo is not installed on %s: log in as root or install sudo", host.ErrSudoFailed, h.cfg.Name)
	}
	pw := h.sudoPassword()
	if len(pw) == 0 {
		return 0, fmt.Errorf("%w: sudo on %s asks user %s for a password: give it in the site file (passwordEnv or prompt) or allow NOPASSWD", host.ErrSudoFailed, h.cfg.Name, h.cfg.User)
	}
	start = time.Now()
	res, err = h.exec(ctx, "sudo -k -S -p '' true", io.MultiReader(bytes.NewReader(pw), strings.NewReader("\n")))
	h.cfg.Audit.Record(audit.Entry{Host: h.cfg.Name, User: h.cfg.User, Kind: "run", Cmd: "sudo -k -S -p '' true", Sudo: true, ExitCode: res.ExitCode, DurationMs: time.Since(start).Milliseconds()})
	if err != nil {
		return 0, fmt.Errorf("checking sudo on %s: %w", h.cfg.Name, err)
	}
	if res.ExitCode != 0 {
		return 0, fmt.Errorf("%w: sudo on %s refused user %s with the given password: %s", host.ErrSudoFailed, h.cfg.Name, h.cfg.User, strings.TrimSpace(string(res.Stderr)))
	}
	h.sudoMode = sudoWithPassword
	return h.sudoMode, nil
}

func sudoRefused(res host.Result) bool {
	s := string(res.Stderr)
	return res.ExitCode == 1 && (strings.Contains(s, "incorrect password") || strings.Contains(s, "Sorry, try again") ||
		strings.Contains(s, "is not in the sudoers") || strings.Contains(s, "a password is required"))
}
