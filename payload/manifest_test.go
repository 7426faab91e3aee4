package payload

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ferry-delivery/ferry/internal/progress"
)

// validManifest returns the manifest of a real bundle as a generic JSON tree to edit.
func validManifest(t *testing.T) map[string]any {
	t.Helper()
	f := newFixtureSized(t, 100)
	b := openBundle(t, writeBundle(t, f.src, nil))
	var m map[string]any
	if err := json.Unmarshal(b.RawManifest(), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestParseManifestRules(t *testing.T) {
	base := validManifest(t)
	members := func(m map[string]any) []any { return m["members"].([]any) }
	firstWithRole := func(m map[string]any, role string) map[string]any {
		for _, x := range members(m) {
			if x.(map[string]any)["role"] == role {
				return x.(map[string]any)
			}
		}
		t.Fatalf("no member with role %s", role)
		return nil
	}
	for _, c := range []struct {
		name string
		edit func(m map[string]any)
		want error
		text string
	}{
		{"format version 2", func(m map[string]any) { m["formatVersion"] = 2 }, ErrUnsupportedFormat, "format version 2"},
		{"unknown field", func(m map[string]any) { m["extra"] = true }, ErrBadManifest, "unknown field"},
		{"no app version", func(m map[string]any) { m["app"].(map[string]any)["version"] = "" }, ErrBadManifest, "app name and version"},
		{"duplicate platform", func(m map[string]any) { m["platforms"] = []any{"linux/amd64", "linux/amd64"} }, ErrBadManifest, "listed twice"},
		{"bad platform", func(m map[string]any) { m["platforms"] = []any{"Linux/AMD64"} }, ErrBadManifest, "want os/arch"},
		{"traversal path", func(m map[string]any) { firstWithRole(m, "values")["path"] = "app/../../x" }, ErrUnsafePath, "traversal"},
		{"absolute path", func(m map[string]any) { firstWithRole(m, "values")["path"] = "/etc/x" }, ErrUnsafePath, "absolute"},
		{"duplicate member", func(m map[string]any) { m["members"] = append(members(m), members(m)[0]) }, ErrDuplicateMember, "listed twice"},
		{"bad sha256", func(m map[string]any) { firstWithRole(m, "chart")["sha256"] = "ABC" }, ErrBadManifest, "64 lowercase hex"},
		{"unknown role", func(m map[string]any) { firstWithRole(m, "chart")["role"] = "script" }, ErrBadManifest, "unknown role"},
		{"lists itself", func(m map[string]any) { firstWithRole(m, "values-schema")["path"] = ManifestPath }, ErrBadManifest, "cannot list itself"},
		{"blob path not its hash", func(m map[string]any) {
			firstWithRole(m, "image-blob")["sha256"] = strings.Repeat("0", 64)
		}, ErrBadManifest, "image blob path"},
		{"k3s binary with wrong role", func(m map[string]any) {
			firstWithRole(m, "k3s-binary")["role"] = "k3s-checksums"
		}, ErrBadManifest, "must have role k3s-binary"},
		{"missing k3s platform", func(m map[string]any) {
			delete(m["k3s"].(map[string]any)["assets"].(map[string]any), "linux/arm64")
		}, ErrBadManifest, "no k3s assets for linux/arm64"},
		{"image lacks platform", func(m map[string]any) {
			delete(m["images"].([]any)[0].(map[string]any)["platforms"].(map[string]any), "linux/arm64")
		}, ErrBadManifest, "one manifest per bundle platform"},
		{"image manifest not a member", func(m map[string]any) {
			m["images"].([]any)[0].(map[string]any)["platforms"].(map[string]any)["linux/arm64"] = "sha256:" + strings.Repeat("1", 64)
		}, ErrBadManifest, "not a listed member"},
		{"chart not a member", func(m map[string]any) { m["chart"].(map[string]any)["path"] = "app/other.tgz" }, ErrBadManifest, "not a listed member"},
		{"k3s disable unknown", func(m map[string]any) { m["k3s"].(map[string]any)["disable"] = []any{"traefik", "dns"} }, ErrBadManifest, `"dns" is not a k3s component`},
		{"k3s disable twice", func(m map[string]any) { m["k3s"].(map[string]any)["disable"] = []any{"traefik", "traefik"} }, ErrBadManifest, "listed twice"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var m map[string]any
			raw, _ := json.Marshal(base)
			json.Unmarshal(raw, &m)
			c.edit(m)
			raw, _ = json.Marshal(m)
			_, err := ParseManifest(raw)
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.text) {
				t.Fatalf("got %v; want %v mentioning %q", err, c.want, c.text)
			}
		})
	}
	raw, _ := json.Marshal(base)
	if _, err := ParseManifest(raw); err != nil {
		t.Fatalf("the unedited manifest was refused: %v", err)
	}
	if _, err := ParseManifest(append(raw, []byte(" {}")...)); !errors.Is(err, ErrBadManifest) {
		t.Fatalf("trailing data: %v", err)
	}
	if _, err := ParseManifest(make([]byte, MaxManifestSize+1)); !errors.Is(err, ErrManifestTooLarge) {
		t.Fatalf("oversized: %v", err)
	}
}

