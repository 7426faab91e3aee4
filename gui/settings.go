package gui

import (
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/widget"
)

// languageChoices pairs each choice with its label; language names are written in their own language so a
// user who cannot read the current one still finds theirs.
func languageChoices() [][2]string {
	return [][2]string{{LangSystem, lang.X("settings.system", "Same as the system")}, {LangEN, "English"}, {LangZH, "简体中文"}}
}

// ChangeLanguage stores the choice, applies it and redraws the current screen.
func (w *Wizard) ChangeLanguage(choice string) error {
	if err := SetLanguage(choice); err != nil {
		return err
	}
	w.App.Preferences().SetString(prefLang, choice)
	w.Rebuild()
	return nil
}

func (w *Wizard) showSettings() {
	choices := languageChoices()
	labels := make([]string, len(choices))
	cur := w.App.Preferences().StringWithFallback(prefLang, LangSystem)
	selected := ""
	for i, c := range choices {
		labels[i] = c[1]
		if c[0] == cur {
			selected = c[1]
		}
	}
	radio := widget.NewRadioGroup(labels, nil)
	radio.SetSelected(selected)
	var d dialog.Dialog
	radio.OnChanged = func(s string) {
		for _, c := range choices {
			if c[1] == s && c[0] != cur {
				_ = w.ChangeLanguage(c[0])
				if d != nil {
					d.Hide()
				}
			}
		}
	}
	d = dialog.NewCustom(lang.X("settings.title", "Language"), lang.X("common.close", "Close"),
		container.NewVBox(widget.NewLabel(lang.X("settings.language", "Language of the wizard")), radio), w.Win)
	d.Show()
}
