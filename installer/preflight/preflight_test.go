package preflight

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ferry-delivery/ferry/installer/host"
	"github.com/ferry-delivery/ferry/installer/host/hosttest"
	"github.com/google/go-cmp/cmp"
)

func load(t *testing.T, name, host string, laptop time.Time) *Facts {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	f, err := ParseFacts(host, b, laptop)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestParseFacts(t *testing.T) {
	laptop := time.Unix(1764140000, 0)
	f := load(t, "debian-systemd.txt", "cp1", laptop)
	want := &Facts{
		Host: "cp1", UID: 1000, Machine: "x86_64", Arch: "amd64", Kernel: "6.1.0-28-amd64",
		OSName: "Debian GNU/Linux 12 (bookworm)", OSID: "debian", Init: "systemd", CPUs: 4,
		MemBytes: 8039564 << 10, SwapBytes: 1048572 << 10, Hostname: "node-a",
		Free:         map[string]int64{"/var/lib/rancher/k3s": 20971520 << 10, "/var/lib/rancher/k3s/agent/images": 20971520 << 10, "/usr/local/bin": 5242880 << 10},
		Listening:    []Socket{{"tcp", 22}, {"tcp", 10242}, {"udp", 68}},
		DefaultRoute: true, UsrLocalBinWritable: true, SELinux: "disabled",
		K3s:         K3sFacts{Files: []string{"/usr/local/bin/k3s"}, Site: "plant-7"},
		ClockOffset: 250 * time.Millisecond, ClockKnown: true,
	}
	if d := cmp.Diff(want, f); d != "" {
		t.Fatalf("facts (-want +got):\n%s", d)
	}

	g := load(t, "alpine-openrc.txt", "edge", laptop)
	if g.Arch != "arm64" || g.Init != "openrc" || g.UID != 0 || g.DefaultRoute || g.SELinux != "enforcing" ||
		g.ClockOffset != 100*time.Second || g.K3s.Present() || len(g.Listening) != 0 {
		t.Fatalf("alpine facts: %+v", g)
	}
	if _, err := ParseFacts("x", []byte("### date\n1\n"), laptop); err == nil {
		t.Fatal("truncated output accepted")
	}
}

func TestChecks(t *testing.T) {
	laptop := time.Unix(1764140000, 0)
	opts := Options{Site: "plant-7", Platforms: []string{"amd64"}, Roles: map[string]string{"cp1": "server", "edge": "agent"},
		DataDir: "/var/lib/rancher/k3s", NeedData: 4 << 30, NeedBin: 100 << 20}
	deb := func() *Facts { return load(t, "debian-systemd.txt", "cp1", laptop) }
	alp := func() *Facts { return load(t, "alpine-openrc.txt", "edge", laptop) }

	for _, tc := range []struct {
		name   string
		facts  func() *Facts
		opts   func(o *Options)
		check  string
		want   Status
		detail string
		fix    FixKind
	}{
		{"arch ok", deb, nil, "arch", Pass, "amd64", ""},
		{"arch missing from bundle", alp, nil, "arch", Fail, "bundle carries amd64", ""},
		{"arch without bundle", alp, func(o *Options) { o.Platforms = nil }, "arch", Pass, "not compared", ""},
		{"systemd", deb, nil, "init", Pass, "systemd", ""},
		{"openrc", alp, nil, "init", Pass, "openrc", ""},
		{"no init", func() *Facts { f := deb(); f.Init = "bash"; return f }, nil, "init", Fail, "PID 1 is bash", ""},
		{"old kernel", func() *Facts { f := deb(); f.Kernel = "3.10.0-1160"; return f }, nil, "os", Fail, "3.10", ""},
		{"one cpu agent", alp, nil, "cpu", Pass, "1 cores", ""},
		{"one cpu server", alp, func(o *Options) { o.Roles["edge"] = "server" }, "cpu", Warn, "1 cores", ""},
		{"memory agent low", alp, nil, "memory", Warn, "768.0 MiB", ""},
		{"memory server too low", alp, func(o *Options) { o.Roles["edge"] = "server" }, "memory", Fail, "768.0 MiB", ""},
		{"disk ok", deb, nil, "disk", Pass, "/var/lib/rancher/k3s 20.0 GiB free", ""},
		{"disk short", alp, nil, "disk", Fail, "has 1.0 GiB free, needs 4.0 GiB", ""},
		{"ports free", deb, nil, "ports", Pass, "free", ""},
		{"flannel port busy", func() *Facts { f := deb(); f.Listening = append(f.Listening, Socket{"udp", 8472}); return f }, nil, "ports", Fail, "8472/udp", ""},
		{"foreign k3s holds ports", func() *Facts {
			f := deb()
			f.K3s.Running = []string{"k3s-server"}
			f.Listening = append(f.Listening, Socket{"tcp", 6443})
			return f
		}, func(o *Options) { o.Site = "other" }, "ports", Fail, "6443/tcp", ""},
		{"api port busy", func() *Facts { f := deb(); f.Listening = append(f.Listening, Socket{"tcp", 6443}); return f }, nil, "ports", Fail, "6443/tcp", ""},
		{"ports held by own k3s", func() *Facts { f := deb(); f.K3s.Running = []string{"k3s-server"}; return f }, nil, "ports", Pass, "this site", ""},
		{"clock ok", deb, nil, "clock", Pass, "300ms off", ""},
		{"clock skewed", alp, nil, "clock", Fail, "1m40s", FixClock},
		{"clock unknown", func() *Facts { f := deb(); f.ClockKnown = false; return f }, nil, "clock", Warn, "unknown", ""},
		{"route", deb, nil, "route", Pass, "present", ""},
		{"no route", alp, nil, "route", Fail, "no IPv4 default route", FixRoute},
		{"selinux enforcing", alp, nil, "selinux", Fail, "enforcing", ""},
		{"selinux off", deb, nil, "selinux", Pass, "disabled", ""},
		{"swap on", deb, nil, "swap", Warn, "swap on", ""},
		{"swap off", alp, nil, "swap", Pass, "off", ""},
		{"own k3s", deb, nil, "k3s", Pass, "this site's k3s", ""},
		{"other site's k3s", deb, func(o *Options) { o.Site = "plant-8" }, "k3s", Fail, "site plant-7", ""},
		{"foreign k3s", func() *Facts { f := deb(); f.K3s.Site = ""; return f }, nil, "k3s", Fail, "not installed by Ferry", ""},
		{"no k3s", alp, nil, "k3s", Pass, "none", ""},
		{"sudo ok", deb, nil, "sudo", Pass, "sudo works", ""},
		{"sudo refused", func() *Facts { f := deb(); f.Sudo = host.ErrSudoFailed; return f }, nil, "sudo", Fail, "sudo failed", ""},
		{"root", alp, nil, "sudo", Pass, "root login", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := opts
			o.Roles = map[string]string{"cp1": "server", "edge": "agent"}
			if tc.opts != nil {
				tc.opts(&o)
			}
			var got *Result
			for _, r := range Evaluate(o, []*Facts{tc.facts()}) {
				if r.Check == tc.check {
					got = &r
				}
			}
			if got == nil {
				t.Fatalf("no result for %s", tc.check)
			}
			if got.Status != tc.want || !strings.Contains(got.Detail, tc.detail) {
				t.Fatalf("%s: %v %q, want %v containing %q", tc.check, got.Status, got.Detail, tc.want, tc.detail)
			}
			if got.Status != Pass && got.Fix == "" {
				t.Fatal("a non-pass result must say how to fix it")
			}
			if (got.AutoFix == nil) != (tc.fix == "") || (got.AutoFix != nil && got.AutoFix.Kind != tc.fix) {
				t.Fatalf("autofix %+v, want %q", got.AutoFix, tc.fix)
			}
		})
	}
}

