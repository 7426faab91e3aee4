package realengine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"

	xssh "golang.org/x/crypto/ssh"
	"sigs.k8s.io/yaml"

	"github.com/ferry-delivery/ferry/gui/engine"
	"github.com/ferry-delivery/ferry/installer"
	"github.com/ferry-delivery/ferry/installer/preflight"
	"github.com/ferry-delivery/ferry/installer/site"
	"github.com/ferry-delivery/ferry/installer/ssh"
	"github.com/ferry-delivery/ferry/internal/progress"
)

// siteMap is the installer's view of a wizard site: a validated site.Site, the secrets the site file
// names by environment variable (served from memory, never the real environment), and the wizard's
// host names for the installer's.
type siteMap struct {
	site    *site.Site
	secrets map[string]string
	names   map[string]string // installer host name -> wizard host name
	// accepted are the SHA256 fingerprints of the keys the user accepted.
	accepted []string
}

var badNameRE = regexp.MustCompile(`[^a-z0-9-]+`)

// dnsName makes a wizard name (free text) into the installer's lower-case name.
func dnsName(s, fallback string) string {
	n := strings.Trim(badNameRE.ReplaceAllString(strings.ToLower(s), "-"), "-")
	if len(n) > 63 {
		n = strings.Trim(n[:63], "-")
	}
	if n == "" {
		return fallback
	}
	return n
}

// toSite builds the installer's site for s; the records dir (known_hosts, audit log) is the wizard's site
// record folder.
func toSite(s engine.Site) (*siteMap, error) {
	m := &siteMap{secrets: map[string]string{}, names: map[string]string{}}
	out := site.Site{Name: dnsName(s.Name, "site"), Records: s.Dir}
	for i, h := range s.Hosts {
		n := dnsName(h.Name, fmt.Sprintf("host-%d", i+1))
		if _, dup := m.names[n]; dup {
			n = fmt.Sprintf("%s-%d", n, i+1)
		}
		m.names[n] = h.Name
		if pk, _, _, _, err := xssh.ParseAuthorizedKey([]byte(keyPart(h.HostKey))); h.HostKey != "" && err == nil {
			m.accepted = append(m.accepted, xssh.FingerprintSHA256(pk))
		}
		sudo := h.Sudo
		sh := site.Host{Name: n, Address: h.Address, Role: string(h.Role),
			Login: site.Login{User: h.User, Port: h.Port, Sudo: &sudo, Auth: site.Auth{KeyFile: h.KeyPath}}}
		if h.Role == "" {
			sh.Role = site.RoleServer
		}
		if h.KeyPassphrase != "" {
			env := fmt.Sprintf("FERRY_WIZARD_%d_KEY_PASSPHRASE", i)
			sh.Auth.KeyPassphraseEnv, m.secrets[env] = env, h.KeyPassphrase
		}
		if h.Password != "" {
			env := fmt.Sprintf("FERRY_WIZARD_%d_PASSWORD", i)
			sh.Auth.PasswordEnv, m.secrets[env] = env, h.Password
		}
		if h.SudoPassword != "" {
			env := fmt.Sprintf("FERRY_WIZARD_%d_SUDO_PASSWORD", i)
			sh.Auth.SudoPasswordEnv, m.secrets[env] = env, h.SudoPassword
		}
		if err := missingSecret(h); err != nil {
			return nil, err
		}
		if h.KeyPath == "" && h.Password == "" {
			sh.Auth.Agent = true
		}
		if h.JumpHost != "" {
			j, err := parseJump(h.JumpHost)
			if err != nil {
				return nil, fmt.Errorf("reading host %s: %w", h.Name, err)
			}
			if l := h.JumpLogin; l != nil {
				// The bastion's own login; its secrets served from memory like the host's.
				j.User, j.Auth = l.User, site.Auth{KeyFile: l.KeyPath}
				if l.KeyPassphrase != "" {
					env := fmt.Sprintf("FERRY_WIZARD_%d_JUMP_KEY_PASSPHRASE", i)
					j.Auth.KeyPassphraseEnv, m.secrets[env] = env, l.KeyPassphrase
				}
				if l.Password != "" {
					env := fmt.Sprintf("FERRY_WIZARD_%d_JUMP_PASSWORD", i)
					j.Auth.PasswordEnv, m.secrets[env] = env, l.Password
				}
				if l.KeyPath == "" && l.Password == "" {
					j.Auth.Agent = true
				}
			} else {
				// No login of its own: the host's credentials (and user, unless an older record names one
				// in the address).
				j.Auth = sh.Auth
				j.Auth.SudoPasswordEnv = "" // nothing runs on a bastion
				if j.User == "" {
					j.User = h.User
				}
			}
			sh.JumpHost = j
			if pk, _, _, _, err := xssh.ParseAuthorizedKey([]byte(keyPart(h.JumpHostKey))); h.JumpHostKey != "" && err == nil {
				m.accepted = append(m.accepted, xssh.FingerprintSHA256(pk))
			}
		}
		out.Hosts = append(out.Hosts, sh)
	}
	// Round-trip through the site file parser: the installer's validation (names, roles, an odd number
	// of servers) applies to the wizard exactly as to a site.yaml.
	doc, err := yaml.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("building the site: %w", err)
	}
	if m.site, err = site.Parse(doc); err != nil {
		return nil, fmt.Errorf("checking the site: %w", err)
	}
	return m, nil
}

