package realengine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	xssh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/ferry-delivery/ferry/gui/engine"
	"github.com/ferry-delivery/ferry/installer/host"
	"github.com/ferry-delivery/ferry/installer/ssh"
)

// errProbed ends a first-contact handshake once the host key is seen: no credential is offered to a host
// whose key the user has not accepted yet.
var errProbed = errors.New("host key probed")

// TestConnection connects to h with the installer's SSH client. The accepted key (h.HostKey, a
// known_hosts line that the site record's known_hosts is made of) is the only key trusted. On first
// contact only the key is fetched, so a password never reaches an unconfirmed host: the login itself is
// tested on the next "Test connection", after the user accepted the fingerprint.
func (e *Engine) TestConnection(ctx context.Context, h engine.Host) (engine.Connection, error) {
	if h.JumpHost != "" {
		return testThroughJump(ctx, h)
	}
	if h.HostKey == "" {
		return probe(ctx, h)
	}
	dir, err := os.MkdirTemp("", "ferry-kh-")
	if err != nil {
		return engine.Connection{}, fmt.Errorf("testing %s: %w", h.Name, err)
	}
	defer os.RemoveAll(dir)
	kh := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(kh, []byte(h.HostKey+"\n"), 0o600); err != nil {
		return engine.Connection{}, fmt.Errorf("testing %s: %w", h.Name, err)
	}
	cfg := testConfig(h, kh)
	c, err := ssh.Dial(ctx, cfg)
	if err != nil {
		var hke *ssh.HostKeyError
		if errors.As(err, &hke) && errors.Is(err, ssh.ErrUnknownHostKey) {
			// The accepted key is for another address (the host was edited): first contact again.
			return probe(ctx, h)
		}
		conn := engine.Connection{}
		if errors.As(err, &hke) {
			conn.Fingerprint = hke.Fingerprint
		}
		if errors.Is(err, ssh.ErrHostKeyMismatch) {
			conn.KeyStatus = engine.KeyChanged
		}
		return conn, connErr(h, err)
	}
	defer c.Close()
	conn := engine.Connection{KeyStatus: engine.KeyKnown}
	if pk, _, _, _, err := xssh.ParseAuthorizedKey([]byte(keyPart(h.HostKey))); err == nil {
		conn.Fingerprint = xssh.FingerprintSHA256(pk)
	}
	conn.KeyLine = h.HostKey
	res, err := c.Run(ctx, host.Cmd{Line: "uname -sm"})
	if err != nil {
		return conn, fmt.Errorf("testing %s: running uname: %w", h.Name, err)
	}
	conn.OS, conn.Arch = unameToPlatform(string(res.Stdout))
	return conn, nil
}

// connErr maps the installer's SSH errors to the wizard's sentinels, keeping both visible to errors.Is.
func connErr(h engine.Host, err error) error {
	switch {
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.Is(err, ssh.ErrHostKeyMismatch):
		return fmt.Errorf("testing %s: %w: %w", h.Name, engine.ErrHostKeyMismatch, err)
	case errors.Is(err, ssh.ErrAuthFailed), errors.Is(err, ssh.ErrPassphraseNeeded):
		return fmt.Errorf("testing %s: %w: %w", h.Name, engine.ErrAuth, err)
	default:
		return fmt.Errorf("testing %s: %w: %w", h.Name, engine.ErrUnreachable, err)
	}
}

// sshConfig is the installer's SSH configuration for a wizard host; secrets stay in memory.
func sshConfig(h engine.Host, knownHosts string) ssh.Config {
	cfg := ssh.Config{Name: h.Name, Address: h.Address, Port: h.Port, User: h.User, KeyFile: h.KeyPath, KnownHosts: knownHosts}
	if h.Password != "" {
		cfg.Password = []byte(h.Password)
	}
	if h.KeyPassphrase != "" {
		cfg.KeyPassphrase = []byte(h.KeyPassphrase)
	}
	if h.SudoPassword != "" {
		cfg.SudoPassword = []byte(h.SudoPassword)
	}
	if h.KeyPath == "" && h.Password == "" {
		cfg.UseAgent = true
	}
	return cfg
}

func addr(h engine.Host) string {
	p := h.Port
	if p == 0 {
		p = 22
	}
	return net.JoinHostPort(h.Address, strconv.Itoa(p))
}

// probe fetches the host key of a host seen for the first time, offering no credential.
func probe(ctx context.Context, h engine.Host) (engine.Connection, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	a := addr(h)
	raw, err := d.DialContext(ctx, "tcp", a)
	if err != nil {
		if ctx.Err() != nil {
			return engine.Connection{}, ctx.Err()
		}
		return engine.Connection{}, fmt.Errorf("testing %s: %w: dialling %s: %w (is the host up and sshd listening?)", h.Name, engine.ErrUnreachable, a, err)
	}
	return probeConn(ctx, h, raw)
}

