package main

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"testing"

	"github.com/ferry-delivery/ferry/internal/trustedkeys"
	"github.com/ferry-delivery/ferry/payload"
)

// --trust adds the key to the user's trusted keys folder (XDG_CONFIG_HOME here) and the wizard's engine
// gets it; a later start without --trust still trusts it; a damaged file in the folder does not stop
// the wizard or drop the good key; an unreadable --trust file stops it.
func TestLoadTrust(t *testing.T) {
	cfg := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", cfg)
	t.Setenv("HOME", cfg)
	k, err := payload.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	id := payload.KeyID(k.Public().(ed25519.PublicKey))
	base := filepath.Join(t.TempDir(), "vendor")
	if err := payload.WriteKeyPair(base, k); err != nil {
		t.Fatal(err)
	}
	keys, err := loadTrust([]string{base + ".pub"})
	if err != nil || len(keys) != 1 || keys[0].ID != id {
		t.Fatalf("first start: %v %v", keys, err)
	}
	dir, _ := trustedkeys.DefaultDir()
	if err := os.WriteFile(filepath.Join(dir, "broken.pub"), []byte("junk"), 0o644); err != nil {
		t.Fatal(err)
	}
	keys, err = loadTrust(nil)
	if err != nil || len(keys) != 1 || keys[0].ID != id {
		t.Fatalf("later start with a damaged file beside the key: %v %v", keys, err)
	}
	if _, err := loadTrust([]string{base + ".key"}); err == nil {
		t.Fatal("a private key given to --trust was accepted")
	}
}
