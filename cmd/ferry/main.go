// Command ferry is Ferry's desktop wizard. All of its work is done by the engine through gui.
//
// Until the engine packages are wired in (see docs/wizard.md), it runs on gui/fakeengine and says so on
// every screen. FERRY_SITES overrides where site records are kept (the real-window test uses it).
package main

import (
	"fmt"
	"os"
	"time"

	"fyne.io/fyne/v2/app"

	"github.com/ferry-delivery/ferry/gui"
	"github.com/ferry-delivery/ferry/gui/fakeengine"
	"github.com/ferry-delivery/ferry/gui/siterecord"
)

func main() {
	a := app.NewWithID("io.ferry.wizard")
	store, err := siterecord.DefaultStore()
	if dir := os.Getenv("FERRY_SITES"); dir != "" {
		store, err = siterecord.Store{Root: dir}, nil
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ferry:", err)
		os.Exit(1)
	}
	eng := fakeengine.New()
	eng.Step = 120 * time.Millisecond // the demo engine pauses so its progress can be watched
	w := gui.New(a, gui.Options{Engine: eng, Store: store, Demo: true})
	w.Win.ShowAndRun()
}
