package realengine

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/ferry-delivery/ferry/gui/engine"
	"github.com/ferry-delivery/ferry/internal/progress"
	"github.com/ferry-delivery/ferry/internal/testk3s"
	"github.com/ferry-delivery/ferry/payload"
)

func write(t *testing.T, path string, data []byte) string {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// source stages a small real bundle source: k3s for amd64 with its sha256sum file and a Helm chart with
// a values schema; no images.
func source(t *testing.T) payload.Source {
	dir := t.TempDir()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, f := range []struct{ name, body string }{
		{"shop/Chart.yaml", "apiVersion: v2\nname: shop\nversion: 1.1.0\nappVersion: \"1.1.0\"\n"},
		{"shop/values.yaml", "replicas: 2\n"},
		{"shop/values.schema.json", `{"type":"object","properties":{"replicas":{"type":"integer","minimum":1}}}`},
		{"shop/templates/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shop\n"},
	} {
		tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.body)), Typeflag: tar.TypeReg})
		tw.Write([]byte(f.body))
	}
	tw.Close()
	gz.Close()
	return payload.Source{
		App: payload.App{Name: "shop", Version: "1.1.0"},
		K3s: payload.K3sRelease{Version: "v1.33.4+k3s1", Assets: map[payload.Platform]payload.K3sAssets{
			"linux/amd64": testk3s.Assets(t, dir, "amd64", bytes.Repeat([]byte("k3s"), 1000), []byte("airgap")),
		}},
		Platforms: []payload.Platform{"linux/amd64"},
		Chart:     write(t, filepath.Join(dir, "shop-1.1.0.tgz"), buf.Bytes()),
	}
}

func TestOpenBundleMapsTrustAndContents(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	otherPub, _, _ := ed25519.GenerateKey(rand.Reader)
	dir := t.TempDir()
	signed, unsigned := filepath.Join(dir, "signed.ferry"), filepath.Join(dir, "unsigned.ferry")
	if err := payload.Write(context.Background(), signed, source(t), payload.WriteOptions{Key: priv}); err != nil {
		t.Fatal(err)
	}
	if err := payload.Write(context.Background(), unsigned, source(t), payload.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		path    string
		trusted []ed25519.PublicKey
		want    engine.Trust
	}{
		{"trusted", signed, []ed25519.PublicKey{pub}, engine.TrustSigned},
		{"foreign key", signed, []ed25519.PublicKey{otherPub}, engine.TrustUntrusted},
		{"unsigned", unsigned, []ed25519.PublicKey{pub}, engine.TrustUnsigned},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var last int64
			b, err := OpenBundle(context.Background(), tc.path, tc.trusted, func(e progress.Event) { last = e.Done })
			if err != nil {
				t.Fatal(err)
			}
			if b.Trust != tc.want || b.App != "shop" || b.Version != "1.1.0" || b.K3sVersion != "v1.33.4+k3s1" ||
				len(b.Platforms) != 1 || b.Platforms[0] != "linux/amd64" || string(b.DefaultValues) != "replicas: 2\n" ||
				!bytes.Contains(b.ValuesSchema, []byte(`"minimum":1`)) || last == 0 {
				t.Fatalf("bundle %+v (last progress %d)", b, last)
			}
			if tc.want == engine.TrustSigned && b.Signer == "" {
				t.Fatal("no signer for a trusted bundle")
			}
		})
	}
	// Damage one byte of the k3s binary: a corrupt bundle, with payload's reason kept.
	data, _ := os.ReadFile(signed)
	i := bytes.Index(data, []byte("k3sk3sk3s"))
	if i < 0 {
		t.Fatal("k3s binary not found in the bundle")
	}
	data[i+100] ^= 0xff
	bad := write(t, filepath.Join(dir, "bad.ferry"), data)
	if _, err := OpenBundle(context.Background(), bad, []ed25519.PublicKey{pub}, nil); !errors.Is(err, engine.ErrBundleCorrupt) || !errors.Is(err, payload.ErrChecksumMismatch) {
		t.Fatalf("damaged bundle: %v", err)
	}
	if _, err := OpenBundle(context.Background(), write(t, filepath.Join(dir, "x.ferry"), []byte("hello")), nil, nil); !errors.Is(err, engine.ErrBundleCorrupt) || !errors.Is(err, payload.ErrNotBundle) {
		t.Fatalf("not a bundle: %v", err)
	}
}
