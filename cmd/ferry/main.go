// Command ferry is Ferry's desktop wizard. All of its work is done by the engine through gui.
//
// By default it runs on the real engine (gui/realengine: payload, installer, appliance). `--demo` (or
// FERRY_DEMO=1) runs it on gui/fakeengine instead, which changes nothing anywhere and says so on every
// screen. FERRY_SITES overrides where site records are kept (the real-window test uses it).
//
// Bundle signing keys the laptop trusts are the *.pub files in <user config dir>/ferry/trusted-keys
// (internal/trustedkeys); `--trust KEY.pub` adds one there before the window opens. `--bundle FILE` and
// `--site-draft site.yaml` open the install flow with that bundle verified and the site file's hosts
// listed (their host keys still to be accepted on screen); with --bundle, the end of that verification is
// logged on stderr (the GUI benchmark waits for it).
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
	"github.com/ferry-delivery/ferry/internal/trustedkeys"
)

type trustFlags []string

func (t *trustFlags) String() string     { return fmt.Sprint(*t) }
func (t *trustFlags) Set(v string) error { *t = append(*t, v); return nil }

func main() {
	demo := flag.Bool("demo", os.Getenv("FERRY_DEMO") == "1", "run on the demo engine: nothing is changed on any host")
	bundle := flag.String("bundle", "", "open the install flow with this bundle (verified at once)")
	draft := flag.String("site-draft", "", "open the install flow with the hosts of this site.yaml (keys still to be accepted)")
	var trust trustFlags
	flag.Var(&trust, "trust", "trust this vendor public key (PEM .pub) from now on; repeatable")
	flag.Parse()
	if err := run(*demo, *bundle, *draft, trust); err != nil {
		fmt.Fprintln(os.Stderr, "ferry:", err)
		os.Exit(1)
	}
}

func run(demo bool, bundle, draft string, trust []string) error {
	store, err := siterecord.DefaultStore()
	if dir := os.Getenv("FERRY_SITES"); dir != "" {
		store, err = siterecord.Store{Root: dir}, nil
	}
	if err != nil {
		return err
	}
	var preset *gui.Preset
	if bundle != "" || draft != "" {
		preset = &gui.Preset{Bundle: bundle}
		if draft != "" {
			d, err := realengine.LoadSiteDraft(draft)
			if err != nil {
				return err
			}
			for _, n := range d.Notes {
				fmt.Fprintln(os.Stderr, "ferry: site draft:", n)
			}
			preset.SiteName, preset.Hosts = d.Name, d.Hosts
		}
	}
	var eng engine.Engine
	if demo {
		f := fakeengine.New()
		f.Step = 120 * time.Millisecond // the demo engine pauses so its progress can be watched
		eng = f
	} else {
		keys, err := loadTrust(trust)
		if err != nil {
			return err
		}
		eng = realengine.New(realengine.Options{Trusted: trustedkeys.Public(keys)})
	}
	o := gui.Options{Engine: eng, Store: store, Demo: demo, Preset: preset}
	if bundle != "" {
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
	a := app.NewWithID("io.ferry.wizard")
	w := gui.New(a, o)
	w.Win.ShowAndRun()
	return nil
}

// loadTrust adds the --trust keys to the laptop's trusted keys and loads them all. A damaged file in the
// folder is reported and skipped (the others still count); a --trust key that cannot be read stops here.
func loadTrust(add []string) ([]trustedkeys.Key, error) {
	dir, err := trustedkeys.DefaultDir()
	if err != nil {
		return nil, err
	}
	for _, p := range add {
		k, added, err := trustedkeys.Add(dir, p)
		if err != nil {
			return nil, err
		}
		if added {
			fmt.Fprintf(os.Stderr, "ferry: trusting key %s (%s)\n", k.ID, k.Path)
		}
	}
	keys, err := trustedkeys.Load(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ferry: warning:", err)
	}
	return keys, nil
}
