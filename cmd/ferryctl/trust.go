package main

import (
	"crypto/ed25519"
	"fmt"

	"github.com/ferry-delivery/ferry/internal/trustedkeys"
	"github.com/ferry-delivery/ferry/payload"
)

// untrustedHint is what to do about a bundle whose signer is not trusted.
const untrustedHint = "pass the vendor's public key with --key, or trust it once on this machine with `ferryctl key trust vendor.pub`"

// trustedKeys returns the keys a bundle may be signed with: every --key file, then the keys this machine
// trusts (`ferryctl key trust`, the same folder the wizard reads). A damaged file in that folder stops
// the command with its path rather than being skipped: the engineer should know why a vendor is no
// longer trusted.
func trustedKeys(keyFiles []string) ([]ed25519.PublicKey, error) {
	var out []ed25519.PublicKey
	for _, f := range keyFiles {
		k, err := payload.LoadPublicKey(f)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	dir, err := trustedkeys.DefaultDir()
	if err != nil {
		return out, nil // no config dir (no $HOME): only --key
	}
	keys, err := trustedkeys.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("%w (fix or remove the file, or re-add the key with `ferryctl key trust`)", err)
	}
	return append(out, trustedkeys.Public(keys)...), nil
}
