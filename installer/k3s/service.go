package k3s

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strings"
	"text/template"
)

//go:embed templates/*.tmpl
var templateFS embed.FS

var templates = template.Must(template.New("").Option("missingkey=error").ParseFS(templateFS, "templates/*.tmpl"))

// ErrUnsafeValue marks a path or env value that cannot be put in a unit or shell script as is.
var ErrUnsafeValue = errors.New("value unsafe for a unit or script")

// safePath is what Ferry puts unquoted into units and scripts: absolute, clean, no shell metacharacters.
var safePath = regexp.MustCompile(`^/[A-Za-z0-9._/+-]*$`)

func checkPaths(ps ...string) error {
	for _, p := range ps {
		if !safePath.MatchString(p) || !isAbsClean(p) {
			return fmt.Errorf("%w: path %q (want an absolute path of [A-Za-z0-9._/+-])", ErrUnsafeValue, p)
		}
	}
	return nil
}

func render(name string, data any) ([]byte, error) {
	var b bytes.Buffer
	if err := templates.ExecuteTemplate(&b, name, data); err != nil {
		return nil, fmt.Errorf("rendering %s: %w", name, err)
	}
	return b.Bytes(), nil
}

type serviceData struct {
	Binary, Subcommand, Service, Log, EnvFile, SystemdType string
}

func newServiceData(p Paths, r Role) (serviceData, error) {
	if err := checkPaths(p.Binary()); err != nil {
		return serviceData{}, err
	}
	return serviceData{Binary: p.Binary(), Subcommand: r.Subcommand(), Service: r.ServiceName(),
		Log: OpenRCLog(r), EnvFile: OpenRCEnvFile(r), SystemdType: systemdType(r)}, nil
}

// systemdType follows upstream's install script: notify for servers, exec for agents (§3).
func systemdType(r Role) string {
	if r.Subcommand() == "server" {
		return "notify"
	}
	return "exec"
}

// SystemdUnit is k3s.service or k3s-agent.service with every directive of §3. Options go in config.yaml,
// not on ExecStart, so a re-run that rewrites the unit can never drop a setting (§4).
func SystemdUnit(p Paths, r Role) (File, error) {
	return serviceFile(p, r, "k3s.service.tmpl", UnitFile(r), UnitMode)
}

// OpenRCService is /etc/init.d/k3s (or k3s-agent) run by supervise-daemon, logging to /var/log (§3).
func OpenRCService(p Paths, r Role) (File, error) {
	return serviceFile(p, r, "openrc.tmpl", OpenRCScript(r), ScriptMode)
}

// serviceFile renders the service template tmpl for role r into the file at path with mode.
func serviceFile(p Paths, r Role, tmpl, path string, mode fs.FileMode) (File, error) {
	d, err := newServiceData(p, r)
	if err != nil {
		return File{}, err
	}
	b, err := render(tmpl, d)
	if err != nil {
		return File{}, err
	}
	return File{Path: path, Mode: mode, Data: b}, nil
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// EnvFile renders the service environment (proxy settings, K3S_* overrides) for systemd or OpenRC, sorted
// by name, single-quoted: both systemd's EnvironmentFile= and OpenRC's `. file` read that the same way.
// Always 0600: §3 says the env file may hold a token, and a file that is 0600 from its first write cannot
// leak one added later.
func EnvFile(path string, env map[string]string) (File, error) {
	names := make([]string, 0, len(env))
	for k, v := range env {
		if !envName.MatchString(k) {
			return File{}, fmt.Errorf("%w: environment name %q", ErrUnsafeValue, k)
		}
		if strings.ContainsAny(v, "'\n\r\\") {
			return File{}, fmt.Errorf("%w: value of %s holds a quote, backslash or newline", ErrUnsafeValue, k)
		}
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("# Written by Ferry (k3s-contract.md §3). Mode 0600.\n")
	for _, k := range names {
		fmt.Fprintf(&b, "%s='%s'\n", k, env[k])
	}
	return File{Path: path, Mode: SecretMode, Data: []byte(b.String())}, nil
}