func TestUniqueHostnames(t *testing.T) {
	mk := func(h, n string) *Facts { return &Facts{Host: h, Hostname: n} }
	rs := checkHostnames(Options{}, []*Facts{mk("cp1", "node"), mk("cp2", "NODE"), mk("cp3", "cp3"), mk("a1", "localhost")})
	got := map[string]Status{}
	for _, r := range rs {
		got[r.Host] = r.Status
		if r.Status == Fail && (r.AutoFix == nil || r.AutoFix.Value != r.Host) {
			t.Errorf("%s: autofix %+v should rename to the site's host name", r.Host, r.AutoFix)
		}
	}
	if d := cmp.Diff(map[string]Status{"cp1": Fail, "cp2": Fail, "cp3": Pass, "a1": Fail}, got); d != "" {
		t.Fatal(d)
	}
}

func TestGatherAndApplyFixWithFakeHost(t *testing.T) {
	out, _ := os.ReadFile("testdata/debian-systemd.txt")
	f := hosttest.New("cp1", t.TempDir())
	var script string
	f.Handler = func(c host.Cmd) (host.Result, error) {
		switch {
		case strings.HasPrefix(c.Line, "sh -c "):
			script = c.Line
			if !c.ReadOnly {
				t.Error("facts script not marked read-only")
			}
			return host.Result{Stdout: out}, nil
		case c.Line == "true" && c.Sudo:
			return host.Result{ExitCode: 1, Stderr: []byte("Sorry, try again.")}, nil
		}
		return host.Result{}, nil
	}
	laptop := time.Unix(1764140000, 0)
	facts, err := Gather(context.Background(), f, GatherOptions{DataDir: "/data/k3s", NeedSudo: true, Now: func() time.Time { return laptop }})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(script, "/data/k3s/agent/images") || !strings.Contains(script, MarkerPath) {
		t.Fatal("gather script does not look at the data dir or the marker")
	}
	var xe *host.ExitError
	if facts.Sudo == nil || !errors.As(facts.Sudo, &xe) {
		t.Fatalf("sudo failure not recorded: %v", facts.Sudo)
	}

	fix := Fix{Kind: FixClock, Host: "cp1"}
	if err := ApplyFix(context.Background(), f, fix, func() time.Time { return time.Unix(1764140123, 0) }); err != nil {
		t.Fatal(err)
	}
	cmds := f.Cmds()
	last := cmds[len(cmds)-1]
	if last.Line != "date -u -s @1764140123" || !last.Sudo {
		t.Fatalf("clock fix ran %+v", last)
	}
}
