package testk3s

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/ferry-delivery/ferry/payload"
)

// Assets writes one arch's k3s files for a bundle source into dir, with the given contents: the binary
// (k3s, or k3s-<arch> for other arches), the air-gap images archive k3s-airgap-images-<arch>.tar.zst and a
// correct sha256sum-<arch>.txt listing both. Unlike WriteRelease, the contents are the caller's (a few
// bytes do for tests that never run or import them).
func Assets(t testing.TB, dir, arch string, binary, airgap []byte) payload.K3sAssets {
	t.Helper()
	bin := "k3s"
	if arch != "amd64" {
		bin = "k3s-" + arch
	}
	air := "k3s-airgap-images-" + arch + ".tar.zst"
	sums := fmt.Sprintf("%x  %s\n%x  %s\n", sha256.Sum256(binary), bin, sha256.Sum256(airgap), air)
	put := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatalf("writing k3s asset: %v", err)
		}
		return p
	}
	return payload.K3sAssets{Binary: put(bin, binary), AirgapImages: put(air, airgap), Checksums: put("sha256sum-"+arch+".txt", []byte(sums))}
}
