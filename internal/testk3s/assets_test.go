package testk3s

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	gcrname "github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/ferry-delivery/ferry/internal/fsutil"
)

// StandinAssets copies the stand-in under k3s's release name, executable, with an importable air-gap
// archive, and a checksum file that matches both.
func TestStandinAssets(t *testing.T) {
	src := filepath.Join(t.TempDir(), "k3s-standin-arm64")
	if err := os.WriteFile(src, []byte("#!/bin/sh\necho stand-in\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	a := StandinAssets(t, dir, "arm64", src, "docker.io/rancher/mirrored-pause:3.7")
	if a.Binary != filepath.Join(dir, "k3s-arm64") || a.AirgapImages != filepath.Join(dir, "k3s-airgap-images-arm64.tar") ||
		a.Checksums != filepath.Join(dir, "sha256sum-arm64.txt") {
		t.Fatalf("paths %+v", a)
	}
	if st, err := os.Stat(a.Binary); err != nil || st.Mode().Perm() != 0o755 {
		t.Fatalf("binary: %v %v, want mode 0755", st, err)
	}
	if b, _ := os.ReadFile(a.Binary); string(b) != "#!/bin/sh\necho stand-in\n" {
		t.Fatalf("binary content %q", b)
	}
	tag, _ := gcrname.NewTag("docker.io/rancher/mirrored-pause:3.7")
	if _, err := tarball.ImageFromPath(a.AirgapImages, &tag); err != nil {
		t.Fatalf("air-gap archive lacks the pause tag: %v", err)
	}
	var want strings.Builder
	for _, p := range []string{a.Binary, a.AirgapImages} {
		sum, err := fsutil.SHA256File(p)
		if err != nil {
			t.Fatal(err)
		}
		want.WriteString(sum + "  " + filepath.Base(p) + "\n")
	}
	if got, _ := os.ReadFile(a.Checksums); string(got) != want.String() {
		t.Fatalf("checksums:\n%s\nwant:\n%s", got, want.String())
	}
}
