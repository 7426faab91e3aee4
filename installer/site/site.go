package site

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/ferry-delivery/ferry/payload"
)

// Roles of a host in the cluster.
const (
	RoleServer = "server"
	RoleAgent  = "agent"
)

// DefaultDataDir is k3s's data directory unless the site overrides it.
const DefaultDataDir = "/var/lib/rancher/k3s"

// Site is a parsed site.yaml.
type Site struct {
	// Name identifies the site; it is written on each host so a later run can tell its own k3s from a
	// foreign one.
	Name string `json:"name"`
	// Records is the laptop directory for known_hosts, the audit log and the kubeconfig; relative to the
	// site file. Default: "<name>.records" beside the site file.
	Records  string   `json:"records,omitempty"`
	Defaults Login    `json:"defaults,omitempty"`
	JumpHost *Jump    `json:"jumpHost,omitempty"`
	Hosts    []Host   `json:"hosts"`
	K3s      K3s      `json:"k3s,omitempty"`
	dir      string   // directory of the site file
	warnings []string // non-fatal findings
}

// Login is how to log into a host; host values override the site's defaults field by field.
type Login struct {
	User string `json:"user,omitempty"`
	Port int    `json:"port,omitempty"`
	Auth Auth   `json:"auth,omitempty"`
	// Sudo makes Ferry use sudo for root work; defaults to true for a non-root user.
	Sudo *bool `json:"sudo,omitempty"`
}

// Auth names credentials without holding them.
type Auth struct {
	KeyFile          string `json:"keyFile,omitempty"`
	KeyPassphraseEnv string `json:"keyPassphraseEnv,omitempty"`
	Agent            bool   `json:"agent,omitempty"`
	PasswordEnv      string `json:"passwordEnv,omitempty"`
	PasswordPrompt   bool   `json:"passwordPrompt,omitempty"`
	SudoPasswordEnv  string `json:"sudoPasswordEnv,omitempty"`
}

// Jump is a bastion host.
type Jump struct {
	Address string `json:"address"`
	Login   `json:",inline"`
}

// Host is one target machine.
type Host struct {
	Name     string `json:"name"`
	Address  string `json:"address"`
	Role     string `json:"role"`
	Login    `json:",inline"`
	JumpHost *Jump `json:"jumpHost,omitempty"`
}

// K3s holds the cluster options the site chose.
type K3s struct {
	TLSSAN  []string `json:"tlsSAN,omitempty"`
	Disable []string `json:"disable,omitempty"`
	DataDir string   `json:"dataDir,omitempty"`
}

// Disableable lists the k3s components a site may disable: the same list a bundle's manifest may name.
var Disableable = payload.K3sComponents

var nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// ErrInvalid marks a site file that cannot be used as written.
var ErrInvalid = errors.New("invalid site file")

// Load reads and validates a site file.
func Load(path string) (*Site, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading site file: %w", err)
	}
	s, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	abs, _ := filepath.Abs(path)
	s.dir = filepath.Dir(abs)
	return s, nil
}

