package gui

import "github.com/ferry-delivery/ferry/gui/engine"

// Preset opens the wizard straight into the install flow, pre-filled (ferry --bundle, --site-draft): the
// bundle is verified at once on the Open bundle screen and the Machines screen starts with the draft's
// site name and hosts. Nothing is accepted for the user: the bundle's trust and each host's key are
// still shown for confirmation.
type Preset struct {
	Bundle   string
	SiteName string
	Hosts    []engine.Host
}

// startPreset begins an install with p's bundle and hosts.
func (w *Wizard) startPreset(p Preset) {
	w.Site = NewSiteModel()
	w.Site.Name = p.SiteName
	w.Site.Hosts = append([]engine.Host(nil), p.Hosts...)
	w.Site.Bundle.Path = p.Bundle
	w.ShowBundle()
}
