package installer

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ferry-delivery/ferry/installer/host"
	"github.com/ferry-delivery/ferry/installer/host/hosttest"
	"github.com/ferry-delivery/ferry/installer/k3s"
	"github.com/ferry-delivery/ferry/installer/phase"
	"github.com/ferry-delivery/ferry/installer/preflight"
	"github.com/ferry-delivery/ferry/installer/site"
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
	// Every phase has a stable id, unique within the install, in the same order as the titles.
	seen := map[string]bool{}
	for i, s := range InstallPhases() {
		if s.ID == "" || seen[s.ID] || s.Title != want[i] {
			t.Errorf("phase %d: %+v: want a unique non-empty id and title %q", i, s, want[i])
		}
		seen[s.ID] = true
	}
}

// tokenSite adds two servers to fakeSite, so the token can be found on one after the first.
const tokenSite = fakeSite + `  - {name: cp2, address: 10.0.0.4, role: server}
  - {name: cp3, address: 10.0.0.5, role: server}
`

// tokenCluster is a cluster of connected fakes, one per host of s, for the token phases.
func tokenCluster(t *testing.T, s *site.Site, dry bool) (*cluster, map[string]*hosttest.Fake) {
	st := &state{site: s, hosts: map[string]host.Host{}, facts: map[string]*preflight.Facts{}}
	st.m = &phase.Manager{DryRun: dry}
	fakes := map[string]*hosttest.Fake{}
	for _, h := range s.Hosts {
		f := hosttest.New(h.Name, t.TempDir())
		fakes[h.Name] = f
		st.hosts[h.Name] = f
		st.facts[h.Name] = &preflight.Facts{Host: h.Name, UsrLocalBinWritable: true}
	}
	return &cluster{st: st}, fakes
}

