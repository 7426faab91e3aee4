package realengine

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"

	"github.com/ferry-delivery/ferry/gui/engine"
	"github.com/ferry-delivery/ferry/internal/progress"
	"github.com/ferry-delivery/ferry/payload"
)

// maxSideFile bounds the values and schema members read into memory for the settings form.
const maxSideFile = 4 << 20

// OpenBundle opens and verifies the bundle at path against the trusted keys and describes it for the
// wizard. An intact bundle that is unsigned or signed by an unknown key is returned with its Trust set and
// no error (the wizard asks the user); any damage or a signature that does not verify is an error wrapping
// engine.ErrBundleCorrupt as well as payload's own sentinel.
func OpenBundle(ctx context.Context, path string, trusted []ed25519.PublicKey, sink progress.Sink) (engine.Bundle, error) {
	b, err := payload.Open(path)
	if err != nil {
		return engine.Bundle{}, corrupt(err)
	}
	defer b.Close()
	v, err := b.Verify(ctx, trusted, sink)
	trust := engine.TrustSigned
	switch {
	case err == nil:
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return engine.Bundle{}, err
	case errors.Is(err, payload.ErrBadSignature):
		return engine.Bundle{}, corrupt(err)
	case errors.Is(err, payload.ErrUnsigned):
		trust = engine.TrustUnsigned
	case errors.Is(err, payload.ErrUntrusted):
		trust = engine.TrustUntrusted
	default:
		return engine.Bundle{}, corrupt(err)
	}
	m := b.Manifest()
	out := engine.Bundle{Path: path, App: m.App.Name, Version: m.App.Version, K3sVersion: m.K3s.Version, Trust: trust}
	for _, p := range m.Platforms {
		out.Platforms = append(out.Platforms, string(p))
	}
	switch {
	case v != nil && v.Trusted:
		out.Signer = v.KeyID
	case v != nil && len(v.Signers) > 0:
		out.Signer = fmt.Sprint(v.Signers)
	}
	for _, img := range m.Images {
		out.Images = append(out.Images, engine.Image{Ref: img.Ref})
	}
	if out.DefaultValues, err = readMember(b, m.Values); err != nil {
		return engine.Bundle{}, corrupt(err)
	}
	if out.ValuesSchema, err = readMember(b, m.Schema); err != nil {
		return engine.Bundle{}, corrupt(err)
	}
	return out, nil
}

func readMember(b *payload.Bundle, path string) ([]byte, error) {
	if path == "" {
		return nil, nil
	}
	r, err := b.OpenMember(path)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, maxSideFile+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if len(data) > maxSideFile {
		return nil, fmt.Errorf("reading %s: larger than %d bytes", path, maxSideFile)
	}
	return data, nil
}

// corrupt keeps payload's error (and its sentinel) and adds the wizard's decision sentinel.
func corrupt(err error) error { return fmt.Errorf("%w: %w", engine.ErrBundleCorrupt, err) }
