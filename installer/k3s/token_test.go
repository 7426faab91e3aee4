package k3s

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseToken(t *testing.T) {
	hash := strings.Repeat("ab", 32)
	tests := []struct {
		in      string
		want    Token
		wantErr bool
	}{
		{"K10" + hash + "::server:pass:word", Token{CAHash: hash, Username: "server", Password: "pass:word"}, false},
		{"K10" + strings.ToUpper(hash) + "::node:pw\n", Token{CAHash: hash, Username: "node", Password: "pw"}, false},
		{"just-a-password", Token{Password: "just-a-password"}, false},
		{"", Token{}, true},
		{"pass word", Token{}, true},
		{"K10" + hash + ":server:pw", Token{}, true},        // single colon
		{"K10abcd::server:pw", Token{}, true},               // short hash
		{"K10" + hash[:63] + "g::server:pw", Token{}, true}, // not hex
		{"K10" + hash + "::server:", Token{}, true},         // no password
		{"K10" + hash + "::server", Token{}, true},          // no user:password
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%.20q", tt.in), func(t *testing.T) {
			got, err := ParseToken(tt.in)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalidToken) {
					t.Fatalf("err = %v, want ErrInvalidToken", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Error(d)
			}
			if strings.Contains(fmt.Sprint(got), got.Password) {
				t.Error("String leaks the password")
			}
			back, err := ParseToken(got.Secret())
			if err != nil || back != got {
				t.Errorf("round trip: %v, %v", back, err)
			}
		})
	}
}

func TestGenerateToken(t *testing.T) {
	a, err := GenerateToken()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := GenerateToken()
	if a == b {
		t.Fatal("two generated tokens are equal")
	}
	if err := a.CheckStrength(); err != nil {
		t.Error(err)
	}
	if len(a.Password) != 64 {
		t.Errorf("password has %d characters", len(a.Password))
	}
	if err := (Token{Password: "short"}).CheckStrength(); !errors.Is(err, ErrWeakToken) {
		t.Errorf("weak token: %v", err)
	}
	f := a.File(TokenFile)
	if f.Mode != 0o600 || string(f.Data) != a.Password+"\n" {
		t.Errorf("token file %o %q", f.Mode, f.Data)
	}
}

func newCA(t *testing.T, isCA bool) []byte {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "k3s-server-ca@1"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour),
		IsCA: isCA, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestCAHashFixture(t *testing.T) {
	// testdata/server-ca.crt is a real self-signed CA; its hash was taken with `sha256sum server-ca.crt`,
	// which is what k3s's K10 prefix carries.
	pemBytes, err := os.ReadFile("testdata/server-ca.crt")
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("testdata/server-ca.crt.sha256")
	if err != nil {
		t.Fatal(err)
	}
	got, err := CAHash(pemBytes)
	if err != nil {
		t.Fatal(err)
	}
	if got != strings.Fields(string(want))[0] {
		t.Errorf("CAHash = %s, sha256sum says %s", got, want)
	}
}

func TestVerifyCA(t *testing.T) {
	ca, other := newCA(t, true), newCA(t, true)
	tok, _ := GenerateToken()
	if err := tok.VerifyCA(ca); !errors.Is(err, ErrTokenNoCAHash) {
		t.Errorf("short token: %v", err)
	}
	full, err := tok.WithCA(ca)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(full.Secret(), "K10") || full.Username != "server" {
		t.Errorf("full token %v", full)
	}
	if err := full.VerifyCA(ca); err != nil {
		t.Errorf("own CA: %v", err)
	}
	if err := full.VerifyCA(other); !errors.Is(err, ErrTokenCAMismatch) {
		t.Errorf("other CA: %v", err)
	}
	if _, err := CAHash(newCA(t, false)); err == nil || !strings.Contains(err.Error(), "not a CA") {
		t.Errorf("leaf certificate: %v", err)
	}
	if _, err := CAHash([]byte("garbage")); err == nil {
		t.Error("garbage accepted as a CA bundle")
	}
}
