package gui

import (
	"embed"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/lang"

	"github.com/ferry-delivery/ferry/gui/engine"
)

// Translations: one JSON file per language (go-i18n's flat form, key -> text). Keys are stable ids; the
// English text is also written at each call site as lang.X's fallback, and a test keeps both in step.
//
//go:embed translations/*.json
var translationFS embed.FS

// Language choices in settings. LangSystem follows the operating system's locale.
const (
	LangSystem = "system"
	LangEN     = "en"
	LangZH     = "zh-Hans"
	prefLang   = "language"
)

var langFiles = map[string]string{LangEN: "translations/en.json", LangZH: "translations/zh-Hans.json"}

var loadOnce sync.Once

func loadTranslations() {
	loadOnce.Do(func() {
		if err := lang.AddTranslationsFS(translationFS, "translations"); err != nil {
			fyne.LogError("loading translations", err)
		}
	})
}

// SetLanguage makes choice the active language. Fyne's lang package only follows the OS locale, so a forced
// choice is applied by registering the chosen language's messages under every locale the matcher could
// pick (both ours and the OS's); LangSystem restores each file under its own locale.
func SetLanguage(choice string) error {
	loadTranslations()
	sysLoc := lang.SystemLocale()
	targets := []fyne.Locale{"en", "zh-Hans"}
	if sysLoc != "" {
		targets = append(targets, sysLoc, fyne.Locale(sysLoc.LanguageString()))
	}
	if choice == LangSystem || choice == "" {
		for code, file := range langFiles {
			data, err := translationFS.ReadFile(file)
			if err != nil {
				return err
			}
			if err := lang.AddTranslationsForLocale(data, fyne.Locale(code)); err != nil {
				return err
			}
		}
		// Re-register the OS locale's entry with the language it really is (English if we have no match).
		own := LangEN
		if strings.HasPrefix(string(sysLoc), "zh") {
			own = LangZH
		}
		data, _ := translationFS.ReadFile(langFiles[own])
		if sysLoc != "" {
			_ = lang.AddTranslationsForLocale(data, sysLoc)
			_ = lang.AddTranslationsForLocale(data, fyne.Locale(sysLoc.LanguageString()))
		}
		return nil
	}
	file, ok := langFiles[choice]
	if !ok {
		return fmt.Errorf("setting language: unknown language %q", choice)
	}
	data, err := translationFS.ReadFile(file)
	if err != nil {
		return err
	}
	for _, l := range targets {
		if err := lang.AddTranslationsForLocale(data, l); err != nil {
			return fmt.Errorf("setting language %s: %w", choice, err)
		}
	}
	return nil
}

// translationKeys returns the keys of one embedded language file (used by tests).
func translationKeys(code string) (map[string]string, error) {
	data, err := translationFS.ReadFile(langFiles[code])
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	return m, json.Unmarshal(data, &m)
}

// engineText translates text that comes from the engine (phase and check titles) by a key made of prefix
// and the engine's id, falling back to the engine's English when the id is new to this build.
func engineText(prefix, id, english string) string {
	if id == "" {
		return english
	}
	return lang.X(prefix+id, english)
}

// phaseTitle is a step's title in the current language: translated by the step's id (keys
// "phase.<id>"), or the engine's own English title for an id this build has no translation for.
func phaseTitle(ph engine.Phase) string { return engineText("phase.", ph.ID, ph.Title) }

func init() { loadTranslations() }
