package lab

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/ssh"
)

func TestAptMirror(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"deb822 skips security", map[string]string{
			"sources.list.d/debian.sources": "Types: deb\nURIs: http://sec.example/debian-security\nSuites: bookworm-security\nComponents: main\n\n" +
				"Types: deb\n# comment\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\nComponents: main contrib\nSigned-By: /k.gpg\n",
		}, "http://mirror.example/debian"},
		{"one-line with options", map[string]string{
			"sources.list": "# deb http://old.example/debian bookworm main\ndeb-src http://src.example/debian bookworm main\n" +
				"deb [arch=amd64 signed-by=/k.gpg] http://one.example/debian bookworm main non-free\n",
		}, "http://one.example/debian"},
		{"other suites ignored", map[string]string{
			"sources.list":                  "deb http://x.example/debian bullseye main\n",
			"sources.list.d/extra.list":     "deb https://packages.example/apt cloud-sdk-bookworm main\n",
			"sources.list.d/late.sources":   "Types: deb\nURIs: http://late.example/debian\nSuites: bookworm\nComponents: main\n",
			"sources.list.d/off.sources":    "Enabled: no\nTypes: deb\nURIs: http://off.example/debian\nSuites: bookworm\nComponents: main\n",
			"sources.list.d/a-contrib.list": "deb http://contrib.example/debian bookworm contrib\n",
		}, "http://late.example/debian"},
		{"nothing usable", map[string]string{"sources.list": "deb http://x.example/debian bookworm-updates main\n"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for p, c := range tt.files {
				if err := writeFile(filepath.Join(dir, p), c, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := AptMirror(dir, Suite)
			if tt.want == "" {
				if !errors.Is(err, ErrNoMirror) {
					t.Fatalf("AptMirror = %q, %v; want ErrNoMirror", got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("AptMirror = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestRootfsKeyFollowsRecipe(t *testing.T) {
	a, arm := RootfsKey(AMD64), RootfsKey(ARM64)
	if a == arm {
		t.Fatal("amd64 and arm64 rootfs share a cache key")
	}
	saved := BasePackages
	t.Cleanup(func() { BasePackages = saved })
	BasePackages = append(append([]string{}, saved...), "curl")
	if RootfsKey(AMD64) == a {
		t.Fatal("adding a package did not change the rootfs cache key")
	}
	if !strings.HasSuffix(RootfsDir("/c", AMD64), RootfsKey(AMD64)) {
		t.Fatal("rootfs dir not keyed by the recipe")
	}
}

func TestSetShadowPassword(t *testing.T) {
	in := "root:*:19000:0:99999:7:::\nferry:!:19000:0:99999:7:::\n"
	got, err := setShadowPassword(in, "ferry", "$6$salt$hash")
	if err != nil {
		t.Fatal(err)
	}
	want := "root:*:19000:0:99999:7:::\nferry:$6$salt$hash:19000:0:99999:7:::\n"
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatal(diff)
	}
	if _, err := setShadowPassword(in, "nobody", "x"); err == nil {
		t.Fatal("missing user accepted")
	}
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		ok   bool
	}{
		{"fine", Options{ID: 3, Hosts: Spec(3, 1)}, true},
		{"no hosts", Options{}, false},
		{"id too big", Options{ID: MaxID + 1, Hosts: Spec(1, 0)}, false},
		{"bad arch", Options{Hosts: []HostSpec{{Arch: "riscv64"}}}, false},
		{"too many", Options{Hosts: Spec(MaxHosts+1, 0)}, false},
		{"relative cache", Options{Hosts: Spec(1, 0), CacheDir: "cache"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.o.validate()
			if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrBadOptions)) {
				t.Fatalf("validate = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

// Every kernel name the lab makes must fit IFNAMSIZ and carry the lab's prefix.
func TestNamesFitInterfaces(t *testing.T) {
	for _, n := range []string{LabName(MaxID), vethName(HostName(MaxID, MaxHosts))} {
		if len(n) > 15 || !strings.Contains(n, Prefix) {
			t.Errorf("name %q too long or unprefixed", n)
		}
	}
	if got := hostAddr(2, 3); got != "10.231.2.13" {
		t.Errorf("hostAddr = %s", got)
	}
}

func TestInventoryRoundTripAndChecks(t *testing.T) {
	dir := t.TempDir()
	hk, err := newKeyPair("h")
	if err != nil {
		t.Fatal(err)
	}
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(hk.Public)))
	inv := &Inventory{Lab: "ferrylab9", Bridge: "ferrylab-nonexistent", Subnet: Subnet(9), Hosts: []Host{{
		Name: "h1", Address: "10.231.9.11", Port: 22, Arch: AMD64, User: "root", HostKey: line,
		KnownHosts: knownHostsLine("10.231.9.11", 22, hk.Public),
	}}}
	p := filepath.Join(dir, "inv.json")
	if err := inv.Write(p); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o600 {
		t.Errorf("inventory mode %v, want 0600", st.Mode().Perm())
	}
	got, err := LoadInventory(p)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(inv, got); diff != "" {
		t.Fatal(diff)
	}
	if !strings.HasPrefix(got.Hosts[0].KnownHosts, "10.231.9.11 ssh-ed25519 ") {
		t.Errorf("known_hosts line %q", got.Hosts[0].KnownHosts)
	}
	// A missing bridge must stop any connection attempt.
	if err := got.CheckNetwork(); !errors.Is(err, ErrOffLab) {
		t.Errorf("CheckNetwork with no bridge = %v, want ErrOffLab", err)
	}
	// A real-hosts inventory has no bridge and is not checked.
	got.Bridge = ""
	if err := got.CheckNetwork(); err != nil {
		t.Errorf("CheckNetwork of real hosts = %v", err)
	}
	// The host key callback accepts the recorded key and refuses another.
	cb, err := got.Hosts[0].HostKeyCallback()
	if err != nil {
		t.Fatal(err)
	}
	other, _ := newKeyPair("o")
	if err := cb("10.231.9.11:22", nil, hk.Public); err != nil {
		t.Errorf("recorded key refused: %v", err)
	}
	if err := cb("10.231.9.11:22", nil, other.Public); err == nil {
		t.Error("foreign host key accepted")
	}
	if err := os.WriteFile(p, []byte(`{"hosts":[{"name":"x"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadInventory(p); err == nil {
		t.Error("inventory without address or host key accepted")
	}
}

func TestMountinfoUnescape(t *testing.T) {
	if got := unescapeMount(`/a\040b\011c`); got != "/a b\tc" {
		t.Fatalf("unescape = %q", got)
	}
	if !under("/x/y", "/x") || under("/xy", "/x") || !under("/x", "/x") {
		t.Fatal("under wrong")
	}
}

func TestHexEscape(t *testing.T) {
	if got := hexEscape("7f454c46"); got != `\x7f\x45\x4c\x46` {
		t.Fatalf("hexEscape = %q", got)
	}
}

func TestSiteHosts(t *testing.T) {
	inv := &Inventory{Hosts: []Host{
		{Name: "ferrylab9-1", Address: "10.231.9.11"},
		{Name: "ferrylab9-2", Address: "10.231.9.12", Port: 2222},
		{Name: "ferrylab9-3", Address: "10.231.9.13", Port: 22},
	}}
	want := "hosts:\n" +
		"  - {name: ferrylab9-1, address: 10.231.9.11, port: 22, role: server}\n" +
		"  - {name: ferrylab9-2, address: 10.231.9.12, port: 2222, role: server}\n" +
		"  - {name: ferrylab9-3, address: 10.231.9.13, port: 22, role: agent}\n"
	if d := cmp.Diff(want, inv.SiteHosts(2)); d != "" {
		t.Fatalf("SiteHosts(2) (-want +got):\n%s", d)
	}
	if got := inv.Hosts[1].Addr(); got != "10.231.9.12:2222" {
		t.Errorf("Addr = %q", got)
	}
}

// fatalTB records a Fatalf and ends the goroutine, as testing.T does.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper() {}
func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestWaitFor(t *testing.T) {
	calls := 0
	WaitFor(t, "third try", time.Minute, time.Millisecond, func() error {
		if calls++; calls < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	if calls != 3 {
		t.Fatalf("ok called %d times, want 3", calls)
	}
	ft := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		WaitFor(ft, "never", 20*time.Millisecond, time.Millisecond, func() error { return errors.New("still down") })
	}()
	<-done
	if ft.msg != "never: not within 20ms: still down" {
		t.Fatalf("failure %q", ft.msg)
	}
}
