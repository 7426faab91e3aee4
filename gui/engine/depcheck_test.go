package engine_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The wizard's engine-facing packages must stay free of Fyne, so the real engine's adapter and ferryctl
// can use them without pulling in the toolkit.
func TestEngineFacingPackagesAreFreeOfFyne(t *testing.T) {
	pkgs := []string{
		"github.com/ferry-delivery/ferry/gui/engine",
		"github.com/ferry-delivery/ferry/gui/fakeengine",
		"github.com/ferry-delivery/ferry/gui/siterecord",
		"github.com/ferry-delivery/ferry/gui/realengine",
	}
	cmd := exec.Command("go", append([]string{"list", "-deps", "-tags", "ci", "-f", "{{.ImportPath}}"}, pkgs...)...)
	cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < len(pkgs) {
		t.Fatalf("go list returned %d packages", len(deps))
	}
	for _, d := range deps {
		if strings.HasPrefix(d, "fyne.io/") {
			t.Errorf("%s is imported by the wizard's engine-facing packages", d)
		}
	}
}
