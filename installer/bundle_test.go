package installer

import (
	"testing"

	"github.com/ferry-delivery/ferry/payload"
	"github.com/google/go-cmp/cmp"
)

func TestBundleRequirements(t *testing.T) {
	m := &payload.Manifest{
		Platforms: []payload.Platform{"linux/amd64", "linux/arm64"},
		Members: []payload.Member{
			{Path: "k3s/linux-amd64/k3s", Size: 70e6, Role: payload.RoleK3sBinary, Platform: "linux/amd64"},
			{Path: "k3s/linux-arm64/k3s-arm64", Size: 64e6, Role: payload.RoleK3sBinary, Platform: "linux/arm64"},
			{Path: "k3s/linux-amd64/images", Size: 180e6, Role: payload.RoleK3sAirgapImages, Platform: "linux/amd64"},
			{Path: "k3s/linux-arm64/images", Size: 200e6, Role: payload.RoleK3sAirgapImages, Platform: "linux/arm64"},
			{Path: "images/blobs/a", Size: 50e6, Role: payload.RoleImageBlob},
			{Path: "chart.tgz", Size: 1e6, Role: payload.RoleChart},
		},
	}
	want := Requirements{Platforms: []string{"amd64", "arm64"}, NeedBin: 70e6, NeedData: 2*(200e6+50e6) + 1<<30}
	if d := cmp.Diff(want, BundleRequirements(m)); d != "" {
		t.Fatal(d)
	}
}
