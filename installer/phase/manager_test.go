package phase

import (
	"context"
	"errors"
	"testing"

	"github.com/ferry-delivery/ferry/installer/host"
	"github.com/ferry-delivery/ferry/installer/host/hosttest"
	"github.com/ferry-delivery/ferry/internal/progress"
	"github.com/google/go-cmp/cmp"
)

type rec struct {
	log *[]string
}

type fakePhase struct {
	rec
	title   string
	run     func(ctx context.Context) error
	skip    bool
	prepErr error
}

func (p *fakePhase) ID() string    { return "id-" + p.title }
func (p *fakePhase) Title() string { return p.title }
func (p *fakePhase) Run(ctx context.Context) error {
	*p.log = append(*p.log, "run "+p.title)
	if p.run != nil {
		return p.run(ctx)
	}
	return nil
}
func (p *fakePhase) Prepare(*Manager) error {
	*p.log = append(*p.log, "prepare "+p.title)
	return p.prepErr
}
func (p *fakePhase) ShouldRun() bool { return !p.skip }
func (p *fakePhase) CleanUp()        { *p.log = append(*p.log, "cleanup "+p.title) }

func TestContextCancel(t *testing.T) {
	var log []string
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m := &Manager{}
	m.Add(
		&fakePhase{rec: rec{&log}, title: "connect"},
		&fakePhase{rec: rec{&log}, title: "upload", run: func(context.Context) error { cancel(); return nil }},
		&fakePhase{rec: rec{&log}, title: "install"},
	)
	err := m.Run(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	want := []string{"prepare connect", "prepare upload", "prepare install", "run connect", "run upload", "cleanup upload", "cleanup connect"}
	if d := cmp.Diff(want, log); d != "" {
		t.Fatalf("phase log (-want +got):\n%s", d)
	}
}

func TestRunOrderSkipErrorAndEvents(t *testing.T) {
	var log []string
	var events []progress.Event
	boom := errors.New("boom")
	m := &Manager{Sink: func(e progress.Event) { events = append(events, e) }}
	m.Add(
		&fakePhase{rec: rec{&log}, title: "a"},
		&fakePhase{rec: rec{&log}, title: "b", skip: true},
		&fakePhase{rec: rec{&log}, title: "c", run: func(context.Context) error { return boom }},
		&fakePhase{rec: rec{&log}, title: "d"},
	)
	if d := cmp.Diff([]string{"a", "b", "c", "d"}, m.Titles()); d != "" {
		t.Fatal(d)
	}
	if d := cmp.Diff([]Step{{"id-a", "a"}, {"id-b", "b"}, {"id-c", "c"}, {"id-d", "d"}}, m.Steps()); d != "" {
		t.Fatal(d)
	}
	if err := m.Run(context.Background()); !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	want := []string{"prepare a", "prepare b", "prepare c", "prepare d", "run a", "run c", "cleanup c", "cleanup a"}
	if d := cmp.Diff(want, log); d != "" {
		t.Fatalf("(-want +got):\n%s", d)
	}
	var got []string
	for _, e := range events {
		got = append(got, e.Phase+":"+e.Msg)
	}
	// b has nothing to do: said before anything runs.
	if d := cmp.Diff([]string{"b:" + progress.MsgNotNeeded, "a:started", "a:done", "c:started", "c:failed"}, got); d != "" {
		t.Fatalf("events (-want +got):\n%s", d)
	}
	if !errors.Is(events[4].Err, boom) {
		t.Fatal("failure event lacks the error")
	}
}

func TestPrepareErrorRunsNothing(t *testing.T) {
	var log []string
	m := &Manager{}
	m.Add(&fakePhase{rec: rec{&log}, title: "a"}, &fakePhase{rec: rec{&log}, title: "b", prepErr: errors.New("no")})
	if err := m.Run(context.Background()); err == nil {
		t.Fatal("prepare error ignored")
	}
	if d := cmp.Diff([]string{"prepare a", "prepare b"}, log); d != "" {
		t.Fatal(d)
	}
}

// writePhase changes a host: in a dry run the command is recorded, the read-only probe still runs.
type writePhase struct {
	m *Manager
	h host.Host
}

func (p *writePhase) ID() string               { return "configure" }
func (p *writePhase) Title() string            { return "configure" }
func (p *writePhase) Prepare(m *Manager) error { p.m = m; return nil }
func (p *writePhase) Run(ctx context.Context) error {
	if _, err := p.h.Run(ctx, host.Cmd{Line: "uname -m", ReadOnly: true}); err != nil {
		return err
	}
	if _, err := p.h.Run(ctx, host.Cmd{Line: "mkdir -p /etc/rancher/k3s", Sudo: true}); err != nil {
		return err
	}
	return p.m.Wet(p.h.Name(), "start k3s", func() error {
		_, err := p.h.Run(ctx, host.Cmd{Line: "systemctl start --no-block k3s", Sudo: true})
		return err
	})
}

func TestDryRunRecordsEveryCommand(t *testing.T) {
	f := hosttest.New("node1", t.TempDir())
	f.Respond("uname -m", "x86_64\n", 0)
	m := &Manager{DryRun: true}
	m.Add(&writePhase{h: DryHost{Host: f, M: m}})
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := []DryStep{
		{Phase: "configure", Host: "node1", Msg: "run: sudo mkdir -p /etc/rancher/k3s"},
		{Phase: "configure", Host: "node1", Msg: "start k3s"},
	}
	if d := cmp.Diff(want, m.DrySteps()); d != "" {
		t.Fatalf("dry steps (-want +got):\n%s", d)
	}
	cmds := f.Cmds()
	if len(cmds) != 1 || cmds[0].Line != "uname -m" {
		t.Fatalf("a dry run changed the host: %+v", cmds)
	}
}
