package gui

import (
	"testing"

	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"
)

func TestMainWindowShowsTitle(t *testing.T) {
	a := test.NewTempApp(t)
	w := NewMainWindow(a)
	defer w.Close()
	if w.Title() != "Ferry" {
		t.Fatalf("window title %q, want Ferry", w.Title())
	}
	found := false
	for _, o := range test.LaidOutObjects(w.Content()) {
		if l, ok := o.(*widget.Label); ok && l.Text == "Ferry" {
			found = true
		}
	}
	if !found {
		t.Fatal("the main window does not show the product name")
	}
}