// probeConn runs the SSH handshake on raw (a TCP connection, or a channel through a jump host) only as
// far as the host key, then closes raw.
func probeConn(ctx context.Context, h engine.Host, raw net.Conn) (engine.Connection, error) {
	var key xssh.PublicKey
	a := addr(h)
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(10 * time.Second))
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	defer stop()
	cfg := &xssh.ClientConfig{User: h.User, HostKeyCallback: func(_ string, _ net.Addr, k xssh.PublicKey) error {
		key = k
		return errProbed
	}}
	_, _, _, err := xssh.NewClientConn(raw, a, cfg)
	if key == nil {
		if ctx.Err() != nil {
			return engine.Connection{}, ctx.Err()
		}
		return engine.Connection{}, fmt.Errorf("testing %s: %w: SSH handshake with %s: %w", h.Name, engine.ErrUnreachable, a, err)
	}
	return engine.Connection{
		KeyStatus:   engine.KeyNew,
		Fingerprint: xssh.FingerprintSHA256(key),
		KeyLine:     knownhosts.Line([]string{knownhosts.Normalize(a)}, key),
	}, nil
}

// testConfig is the installer's SSH configuration for a one-off test: short timeouts, no keepalive.
func testConfig(h engine.Host, knownHosts string) ssh.Config {
	cfg := sshConfig(h, knownHosts)
	cfg.DialTimeout = 10 * time.Second
	cfg.KeepAlive = -1
	return cfg
}

// jumpOf is the wizard host's bastion as a host of its own: the address of h.JumpHost, h.JumpHostKey as
// its key, and its own login (h.JumpLogin) or else h's user and credentials. (A record from before
// JumpLogin may name the bastion's user in h.JumpHost, user@host:port, with h's credentials.)
func jumpOf(h engine.Host) (engine.Host, error) {
	j, err := parseJump(h.JumpHost)
	if err != nil {
		return engine.Host{}, fmt.Errorf("testing %s: %w", h.Name, err)
	}
	jh := engine.Host{Name: h.Name + " (jump host " + j.Address + ")", Address: j.Address, Port: j.Port, HostKey: h.JumpHostKey}
	if l := h.JumpLogin; l != nil {
		jh.User, jh.KeyPath, jh.Password, jh.KeyPassphrase = l.User, l.KeyPath, l.Password, l.KeyPassphrase
		jh.PasswordAuth, jh.KeyEncrypted = l.PasswordAuth, l.KeyEncrypted
		return jh, nil
	}
	jh.User, jh.KeyPath, jh.Password, jh.KeyPassphrase = j.User, h.KeyPath, h.Password, h.KeyPassphrase
	jh.PasswordAuth, jh.KeyEncrypted = h.PasswordAuth, h.KeyEncrypted
	if jh.User == "" {
		jh.User = h.User
	}
	return jh, nil
}

// atJump marks err as a failure at the jump host (engine.ErrJumpHost), its text unchanged.
type atJump struct{ error }

func (e atJump) Unwrap() error        { return e.error }
func (e atJump) Is(target error) bool { return target == engine.ErrJumpHost }

// keyCheck is a KeyCheck for an accepted known_hosts line.
func keyCheck(status engine.KeyStatus, line string) *engine.KeyCheck {
	kc := &engine.KeyCheck{Status: status, KeyLine: line}
	if pk, _, _, _, err := xssh.ParseAuthorizedKey([]byte(keyPart(line))); err == nil {
		kc.Fingerprint = xssh.FingerprintSHA256(pk)
	}
	return kc
}

