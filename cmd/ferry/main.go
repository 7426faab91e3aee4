// Command ferry is Ferry's desktop wizard. All of its work is done by the engine through gui.
//
// By default it runs on the real engine (gui/realengine: payload, installer, appliance). `--demo` (or
// FERRY_DEMO=1) runs it on gui/fakeengine instead, which changes nothing anywhere and says so on every
// screen. `--bundle PATH` starts a new install on that bundle and verifies it at once. FERRY_SITES overrides
// where site records are kept (the real-window test uses it).
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
	bundle := flag.String("bundle", "", "start a new install on this bundle (verified at once)")
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
	o := gui.Options{Engine: eng, Store: store, Demo: *demo}
	if *bundle != "" {
		// One line on stderr when the bundle given on the command line is verified: the GUI benchmark
		// (gui/xtest/bench.sh) waits for it.
		o.OnBundleVerified = func(path string, b engine.Bundle, err error, took time.Duration) {
			if err != nil {
				fmt.Fprintf(os.Stderr, "ferry: verifying %s failed after %.1f s: %v\n", path, took.Seconds(), err)
				return
			}
			fmt.Fprintf(os.Stderr, "ferry: verified %s (%s %s) in %.1f s\n", path, b.App, b.Version, took.Seconds())
		}
	}
	w := gui.New(a, o)
	if *bundle != "" {
		w.StartWithBundle(*bundle)
	}
	w.Win.ShowAndRun()
}
