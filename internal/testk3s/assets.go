package testk3s

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	gcrname "github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/ferry-delivery/ferry/internal/fsutil"
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

// StandinAssets writes one arch's k3s files for a bundle that lab hosts really install: the k3s stand-in
// binary copied from standin (k3s, or k3s-<arch> for other arches, mode 0755), an air-gap archive
// k3s-airgap-images-<arch>.tar holding a small random image tagged pause (a docker-save tarball, which
// containerd imports as k3s would), and a correct sha256sum-<arch>.txt listing both.
func StandinAssets(t testing.TB, dir, arch, standin, pause string) payload.K3sAssets {
	t.Helper()
	name := "k3s"
	if arch != "amd64" {
		name = "k3s-" + arch
	}
	bin := filepath.Join(dir, name)
	b, err := os.ReadFile(standin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	img, err := random.Image(4096, 1)
	if err != nil {
		t.Fatal(err)
	}
	tag, err := gcrname.NewTag(pause)
	if err != nil {
		t.Fatal(err)
	}
	air := filepath.Join(dir, "k3s-airgap-images-"+arch+".tar")
	if err := tarball.WriteToFile(air, tag, img); err != nil {
		t.Fatal(err)
	}
	var sums strings.Builder
	for _, p := range []string{bin, air} {
		sum, err := fsutil.SHA256File(p)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&sums, "%s  %s\n", sum, filepath.Base(p))
	}
	ck := filepath.Join(dir, "sha256sum-"+arch+".txt")
	if err := os.WriteFile(ck, []byte(sums.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return payload.K3sAssets{Binary: bin, Checksums: ck, AirgapImages: air}
}
