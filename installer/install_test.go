package installer

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ferry-delivery/ferry/installer/host"
	"github.com/ferry-delivery/ferry/installer/host/hosttest"
	"github.com/ferry-delivery/ferry/installer/k3s"
	"github.com/ferry-delivery/ferry/installer/phase"
	"github.com/ferry-delivery/ferry/installer/preflight"
)

// shellHost runs every command with this machine's sh: the file paths under test are temp paths.
func shellHost(t *testing.T) *hosttest.Fake {
	f := hosttest.New("h1", t.TempDir())
	f.Handler = func(c host.Cmd) (host.Result, error) {
		cmd := exec.Command("sh", "-c", c.Line)
		cmd.Stdin = c.Stdin
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		r := host.Result{Stdout: out.Bytes(), Stderr: errb.Bytes()}
		if ee, ok := err.(*exec.ExitError); ok {
			r.ExitCode = ee.ExitCode()
			return r, &host.ExitError{Host: "h1", Line: c.Line, ExitCode: r.ExitCode, Stderr: errb.String()}
		}
		return r, err
	}
	return f
}

// A file is written once, atomically with its mode; identical content and mode is a no-op; a changed
// mode or content is rewritten. The content never appears in a command line.
func TestWriteHostFile(t *testing.T) {
	h := shellHost(t)
	p := filepath.Join(t.TempDir(), "etc", "rancher", "k3s", "ferry-token")
	secret := "s3cret-token-value"
	f := k3s.File{Path: p, Mode: 0o600, Data: []byte(secret + "\n")}
	ctx := context.Background()
	for i, want := range []bool{true, false} {
		wrote, err := writeHostFile(ctx, h, f)
		if err != nil {
			t.Fatal(err)
		}
		if wrote != want {
			t.Fatalf("write %d: wrote %v, want %v", i, wrote, want)
		}
	}
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v %v", fi, err)
	}
	if b, _ := os.ReadFile(p); string(b) != secret+"\n" {
		t.Fatalf("content %q", b)
	}
	os.Chmod(p, 0o644)
	if wrote, err := writeHostFile(ctx, h, f); err != nil || !wrote {
		t.Fatalf("mode drift not repaired: %v %v", wrote, err)
	}
	f.Data = []byte("other\n")
	if wrote, err := writeHostFile(ctx, h, f); err != nil || !wrote {
		t.Fatalf("content change not written: %v %v", wrote, err)
	}
	ents, _ := os.ReadDir(filepath.Dir(p))
	if len(ents) != 1 {
		t.Fatalf("temporary files left: %v", ents)
	}
	for _, c := range h.Cmds() {
		if bytes.Contains([]byte(c.Line), []byte(secret)) {
			t.Fatalf("secret in a command line: %s", c.Line)
		}
	}
}

// Every server's address is in tls-san (the kubeconfig points at the first); the first server inits,
// the others join, agents are agents.
func TestClusterDefinition(t *testing.T) {
	s := writeSite(t, `
name: three
defaults: {auth: {agent: true}}
hosts:
  - {name: s1, address: 10.0.0.1, role: server}
  - {name: s2, address: 10.0.0.2, role: server}
  - {name: s3, address: 10.0.0.4, role: server}
  - {name: a1, address: 10.0.0.3, role: agent}
k3s: {tlsSAN: [k8s.example.org, 10.0.0.2], disable: [traefik]}
`)
	c := &cluster{st: &state{site: s}}
	d := c.definition()
	if diff := cmp.Diff([]string{"k8s.example.org", "10.0.0.2", "10.0.0.1", "10.0.0.4"}, d.TLSSAN); diff != "" {
		t.Errorf("tls-san (-want +got):\n%s", diff)
	}
	if d.FirstServer != "10.0.0.1" || !slices.Equal(d.Disable, []string{"traefik"}) {
		t.Errorf("definition %+v", d)
	}
	got := map[string]k3s.Role{}
	for _, h := range s.Hosts {
		got[h.Name] = c.role(h)
	}
	if diff := cmp.Diff(map[string]k3s.Role{"s1": k3s.RoleServerFirst, "s2": k3s.RoleServerJoin, "s3": k3s.RoleServerJoin, "a1": k3s.RoleAgent}, got); diff != "" {
		t.Errorf("roles (-want +got):\n%s", diff)
	}
}

