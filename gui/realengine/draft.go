package realengine

import (
	"fmt"
	"net"
	"strconv"

	"github.com/ferry-delivery/ferry/gui/engine"
	"github.com/ferry-delivery/ferry/installer/site"
)

// Draft is a site the wizard opens pre-filled on its Machines screen: a name and hosts, nothing accepted
// yet. Notes say what the file held that the wizard does not take over.
type Draft struct {
	Name  string
	Hosts []engine.Host
	Notes []string
}

// LoadSiteDraft reads a site.yaml (the file ferryctl uses; docs/site-file.md) as a wizard draft: each
// host's effective login (its own fields over the site's defaults), its key file resolved against the
// site file's folder, and its jump host. Host keys are not taken from anywhere: the user accepts each
// one on first contact, comparing the fingerprint with one from a trusted source. Secrets are never in a
// site file; a host that logs in with a password or a passphrase-protected key asks for it on screen.
func LoadSiteDraft(path string) (Draft, error) {
	s, err := site.Load(path)
	if err != nil {
		return Draft{}, fmt.Errorf("reading the site draft: %w", err)
	}
	d := Draft{Name: s.Name}
	for _, h := range s.Hosts {
		l := s.Login(h)
		eh := engine.Host{Name: h.Name, Address: h.Address, Port: l.Port, User: l.User, Role: engine.Role(h.Role),
			KeyPath: s.Path(l.Auth.KeyFile), Sudo: l.Sudo != nil && *l.Sudo}
		if l.Auth.PasswordEnv != "" || l.Auth.PasswordPrompt {
			d.Notes = append(d.Notes, fmt.Sprintf("%s logs in with a password: type it on the Machines screen", h.Name))
		}
		if l.Auth.SudoPasswordEnv != "" {
			d.Notes = append(d.Notes, fmt.Sprintf("%s: a separate sudo password is not supported by the wizard; its login password is used for sudo", h.Name))
		}
		if j := s.Jump(h); j != nil {
			jl := s.JumpLogin(j)
			eh.JumpHost = net.JoinHostPort(j.Address, strconv.Itoa(jl.Port))
			if jl.User != l.User || jl.Auth != l.Auth {
				// The bastion logs in as someone else: its own login, secrets typed on screen.
				eh.JumpLogin = &engine.Login{User: jl.User, KeyPath: s.Path(jl.Auth.KeyFile),
					PasswordAuth: jl.Auth.PasswordEnv != "" || jl.Auth.PasswordPrompt, KeyEncrypted: jl.Auth.KeyPassphraseEnv != ""}
				if eh.JumpLogin.PasswordAuth {
					d.Notes = append(d.Notes, fmt.Sprintf("%s: its jump host logs in with a password: type it on the Machines screen", h.Name))
				}
			}
		}
		d.Hosts = append(d.Hosts, eh)
	}
	if len(s.K3s.TLSSAN) > 0 || len(s.K3s.Disable) > 0 || s.K3s.DataDir != "" {
		d.Notes = append(d.Notes, "the site file's k3s settings (tlsSAN, disable, dataDir) are not used by the wizard: it installs with the bundle's k3s settings")
	}
	return d, nil
}
