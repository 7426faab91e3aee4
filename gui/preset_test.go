package gui

import (
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"github.com/ferry-delivery/ferry/gui/engine"
	"github.com/ferry-delivery/ferry/gui/fakeengine"
)

// ferry --bundle --site-draft: the wizard opens on the Open bundle screen with the bundle already verified,
// and the Machines screen lists the draft's hosts, none of them accepted yet (Next stays disabled).
func TestPresetOpensInstallPrefilled(t *testing.T) {
	a := test.NewTempApp(t)
	a.Preferences().SetString(prefLang, LangEN)
	f := fakeengine.New()
	f.AddBundle(fakeengine.DemoBundle(bundlePath, "1.0.0"))
	hosts := []engine.Host{
		{Name: "ferrylab0-1", Address: "10.231.0.11", Port: 22, User: "root", Role: engine.RoleServer, KeyPath: "/lab/id"},
		{Name: "ferrylab0-2", Address: "10.231.0.12", Port: 22, User: "root", Role: engine.RoleServer, KeyPath: "/lab/id"},
	}
	w := New(a, Options{Engine: f, Store: goldenStore(t), Now: func() time.Time { return fixedNow }, QueueUI: true,
		Preset: &Preset{Bundle: bundlePath, SiteName: "demo", Hosts: hosts}})
	w.Win.Resize(fyne.NewSize(1000, 700))
	t.Cleanup(w.Wait)
	w.Wait()
	mustContain(t, w, "Open the bundle", "shop", "1.0.0", "The signature is valid")
	tap(t, w, "Next")
	w.Wait()
	mustContain(t, w, "ferrylab0-1 (10.231.0.11)", "ferrylab0-2 (10.231.0.12)")
	if e := entry(t, w, "e.g. plant-7"); e.Text != "demo" {
		t.Errorf("site name %q, want demo", e.Text)
	}
	if !button(t, w, "Next").Disabled() {
		t.Error("Next enabled before any host key was accepted")
	}
}

// An install's run view (15 phases, 9 hosts) fits a 1280x800 laptop screen with room for the page
// around it: its phase and host lists scroll instead of growing the window past the buttons.
func TestRunViewFitsALaptopScreen(t *testing.T) {
	test.NewTempApp(t)
	var phases []engine.Phase
	for i := 0; i < 15; i++ {
		phases = append(phases, engine.Phase{ID: string(rune('a' + i)), Title: "phase"})
	}
	hosts := []string{"h1", "h2", "h3", "h4", "h5", "h6", "h7", "h8", "h9"}
	if h := runView(NewRunProgress(phases, hosts)).MinSize().Height; h > 400 {
		t.Fatalf("run view needs %v px of height; the window would outgrow an 800 px screen", h)
	}
}
