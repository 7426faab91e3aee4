package nodes

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"

	"github.com/ferry-delivery/ferry/appliance"
	"github.com/ferry-delivery/ferry/installer/k3s"
	"github.com/ferry-delivery/ferry/internal/testk3s"
	"github.com/ferry-delivery/ferry/payload"
)

const amd64 = "linux/amd64"

// writeBundle writes an unsigned bundle of app version holding images (ref -> image) for linux/amd64.
func writeBundle(t testing.TB, dir, app, version string, images map[string]v1.Image) *payload.Bundle {
	t.Helper()
	dir = filepath.Join(dir, app+"-"+version)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	lp, err := layout.Write(filepath.Join(dir, "layout"), empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	for ref, img := range images {
		if err := lp.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": ref})); err != nil {
			t.Fatal(err)
		}
	}
	c := &chart.Chart{Metadata: &chart.Metadata{APIVersion: chart.APIVersionV2, Name: app, Version: version, AppVersion: version}}
	cp, err := chartutil.Save(c, dir)
	if err != nil {
		t.Fatal(err)
	}
	src := payload.Source{
		App:       payload.App{Name: app, Version: version},
		Platforms: []payload.Platform{amd64},
		K3s: payload.K3sRelease{Version: "v1.33.4+k3s1", Assets: map[payload.Platform]payload.K3sAssets{
			amd64: testk3s.Assets(t, dir, "amd64", []byte("stand-in k3s"), []byte("stand-in air-gap images")),
		}},
		Chart:  cp,
		Images: filepath.Join(dir, "layout"),
	}
	dst := filepath.Join(dir, app+"-"+version+".ferry")
	if err := payload.Write(context.Background(), dst, src, payload.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	b, err := payload.Open(dst)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// versionImages is what the appliance's FromPayload hands the verbs, for records and requests.
func versionImages(t testing.TB, b *payload.Bundle) appliance.VersionImages {
	t.Helper()
	ab, err := appliance.FromPayload(b, "ns", nil)
	if err != nil {
		t.Fatal(err)
	}
	return ab.Images
}

func layerSize(t testing.TB, l v1.Layer) int64 {
	t.Helper()
	n, err := l.Size()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func kPaths(dataDir string) k3s.Paths { return k3s.NewPaths(true, dataDir) }
