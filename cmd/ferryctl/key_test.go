package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// key generate, then key trust puts the public key in the user's trusted keys folder (XDG_CONFIG_HOME
// here), a second trust is a no-op, key trusted lists it, and a private key is refused.
func TestKeyTrust(t *testing.T) {
	cfg := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", cfg)
	t.Setenv("HOME", cfg)
	base := filepath.Join(t.TempDir(), "vendor")
	if _, _, err := run(t, "key", "generate", "--out", base); err != nil {
		t.Fatal(err)
	}
	out, _, err := run(t, "key", "trust", base+".pub")
	if err != nil || !strings.Contains(out, "trusting key ") || !strings.Contains(out, cfg) {
		t.Fatalf("trust: %q %v", out, err)
	}
	id := strings.Fields(out)[2]
	id = strings.TrimSuffix(id, ":")
	if out, _, err := run(t, "key", "trust", base+".pub"); err != nil || !strings.Contains(out, "already trusted") {
		t.Fatalf("trust again: %q %v", out, err)
	}
	if out, _, err := run(t, "key", "trusted"); err != nil || !strings.HasPrefix(out, id+"  ") {
		t.Fatalf("trusted: %q %v (want key %s)", out, err, id)
	}
	if _, _, err := run(t, "key", "trust", base+".key"); err == nil || !strings.Contains(err.Error(), "PRIVATE") {
		t.Fatalf("private key trusted: %v", err)
	}
}