// The vendor's k3s disable list is written into the signed manifest and read back; a bundle without one
// has no "disable" key at all (its bytes are what older bundles had); a bad name is refused at write time.
func TestK3sDisableInManifest(t *testing.T) {
	f := newFixtureSized(t, 100)
	plain := openBundle(t, writeBundle(t, f.src, nil))
	if strings.Contains(string(plain.RawManifest()), `"disable"`) {
		t.Errorf("a bundle without a disable list has the key: %s", plain.RawManifest())
	}
	f.src.K3s.Disable = []string{"traefik", "servicelb"}
	b := openBundle(t, writeBundle(t, f.src, nil))
	if got := b.Manifest().K3s.Disable; !slices.Equal(got, []string{"traefik", "servicelb"}) {
		t.Errorf("disable read back %v", got)
	}
	f.src.K3s.Disable = []string{"treafik"}
	err := Write(context.Background(), filepath.Join(t.TempDir(), "x.ferry"), f.src, WriteOptions{})
	if !errors.Is(err, ErrBadSource) || !strings.Contains(err.Error(), `"treafik" is not a k3s component`) {
		t.Errorf("bad disable name: %v", err)
	}
}

func TestVerifyProgressAndCancel(t *testing.T) {
	f := newFixture(t)
	b := openBundle(t, writeBundle(t, f.src, nil))
	var last progress.Event
	b.Verify(context.Background(), nil, func(e progress.Event) { last = e })
	if last.Phase != PhaseVerify || last.Total == 0 || last.Done != last.Total {
		t.Fatalf("last verify event %+v: want done == total", last)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	_, err := b.Verify(ctx, nil, func(progress.Event) {
		if n++; n == 3 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled verify: %v", err)
	}
}

func TestKeyFiles(t *testing.T) {
	dir := t.TempDir()
	key := newKey(t)
	base := filepath.Join(dir, "vendor")
	if err := WriteKeyPair(base, key); err != nil {
		t.Fatal(err)
	}
	priv, err := LoadPrivateKey(base + ".key")
	if err != nil || !priv.Equal(key) {
		t.Fatalf("private key round trip: %v", err)
	}
	pk, err := LoadPublicKey(base + ".pub")
	if err != nil || !pk.Equal(pub(key)) {
		t.Fatalf("public key round trip: %v", err)
	}
	if fi, _ := os.Stat(base + ".key"); fi.Mode().Perm() != 0o600 {
		t.Fatalf("private key mode %v", fi.Mode())
	}
	if err := WriteKeyPair(base, newKey(t)); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("overwriting a key pair: %v", err)
	}
	if again, _ := LoadPrivateKey(base + ".key"); !again.Equal(key) {
		t.Fatal("the existing private key was changed")
	}
	if _, err := LoadPublicKey(base + ".key"); err == nil || !strings.Contains(err.Error(), "PRIVATE key") {
		t.Fatalf("loading the private key as public: %v", err)
	}
	if _, err := LoadPublicKey(writeFile(t, filepath.Join(dir, "junk.pub"), []byte("not pem"))); err == nil {
		t.Fatal("junk accepted as a public key")
	}
	if KeyID(pub(key)) == KeyID(pub(newKey(t))) || len(KeyID(pub(key))) != 16 {
		t.Fatal("key ids must be 16 hex digits and differ between keys")
	}
}