// missingSecret refuses a host whose record says it needs a secret the wizard did not hand over (a
// reopened site before the user entered it): better said plainly than tried against the host.
func missingSecret(h engine.Host) error {
	switch {
	case h.PasswordAuth && h.Password == "":
		return fmt.Errorf("logging into %s: %w: it logs in with a password and none was entered", h.Name, engine.ErrAuth)
	case h.KeyEncrypted && h.KeyPassphrase == "":
		return fmt.Errorf("logging into %s: %w: its key file %s needs a passphrase and none was entered", h.Name, engine.ErrAuth, h.KeyPath)
	case h.SudoAsks && h.SudoPassword == "":
		return fmt.Errorf("logging into %s: %w: its sudo asks for a password and none was entered", h.Name, engine.ErrAuth)
	}
	if l := h.JumpLogin; l != nil && h.JumpHost != "" {
		switch {
		case l.PasswordAuth && l.Password == "":
			return atJump{fmt.Errorf("logging into the jump host %s of %s: %w: it logs in with a password and none was entered", h.JumpHost, h.Name, engine.ErrAuth)}
		case l.KeyEncrypted && l.KeyPassphrase == "":
			return atJump{fmt.Errorf("logging into the jump host %s of %s: %w: its key file %s needs a passphrase and none was entered", h.JumpHost, h.Name, engine.ErrAuth, l.KeyPath)}
		}
	}
	return nil
}

// parseJump reads the wizard's "user@host:port" jump host.
func parseJump(s string) (*site.Jump, error) {
	j := &site.Jump{}
	if u, rest, ok := strings.Cut(s, "@"); ok {
		j.User, s = u, rest
	}
	if hst, p, err := net.SplitHostPort(s); err == nil {
		port, err := strconv.Atoi(p)
		if err != nil || port <= 0 || port > 65535 {
			return nil, fmt.Errorf("jump host %q: bad port", s)
		}
		j.Address, j.Port = hst, port
	} else {
		j.Address = s
	}
	if j.Address == "" {
		return nil, fmt.Errorf("jump host is empty: write user@host:port")
	}
	return j, nil
}

func (m *siteMap) getenv(name string) string { return m.secrets[name] }

// wizardName maps the installer's host name back to the wizard's.
func (m *siteMap) wizardName(n string) string {
	if w, ok := m.names[n]; ok {
		return w
	}
	return n
}

func (e *Engine) preflightOptions(m *siteMap, b engine.Bundle, sink progress.Sink) installer.PreflightOptions {
	o := installer.PreflightOptions{Options: e.o.Installer}
	o.Getenv, o.Prompt, o.Progress = m.getenv, nil, sink
	// The keys the user accepted on the Machines screen live in Host.HostKey; the record's known_hosts is
	// only rewritten when the site is saved. Accepting their fingerprints lets the installer record them
	// in the site's known_hosts on first use, while a key that differs from a recorded one still stops.
	o.AcceptHostKeys = m.accepted
	for _, p := range b.Platforms {
		o.Platforms = append(o.Platforms, strings.TrimPrefix(p, "linux/"))
	}
	for _, img := range b.Images {
		o.NeedData += img.Bytes
	}
	return o
}

// Preflight runs the installer's checks on every host and returns one row per host and check. A host that
// cannot be reached is a failed "connect" row whose fix says what to do (accept its key, fix the login).
func (e *Engine) Preflight(ctx context.Context, s engine.Site, b engine.Bundle) ([]engine.Check, error) {
	m, err := toSite(s)
	if err != nil {
		return nil, err
	}
	rep, err := installer.Preflight(ctx, m.site, e.preflightOptions(m, b, nil))
	if err != nil {
		return nil, err
	}
	return m.checks(rep), nil
}

