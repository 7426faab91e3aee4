package k3s

import (
	"fmt"
	"path"
	"strings"
)

// Fixed locations from k3s-contract.md. Everything a phase writes or reads on a host is named here or
// derived by Paths, so no other file spells a k3s path.
const (
	// DefaultBinDir holds the k3s binary whatever the arch (§1, §3).
	DefaultBinDir = "/usr/local/bin"
	// FallbackBinDir is used where /usr/local/bin is read-only (§1), e.g. on image-based distributions.
	FallbackBinDir = "/opt/bin"
	// DefaultDataDir is k3s's own default for data-dir (§2, §5).
	DefaultDataDir = "/var/lib/rancher/k3s"

	ConfigDir      = "/etc/rancher/k3s"             // §4
	ConfigFile     = ConfigDir + "/config.yaml"     // §4
	ConfigDropIns  = ConfigDir + "/config.yaml.d"   // §4: *.yaml, alphabetical, last wins
	RegistriesFile = ConfigDir + "/registries.yaml" // §4, §8
	KubeconfigFile = ConfigDir + "/k3s.yaml"        // §5
	// TokenFile is Ferry's own 0600 file referenced by config.yaml's token-file (see Config.TokenFile).
	TokenFile = ConfigDir + "/ferry-token"
	// AgentTokenFile is Ferry's 0600 file referenced by agent-token-file on servers.
	AgentTokenFile = ConfigDir + "/ferry-agent-token"
	// NodePasswordFile survives an upstream uninstall and can make a re-join under the same name fail
	// (§5, k3s#802, #6054).
	NodePasswordFile = "/etc/rancher/node/password"

	SystemdUnitDir = "/etc/systemd/system" // §3
	OpenRCInitDir  = "/etc/init.d"         // §3
	// CreatedList records, one absolute path a line, what Ferry created on this host (as opposed to what
	// was there before), so the uninstall script removes only those (§3: "ours, not upstream's").
	// It lives outside /etc/rancher and the data dir so removing those never loses the list mid-way.
	CreatedList = "/var/lib/ferry/k3s-created.list"
)

// Role is what a node runs: the first server of a cluster, a server joining it, or an agent.
type Role int

const (
	RoleServerFirst Role = iota // cluster-init (§5)
	RoleServerJoin              // server: https://<first>:6443 (§5)
	RoleAgent                   // k3s agent (§5)
)

// IsServer says whether the role runs `k3s server`.
func (r Role) IsServer() bool { return r != RoleAgent }

// Subcommand is the k3s subcommand the service starts (§3).
func (r Role) Subcommand() string {
	if r.IsServer() {
		return "server"
	}
	return "agent"
}

// ServiceName is the systemd unit / OpenRC service name: k3s for servers, k3s-agent for agents (§3).
func (r Role) ServiceName() string {
	if r.IsServer() {
		return "k3s"
	}
	return "k3s-agent"
}

func (r Role) String() string {
	switch r {
	case RoleServerFirst:
		return "server (first)"
	case RoleServerJoin:
		return "server (join)"
	case RoleAgent:
		return "agent"
	}
	return "unknown role"
}

// Paths derives the host-specific locations: the bin dir (writable /usr/local/bin or /opt/bin) and the
// data dir (default or the site's data-dir).
type Paths struct {
	BinDir  string
	DataDir string
}

// NewPaths picks the bin dir per §1 (fall back to /opt/bin when /usr/local/bin is read-only, which the
// facts phase detects) and the data dir (empty means k3s's default).
func NewPaths(usrLocalBinWritable bool, dataDir string) Paths {
	p := Paths{BinDir: DefaultBinDir, DataDir: DefaultDataDir}
	if !usrLocalBinWritable {
		p.BinDir = FallbackBinDir
	}
	if dataDir != "" {
		p.DataDir = path.Clean(dataDir)
	}
	return p
}

// Binary is where k3s is installed, whatever the arch (§1).
func (p Paths) Binary() string { return path.Join(p.BinDir, "k3s") }