// testThroughJump tests a host behind a bastion in as many steps as keys are still to be accepted, never
// offering a credential to a machine whose key the user has not accepted:
//  1. bastion key not accepted: fetch it (no login); the host is KeyUnchecked;
//  2. bastion accepted, host not: log into the bastion (its key verified), open a channel to the host and
//     fetch the host's key (no login to the host);
//  3. both accepted: log in through the bastion, both keys verified, and run uname.
//
// A changed key on either machine is KeyChanged with ErrHostKeyMismatch, reported on the machine that
// presented it.
func testThroughJump(ctx context.Context, h engine.Host) (engine.Connection, error) {
	jh, err := jumpOf(h)
	if err != nil {
		return engine.Connection{}, err
	}
	if h.JumpHostKey == "" {
		jc, err := probe(ctx, jh)
		if err != nil {
			if ctx.Err() != nil {
				return engine.Connection{}, err
			}
			return engine.Connection{}, atJump{err}
		}
		return engine.Connection{KeyStatus: engine.KeyUnchecked, Jump: &engine.KeyCheck{Status: engine.KeyNew, Fingerprint: jc.Fingerprint, KeyLine: jc.KeyLine}}, nil
	}
	dir, err := os.MkdirTemp("", "ferry-kh-")
	if err != nil {
		return engine.Connection{}, fmt.Errorf("testing %s: %w", h.Name, err)
	}
	defer os.RemoveAll(dir)
	kh := filepath.Join(dir, "known_hosts")
	lines := h.JumpHostKey + "\n"
	if h.HostKey != "" {
		lines += h.HostKey + "\n"
	}
	if err := os.WriteFile(kh, []byte(lines), 0o600); err != nil {
		return engine.Connection{}, fmt.Errorf("testing %s: %w", h.Name, err)
	}
	jcfg := testConfig(jh, kh)
	jcfg.Bastion = true
	jumpOK := keyCheck(engine.KeyKnown, h.JumpHostKey)
	if h.HostKey == "" {
		bastion, err := ssh.Dial(ctx, jcfg)
		if err != nil {
			return jumpFailed(ctx, h, jh, err)
		}
		defer bastion.Close()
		raw, err := bastion.DialContext(ctx, "tcp", addr(h))
		if err != nil {
			if ctx.Err() != nil {
				return engine.Connection{Jump: jumpOK}, ctx.Err()
			}
			return engine.Connection{Jump: jumpOK}, fmt.Errorf("testing %s: %w: dialling %s from jump host %s: %w (is the host up and sshd listening?)", h.Name, engine.ErrUnreachable, addr(h), jh.Address, err)
		}
		c, err := probeConn(ctx, h, raw)
		c.Jump = jumpOK
		return c, err
	}
	cfg := testConfig(h, kh)
	cfg.Jump = &jcfg
	c, err := ssh.Dial(ctx, cfg)
	if err != nil {
		var je *ssh.JumpError
		if errors.As(err, &je) {
			return jumpFailed(ctx, h, jh, err)
		}
		var hke *ssh.HostKeyError
		conn := engine.Connection{Jump: jumpOK}
		if errors.As(err, &hke) {
			if errors.Is(err, ssh.ErrUnknownHostKey) {
				// The accepted key is for another address (the host was edited): first contact again.
				h.HostKey = ""
				return testThroughJump(ctx, h)
			}
			conn.Fingerprint = hke.Fingerprint
		}
		if errors.Is(err, ssh.ErrHostKeyMismatch) {
			conn.KeyStatus = engine.KeyChanged
		}
		return conn, connErr(h, err)
	}
	defer c.Close()
	conn := engine.Connection{KeyStatus: engine.KeyKnown, KeyLine: h.HostKey, Jump: jumpOK}
	conn.Fingerprint = keyCheck(engine.KeyKnown, h.HostKey).Fingerprint
	res, err := c.Run(ctx, host.Cmd{Line: "uname -sm"})
	if err != nil {
		return conn, fmt.Errorf("testing %s: running uname: %w", h.Name, err)
	}
	conn.OS, conn.Arch = unameToPlatform(string(res.Stdout))
	return conn, nil
}

// jumpFailed reports a failure to log into the bastion: a changed key is KeyChanged on the bastion (the
// host itself was not reached), an unknown one (the bastion was edited) is first contact again.
func jumpFailed(ctx context.Context, h, jh engine.Host, err error) (engine.Connection, error) {
	conn := engine.Connection{KeyStatus: engine.KeyUnchecked, Jump: &engine.KeyCheck{Status: engine.KeyKnown}}
	var hke *ssh.HostKeyError
	if errors.As(err, &hke) {
		if errors.Is(err, ssh.ErrUnknownHostKey) {
			h.JumpHostKey = ""
			return testThroughJump(ctx, h)
		}
		conn.Jump.Fingerprint = hke.Fingerprint
	}
	if errors.Is(err, ssh.ErrHostKeyMismatch) {
		conn.Jump.Status = engine.KeyChanged
	}
	if ctx.Err() != nil {
		return conn, ctx.Err()
	}
	return conn, atJump{connErr(engine.Host{Name: h.Name + ": jump host " + addr(jh)}, err)}
}

// keyPart drops the host patterns of a known_hosts line.
func keyPart(line string) string {
	f := strings.Fields(line)
	if len(f) >= 3 {
		return strings.Join(f[1:], " ")
	}
	return line
}

func unameToPlatform(out string) (osName, arch string) {
	f := strings.Fields(out)
	if len(f) < 2 {
		return strings.TrimSpace(out), ""
	}
	osName = strings.ToLower(f[0])
	switch f[1] {
	case "x86_64":
		arch = "amd64"
	case "aarch64", "arm64":
		arch = "arm64"
	default:
		arch = f[1]
	}
	return osName, arch
}
