package images

import (
	"archive/tar"
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func tarOf(t *testing.T, files map[string]string) *bytes.Buffer {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for n, c := range files {
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(c)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(c))
	}
	tw.Close()
	return &b
}

func TestScanNames(t *testing.T) {
	oci := tarOf(t, map[string]string{
		"oci-layout": `{"imageLayoutVersion":"1.0.0"}`,
		"index.json": `{"manifests":[{"annotations":{"io.containerd.image.name":"registry.example/app:1.2"}},{"annotations":{"org.opencontainers.image.ref.name":"latest"}}]}`,
	})
	got, err := scanNames(oci)
	if err != nil {
		t.Fatal(err)
	}
	// A bare tag cannot name an image by itself: ctr would invent one, so it is not pinned by name.
	if diff := cmp.Diff([]string{"registry.example/app:1.2"}, got); diff != "" {
		t.Error(diff)
	}
	docker := tarOf(t, map[string]string{"manifest.json": `[{"RepoTags":["busybox:1.36","quay.io/x/y:2"]}]`})
	got, err = scanNames(docker)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"docker.io/library/busybox:1.36", "quay.io/x/y:2"}, got); diff != "" {
		t.Error(diff)
	}
}

func TestArchiveKind(t *testing.T) {
	for name, want := range map[string]string{
		"a.tar": "none", "a.tar.gz": "gzip", "a.tgz": "gzip", "a.tar.zst": "zstd", "a.tzst": "zstd",
		"a.tar.bz2": "bzip2", "a.tar.lz4": "lz4", "a.txt": "", ".a.tar": "", "a.tar.partial": "", "a.tar.tmp": "",
	} {
		if got := archiveKind(name); got != want {
			t.Errorf("archiveKind(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestParseList(t *testing.T) {
	out := []byte(`REF                         TYPE                                    DIGEST                                                                  SIZE    PLATFORMS   LABELS
registry.example/app:1.2    application/vnd.oci.image.manifest.v1+json sha256:aa 1.2 KiB linux/amd64 io.cattle.k3s.pinned=pinned,io.cri-containerd.pinned=pinned
docker.io/library/x:1       application/vnd.oci.image.manifest.v1+json sha256:bb 3.0 MiB linux/amd64 -
`)
	got := parseList(out)
	want := []Image{
		{Name: "registry.example/app:1.2", Digest: "sha256:aa", Labels: map[string]string{LabelK3sPinned: "pinned", LabelCRIPinned: "pinned"}},
		{Name: "docker.io/library/x:1", Digest: "sha256:bb", Labels: map[string]string{}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Error(diff)
	}
}