// Parse parses and validates site.yaml content. Unknown fields are errors: a typo must not silently
// drop a setting.
func Parse(b []byte) (*Site, error) {
	var s Site
	if err := yaml.UnmarshalStrict(b, &s); err != nil {
		if strings.Contains(err.Error(), `unknown field "password"`) || strings.Contains(err.Error(), `unknown field "passphrase"`) {
			return nil, fmt.Errorf("%w: secrets are never stored in the site file: use passwordEnv (an environment variable's name) or passwordPrompt: true", ErrInvalid)
		}
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if err := s.validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

func (s *Site) validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if !nameRE.MatchString(s.Name) {
		bad("name %q: use lower-case letters, digits and '-' (it becomes part of file names)", s.Name)
	}
	if len(s.Hosts) == 0 {
		bad("hosts: list at least one host")
	}
	seen := map[string]bool{}
	addrs := map[string]string{}
	servers := 0
	for i, h := range s.Hosts {
		where := fmt.Sprintf("hosts[%d]", i)
		if h.Name != "" {
			where = fmt.Sprintf("host %q", h.Name)
		}
		if !nameRE.MatchString(h.Name) {
			bad("%s: name %q: use lower-case letters, digits and '-'", where, h.Name)
		} else if seen[h.Name] {
			bad("%s: name used twice: host names must be unique", where)
		}
		seen[h.Name] = true
		if h.Address == "" {
			bad("%s: address is empty", where)
		}
		key := fmt.Sprintf("%s:%d", h.Address, s.port(h))
		if other, ok := addrs[key]; ok && h.Address != "" {
			bad("%s: address %s is also host %q", where, key, other)
		}
		addrs[key] = h.Name
		switch h.Role {
		case RoleServer:
			servers++
		case RoleAgent:
		default:
			bad("%s: role %q: use server or agent", where, h.Role)
		}
		l := s.Login(h)
		if l.Port < 0 || l.Port > 65535 {
			bad("%s: port %d out of range", where, l.Port)
		}
		if l.Auth.KeyFile == "" && !l.Auth.Agent && l.Auth.PasswordEnv == "" && !l.Auth.PasswordPrompt {
			bad("%s: no credentials: set auth.keyFile, auth.agent, auth.passwordEnv or auth.passwordPrompt (here or in defaults)", where)
		}
		if j := s.Jump(h); j != nil && j.Address == "" {
			bad("%s: jumpHost.address is empty", where)
		}
	}
	if len(s.Hosts) > 0 && servers == 0 {
		bad("hosts: at least one host needs role: server")
	}
	if servers == 2 || (servers > 2 && servers%2 == 0) {
		bad("hosts: %d servers: embedded etcd needs an odd number of servers (1, 3, 5) to keep quorum; make one an agent", servers)
	}
	for _, d := range s.K3s.Disable {
		ok := false
		for _, a := range Disableable {
			ok = ok || d == a
		}
		if !ok {
			bad("k3s.disable: %q is not a k3s component (%s)", d, strings.Join(Disableable, ", "))
		}
	}
	if s.K3s.DataDir != "" && !filepath.IsAbs(s.K3s.DataDir) {
		bad("k3s.dataDir %q must be an absolute path", s.K3s.DataDir)
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalid, errors.Join(errs...))
	}
	return nil
}

func (s *Site) port(h Host) int { return s.Login(h).Port }

// Login returns the host's effective login: its own fields over the site's defaults, port 22 and
// user root when neither says.
func (s *Site) Login(h Host) Login {
	l := s.Defaults
	merge(&l, h.Login)
	if l.User == "" {
		l.User = "root"
	}
	if l.Port == 0 {
		l.Port = 22
	}
	if l.Sudo == nil {
		v := l.User != "root"
		l.Sudo = &v
	}
	return l
}

func merge(dst *Login, src Login) {
	if src.User != "" {
		dst.User = src.User
	}
	if src.Port != 0 {
		dst.Port = src.Port
	}
	if src.Sudo != nil {
		dst.Sudo = src.Sudo
	}
	a := src.Auth
	if a.KeyFile != "" || a.Agent || a.PasswordEnv != "" || a.PasswordPrompt {
		// A host that names its own credentials replaces the default set entirely: mixing one host's key
		// with the defaults' password would be surprising.
		dst.Auth = a
	} else {
		if a.KeyPassphraseEnv != "" {
			dst.Auth.KeyPassphraseEnv = a.KeyPassphraseEnv
		}
	}
	if a.SudoPasswordEnv != "" {
		dst.Auth.SudoPasswordEnv = a.SudoPasswordEnv
	}
}

// Jump returns the host's jump host (its own, else the site's), nil for none.
func (s *Site) Jump(h Host) *Jump {
	if h.JumpHost != nil {
		return h.JumpHost
	}
	return s.JumpHost
}

// JumpLogin returns the jump host's effective login: its own fields over the site's defaults.
func (s *Site) JumpLogin(j *Jump) Login {
	return s.Login(Host{Login: j.Login})
}

// RecordsDir is the absolute records directory.
func (s *Site) RecordsDir() string {
	r := s.Records
	if r == "" {
		r = s.Name + ".records"
	}
	if filepath.IsAbs(r) {
		return r
	}
	return filepath.Join(s.dir, r)
}

// DataDir is k3s's data directory on the hosts.
func (s *Site) DataDir() string {
	if s.K3s.DataDir != "" {
		return s.K3s.DataDir
	}
	return DefaultDataDir
}

// Servers returns the server hosts, in file order (the first bootstraps the cluster).
func (s *Site) Servers() []Host { return s.byRole(RoleServer) }

// Agents returns the agent hosts.
func (s *Site) Agents() []Host { return s.byRole(RoleAgent) }

func (s *Site) byRole(r string) []Host {
	var out []Host
	for _, h := range s.Hosts {
		if h.Role == r {
			out = append(out, h)
		}
	}
	return out
}

// ExpandHome resolves a leading ~/ in a key file path.
func ExpandHome(p string) string {
	if strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, p[2:])
		}
	}
	return p
}

// Path resolves p relative to the site file's directory.
func (s *Site) Path(p string) string {
	p = ExpandHome(p)
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(s.dir, p)
}
