package gui

import (
	"github.com/ferry-delivery/ferry/gui/engine"
	"github.com/ferry-delivery/ferry/gui/siterecord"
)

// SiteModel is the site the wizard is installing or managing. It is touched only on the UI goroutine;
// background work gets copies (see engineSite).
type SiteModel struct {
	Name    string
	Bundle  engine.Bundle
	Hosts   []engine.Host
	Values  []byte // chart values as YAML, from the Settings step
	AppURL  string
	Version string
	History []engine.Release
}

// NewSiteModel returns an empty site.
func NewSiteModel() *SiteModel { return &SiteModel{} }

// FromRecord fills a site model from a saved record.
func FromRecord(r siterecord.Record) *SiteModel {
	return &SiteModel{Name: r.Name, Hosts: append([]engine.Host(nil), r.Hosts...), AppURL: r.AppURL,
		Version: r.Version, History: r.History, Bundle: engine.Bundle{Path: r.BundlePath, App: r.App, Version: r.Version}}
}

// Record is the site as saved: hosts without secrets (engine.Host never serialises them).
func (s *SiteModel) Record() siterecord.Record {
	return siterecord.Record{Name: s.Name, App: s.Bundle.App, Version: s.Version, BundlePath: s.Bundle.Path,
		AppURL: s.AppURL, Hosts: append([]engine.Host(nil), s.Hosts...), History: s.History}
}

// engineSite is a copy of the site for the engine, safe to hand to a goroutine.
func (w *Wizard) engineSite() engine.Site {
	return engine.Site{Name: w.Site.Name, Dir: w.Store.Dir(w.Site.Name), Hosts: append([]engine.Host(nil), w.Site.Hosts...)}
}
