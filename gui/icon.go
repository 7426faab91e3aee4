package gui

import (
	_ "embed"

	"fyne.io/fyne/v2"
)

//go:generate go run ./assets/icon_gen.go assets/icon.png

//go:embed assets/icon.png
var iconPNG []byte

// Icon is Ferry's application icon (FyneApp.toml points `fyne package` at the same file).
var Icon = fyne.NewStaticResource("icon.png", iconPNG)
