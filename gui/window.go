package gui

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"
)

// NewMainWindow builds Ferry's main window. The wizard's steps are added by their own files.
func NewMainWindow(a fyne.App) fyne.Window {
	w := a.NewWindow("Ferry")
	w.SetContent(container.NewVBox(
		widget.NewLabelWithStyle("Ferry", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		widget.NewLabel("Offline delivery of k3s and your application."),
	))
	w.Resize(fyne.NewSize(960, 640))
	return w
}
