package gui

import (
	"path/filepath"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/ferry-delivery/ferry/gui/siterecord"
)

// maxRecent is how many recent sites the start screen lists.
const maxRecent = 5

// recentSites returns the most recently used sites from the store, at most maxRecent.
func recentSites(s siterecord.Store) ([]siterecord.Record, error) {
	all, err := s.List()
	if len(all) > maxRecent {
		all = all[:maxRecent]
	}
	return all, err
}

// ShowStart shows the start screen.
func (w *Wizard) ShowStart() { w.show(w.startStep) }

func (w *Wizard) startStep() fyne.CanvasObject {
	install := widget.NewButtonWithIcon(lang.X("start.install", "Install a new site"), theme.ContentAddIcon(), func() {
		w.Site = NewSiteModel()
		w.ShowBundle()
	})
	install.Importance = widget.HighImportance
	open := widget.NewButtonWithIcon(lang.X("start.open", "Open an existing site…"), theme.FolderOpenIcon(), func() {
		d := dialog.NewFolderOpen(func(u fyne.ListableURI, err error) {
			if err != nil || u == nil {
				return
			}
			w.OpenSiteDir(u.Path())
		}, w.Win)
		d.Show()
	})
	intro := widget.NewLabel(lang.X("start.intro", "Ferry installs your application and everything it needs on the site's machines, from one bundle file, without internet."))
	intro.Wrapping = fyne.TextWrapWord

	recent := container.NewVBox(widget.NewLabelWithStyle(lang.X("start.recent", "Recent sites"), fyne.TextAlignLeading, fyne.TextStyle{Bold: true}))
	sites, err := recentSites(w.Store)
	if err != nil {
		recent.Add(w.problemCard(explain(err)))
	}
	if len(sites) == 0 {
		none := widget.NewLabel(lang.X("start.norecent", "No sites yet."))
		none.Importance = widget.LowImportance
		recent.Add(none)
	}
	for _, r := range sites {
		r := r
		label := r.Name
		if r.App != "" {
			label = lang.X("start.recentitem", "{{.Site}} — {{.App}} {{.Version}}", map[string]any{"Site": r.Name, "App": r.App, "Version": r.Version})
		}
		recent.Add(widget.NewButtonWithIcon(label, theme.ComputerIcon(), func() { w.OpenSite(r) }))
	}
	body := container.NewVBox(intro, container.NewHBox(install, open), widget.NewSeparator(), recent)
	return w.page(lang.X("start.title", "Welcome to Ferry"), -1, body)
}

// OpenSiteDir opens a site folder picked anywhere on disk (e.g. copied from a colleague's laptop).
func (w *Wizard) OpenSiteDir(dir string) {
	st := siterecord.Store{Root: filepath.Dir(dir)}
	r, err := st.Load(filepath.Base(dir))
	if err != nil {
		dialog.ShowCustom(lang.X("start.openfailed", "Cannot open this site"), lang.X("common.close", "Close"), w.problemCard(explain(err)), w.Win)
		return
	}
	w.Store = st
	w.OpenSite(r)
}
