package k3s

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// Token errors. ErrTokenCAMismatch is the one that matters at join time: the server presenting this CA is
// not the cluster the token belongs to (or a man in the middle).
var (
	ErrInvalidToken    = errors.New("invalid k3s token")
	ErrWeakToken       = errors.New("k3s token too weak")
	ErrTokenNoCAHash   = errors.New("k3s token has no CA hash to verify against")
	ErrTokenCAMismatch = errors.New("k3s token CA hash does not match the server's CA")
)

const (
	tokenPrefix = "K10"
	// minPasswordLen is what Ferry accepts from a site: 16 characters; generated tokens have 64 hex digits.
	minPasswordLen = 16
)

// Token is a k3s join token (§5): K10<sha256 of the cluster CA>::<user>:<password>, or the short form
// (the password alone) a site may have chosen before the cluster existed. k3s writes the full form to
// server/token once the CA exists; the CA hash lets a joiner verify it talks to the right cluster, so
// joiners should be given the full form read back from the first server, not the short one.
type Token struct {
	CAHash   string // lowercase hex sha256 of the CA bundle PEM, "" in the short form
	Username string // "server" for the server token; "" in the short form
	Password string
}

// ParseToken accepts the full and the short form, as k3s's clientaccess does.
func ParseToken(s string) (Token, error) {
	s = strings.TrimSpace(s) // token files end with a newline
	if s == "" {
		return Token{}, fmt.Errorf("%w: empty", ErrInvalidToken)
	}
	if strings.ContainsAny(s, " \t\r\n") {
		return Token{}, fmt.Errorf("%w: contains whitespace", ErrInvalidToken)
	}
	if !strings.HasPrefix(s, tokenPrefix) {
		return Token{Password: s}, nil
	}
	hash, cred, ok := strings.Cut(strings.TrimPrefix(s, tokenPrefix), "::")
	if !ok {
		return Token{}, fmt.Errorf("%w: K10 form needs K10<ca hash>::<user>:<password>", ErrInvalidToken)
	}
	if b, err := hex.DecodeString(hash); err != nil || len(b) != sha256.Size {
		return Token{}, fmt.Errorf("%w: CA hash must be %d hex digits", ErrInvalidToken, 2*sha256.Size)
	}
	user, pw, ok := strings.Cut(cred, ":")
	if !ok || user == "" || pw == "" {
		return Token{}, fmt.Errorf("%w: K10 form needs <user>:<password> after the CA hash", ErrInvalidToken)
	}
	return Token{CAHash: strings.ToLower(hash), Username: user, Password: pw}, nil
}

// GenerateToken makes a short-form token of 256 random bits, hex encoded so it survives YAML, env files
// and shells unquoted.
func GenerateToken() (Token, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return Token{}, fmt.Errorf("generating k3s token: %w", err)
	}
	return Token{Password: hex.EncodeToString(b)}, nil
}

// CheckStrength refuses a site-chosen password that is short enough to guess.
func (t Token) CheckStrength() error {
	if len(t.Password) < minPasswordLen {
		return fmt.Errorf("%w: password has %d characters, want at least %d; let Ferry generate one",
			ErrWeakToken, len(t.Password), minPasswordLen)
	}
	return nil
}

// Secret is the token as k3s reads it. Keep it out of argv, logs and config.yaml.
func (t Token) Secret() string {
	if t.CAHash == "" {
		return t.Password
	}
	return tokenPrefix + t.CAHash + "::" + t.Username + ":" + t.Password
}

// String redacts the password so a token printed by mistake (%v, a log line) leaks nothing.
func (t Token) String() string {
	if t.CAHash == "" {
		return "<k3s token, short form, redacted>"
	}
	return tokenPrefix + t.CAHash + "::" + t.Username + ":<redacted>"
}

// WithCA is the full form for a cluster whose CA bundle is caPEM.
func (t Token) WithCA(caPEM []byte) (Token, error) {
	h, err := CAHash(caPEM)
	if err != nil {
		return Token{}, err
	}
	t.CAHash = h
	if t.Username == "" {
		t.Username = "server"
	}
	return t, nil
}

// VerifyCA checks the token's CA hash against a server's CA bundle (server/tls/server-ca.crt, or what
// https://<server>:6443/cacerts returns).
func (t Token) VerifyCA(caPEM []byte) error {
	if t.CAHash == "" {
		return ErrTokenNoCAHash
	}
	h, err := CAHash(caPEM)
	if err != nil {
		return err
	}
	if subtle.ConstantTimeCompare([]byte(h), []byte(t.CAHash)) != 1 {
		return fmt.Errorf("%w: token pins %s, server CA is %s", ErrTokenCAMismatch, t.CAHash, h)
	}
	return nil
}

// File is the token file config.yaml's token-file points at, 0600 (see Config).
func (t Token) File(path string) File {
	return File{Path: path, Mode: SecretMode, Data: []byte(t.Secret() + "\n")}
}

// CAHash is k3s's CA hash: sha256 over the CA bundle bytes exactly as served (k3s hashes the raw /cacerts
// body, so re-encoding the PEM would change it). The bytes must hold at least one CA certificate.
func CAHash(caPEM []byte) (string, error) {
	rest, n := caPEM, 0
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return "", fmt.Errorf("hashing k3s CA: %w", err)
		}
		if !c.IsCA {
			return "", fmt.Errorf("hashing k3s CA: certificate %q is not a CA", c.Subject)
		}
		n++
	}
	if n == 0 {
		return "", errors.New("hashing k3s CA: no certificate in the CA bundle")
	}
	sum := sha256.Sum256(caPEM)
	return hex.EncodeToString(sum[:]), nil
}
