package trustedkeys

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ferry-delivery/ferry/payload"
)

// DirName is the folder under the user's config dir (os.UserConfigDir: $XDG_CONFIG_HOME or ~/.config on
// Linux, ~/Library/Application Support on macOS, %AppData% on Windows).
const DirName = "ferry/trusted-keys"

// Key is one trusted key and the file it came from.
type Key struct {
	ID   string // payload.KeyID: what a bundle's signature names
	Path string
	Pub  ed25519.PublicKey
}

// DefaultDir is <user config dir>/ferry/trusted-keys.
func DefaultDir() (string, error) {
	d, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("finding the trusted keys folder: %w", err)
	}
	return filepath.Join(d, filepath.FromSlash(DirName)), nil
}

// Load reads every *.pub in dir, sorted by file name. A missing dir is no keys. Files that are not ed25519
// public keys are reported in the error (joined, one per file) while the good keys are still returned, so
// one damaged file does not make every bundle untrusted; the caller shows the error.
func Load(dir string) ([]Key, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading trusted keys: %w", err)
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		if !e.IsDir() && strings.HasSuffix(e.Name(), payload.PublicKeySuffix) {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	var keys []Key
	var errs []error
	for _, n := range names {
		p := filepath.Join(dir, n)
		pub, err := payload.LoadPublicKey(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("reading trusted key %s: %w", p, err))
			continue
		}
		keys = append(keys, Key{ID: payload.KeyID(pub), Path: p, Pub: pub})
	}
	return keys, errors.Join(errs...)
}

// Public returns the keys' public halves, as payload.Bundle.Verify takes them.
func Public(keys []Key) []ed25519.PublicKey {
	out := make([]ed25519.PublicKey, 0, len(keys))
	for _, k := range keys {
		out = append(out, k.Pub)
	}
	return out
}

// Add copies the public key file src into dir as <key id>.pub (dir is created 0700). Adding a key that is
// already trusted changes nothing and reports added == false. A private key or anything that is not an
// ed25519 public key is refused and nothing is written.
func Add(dir, src string) (k Key, added bool, err error) {
	pub, err := payload.LoadPublicKey(src)
	if err != nil {
		return Key{}, false, fmt.Errorf("trusting %s: %w", src, err)
	}
	k = Key{ID: payload.KeyID(pub), Pub: pub, Path: filepath.Join(dir, payload.KeyID(pub)+payload.PublicKeySuffix)}
	existing, _ := Load(dir)
	for _, e := range existing {
		if e.Pub.Equal(pub) {
			return e, false, nil
		}
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return Key{}, false, fmt.Errorf("trusting %s: %w", src, err)
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Key{}, false, fmt.Errorf("trusting %s: %w", src, err)
	}
	// Written under a temporary name and renamed: a half-written key must never be loaded.
	tmp, err := os.CreateTemp(dir, ".add-*")
	if err != nil {
		return Key{}, false, fmt.Errorf("trusting %s: %w", src, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return Key{}, false, fmt.Errorf("trusting %s: %w", src, err)
	}
	if err := tmp.Close(); err != nil {
		return Key{}, false, fmt.Errorf("trusting %s: %w", src, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return Key{}, false, fmt.Errorf("trusting %s: %w", src, err)
	}
	if err := os.Rename(tmp.Name(), k.Path); err != nil {
		return Key{}, false, fmt.Errorf("trusting %s: %w", src, err)
	}
	return k, true, nil
}
