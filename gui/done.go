package gui

import (
	"net/url"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/ferry-delivery/ferry/gui/engine"
)

// ShowDone shows the Done step after a successful install.
func (w *Wizard) ShowDone(res engine.InstallResult) {
	w.show(func() fyne.CanvasObject {
		ok := widget.NewLabelWithStyle(lang.X("done.ok", "{{.App}} {{.Version}} is installed and healthy.", map[string]any{"App": w.Site.Bundle.App, "Version": w.Site.Version}), fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
		ok.Importance = widget.SuccessImportance
		var link fyne.CanvasObject = widget.NewLabel(res.AppURL)
		if u, err := url.Parse(res.AppURL); err == nil && res.AppURL != "" {
			link = widget.NewHyperlink(res.AppURL, u)
		}
		export := widget.NewButtonWithIcon(lang.X("done.kubeconfig", "Export kubeconfig…"), theme.DocumentSaveIcon(), func() {
			d := dialog.NewFileSave(func(wc fyne.URIWriteCloser, err error) {
				if err != nil || wc == nil {
					return
				}
				_, werr := wc.Write(res.Kubeconfig)
				if cerr := wc.Close(); werr == nil {
					werr = cerr
				}
				if werr != nil {
					dialog.ShowCustom(lang.X("done.exportfailed", "Export failed"), lang.X("common.close", "Close"), w.problemCard(explain(werr)), w.Win)
				}
			}, w.Win)
			d.SetFileName("kubeconfig-" + w.Site.Name + ".yaml")
			d.Show()
		})
		warn := widget.NewLabel(lang.X("done.kubeconfig.warn", "The kubeconfig gives full control of the cluster: keep it as safe as a root password."))
		warn.Wrapping = fyne.TextWrapWord
		warn.Importance = widget.WarningImportance
		saved := widget.NewLabel(lang.X("done.saved", "The site record is saved in {{.Dir}}. Open it from the start screen to upgrade or roll back.", map[string]any{"Dir": w.Store.Dir(w.Site.Name)}))
		saved.Wrapping = fyne.TextWrapWord
		form := widget.NewForm(widget.NewFormItem(lang.X("done.address", "Application address"), link))
		manage := widget.NewButtonWithIcon(lang.X("done.manage", "Manage this site"), theme.ComputerIcon(), w.ShowManage)
		manage.Importance = widget.HighImportance
		start := widget.NewButtonWithIcon(lang.X("done.start", "Back to start"), theme.HomeIcon(), w.ShowStart)
		body := container.NewVBox(ok, form, container.NewHBox(export), warn, widget.NewSeparator(), saved)
		return w.page(lang.X("done.title", "Done"), 5, body, start, manage)
	})
}
