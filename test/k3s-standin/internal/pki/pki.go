package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ErrBadToken is returned for a token that is not in k3s's format or whose CA hash does not match.
var ErrBadToken = errors.New("invalid k3s token")

// Files under server/tls.
const (
	ServerCACert = "server-ca.crt"
	ServerCAKey  = "server-ca.key"
	ClientCACert = "client-ca.crt"
	ClientCAKey  = "client-ca.key"
	ServingCert  = "serving-kube-apiserver.crt"
	ServingKey   = "serving-kube-apiserver.key"
	AdminCert    = "client-admin.crt"
	AdminKey     = "client-admin.key"
	ServiceKey   = "service.key"
)

// BootstrapFiles are the files a joining server copies from the first one (k3s's bootstrap data).
var BootstrapFiles = []string{ServerCACert, ServerCAKey, ClientCACert, ClientCAKey, ServiceKey}

// Dir is a server/tls directory.
type Dir string

func (d Dir) Path(name string) string { return filepath.Join(string(d), name) }

// EnsureCAs creates the CAs and the service-account key unless they exist (a restart keeps them,
// so tokens and kubeconfigs stay valid).
func (d Dir) EnsureCAs() error {
	if err := os.MkdirAll(string(d), 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", d, err)
	}
	for _, ca := range []struct{ cert, key, cn string }{
		{ServerCACert, ServerCAKey, "k3s-server-ca"},
		{ClientCACert, ClientCAKey, "k3s-client-ca"},
	} {
		if exists(d.Path(ca.cert)) && exists(d.Path(ca.key)) {
			continue
		}
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return err
		}
		tmpl := &x509.Certificate{
			SerialNumber:          serial(),
			Subject:               pkix.Name{CommonName: fmt.Sprintf("%s@%d", ca.cn, time.Now().Unix())},
			NotBefore:             time.Now().Add(-time.Hour),
			NotAfter:              time.Now().AddDate(10, 0, 0),
			KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
			BasicConstraintsValid: true,
			IsCA:                  true,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			return err
		}
		if err := writeKeyPair(d.Path(ca.cert), d.Path(ca.key), der, key); err != nil {
			return err
		}
	}
	if !exists(d.Path(ServiceKey)) {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return err
		}
		b := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
		if err := os.WriteFile(d.Path(ServiceKey), b, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// CAHash is the hash k3s puts in a K10 token: sha256 of the server CA bundle as served on /cacerts.
func (d Dir) CAHash() (string, error) {
	b, err := os.ReadFile(d.Path(ServerCACert))
	if err != nil {
		return "", err
	}
	return HashCA(b), nil
}

// HashCA hashes CA bytes as they are served.
func HashCA(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// IssueServing writes the API server's serving certificate for the given names and addresses.
// It is re-issued at every start so a changed tls-san takes effect, as k3s does.
func (d Dir) IssueServing(sans []string) error {
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, s := range sans {
		if ip := net.ParseIP(s); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if s != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, s)
		}
	}
	der, key, err := d.sign(ServerCACert, ServerCAKey, tmpl)
	if err != nil {
		return fmt.Errorf("issuing the serving certificate: %w", err)
	}
	return writeKeyPair(d.Path(ServingCert), d.Path(ServingKey), der, key)
}

// IssueClient returns a PEM client certificate and key signed by the client CA.
func (d Dir) IssueClient(cn string, orgs ...string) (certPEM, keyPEM []byte, err error) {
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: cn, Organization: orgs},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, key, err := d.sign(ClientCACert, ClientCAKey, tmpl)
	if err != nil {
		return nil, nil, fmt.Errorf("issuing a client certificate for %s: %w", cn, err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), nil
}

func (d Dir) sign(caCertName, caKeyName string, tmpl *x509.Certificate) ([]byte, *ecdsa.PrivateKey, error) {
	caCert, caKey, err := d.loadCA(caCertName, caKeyName)
	if err != nil {
		return nil, nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl.SerialNumber = serial()
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().AddDate(1, 0, 0)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	return der, key, err
}

func (d Dir) loadCA(certName, keyName string) (*x509.Certificate, crypto.Signer, error) {
	cb, err := os.ReadFile(d.Path(certName))
	if err != nil {
		return nil, nil, err
	}
	kb, err := os.ReadFile(d.Path(keyName))
	if err != nil {
		return nil, nil, err
	}
	cblk, _ := pem.Decode(cb)
	kblk, _ := pem.Decode(kb)
	if cblk == nil || kblk == nil {
		return nil, nil, fmt.Errorf("reading CA %s: not PEM", certName)
	}
	cert, err := x509.ParseCertificate(cblk.Bytes)
	if err != nil {
		return nil, nil, err
	}
	key, err := x509.ParseECPrivateKey(kblk.Bytes)
	if err != nil {
		return nil, nil, err
	}
	return cert, key, nil
}

func writeKeyPair(certPath, keyPath string, der []byte, key *ecdsa.PrivateKey) error {
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := WriteFileAtomic(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		return err
	}
	return WriteFileAtomic(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

// WriteFileAtomic writes through a temporary file and a rename, so a reader never sees half a file.
func WriteFileAtomic(path string, b []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, mode); err != nil {
		return err
	}
	if err := os.Chmod(tmp, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	return n
}

// Token is a parsed k3s token.
type Token struct {
	CAHash   string // empty for a bare password
	Password string
}

// String renders the full K10 form.
func (t Token) String() string { return fmt.Sprintf("K10%s::server:%s", t.CAHash, t.Password) }

// ParseToken accepts the full form K10<hash>::<user>:<password> or a bare password, as k3s does.
func ParseToken(s string) (Token, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Token{}, fmt.Errorf("%w: empty", ErrBadToken)
	}
	if !strings.HasPrefix(s, "K10") {
		return Token{Password: s}, nil
	}
	hash, creds, ok := strings.Cut(strings.TrimPrefix(s, "K10"), "::")
	if !ok || len(hash) != 64 {
		return Token{}, fmt.Errorf("%w: want K10<sha256 of CA>::server:<password>", ErrBadToken)
	}
	if _, err := hex.DecodeString(hash); err != nil {
		return Token{}, fmt.Errorf("%w: CA hash is not hex", ErrBadToken)
	}
	_, pw, ok := strings.Cut(creds, ":")
	if !ok || pw == "" {
		return Token{}, fmt.Errorf("%w: missing password", ErrBadToken)
	}
	return Token{CAHash: hash, Password: pw}, nil
}

// RandomPassword returns a hex password for a generated token.
func RandomPassword() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
