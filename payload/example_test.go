package payload_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ferry-delivery/ferry/payload"
)

// Example writes a signed bundle (stand-in k3s files, a one-file chart, no images), opens it and verifies
// it against the vendor's public key.
func Example() {
	dir, _ := os.MkdirTemp("", "ferry-example-")
	defer os.RemoveAll(dir)
	put := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, data, 0o644)
		return p
	}
	bin, air := []byte("stand-in k3s"), []byte("stand-in air-gap images")
	sums := fmt.Sprintf("%x  k3s\n%x  k3s-airgap-images-amd64.tar.zst\n", sha256.Sum256(bin), sha256.Sum256(air))
	var chart bytes.Buffer
	gz := gzip.NewWriter(&chart)
	tw := tar.NewWriter(gz)
	meta := "apiVersion: v2\nname: demo\nversion: 0.1.0\n"
	tw.WriteHeader(&tar.Header{Name: "demo/Chart.yaml", Mode: 0o644, Size: int64(len(meta)), Typeflag: tar.TypeReg})
	tw.Write([]byte(meta))
	tw.Close()
	gz.Close()

	src := payload.Source{
		App:       payload.App{Name: "demo", Version: "1.2.0"},
		Platforms: []payload.Platform{"linux/amd64"},
		K3s: payload.K3sRelease{Version: "v1.33.4+k3s1", Assets: map[payload.Platform]payload.K3sAssets{
			"linux/amd64": {Binary: put("k3s", bin), Checksums: put("sha256sum-amd64.txt", []byte(sums)),
				AirgapImages: put("k3s-airgap-images-amd64.tar.zst", air)},
		}},
		Chart: put("demo-0.1.0.tgz", chart.Bytes()),
	}
	key, _ := payload.GenerateKey()
	dst := filepath.Join(dir, "demo-1.2.0.ferry")
	if err := payload.Write(context.Background(), dst, src, payload.WriteOptions{Key: key}); err != nil {
		fmt.Println(err)
		return
	}
	b, err := payload.Open(dst)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer b.Close()
	v, err := b.Verify(context.Background(), []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}, nil)
	fmt.Println(b.Manifest().App.Name, b.Manifest().App.Version, b.Manifest().K3s.Assets["linux/amd64"].Binary)
	fmt.Println("trusted:", v.Trusted, "members:", v.Members, "error:", err)
	// Output:
	// demo 1.2.0 k3s/linux-amd64/k3s
	// trusted: true members: 8 error: <nil>
}
