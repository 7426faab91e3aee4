package fakeengine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ferry-delivery/ferry/gui/engine"
	"github.com/ferry-delivery/ferry/internal/progress"
)

func site() engine.Site {
	return engine.Site{Name: "s", Hosts: []engine.Host{{Name: "a", Address: "a", Role: engine.RoleServer}, {Name: "b", Address: "b", Role: engine.RoleAgent}}}
}

func TestOpenBundleReadsDemoFilesAndRefusesFolders(t *testing.T) {
	f := New()
	dir := t.TempDir()
	for name, want := range map[string]engine.Trust{"shop-1.2.3.ferry": engine.TrustSigned, "shop-unsigned-2.0.0.ferry": engine.TrustUnsigned} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte("x"), 0o600)
		var last progress.Event
		b, err := f.OpenBundle(context.Background(), p, func(e progress.Event) { last = e })
		if err != nil || b.Trust != want || last.Done != last.Total || last.Total == 0 {
			t.Fatalf("%s: %+v %v last=%+v", name, b, err, last)
		}
	}
	if _, err := f.OpenBundle(context.Background(), dir, nil); !errors.Is(err, engine.ErrBundleCorrupt) {
		t.Fatalf("folder: %v", err)
	}
	if _, err := f.OpenBundle(context.Background(), filepath.Join(dir, "missing"), nil); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing: %v", err)
	}
}

func TestInstallFailsOnceThenResumes(t *testing.T) {
	f := New()
	f.FailPhaseOnce("agents", errors.New("boom"))
	req := engine.InstallRequest{Site: site(), Bundle: DemoBundle("/b", "1.0.0")}
	var skipped []string
	sink := func(e progress.Event) {
		if e.Msg == engine.MsgSkipped {
			skipped = append(skipped, e.Phase)
		}
	}
	if _, err := f.Install(context.Background(), req, sink); err == nil {
		t.Fatal("first run succeeded")
	}
	if _, err := f.Install(context.Background(), req, sink); err != nil {
		t.Fatal(err)
	}
	if len(skipped) != 3 || skipped[0] != "connect" || skipped[2] != "server" {
		t.Fatalf("skipped on resume: %v", skipped)
	}
	st, err := f.Status(context.Background(), req.Site)
	if err != nil || st.Version != "1.0.0" {
		t.Fatalf("status %+v %v", st, err)
	}
}

func TestHoldIsCancelledByContext(t *testing.T) {
	f := New()
	h := f.HoldPhase("upload", time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := f.Install(ctx, engine.InstallRequest{Site: site(), Bundle: DemoBundle("/b", "1.0.0")}, nil)
		done <- err
	}()
	<-h.Entered()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("install after cancel: %v", err)
	}
	<-h.Ended()
}

func TestHostKeysAndRollback(t *testing.T) {
	f := New()
	h := engine.Host{Name: "a", Address: "a"}
	c, err := f.TestConnection(context.Background(), h)
	if err != nil || c.KeyStatus != engine.KeyNew {
		t.Fatalf("first contact: %+v %v", c, err)
	}
	h.HostKey = c.KeyLine
	if c, err = f.TestConnection(context.Background(), h); err != nil || c.KeyStatus != engine.KeyKnown {
		t.Fatalf("known: %+v %v", c, err)
	}
	line, _ := FakeKey("a", "other")
	f.SetHostKey("a", line)
	if c, err = f.TestConnection(context.Background(), h); !errors.Is(err, engine.ErrHostKeyMismatch) || c.KeyStatus != engine.KeyChanged {
		t.Fatalf("changed: %+v %v", c, err)
	}
	f.Installed("1.0.0", "v1", engine.Release{Version: "1.0.0", Kept: true}, engine.Release{Version: "0.9.0"})
	if _, err := f.Rollback(context.Background(), site(), "0.9.0", nil); !errors.Is(err, engine.ErrNoKeptVersion) {
		t.Fatalf("rollback to a version not kept: %v", err)
	}
}

// Like the real engine, the fake says a phase with nothing to do (no agent to join) before any phase runs,
// and never runs it.
func TestInstallSaysNotNeededFirst(t *testing.T) {
	f := New()
	s := engine.Site{Name: "s", Hosts: []engine.Host{{Name: "a", Address: "a", Role: engine.RoleServer}}}
	var ev []progress.Event
	if _, err := f.Install(context.Background(), engine.InstallRequest{Site: s, Bundle: DemoBundle("/b", "1.0.0")}, func(e progress.Event) { ev = append(ev, e) }); err != nil {
		t.Fatal(err)
	}
	if len(ev) == 0 || ev[0].Phase != "agents" || ev[0].Msg != engine.MsgNotNeeded {
		t.Fatalf("first event %+v, want agents not needed", ev[:min(1, len(ev))])
	}
	for _, e := range ev[1:] {
		if e.Phase == "agents" {
			t.Fatalf("the agents phase ran on a site without agents: %+v", e)
		}
	}
	ev = nil
	if _, err := f.Install(context.Background(), engine.InstallRequest{Site: site(), Bundle: DemoBundle("/b", "1.0.0")}, func(e progress.Event) { ev = append(ev, e) }); err != nil {
		t.Fatal(err)
	}
	for _, e := range ev {
		if e.Msg == engine.MsgNotNeeded {
			t.Fatalf("a site with an agent: %+v", e)
		}
	}
}
