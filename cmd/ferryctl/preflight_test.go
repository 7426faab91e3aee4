package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/ferry-delivery/ferry/installer/ssh/sshtest"
)

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{"4GiB": 4 << 30, "500MB": 500e6, "1.5GB": 1.5e9, "123": 123, "10 KiB": 10240} {
		if got, err := parseBytes(in); err != nil || got != want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "lots", "-1GB"} {
		if _, err := parseBytes(bad); err == nil {
			t.Errorf("parseBytes(%q) accepted", bad)
		}
	}
}

func TestPreflightCommand(t *testing.T) {
	s := sshtest.Start(t, sshtest.Options{})
	dir := t.TempDir()
	sitePath := filepath.Join(dir, "site.yaml")
	os.WriteFile(sitePath, []byte(fmt.Sprintf(`name: cli
hosts:
  - {name: n1, address: 127.0.0.1, port: %d, role: server, auth: {keyFile: %s}}
`, s.Port, s.ClientKey)), 0o600)

	out, _, err := run(t, "preflight", "--site", sitePath)
	if err == nil || !strings.Contains(strings.Join(strings.Fields(out), " "), "n1 unreachable") || !strings.Contains(out, "--accept-host-key "+s.Fingerprint) {
		t.Fatalf("unknown host key: err %v, output:\n%s", err, out)
	}
	out, _, err = run(t, "preflight", "--site", sitePath, "--accept-host-key", s.Fingerprint, "--arch", runtime.GOARCH, "--need-data", "1MB", "--need-bin", "1MB")
	lines := strings.Split(out, "\n")
	if !strings.HasPrefix(lines[0], "HOST") || !strings.Contains(lines[0], "PORTS") || !strings.HasPrefix(lines[1], "n1 ") {
		t.Fatalf("table:\n%s", out)
	}
	// This machine is not a pristine k3s host (swap, clock, ports may vary): only the arch, sudo and
	// unique-hostname cells are certain.
	if f := strings.Fields(lines[1]); f[1] != "pass" || f[len(f)-2] != "pass" || f[len(f)-1] != "pass" {
		t.Fatalf("row %q: arch, sudo and hostname should pass", lines[1])
	}
	if err != nil && !strings.Contains(out, "fix:") {
		t.Fatalf("failed without saying what to fix: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "cli.records", "audit.jsonl")); err != nil {
		t.Fatalf("no audit log: %v", err)
	}

	// The bundle's platforms decide the architecture check (it carries amd64 and arm64).
	bundle := smallBundle(t, "")
	out, _, _ = run(t, "preflight", "--site", sitePath, "--bundle", bundle)
	if f := strings.Fields(strings.Split(out, "\n")[1]); f[1] != "pass" {
		t.Fatalf("with a bundle carrying this machine's arch: %q", out)
	}
	out, _, err = run(t, "preflight", "--site", sitePath, "--bundle", bundle, "--arch", "riscv64")
	if f := strings.Fields(strings.Split(out, "\n")[1]); err == nil || f[1] != "FAIL" || !strings.Contains(out, "bundle carries riscv64") {
		t.Fatalf("--arch riscv64 must fail the arch check: %v\n%s", err, out)
	}
	if _, _, err := run(t, "preflight", "--site", sitePath, "--bundle", filepath.Join(dir, "missing.ferry")); err == nil {
		t.Fatal("a missing bundle was accepted")
	}
}

// A jump host with its own login in the site file (another user, another key than the host's): ferryctl
// reaches the host through it with the bastion's credentials; with the host's key on the bastion the host
// is unreachable and the output names the jump host and its user.
func TestPreflightThroughBastionWithItsOwnLogin(t *testing.T) {
	bastion := sshtest.Start(t, sshtest.Options{})
	target := sshtest.Start(t, sshtest.Options{})
	dir := t.TempDir()
	jumpKey := filepath.Join(dir, "bastion_key")
	bastion.Authorize(t, sshtest.BastionUser, sshtest.WriteKey(t, jumpKey, nil))
	sitePath := filepath.Join(dir, "site.yaml")
	write := func(key string) {
		os.WriteFile(sitePath, []byte(fmt.Sprintf(`name: cli
hosts:
  - name: n1
    address: 127.0.0.1
    port: %d
    role: server
    auth: {keyFile: %s}
    jumpHost: {address: 127.0.0.1, port: %d, user: %s, auth: {keyFile: %s}}
`, target.Port, target.ClientKey, bastion.Port, sshtest.BastionUser, key)), 0o600)
	}
	write(jumpKey)
	args := []string{"preflight", "--site", sitePath, "--accept-host-key", target.Fingerprint, "--accept-host-key", bastion.Fingerprint,
		"--arch", runtime.GOARCH, "--need-data", "1MB", "--need-bin", "1MB"}
	out, _, err := run(t, args...)
	lines := strings.Split(out, "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[1], "n1 ") || strings.Fields(lines[1])[1] != "pass" {
		t.Fatalf("through the bastion (err %v):\n%s", err, out)
	}

	write(target.ClientKey) // the host's credentials are not the bastion's
	out, _, err = run(t, args...)
	flat := strings.Join(strings.Fields(out), " ")
	if err == nil || !strings.Contains(flat, "n1 unreachable") || !strings.Contains(flat, "jump host "+bastion.Addr()) ||
		!strings.Contains(flat, `jump host 127.0.0.1`) || !strings.Contains(flat, `refused user "nobody"`) {
		t.Fatalf("bastion refusing the host's key: err %v, output:\n%s", err, out)
	}
}
