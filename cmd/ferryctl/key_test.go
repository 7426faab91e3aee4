package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-delivery/ferry/payload"
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

// A key trusted once on this machine (`key trust`) verifies bundles without --key; a damaged file in the
// trusted folder stops verification with its path instead of being skipped silently.
func TestVerifyUsesTrustedFolder(t *testing.T) {
	cfg := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", cfg)
	base := filepath.Join(t.TempDir(), "vendor")
	if _, _, err := run(t, "key", "generate", "--out", base); err != nil {
		t.Fatal(err)
	}
	bundle := smallBundle(t, base+".key")
	if _, _, err := run(t, "bundle", "verify", bundle); !errors.Is(err, payload.ErrUntrusted) || !strings.Contains(err.Error(), "ferryctl key trust") {
		t.Fatalf("verify before trusting: %v", err)
	}
	if _, _, err := run(t, "key", "trust", base+".pub"); err != nil {
		t.Fatal(err)
	}
	if out, _, err := run(t, "bundle", "verify", bundle); err != nil || !strings.HasPrefix(out, "OK: demo 1.2.0") {
		t.Fatalf("verify with the trusted folder: %v %q", err, out)
	}
	bad := filepath.Join(cfg, "ferry", "trusted-keys", "broken.pub")
	if err := os.WriteFile(bad, []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := run(t, "bundle", "verify", bundle); err == nil || !strings.Contains(err.Error(), bad) {
		t.Fatalf("verify with a damaged trusted key file: %v", err)
	}
}
