package ssh

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/ferry-delivery/ferry/installer/audit"
	xssh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// Config says how to reach and log into one host.
type Config struct {
	// Name is the host's name in the site file (used in messages and the audit log).
	Name    string
	Address string
	Port    int // 22 if zero
	User    string

	// Credentials, tried in this order: agent, key file, password.
	KeyFile       string
	KeyPassphrase []byte
	Password      []byte
	UseAgent      bool
	// AgentSocket overrides $SSH_AUTH_SOCK.
	AgentSocket string

	// SudoPassword feeds `sudo -S` for a non-root user; defaults to Password.
	SudoPassword []byte

	// Jump is an optional bastion this host is reached through.
	Jump *Config
	// Bastion: the host only opens channels to others (a jump host; set on Jump automatically). Nothing
	// is run on it, not even `id -u`, because a bastion account often has no shell (nologin, ForceCommand).
	Bastion bool

	// KnownHosts is the site's known_hosts file (created on first use).
	KnownHosts string
	// AcceptHostKeys lists SHA256:... fingerprints the user accepted for hosts not yet known.
	AcceptHostKeys []string

	// Audit receives every remote command; nil records nothing.
	Audit *audit.Log

	DialTimeout time.Duration // 15 s if zero
	KeepAlive   time.Duration // 15 s if zero; negative disables
}

func (c *Config) addr() string {
	p := c.Port
	if p == 0 {
		p = 22
	}
	return net.JoinHostPort(c.Address, strconv.Itoa(p))
}

// preferredCiphers puts AES-GCM first: it is hardware-accelerated on the amd64 and arm64 laptops Ferry
// runs on and is much faster than chacha20-poly1305 for bulk uploads, and equally strong.
var preferredCiphers = []string{"aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "chacha20-poly1305@openssh.com", "aes128-ctr", "aes192-ctr", "aes256-ctr"}

func (c *Config) clientConfig(lastHostKeyErr *error) (*xssh.ClientConfig, func(), error) {
	var methods []xssh.AuthMethod
	cleanup := func() {}
	if c.UseAgent {
		sock := c.AgentSocket
		if sock == "" {
			sock = os.Getenv("SSH_AUTH_SOCK")
		}
		if sock == "" {
			return nil, cleanup, fmt.Errorf("ssh-agent requested for %s but SSH_AUTH_SOCK is not set: start an agent and ssh-add the key", c.Name)
		}
		conn, err := net.Dial("unix", sock)
		if err != nil {
			return nil, cleanup, fmt.Errorf("connecting to ssh-agent at %s: %w", sock, err)
		}
		cleanup = func() { conn.Close() }
		methods = append(methods, xssh.PublicKeysCallback(agent.NewClient(conn).Signers))
	}
	if c.KeyFile != "" {
		pem, err := os.ReadFile(c.KeyFile)
		if err != nil {
			cleanup()
			return nil, func() {}, fmt.Errorf("reading key file: %w", err)
		}
		var signer xssh.Signer
		if len(c.KeyPassphrase) > 0 {
			signer, err = xssh.ParsePrivateKeyWithPassphrase(pem, c.KeyPassphrase)
		} else {
			signer, err = xssh.ParsePrivateKey(pem)
		}
		var missing *xssh.PassphraseMissingError
		switch {
		case errAs(err, &missing):
			cleanup()
			return nil, func() {}, fmt.Errorf("key file %s is encrypted: give its passphrase (keyPassphraseEnv in the site file): %w", c.KeyFile, ErrPassphraseNeeded)
		case errors.Is(err, x509.IncorrectPasswordError):
			cleanup()
			return nil, func() {}, fmt.Errorf("%w: the passphrase of key file %s is wrong", ErrAuthFailed, c.KeyFile)
		case err != nil:
			cleanup()
			return nil, func() {}, fmt.Errorf("parsing key file %s (wrong passphrase?): %w", c.KeyFile, err)
		}
		methods = append(methods, xssh.PublicKeys(signer))
	}
	if len(c.Password) > 0 {
		pw := string(c.Password)
		methods = append(methods, xssh.Password(pw), xssh.KeyboardInteractive(func(_, _ string, qs []string, _ []bool) ([]string, error) {
			ans := make([]string, len(qs))
			for i := range ans {
				ans[i] = pw
			}
			return ans, nil
		}))
	}
	if len(methods) == 0 {
		cleanup()
		return nil, func() {}, fmt.Errorf("no credentials for %s: set keyFile, agent or a password in the site file", c.Name)
	}
	timeout := c.DialTimeout
	if timeout == 0 {
		timeout = 15 * time.Second
	}
	cfg := &xssh.ClientConfig{
		User:              c.User,
		Auth:              methods,
		HostKeyCallback:   hostKeyCallback(c.KnownHosts, c.Name, c.AcceptHostKeys, lastHostKeyErr),
		HostKeyAlgorithms: knownAlgorithms(c.KnownHosts, c.addr()),
		Timeout:           timeout,
	}
	cfg.Ciphers = preferredCiphers
	return cfg, cleanup, nil
}