// The vendor's disable list (from the bundle's manifest) is added to the site's, each name once; the
// caller's site is untouched and the readiness plan skips the add-ons either list disabled.
func TestBundleDisableJoinsSiteDisable(t *testing.T) {
	s := writeSite(t, `
name: one
defaults: {auth: {agent: true}}
hosts:
  - {name: s1, address: 10.0.0.1, role: server}
k3s: {disable: [traefik]}
`)
	got := withDisable(s, []string{"servicelb", "traefik", "metrics-server"})
	if diff := cmp.Diff([]string{"traefik", "servicelb", "metrics-server"}, got.K3s.Disable); diff != "" {
		t.Errorf("disable (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"traefik"}, s.K3s.Disable); diff != "" {
		t.Errorf("caller's site changed (-want +got):\n%s", diff)
	}
	if d := (&cluster{st: &state{site: got}}).definition(); !slices.Equal(d.Disable, got.K3s.Disable) {
		t.Errorf("definition disable %v, want %v", d.Disable, got.K3s.Disable)
	}
	if withDisable(s, nil) != s {
		t.Error("no vendor list: the site itself should be used")
	}
}

func TestInstallSteps(t *testing.T) {
	want := []string{"Connect to hosts", "Gather host facts", "Preflight checks", "Prepare the cluster token", "Upload k3s and its air-gap images",
		"Start the first server", "Join the other servers", "Join the agents", "Wait for the cluster to be ready", "Fetch the kubeconfig"}
	if diff := cmp.Diff(want, InstallSteps()); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
}

// The token is generated once and kept 0600; a second run reads the same one; a token record readable by
// others is refused.
func TestTokenRecord(t *testing.T) {
	s := writeSite(t, fakeSite)
	run := func() (k3s.Token, error) {
		st := &state{site: s}
		st.m = &phase.Manager{}
		c := &cluster{st: st}
		p := &tokenPhase{c: c, m: st.m}
		err := p.Run(context.Background())
		return c.token, err
	}
	t1, err := run()
	if err != nil {
		t.Fatal(err)
	}
	t2, err := run()
	if err != nil || t1.Secret() != t2.Secret() || len(t1.Password) != 64 {
		t.Fatalf("second run: %v, same token %v", err, t1.Secret() == t2.Secret())
	}
	f := filepath.Join(s.RecordsDir(), TokenRecord)
	if fi, _ := os.Stat(f); fi.Mode().Perm() != 0o600 {
		t.Fatalf("token record mode %v", fi.Mode())
	}
	os.Chmod(f, 0o644)
	if _, err := run(); err == nil {
		t.Fatal("a world-readable token record was accepted")
	}
}

// A host with another site's k3s, or a k3s with neither marker nor created list, is refused before any
// write; this site's interrupted install (created list, no marker yet) resumes.
func TestForeignK3sRefused(t *testing.T) {
	s := writeSite(t, fakeSite)
	c := &cluster{st: &state{site: s, m: &phase.Manager{}}}
	paths := k3s.NewPaths(true, k3s.DefaultDataDir)
	for _, tc := range []struct {
		name    string
		k3s     preflight.K3sFacts
		list    string
		refused bool
	}{
		{"bare host", preflight.K3sFacts{}, "", false},
		{"other site", preflight.K3sFacts{Site: "elsewhere", Files: []string{"/usr/local/bin/k3s"}}, "/etc/rancher\n", true},
		{"not Ferry's", preflight.K3sFacts{Files: []string{"/usr/local/bin/k3s"}, Running: []string{"k3s-server"}}, "", true},
		{"own, interrupted", preflight.K3sFacts{Files: []string{"/usr/local/bin/k3s"}}, "/usr/local/bin/k3s\n", false},
		{"own, finished", preflight.K3sFacts{Site: s.Name, Files: []string{"/usr/local/bin/k3s"}}, "/usr/local/bin/k3s\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := hosttest.New("cp1", t.TempDir())
			h.Handler = func(cmd host.Cmd) (host.Result, error) {
				if cmd.ReadOnly {
					return host.Result{Stdout: []byte(tc.list + "#missing\n")}, nil // nothing missing
				}
				return host.Result{}, nil
			}
			err := c.recordCreated(context.Background(), "t", h, &preflight.Facts{Host: "cp1", K3s: tc.k3s}, paths, k3s.RoleServerFirst)
			if got := errors.Is(err, ErrForeignK3s); got != tc.refused {
				t.Fatalf("refused %v (%v), want %v", got, err, tc.refused)
			}
			for _, cmd := range h.Cmds() {
				if !cmd.ReadOnly && tc.refused {
					t.Fatalf("wrote on a refused host: %s", cmd.Line)
				}
			}
		})
	}
}
