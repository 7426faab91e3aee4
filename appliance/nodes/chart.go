package nodes

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"

	"github.com/ferry-delivery/ferry/installer/host"
)

// placeOne uploads one chart to one server through the verified transfer (staging name, sha256
// checked on the host, rename) with a mode helm-controller's server can read.
func (s *Site) placeOne(ctx context.Context, t Target, dst string, tgz []byte) error {
	name := t.Host.Name()
	f, err := os.CreateTemp(s.TempDir, "ferry-chart-*.tgz")
	if err != nil {
		return fmt.Errorf("placing chart on %s: %w", name, err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(tgz); err != nil {
		f.Close()
		return fmt.Errorf("placing chart on %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("placing chart on %s: %w", name, err)
	}
	sum := sha256.Sum256(tgz)
	want := hex.EncodeToString(sum[:])
	if _, err := t.Host.Upload(ctx, f.Name(), dst, host.UploadOptions{Mode: 0o644, Phase: "chart", Progress: s.Sink, Sha256: want}); err != nil {
		return fmt.Errorf("placing chart %s on %s: %w", dst, name, err)
	}
	// The transfer verified while writing; this re-reads what is now at dst, after the rename.
	got, err := t.Host.Sha256(ctx, dst)
	if err != nil {
		return fmt.Errorf("verifying chart %s on %s: %w", dst, name, err)
	}
	if got != want {
		return fmt.Errorf("verifying chart %s on %s: sha256 %s, want %s", dst, name, got, want)
	}
	return nil
}
