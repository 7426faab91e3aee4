package appliance

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/ferry-delivery/ferry/internal/testimage"
	"github.com/ferry-delivery/ferry/internal/testk3s"
	"github.com/ferry-delivery/ferry/payload"
)

// A real signed bundle written by payload feeds a deploy: the chart, defaults, version, upgrade floor and
// per-platform blob sizes all come from it, and the node side is asked for exactly the blobs it lacks.
func TestFromPayloadDeploys(t *testing.T) {
	dir := t.TempDir()
	put := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	img := testimage.Random(t, 4096, 2, "amd64")
	lp, err := layout.Write(filepath.Join(dir, "layout"), empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "registry.local/shop:1.0.0"})); err != nil {
		t.Fatal(err)
	}
	src := payload.Source{
		App:       payload.App{Name: "shop", Version: "1.0.0", UpgradeFrom: "0.9.0"},
		Platforms: []payload.Platform{"linux/amd64"},
		K3s: payload.K3sRelease{Version: "v1.33.4+k3s1", Assets: map[payload.Platform]payload.K3sAssets{
			"linux/amd64": testk3s.Assets(t, dir, "amd64", []byte("stand-in k3s"), []byte("stand-in air-gap images")),
		}},
		Chart:  put("shop-1.0.0.tgz", testChart(t, "shop", "1.0.0", "", 0)),
		Images: filepath.Join(dir, "layout"),
	}
	dst := filepath.Join(dir, "shop-1.0.0.ferry")
	if err := payload.Write(context.Background(), dst, src, payload.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	pb, err := payload.Open(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer pb.Close()

	b, err := FromPayload(pb, "shop", map[string]any{"replicas": 2})
	if err != nil {
		t.Fatal(err)
	}
	if b.App != "shop" || b.Version != "1.0.0" || b.UpgradeFrom != "0.9.0" || b.Defaults["image"] != "registry.local/app:1.0.0" {
		t.Fatalf("bundle identity/defaults: %+v", b.SpecInput)
	}
	blobs := b.Images.Blobs["linux/amd64"]
	if len(blobs) != 4 || b.Images.Images["linux/amd64"][0] != "registry.local/shop:1.0.0" { // manifest, config, 2 layers
		t.Fatalf("images %+v", b.Images)
	}
	m, _ := img.Manifest()
	if want := m.Layers[0]; blobs[2].Digest != want.Digest.String() || blobs[2].Size != want.Size {
		t.Errorf("layer blob %+v, want %s/%d", blobs[2], want.Digest, want.Size)
	}

	c, _, _ := fakeCluster(t)
	startSim(t, c)
	nodes := &fakeNodes{}
	o := testOptions(t, &eventLog{})
	o.NodeImages = nodes
	res, err := Deploy(context.Background(), c, b, o)
	if err != nil || res.State != StateSucceeded {
		t.Fatalf("deploy: %v %+v", err, res.Health)
	}
	if len(nodes.landed) != 1 || len(nodes.landed[0].Missing) != 4 || res.Record.BundleDigest == "" {
		t.Fatalf("landed %+v", nodes.landed)
	}
}
