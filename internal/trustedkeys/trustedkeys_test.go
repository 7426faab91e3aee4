package trustedkeys

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-delivery/ferry/payload"
)

func keyPair(t *testing.T, dir, name string) (pub, priv string) {
	t.Helper()
	k, err := payload.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(dir, name)
	if err := payload.WriteKeyPair(base, k); err != nil {
		t.Fatal(err)
	}
	return base + payload.PublicKeySuffix, base + payload.PrivateKeySuffix
}

func TestAddThenLoad(t *testing.T) {
	src, trust := t.TempDir(), filepath.Join(t.TempDir(), "ferry", "trusted-keys")
	if keys, err := Load(trust); err != nil || len(keys) != 0 {
		t.Fatalf("missing dir: %v %v", keys, err)
	}
	pubA, _ := keyPair(t, src, "a")
	pubB, _ := keyPair(t, src, "b")
	ka, added, err := Add(trust, pubA)
	if err != nil || !added {
		t.Fatalf("add a: %v %v", added, err)
	}
	if _, added, err := Add(trust, pubA); err != nil || added {
		t.Fatalf("adding a again: added=%v %v", added, err)
	}
	kb, _, err := Add(trust, pubB)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := Load(trust)
	if err != nil || len(keys) != 2 {
		t.Fatalf("load: %v %v", keys, err)
	}
	got := map[string]bool{}
	for _, k := range keys {
		got[k.ID] = true
		if filepath.Base(k.Path) != k.ID+".pub" {
			t.Errorf("file %s for key %s", k.Path, k.ID)
		}
	}
	if !got[ka.ID] || !got[kb.ID] || ka.ID == kb.ID {
		t.Errorf("loaded %v, want %s and %s", got, ka.ID, kb.ID)
	}
	if fi, err := os.Stat(trust); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %v %v", fi, err)
	}
	// The copy is the public key itself: payload reads it.
	if p, err := payload.LoadPublicKey(ka.Path); err != nil || !p.Equal(ka.Pub) {
		t.Errorf("stored key: %v", err)
	}
	if len(Public(keys)) != 2 {
		t.Error("Public lost a key")
	}
}

// A private key is refused and nothing is written; a damaged file in the folder is reported by name while
// the good key still loads.
func TestRefusesPrivateAndReportsDamage(t *testing.T) {
	src, trust := t.TempDir(), t.TempDir()
	pub, priv := keyPair(t, src, "vendor")
	if _, _, err := Add(trust, priv); err == nil || !strings.Contains(err.Error(), "PRIVATE key") {
		t.Fatalf("private key: %v", err)
	}
	if ents, _ := os.ReadDir(trust); len(ents) != 0 {
		t.Fatalf("files written after a refusal: %v", ents)
	}
	k, _, err := Add(trust, pub)
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(trust, "zz-broken.pub")
	if err := os.WriteFile(bad, []byte("not a key"), 0o644); err != nil {
		t.Fatal(err)
	}
	keys, err := Load(trust)
	if err == nil || !strings.Contains(err.Error(), bad) {
		t.Fatalf("damaged file not reported: %v", err)
	}
	if len(keys) != 1 || keys[0].ID != k.ID {
		t.Fatalf("good key lost: %v", keys)
	}
}

// The default folder follows the user's config dir (XDG_CONFIG_HOME on Linux): the demo points it into
// its own state so the user's real config is untouched.
func TestDefaultDirFollowsXDG(t *testing.T) {
	d := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", d)
	t.Setenv("HOME", d) // macOS ignores XDG
	got, err := DefaultDir()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got, d) || !strings.HasSuffix(got, filepath.FromSlash(DirName)) {
		t.Fatalf("default dir %s, want under %s", got, d)
	}
}
