package archtest

import (
	"os/exec"
	"strings"
	"testing"
)

// enginePackages must never depend on Fyne, directly or through anything they import.
var enginePackages = []string{
	"github.com/ferry-delivery/ferry/payload/...",
	"github.com/ferry-delivery/ferry/packaging/...",
	"github.com/ferry-delivery/ferry/installer/...",
	"github.com/ferry-delivery/ferry/appliance/...",
}

func TestEngineIsFreeOfFyne(t *testing.T) {
	for _, tags := range []string{"", "ci"} {
		args := []string{"list", "-deps", "-f", "{{.ImportPath}}"}
		if tags != "" {
			args = append(args, "-tags", tags)
		}
		cmd := exec.Command("go", append(args, enginePackages...)...)
		cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list (tags %q): %v", tags, err)
		}
		deps := strings.Fields(string(out))
		if len(deps) < len(enginePackages) {
			t.Fatalf("go list returned %d packages; the engine package list is wrong", len(deps))
		}
		for _, d := range deps {
			if d == "fyne.io/fyne/v2" || strings.HasPrefix(d, "fyne.io/") {
				t.Errorf("an engine package imports %s (tags %q): keep the engine free of the GUI toolkit", d, tags)
			}
		}
	}
}

// TestGuardSeesFyne proves the guard can fail: the GUI package must show up as importing Fyne.
func TestGuardSeesFyne(t *testing.T) {
	cmd := exec.Command("go", "list", "-deps", "-tags", "ci", "-f", "{{.ImportPath}}", "github.com/ferry-delivery/ferry/cmd/ferry")
	cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	if !strings.Contains(string(out), "fyne.io/fyne/v2\n") {
		t.Fatal("cmd/ferry does not list fyne.io/fyne/v2 among its deps: the guard's detection is broken")
	}
}
