package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"strings"
	"testing"
)

func TestTokenRoundTripAndRejects(t *testing.T) {
	d := Dir(t.TempDir())
	if err := d.EnsureCAs(); err != nil {
		t.Fatal(err)
	}
	h, err := d.CAHash()
	if err != nil {
		t.Fatal(err)
	}
	tok := Token{CAHash: h, Password: "pw123"}
	got, err := ParseToken(tok.String())
	if err != nil || got != tok {
		t.Fatalf("ParseToken(%q) = %+v, %v", tok, got, err)
	}
	if !strings.HasPrefix(tok.String(), "K10") || !strings.Contains(tok.String(), "::server:") {
		t.Errorf("token %q not in K10 form", tok)
	}
	for _, bad := range []string{"", "K10abc::server:x", "K10" + strings.Repeat("z", 64) + "::server:x", "K10" + h + "::server:"} {
		if _, err := ParseToken(bad); !errors.Is(err, ErrBadToken) {
			t.Errorf("ParseToken(%q) err = %v, want ErrBadToken", bad, err)
		}
	}
	if bare, err := ParseToken("plain"); err != nil || bare.Password != "plain" || bare.CAHash != "" {
		t.Errorf("bare password: %+v %v", bare, err)
	}
}

func TestServingCertHonoursSANsAndCAsSurviveRestart(t *testing.T) {
	d := Dir(t.TempDir())
	if err := d.EnsureCAs(); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(d.Path(ServerCACert))
	if err := d.EnsureCAs(); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(d.Path(ServerCACert))
	if string(before) != string(after) {
		t.Fatal("CA regenerated on second start")
	}
	if err := d.IssueServing([]string{"127.0.0.1", "k3s.example", "10.9.8.7"}); err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(d.Path(ServingCert), d.Path(ServingKey))
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(pair.Certificate[0])
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(after)
	for _, name := range []string{"k3s.example", "10.9.8.7", "127.0.0.1"} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: name}); err != nil {
			t.Errorf("serving cert does not verify for %s: %v", name, err)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: "other.example"}); err == nil {
		t.Error("serving cert verifies for a name not in tls-san")
	}
}
