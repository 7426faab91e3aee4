package payload

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// Keys are stored as PEM: PKCS#8 "PRIVATE KEY" and PKIX "PUBLIC KEY", the forms openssl reads
// (`openssl pkey -in vendor.key -text`), so a site's security reviewer can inspect them with standard tools.
const (
	PrivateKeySuffix = ".key"
	PublicKeySuffix  = ".pub"
)

// GenerateKey makes a new ed25519 signing key.
func GenerateKey() (ed25519.PrivateKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating signing key: %w", err)
	}
	return priv, nil
}

// KeyID is a short fingerprint of a public key (the first 16 hex digits of the sha256 of its raw bytes),
// recorded next to each signature so a verifier can say which key signed.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// WriteKeyPair writes base+".key" (mode 0600) and base+".pub". It refuses to overwrite an existing key:
// losing a vendor key orphans every site that trusts it.
func WriteKeyPair(base string, priv ed25519.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return fmt.Errorf("encoding private key: %w", err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		return fmt.Errorf("encoding public key: %w", err)
	}
	keyFile, pubFile := base+PrivateKeySuffix, base+PublicKeySuffix
	for _, f := range []string{keyFile, pubFile} {
		if _, err := os.Lstat(f); err == nil {
			return fmt.Errorf("writing key pair: %s already exists; choose another name or move it away first", f)
		}
	}
	if err := writeExclusive(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return fmt.Errorf("writing private key: %w", err)
	}
	if err := writeExclusive(pubFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o644); err != nil {
		os.Remove(keyFile)
		return fmt.Errorf("writing public key: %w", err)
	}
	return nil
}

func writeExclusive(name string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(name)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(name)
		return err
	}
	return f.Close()
}

// LoadPrivateKey reads a PEM PKCS#8 ed25519 private key.
func LoadPrivateKey(path string) (ed25519.PrivateKey, error) {
	block, err := readPEM(path, "PRIVATE KEY")
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("loading private key %s: %w", path, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("loading private key %s: not an ed25519 key (%T)", path, k)
	}
	return priv, nil
}

// LoadPublicKey reads a PEM PKIX ed25519 public key.
func LoadPublicKey(path string) (ed25519.PublicKey, error) {
	block, err := readPEM(path, "PUBLIC KEY")
	if err != nil {
		return nil, err
	}
	return ParsePublicKeyPEM(block)
}

// ParsePublicKeyPEM decodes one PEM "PUBLIC KEY" block holding an ed25519 key.
func ParsePublicKeyPEM(block *pem.Block) (ed25519.PublicKey, error) {
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("loading public key: %w", err)
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("loading public key: not an ed25519 key (%T)", k)
	}
	return pub, nil
}

func readPEM(path, typ string) (*pem.Block, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("loading key: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("loading key %s: no PEM block found", path)
	}
	if block.Type != typ {
		if typ == "PUBLIC KEY" && block.Type == "PRIVATE KEY" {
			return nil, errors.New("loading key " + path + ": this is a PRIVATE key; give the .pub file instead and keep the .key file secret")
		}
		return nil, fmt.Errorf("loading key %s: PEM block is %q, want %q", path, block.Type, typ)
	}
	return block, nil
}