// Symlinks are the convenience links the install script makes, each only where the command is not already
// on PATH (§3). Ferry itself always calls `k3s kubectl` / `k3s ctr`.
func (p Paths) Symlinks() []string {
	return []string{path.Join(p.BinDir, "kubectl"), path.Join(p.BinDir, "crictl"), path.Join(p.BinDir, "ctr")}
}

// KillallScript and UninstallScript are Ferry's reset scripts (§3); named ferry-* so they never collide
// with an upstream k3s-killall.sh a foreign install left.
func (p Paths) KillallScript() string   { return path.Join(p.BinDir, "ferry-k3s-killall.sh") }
func (p Paths) UninstallScript() string { return path.Join(p.BinDir, "ferry-k3s-uninstall.sh") }

// ImagesDir is scanned for air-gap archives at containerd start and, on newer releases, watched (§2).
func (p Paths) ImagesDir() string { return path.Join(p.DataDir, "agent", "images") }

// ServerToken is the cluster token k3s writes on servers; NodeToken is its legacy name (§5).
func (p Paths) ServerToken() string { return path.Join(p.DataDir, "server", "token") }
func (p Paths) NodeToken() string   { return path.Join(p.DataDir, "server", "node-token") }

// StaticChartsDir serves charts too large for chartContent at https://%{KUBERNETES_API}%/static/charts/ (§9).
func (p Paths) StaticChartsDir() string { return path.Join(p.DataDir, "server", "static", "charts") }

// ManifestsDir is rescanned every 15 s and re-applied at start (§9): Ferry does not put HelmCharts there.
func (p Paths) ManifestsDir() string { return path.Join(p.DataDir, "server", "manifests") }

// UnitFile is the systemd unit for a role (§3).
func UnitFile(r Role) string { return path.Join(SystemdUnitDir, r.ServiceName()+".service") }

// EnvFiles are the three optional EnvironmentFile= paths of the unit, in the unit's order (§3). Ferry
// writes only the last one (the install script's choice), mode 0600.
func EnvFiles(r Role) []string {
	n := r.ServiceName()
	return []string{"/etc/default/" + n, "/etc/sysconfig/" + n, path.Join(SystemdUnitDir, n+".service.env")}
}

// SystemdEnvFile is the env file Ferry writes for systemd hosts.
func SystemdEnvFile(r Role) string { return EnvFiles(r)[2] }

// OpenRCScript, OpenRCEnvFile and OpenRCLog follow §3 (/etc/init.d/k3s, /etc/rancher/k3s/k3s.env,
// /var/log/k3s.log); agents use the k3s-agent name, as the install script does.
func OpenRCScript(r Role) string  { return path.Join(OpenRCInitDir, r.ServiceName()) }
func OpenRCEnvFile(r Role) string { return path.Join(ConfigDir, r.ServiceName()+".env") }
func OpenRCLog(r Role) string     { return "/var/log/" + r.ServiceName() + ".log" }

// isAbsClean reports whether p is an absolute, clean path other than "/": the only shape the created
// list and the scripts accept.
func isAbsClean(p string) bool {
	return strings.HasPrefix(p, "/") && path.Clean(p) == p && p != "/"
}

// ImageArchive is where an air-gap archive goes (§2) and the temporary name to upload it under: k3s
// imports by extension and, since v1.32.0 / v1.31.5 / v1.30.9 / v1.29.13, as soon as a file appears, so a
// half-written archive must carry a name k3s ignores until the final rename.
func (p Paths) ImageArchive(file string) (final, temp string, err error) {
	if file == "" || path.Base(file) != file || strings.HasPrefix(file, ".") || !safePath.MatchString("/"+file) {
		return "", "", fmt.Errorf("%w: image archive name %q", ErrUnsafeValue, file)
	}
	final = path.Join(p.ImagesDir(), file)
	return final, path.Join(p.ImagesDir(), "."+file+".ferry-partial"), nil
}
