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
