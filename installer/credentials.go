package installer

import (
	"fmt"
	"os"
	"sync"

	"github.com/ferry-delivery/ferry/installer/site"
	"github.com/ferry-delivery/ferry/installer/ssh"
)

// secrets resolves the credentials the site file names (environment variables, prompts), asking each
// distinct question once.
type secrets struct {
	o     *Options
	mu    sync.Mutex
	asked map[string][]byte
}

func (s *secrets) env(name, what string) ([]byte, error) {
	get := s.o.Getenv
	if get == nil {
		get = os.Getenv
	}
	v := get(name)
	if v == "" {
		return nil, fmt.Errorf("%s: environment variable %s is empty or unset: export it before running Ferry", what, name)
	}
	return []byte(v), nil
}

func (s *secrets) prompt(label string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.asked[label]; ok {
		return v, nil
	}
	if s.o.Prompt == nil {
		return nil, fmt.Errorf("%s is needed but no prompt is available: name an environment variable in the site file instead", label)
	}
	v, err := s.o.Prompt(label)
	if err != nil {
		return nil, fmt.Errorf("asking for %s: %w", label, err)
	}
	if s.asked == nil {
		s.asked = map[string][]byte{}
	}
	s.asked[label] = v
	return v, nil
}

// sshConfig builds the SSH settings of one host from the site file.
func (st *state) sshConfig(sec *secrets, h site.Host) (ssh.Config, error) {
	l := st.site.Login(h)
	cfg, err := st.login(sec, h.Name, h.Address, l)
	if err != nil {
		return cfg, err
	}
	if j := st.site.Jump(h); j != nil {
		jl := st.site.JumpLogin(j)
		jc, err := st.login(sec, h.Name+" (jump host "+j.Address+")", j.Address, jl)
		if err != nil {
			return cfg, err
		}
		cfg.Jump = &jc
	}
	return cfg, nil
}

func (st *state) login(sec *secrets, name, addr string, l site.Login) (ssh.Config, error) {
	cfg := ssh.Config{
		Name: name, Address: addr, Port: l.Port, User: l.User,
		KeyFile: st.site.Path(l.Auth.KeyFile), UseAgent: l.Auth.Agent,
		KnownHosts: st.site.RecordsDir() + "/known_hosts", AcceptHostKeys: st.opts.AcceptHostKeys, Audit: st.audit,
	}
	var err error
	if l.Auth.KeyPassphraseEnv != "" {
		if cfg.KeyPassphrase, err = sec.env(l.Auth.KeyPassphraseEnv, name+": key passphrase"); err != nil {
			return cfg, err
		}
	}
	switch {
	case l.Auth.PasswordEnv != "":
		if cfg.Password, err = sec.env(l.Auth.PasswordEnv, name+": password"); err != nil {
			return cfg, err
		}
	case l.Auth.PasswordPrompt:
		if cfg.Password, err = sec.prompt(fmt.Sprintf("password of %s@%s", l.User, addr)); err != nil {
			return cfg, err
		}
	}
	if l.Auth.SudoPasswordEnv != "" {
		if cfg.SudoPassword, err = sec.env(l.Auth.SudoPasswordEnv, name+": sudo password"); err != nil {
			return cfg, err
		}
	}
	return cfg, nil
}
