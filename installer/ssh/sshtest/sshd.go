package sshtest

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	xssh "golang.org/x/crypto/ssh"
)

// Server is a running sshd.
type Server struct {
	Port        int
	Dir         string
	HostKey     xssh.PublicKey
	Fingerprint string
	// ClientKey is a private key file authorised for root (and for User when one was made).
	ClientKey string
	ClientPub xssh.PublicKey

	t    testing.TB
	cmd  *exec.Cmd
	opts Options
}

// BastionUser is a login that exists on every Debian system and has no shell (/usr/sbin/nologin): the
// kind of forward-only account a site's bastion gives, which can open channels but run nothing. Tests
// authorise their own key for it with Authorize.
const BastionUser = "nobody"

// Options tune a server.
type Options struct {
	// PasswordAuth enables password logins.
	PasswordAuth bool
	// SftpServer selects the external sftp-server binary (the Debian default) instead of internal-sftp.
	SftpServer bool
}

// SshdPath finds sshd or skips the test: the site lab group of scripts/install-deps.sh installs it.
func SshdPath(t testing.TB) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("sshd tests need root (sshd switches to the login user)")
	}
	for _, p := range []string{"/usr/sbin/sshd", "/usr/local/sbin/sshd"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("sshd"); err == nil {
		return p
	}
	t.Skip("sshd not installed (scripts/install-deps.sh lab)")
	return ""
}

// Start starts an sshd for the test.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	SshdPath(t)
	s := &Server{t: t, Dir: t.TempDir(), opts: o}
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil { // privilege separation directory
		t.Fatal(err)
	}
	s.ClientKey = filepath.Join(s.Dir, "client_key")
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	writeKey(t, s.ClientKey, priv, nil)
	s.ClientPub, _ = xssh.NewPublicKey(pub)
	os.MkdirAll(filepath.Join(s.Dir, "authorized_keys"), 0o755)
	// sshd reads a user's authorized keys as that user: let a user other than root (BastionUser) reach
	// them through the test's private temporary folders (traverse only, no listing; the keys in them
	// stay 0600).
	for _, d := range []string{s.Dir, filepath.Dir(s.Dir)} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	s.Authorize(t, "root", s.ClientPub)
	s.newHostKey()
	s.Port = freePort(t)
	s.start()
	t.Cleanup(s.Stop)
	return s
}

// Authorize adds key to user's authorized keys for this server only.
func (s *Server) Authorize(t testing.TB, user string, key xssh.PublicKey) {
	f, err := os.OpenFile(filepath.Join(s.Dir, "authorized_keys", user), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Write(xssh.MarshalAuthorizedKey(key))
}

func (s *Server) newHostKey() {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	writeKey(s.t, filepath.Join(s.Dir, "host_ed25519"), priv, nil)
	signer, _ := xssh.NewSignerFromKey(priv)
	s.HostKey = signer.PublicKey()
	s.Fingerprint = xssh.FingerprintSHA256(s.HostKey)
}

// WriteKey writes an OpenSSH private key file, encrypted when passphrase is set.
func WriteKey(t testing.TB, path string, passphrase []byte) xssh.PublicKey {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	writeKey(t, path, priv, passphrase)
	k, _ := xssh.NewPublicKey(pub)
	return k
}

func writeKey(t testing.TB, path string, priv ed25519.PrivateKey, passphrase []byte) {
	var blk *pem.Block
	var err error
	if passphrase != nil {
		blk, err = xssh.MarshalPrivateKeyWithPassphrase(priv, "", passphrase)
	} else {
		blk, err = xssh.MarshalPrivateKey(priv, "")
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(blk), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (s *Server) start() {
	pw := "no"
	if s.opts.PasswordAuth {
		pw = "yes"
	}
	sftp := "internal-sftp"
	if s.opts.SftpServer {
		sftp = "/usr/lib/openssh/sftp-server"
	}
	conf := fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
HostKey %s
PidFile none
AuthorizedKeysFile %s/authorized_keys/%%u
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication %s
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin yes
AllowTcpForwarding yes
MaxStartups 100:30:200
MaxSessions 100
Subsystem sftp %s
LogLevel ERROR
`, s.Port, filepath.Join(s.Dir, "host_ed25519"), s.Dir, pw, sftp)
	cfgPath := filepath.Join(s.Dir, "sshd_config")
	if err := os.WriteFile(cfgPath, []byte(conf), 0o600); err != nil {
		s.t.Fatal(err)
	}
	s.cmd = exec.Command(SshdPath(s.t), "-D", "-e", "-f", cfgPath)
	s.cmd.Stderr = &prefixWriter{t: s.t}
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.Addr(), 200*time.Millisecond)
		if err == nil {
			// Wait for the banner so sshd does not log an aborted key exchange.
			c.SetDeadline(time.Now().Add(2 * time.Second))
			buf := make([]byte, 8)
			_, err = io.ReadFull(c, buf)
			c.Close()
			if err == nil {
				return
			}
		}
		if time.Now().After(deadline) {
			s.Stop()
			s.t.Fatalf("sshd did not listen on %s: %v", s.Addr(), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Addr is host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)) }

// Stop stops sshd (idempotent).
func (s *Server) Stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Kill()
		s.cmd.Wait()
		s.cmd = nil
	}
}

// RestartWithNewHostKey restarts sshd on the same port with a fresh host key: a reinstalled host, or a
// man in the middle.
func (s *Server) RestartWithNewHostKey() {
	s.Stop()
	s.newHostKey()
	s.start()
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

type prefixWriter struct{ t testing.TB }

func (p *prefixWriter) Write(b []byte) (int, error) {
	// The readiness probe's aborted handshake is expected noise.
	if s := strings.TrimSpace(string(b)); s != "" && !strings.Contains(s, "kex_exchange_identification") {
		p.t.Logf("sshd: %s", s)
	}
	return len(b), nil
}
