package payload

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
)

// signatureFile is the content of ferry/manifest.sig: one or more ed25519 signatures over the exact bytes
// of ferry/manifest.json. Several are allowed so a bundle can be co-signed or carried across a key
// rotation.
type signatureFile struct {
	Signatures []signature `json:"signatures"`
}

type signature struct {
	KeyID     string `json:"keyId"`
	Signature []byte `json:"signature"` // base64 in JSON
}

func signManifest(manifest []byte, key ed25519.PrivateKey) ([]byte, error) {
	pub := key.Public().(ed25519.PublicKey)
	sf := signatureFile{Signatures: []signature{{KeyID: KeyID(pub), Signature: ed25519.Sign(key, manifest)}}}
	b, err := json.MarshalIndent(sf, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding signature: %w", err)
	}
	return append(b, '\n'), nil
}

func parseSignatures(data []byte) (*signatureFile, error) {
	if len(data) > MaxSignatureSize {
		return nil, memberErr(SignaturePath, fmt.Errorf("%w: %d bytes, limit %d", ErrManifestTooLarge, len(data), MaxSignatureSize))
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var sf signatureFile
	if err := dec.Decode(&sf); err != nil {
		return nil, memberErrf(SignaturePath, ErrBadManifest, "decoding signatures: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, memberErrf(SignaturePath, ErrBadManifest, "trailing data after the signatures")
	}
	if len(sf.Signatures) == 0 || len(sf.Signatures) > maxSignatures {
		return nil, memberErrf(SignaturePath, ErrBadManifest, "want 1 to %d signatures, found %d", maxSignatures, len(sf.Signatures))
	}
	for _, s := range sf.Signatures {
		if len(s.Signature) != ed25519.SignatureSize {
			return nil, memberErrf(SignaturePath, ErrBadManifest, "signature by key %q has %d bytes, want %d", s.KeyID, len(s.Signature), ed25519.SignatureSize)
		}
	}
	return &sf, nil
}

// checkSignatures returns the id of the first trusted key with a valid signature. A signature whose key id
// names a trusted key but does not verify means the manifest changed after signing: ErrBadSignature.
func checkSignatures(manifest []byte, sf *signatureFile, trusted []ed25519.PublicKey) (string, error) {
	if sf == nil {
		return "", ErrUnsigned
	}
	var signer []string
	badByTrusted := ""
	for _, s := range sf.Signatures {
		signer = append(signer, s.KeyID)
		for _, pub := range trusted {
			if len(pub) != ed25519.PublicKeySize {
				continue
			}
			if ed25519.Verify(pub, manifest, s.Signature) {
				return KeyID(pub), nil
			}
			if KeyID(pub) == s.KeyID {
				badByTrusted = s.KeyID
			}
		}
	}
	if badByTrusted != "" {
		return "", fmt.Errorf("%w: the manifest was changed after key %s signed it", ErrBadSignature, badByTrusted)
	}
	if len(trusted) == 0 {
		return "", fmt.Errorf("%w: no trusted keys given (signed by %v); pass the vendor's public key", ErrUntrusted, signer)
	}
	return "", fmt.Errorf("%w: signed by key(s) %v, none of which is trusted", ErrUntrusted, signer)
}