// putFile writes a file on a fake host.
func putFile(t *testing.T, f *hosttest.Fake, p string, data []byte, mode os.FileMode) {
	t.Helper()
	l := filepath.Join(f.Root, filepath.FromSlash(p))
	if err := os.MkdirAll(filepath.Dir(l), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(l, data, mode); err != nil {
		t.Fatal(err)
	}
}

// The laptop never stores the cluster token: a fresh site gets a new one (kept in memory only); a site
// whose servers have one reads it back from the first server that has it, its own server/token (full
// form) before Ferry's token-file (the short form the first server gets before its first start); a host
// whose token cannot be read stops the phase rather than splitting the cluster with a new token.
func TestTokenFromServers(t *testing.T) {
	paths := k3s.NewPaths(true, k3s.DefaultDataDir)
	full := "K10" + strings.Repeat("ab", 32) + "::server:" + strings.Repeat("5", 64)
	short := strings.Repeat("7", 64)
	for _, tc := range []struct {
		name     string
		files    map[string]map[string]string // host -> path -> content
		dirAt    string                       // a directory where cp1's server/token should be: unreadable
		dry      bool
		want     string // the token's secret; "new" for a generated one
		wantFrom string
		wantErr  bool
	}{
		{name: "fresh site", want: "new"},
		{name: "fresh site, dry run", dry: true, want: "new"},
		{name: "interrupted before the first start", files: map[string]map[string]string{"cp1": {k3s.TokenFile: short + "\n"}}, want: short, wantFrom: "cp1"},
		{name: "first server started", files: map[string]map[string]string{"cp1": {k3s.TokenFile: short + "\n", paths.ServerToken(): full + "\n"}}, want: full, wantFrom: "cp1"},
		{name: "first server reset, third has it", files: map[string]map[string]string{"cp3": {paths.ServerToken(): full + "\n"}}, want: full, wantFrom: "cp3"},
		{name: "agents are not asked", files: map[string]map[string]string{"a1": {k3s.TokenFile: full + "\n"}}, want: "new"},
		{name: "unreadable token", dirAt: paths.ServerToken(), files: map[string]map[string]string{"cp2": {paths.ServerToken(): full + "\n"}}, wantErr: true},
		{name: "garbage token", files: map[string]map[string]string{"cp1": {paths.ServerToken(): "K10nothex::x\n"}}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := writeSite(t, tokenSite)
			c, fakes := tokenCluster(t, s, tc.dry)
			for hn, files := range tc.files {
				for p, d := range files {
					putFile(t, fakes[hn], p, []byte(d), 0o600)
				}
			}
			if tc.dirAt != "" {
				os.MkdirAll(filepath.Join(fakes["cp1"].Root, filepath.FromSlash(tc.dirAt)), 0o700)
			}
			err := (&tokenPhase{c: c, m: c.st.m}).Run(context.Background())
			if tc.wantErr {
				if err == nil {
					t.Fatalf("no error; token from %q", c.tokenFrom)
				}
				if c.token != (k3s.Token{}) {
					t.Fatal("a token was chosen although a server's could not be read")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == "new" {
				if len(c.token.Password) != 64 || c.token.CAHash != "" || c.token.Password == short || c.tokenFrom != "" {
					t.Fatalf("want a new short token, got %v from %q", c.token, c.tokenFrom)
				}
			} else if c.token.Secret() != tc.want || c.tokenFrom != tc.wantFrom {
				t.Fatalf("token %v from %q, want %q's", c.token, c.tokenFrom, tc.wantFrom)
			}
			if ents, _ := os.ReadDir(s.RecordsDir()); len(ents) != 0 {
				t.Errorf("the token phase wrote to the laptop's records: %v", ents)
			}
			for n, f := range fakes {
				for _, cmd := range f.Cmds() {
					if !cmd.ReadOnly || strings.Contains(cmd.Line, c.token.Password) {
						t.Errorf("%s: command %q (read-only %v)", n, cmd.Line, cmd.ReadOnly)
					}
				}
			}
		})
	}
}

// A site installed by an older Ferry keeps working: its token record is used (mode 0600 required), and
// removed only once the first server shows the same token and a CA that token pins; a different token on
// the server is a foreign cluster and the record stays; a dry run removes nothing.
func TestLegacyTokenRecordMigrates(t *testing.T) {
	ca, err := os.ReadFile("k3s/testdata/server-ca.crt") // a real self-signed CA
	if err != nil {
		t.Fatal(err)
	}
	pw := strings.Repeat("c", 64)
	tok, err := k3s.Token{Password: pw}.WithCA(ca)
	if err != nil {
		t.Fatal(err)
	}
	paths := k3s.NewPaths(true, k3s.DefaultDataDir)
	for _, tc := range []struct {
		name       string
		record     string
		mode       os.FileMode
		server     string // cp1's server/token; "" for none yet
		dry        bool
		wantErr    error
		recordKept bool
	}{
		{name: "server confirms", record: pw, mode: 0o600, server: tok.Secret()},
		{name: "full-form record", record: tok.Secret(), mode: 0o600, server: tok.Secret()},
		{name: "dry run", record: pw, mode: 0o600, server: tok.Secret(), dry: true, recordKept: true},
		{name: "server has another token", record: pw, mode: 0o600, server: "K10" + tok.CAHash + "::server:" + strings.Repeat("d", 64), wantErr: ErrForeignCluster, recordKept: true},
		{name: "loose record refused", record: pw, mode: 0o644, recordKept: true, wantErr: fs.ErrPermission},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := writeSite(t, tokenSite)
			c, fakes := tokenCluster(t, s, tc.dry)
			rec := filepath.Join(s.RecordsDir(), LegacyTokenRecord)
			os.MkdirAll(s.RecordsDir(), 0o700)
			if err := os.WriteFile(rec, []byte(tc.record+"\n"), tc.mode); err != nil {
				t.Fatal(err)
			}
			os.Chmod(rec, tc.mode)
			// cp2 holds some other token: the record wins over asking the servers.
			putFile(t, fakes["cp2"], paths.ServerToken(), []byte("K10"+tok.CAHash+"::server:"+strings.Repeat("e", 64)+"\n"), 0o600)
			if tc.server != "" {
				putFile(t, fakes["cp1"], paths.ServerToken(), []byte(tc.server+"\n"), 0o600)
				putFile(t, fakes["cp1"], paths.DataDir+"/server/tls/server-ca.crt", ca, 0o644)
			}
			err := (&tokenPhase{c: c, m: c.st.m}).Run(context.Background())
			if err == nil {
				if c.token.Password != pw || !c.legacyToken {
					t.Fatalf("record not used: %v legacy=%v", c.token, c.legacyToken)
				}
				err = c.adoptServerToken(context.Background(), "Start the first server", fakes["cp1"])
			}
			switch {
			case tc.wantErr == ErrForeignCluster && !errors.Is(err, ErrForeignCluster):
				t.Fatalf("error %v, want ErrForeignCluster", err)
			case tc.wantErr == fs.ErrPermission && (err == nil || !strings.Contains(err.Error(), "chmod 600")):
				t.Fatalf("loose record: %v", err)
			case tc.wantErr == nil && err != nil:
				t.Fatal(err)
			case tc.wantErr == nil && c.token.Secret() != tok.Secret():
				t.Fatalf("joiners would get %v, want the server's full token", c.token)
			}
			if _, serr := os.Stat(rec); (serr == nil) != tc.recordKept {
				t.Fatalf("record kept %v, want %v", serr == nil, tc.recordKept)
			}
		})
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