// ApplyFixes re-runs preflight with consent for exactly the fixes of the given checks (a fix's kind is
// the id of the check that offers it).
func (e *Engine) ApplyFixes(ctx context.Context, s engine.Site, checks []engine.Check, sink progress.Sink) error {
	m, err := toSite(s)
	if err != nil {
		return err
	}
	want := map[[2]string]bool{}
	for _, c := range checks {
		if c.Fixable {
			want[[2]string{c.Host, c.ID}] = true
		}
	}
	o := e.preflightOptions(m, engine.Bundle{}, k3sSink(sink))
	o.Consent = func(fixes []preflight.Fix) []preflight.Fix {
		var ok []preflight.Fix
		for _, f := range fixes {
			if want[[2]string{m.wizardName(f.Host), string(f.Kind)}] {
				ok = append(ok, f)
			}
		}
		return ok
	}
	rep, err := installer.Preflight(ctx, m.site, o)
	if err != nil {
		return fmt.Errorf("applying fixes: %w", err)
	}
	var errs []error
	for n, err := range rep.Unreachable {
		errs = append(errs, hostErr(m.wizardName(n), err))
	}
	if len(errs) > 0 {
		return fmt.Errorf("applying fixes: %w", errors.Join(errs...))
	}
	return nil
}

// CheckTitles returns every preflight check id the real engine reports, with its English title (the
// wizard translates them by id).
func CheckTitles() map[string]string {
	out := make(map[string]string, len(checkTitles))
	for id, t := range checkTitles {
		out[id] = t
	}
	return out
}

var checkTitles = func() map[string]string {
	t := map[string]string{"connect": "SSH connection"}
	for _, c := range preflight.Checks {
		t[c.ID] = c.Title
	}
	for _, c := range preflight.CrossChecks {
		t[c.ID] = c.Title
	}
	return t
}()

// checks turns a preflight report into the wizard's table rows: unreachable hosts first (nothing else is
// known about them), then the results in the installer's order.
func (m *siteMap) checks(rep *installer.PreflightReport) []engine.Check {
	var out []engine.Check
	for _, h := range m.site.Hosts {
		err, ok := rep.Unreachable[h.Name]
		if !ok {
			continue
		}
		out = append(out, engine.Check{Host: m.wizardName(h.Name), ID: "connect", Title: checkTitles["connect"],
			Severity: engine.Fail, Detail: err.Error(), Fix: connectFix(err)})
	}
	for _, r := range rep.Results {
		c := engine.Check{Host: m.wizardName(r.Host), ID: r.Check, Title: checkTitles[r.Check], Detail: r.Detail, Fix: r.Fix, Fixable: r.AutoFix != nil}
		switch r.Status {
		case preflight.Pass:
			c.Severity = engine.Pass
		case preflight.Warn:
			c.Severity = engine.Warn
		default:
			c.Severity = engine.Fail
		}
		if c.Title == "" {
			c.Title = r.Check
		}
		out = append(out, c)
	}
	return out
}

// connectFix says, in plain words, what to do about a host preflight could not reach.
func connectFix(err error) string {
	switch {
	case errors.Is(err, ssh.ErrUnknownHostKey):
		return "Go back to Machines, press Test connection and accept the host's key fingerprint."
	case errors.Is(err, ssh.ErrHostKeyMismatch):
		return "The host's key changed. Confirm the new key on the host's console before going on; if it is a reinstalled host, remove and add it again."
	case errors.Is(err, ssh.ErrAuthFailed), errors.Is(err, ssh.ErrPassphraseNeeded):
		if errors.As(err, new(*ssh.JumpError)) {
			return "The jump host refused its login: on Machines, check the jump host's own user, key file or password."
		}
		return "Check the user, key file or password of this machine."
	default:
		return "Check that the machine is on, reachable from this laptop and that sshd listens on the port given."
	}
}

// hostErr wraps an installer error for one host with the wizard's sentinel (and ErrJumpHost when the
// failure was at the host's bastion).
func hostErr(name string, err error) error {
	var je *ssh.JumpError
	if errors.As(err, &je) {
		return atJump{hostErr1(name, err)}
	}
	return hostErr1(name, err)
}

func hostErr1(name string, err error) error {
	switch {
	case errors.Is(err, ssh.ErrHostKeyMismatch):
		return fmt.Errorf("%s: %w: %w", name, engine.ErrHostKeyMismatch, err)
	case errors.Is(err, ssh.ErrAuthFailed), errors.Is(err, ssh.ErrPassphraseNeeded):
		return fmt.Errorf("%s: %w: %w", name, engine.ErrAuth, err)
	default:
		return fmt.Errorf("%s: %w: %w", name, engine.ErrUnreachable, err)
	}
}
