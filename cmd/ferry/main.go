// Command ferry is Ferry's desktop wizard. All of its work is done by the engine through gui.
//
// By default it runs on the real engine (gui/realengine: payload, installer, appliance). `--demo` (or
// FERRY_DEMO=1) runs it on gui/fakeengine instead, which changes nothing anywhere and says so on every
// screen. FERRY_SITES overrides where site records are kept (the real-window test uses it).
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"fyne.io/fyne/v2/app"

	"github.com/ferry-delivery/ferry/gui"
	"github.com/ferry-delivery/ferry/gui/engine"
	"github.com/ferry-delivery/ferry/gui/fakeengine"
	"github.com/ferry-delivery/ferry/gui/realengine"
	"github.com/ferry-delivery/ferry/gui/siterecord"
)

func main() {
	demo := flag.Bool("demo", os.Getenv("FERRY_DEMO") == "1", "run on the demo engine: nothing is changed on any host")
	flag.Parse()
	a := app.NewWithID("io.ferry.wizard")
	store, err := siterecord.DefaultStore()
	if dir := os.Getenv("FERRY_SITES"); dir != "" {
		store, err = siterecord.Store{Root: dir}, nil
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ferry:", err)
		os.Exit(1)
	}
	var eng engine.Engine
	if *demo {
		f := fakeengine.New()
		f.Step = 120 * time.Millisecond // the demo engine pauses so its progress can be watched
		eng = f
	} else {
		// TODO(trust): where the laptop's trusted signing keys live is not settled; until then every
		// signed bundle is shown as untrusted and needs the explicit confirmation.
		eng = realengine.New(realengine.Options{})
	}
	w := gui.New(a, gui.Options{Engine: eng, Store: store, Demo: *demo})
	w.Win.ShowAndRun()
}
