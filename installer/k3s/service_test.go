package k3s

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestSystemdUnitGolden(t *testing.T) {
	for _, r := range []Role{RoleServerFirst, RoleAgent} {
		t.Run(r.ServiceName(), func(t *testing.T) {
			f, err := SystemdUnit(NewPaths(true, ""), r)
			if err != nil {
				t.Fatal(err)
			}
			if f.Path != "/etc/systemd/system/"+r.ServiceName()+".service" || f.Mode != 0o644 {
				t.Errorf("%s %o", f.Path, f.Mode)
			}
			golden(t, r.ServiceName()+".service", f.Data)
			// Every directive §3 lists, word for word.
			wantType := map[Role]string{RoleServerFirst: "Type=notify", RoleAgent: "Type=exec"}[r]
			for _, d := range []string{wantType, "EnvironmentFile=-/etc/default/%N", "EnvironmentFile=-/etc/sysconfig/%N",
				"EnvironmentFile=-/etc/systemd/system/%N.service.env", "KillMode=process", "Delegate=yes",
				"LimitNOFILE=1048576", "LimitNPROC=infinity", "LimitCORE=infinity", "TasksMax=infinity",
				"TimeoutStartSec=0", "Restart=always", "RestartSec=5s", "ExecStartPre=-/sbin/modprobe br_netfilter",
				"ExecStartPre=-/sbin/modprobe overlay", "ExecStart=/usr/local/bin/k3s " + r.Subcommand()} {
				if !strings.Contains(string(f.Data), "\n"+d+"\n") {
					t.Errorf("unit lacks %q", d)
				}
			}
		})
	}
}

// TestSystemdUnitVerifies has systemd itself parse the unit, with a stand-in binary at ExecStart.
func TestSystemdUnitVerifies(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("systemd-analyze not installed")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "k3s"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := SystemdUnit(Paths{BinDir: bin, DataDir: DefaultDataDir}, RoleServerFirst)
	if err != nil {
		t.Fatal(err)
	}
	unit := filepath.Join(dir, "k3s.service")
	if err := os.WriteFile(unit, f.Data, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("systemd-analyze", "verify", "--man=no", unit).CombinedOutput()
	// verify also reports unrelated units of the host; only lines about our unit count.
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "k3s.service") {
			t.Errorf("systemd-analyze: %s", l)
		}
	}
	if err != nil && !strings.Contains(string(out), "k3s.service") {
		t.Logf("systemd-analyze exited %v (host noise only):\n%s", err, out)
	}
}

func TestOpenRCGolden(t *testing.T) {
	for _, r := range []Role{RoleServerJoin, RoleAgent} {
		t.Run(r.ServiceName(), func(t *testing.T) {
			f, err := OpenRCService(NewPaths(false, ""), r)
			if err != nil {
				t.Fatal(err)
			}
			if f.Path != "/etc/init.d/"+r.ServiceName() || f.Mode != 0o755 {
				t.Errorf("%s %o", f.Path, f.Mode)
			}
			golden(t, "openrc-"+r.ServiceName(), f.Data)
			shellSyntax(t, "sh", f.Data)
			for _, want := range []string{"supervisor=supervise-daemon", `command="/opt/bin/k3s"`,
				"/var/log/" + r.ServiceName() + ".log", "/etc/rancher/k3s/" + r.ServiceName() + ".env"} {
				if !strings.Contains(string(f.Data), want) {
					t.Errorf("script lacks %q", want)
				}
			}
		})
	}
}

func TestUnsafeBinDirRefused(t *testing.T) {
	for _, dir := range []string{"/usr/local/bin; rm -rf /", "relative/bin", "/a b"} {
		if _, err := SystemdUnit(Paths{BinDir: dir, DataDir: DefaultDataDir}, RoleAgent); !errors.Is(err, ErrUnsafeValue) {
			t.Errorf("%q: err = %v", dir, err)
		}
	}
}

func TestEnvFile(t *testing.T) {
	f, err := EnvFile(SystemdEnvFile(RoleServerFirst), map[string]string{"NO_PROXY": "10.0.0.0/8,.svc", "HTTP_PROXY": "", "K3S_DEBUG": "true"})
	if err != nil {
		t.Fatal(err)
	}
	if f.Mode != 0o600 || f.Path != "/etc/systemd/system/k3s.service.env" {
		t.Errorf("%s %o", f.Path, f.Mode)
	}
	golden(t, "k3s.service.env", f.Data)
	// sh must read it back as the same values (OpenRC sources it).
	out, err := exec.Command("sh", "-c", `set -a; . "$0"; printf '%s|%s|%s' "$NO_PROXY" "$HTTP_PROXY" "$K3S_DEBUG"`,
		writeTemp(t, f.Data)).Output()
	if err != nil || string(out) != "10.0.0.0/8,.svc||true" {
		t.Errorf("sourced: %q %v", out, err)
	}
	for name, env := range map[string]map[string]string{
		"bad name": {"1X": "v"}, "quote": {"X": "it's"}, "newline": {"X": "a\nb"}, "semicolon name": {"X;Y": ""},
	} {
		if _, err := EnvFile("/x", env); !errors.Is(err, ErrUnsafeValue) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

func writeTemp(t *testing.T, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// shellSyntax runs `<shell> -n` on the script: a parse error would only show on the host, at reset time.
func shellSyntax(t *testing.T, shell string, script []byte) {
	t.Helper()
	if out, err := exec.Command(shell, "-n", writeTemp(t, script)).CombinedOutput(); err != nil {
		t.Errorf("%s -n: %v\n%s", shell, err, out)
	}
}
