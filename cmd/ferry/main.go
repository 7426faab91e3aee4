// Command ferry is Ferry's desktop wizard. All of its work is done by the engine packages through gui.
package main

import (
	"fyne.io/fyne/v2/app"

	"github.com/ferry-delivery/ferry/gui"
)

func main() {
	a := app.NewWithID("io.ferry.wizard")
	w := gui.NewMainWindow(a)
	w.ShowAndRun()
}
