package archtest

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// productCommands are what users get: their code must never reach the test doubles (the k3s stand-in's
// demo bundles in test/demo, the site lab, the fake k3s releases, the simulated cluster of
// appliance/appliancetest and internal/testappliance), so a stand-in can never ship in a user's bundle by
// way of a product build.
var productCommands = []string{
	"github.com/ferry-delivery/ferry/cmd/ferry",
	"github.com/ferry-delivery/ferry/cmd/ferryctl",
}

func testDoubleDeps(t *testing.T, pkgs ...string) []string {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-deps", "-tags", "ci", "-f", "{{.ImportPath}}"}, pkgs...)...)
	cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var bad []string
	for _, d := range strings.Fields(string(out)) {
		if strings.HasPrefix(d, "github.com/ferry-delivery/ferry/test/") || strings.HasPrefix(d, "github.com/ferry-delivery/ferry/internal/test") ||
			d == "github.com/ferry-delivery/ferry/appliance/appliancetest" {
			bad = append(bad, d)
		}
	}
	return bad
}

func TestProductNeverReachesTestDoubles(t *testing.T) {
	if bad := testDoubleDeps(t, productCommands...); len(bad) > 0 {
		t.Errorf("a product command depends on test code %v: the k3s stand-in and demo builders must stay out of user builds", bad)
	}
}

// TestGuardSeesDemo proves the guard can fail: the demo's own command does reach test/demo.
func TestGuardSeesDemo(t *testing.T) {
	if bad := testDoubleDeps(t, "github.com/ferry-delivery/ferry/test/demo/cmd/demo"); len(bad) == 0 {
		t.Fatal("test/demo/cmd/demo shows no test package among its deps: the guard's detection is broken")
	}
}

// TestGuardSeesApplianceSim proves the guard knows the simulated cluster: internal/testappliance, the
// shared fixture of the CLI's and the wizard's tests, is built on appliance/appliancetest.
func TestGuardSeesApplianceSim(t *testing.T) {
	bad := testDoubleDeps(t, "github.com/ferry-delivery/ferry/internal/testappliance")
	if !slices.Contains(bad, "github.com/ferry-delivery/ferry/appliance/appliancetest") {
		t.Fatalf("internal/testappliance's test deps %v lack appliance/appliancetest: the guard's detection is broken", bad)
	}
}
