package k3s

import (
	"fmt"
	"path"
	"slices"
	"strings"
)

// KillallScript stops k3s and cleans its processes, mounts, interfaces and iptables rules (§3).
func KillallScript(p Paths) (File, error) {
	if err := checkPaths(p.Binary(), p.DataDir); err != nil {
		return File{}, err
	}
	b, err := render("killall.sh.tmpl", map[string]string{"Binary": p.Binary(), "DataDir": p.DataDir})
	if err != nil {
		return File{}, err
	}
	return File{Path: p.KillallScript(), Mode: ScriptMode, Data: b}, nil
}

// TokenFiles are every file that may hold the cluster or agent token; the uninstall removes them all
// whoever created them (§5: the token also encrypts bootstrap data, so nothing of it may stay behind).
func (p Paths) TokenFiles() []string {
	return []string{TokenFile, AgentTokenFile, p.ServerToken(), p.NodeToken(),
		path.Join(p.DataDir, "server", "agent-token")}
}

// UninstallScript runs the killall script, disables the services, deletes the token files and then only
// what CreatedList says Ferry created (§3).
func UninstallScript(p Paths) (File, error) {
	if err := checkPaths(append([]string{p.KillallScript(), p.UninstallScript(), p.DataDir, CreatedList}, p.TokenFiles()...)...); err != nil {
		return File{}, err
	}
	b, err := render("uninstall.sh.tmpl", map[string]any{
		"Killall": p.KillallScript(), "Self": p.UninstallScript(), "CreatedList": CreatedList, "TokenFiles": p.TokenFiles(),
	})
	if err != nil {
		return File{}, err
	}
	return File{Path: p.UninstallScript(), Mode: ScriptMode, Data: b}, nil
}

// MayCreate lists, in creation order, every path a Ferry install or k3s's first start may create on a host
// of this role. Before writing anything the install phase records in CreatedList those that do not exist
// yet; the uninstall then removes exactly those, so whatever the host had before Ferry survives a reset.
func MayCreate(p Paths, r Role) []string {
	ps := []string{
		"/etc/rancher", ConfigDir, ConfigFile, ConfigDropIns, RegistriesFile, TokenFile,
		p.BinDir, p.Binary(),
	}
	ps = append(ps, p.Symlinks()...)
	ps = append(ps, p.KillallScript(), p.UninstallScript(),
		UnitFile(r), SystemdEnvFile(r), OpenRCScript(r), OpenRCEnvFile(r), OpenRCLog(r),
		path.Dir(p.DataDir), p.DataDir, "/etc/rancher/node", "/var/lib/kubelet", "/var/lib/cni", "/run/k3s", "/run/flannel")
	if r.IsServer() {
		ps = append(ps, AgentTokenFile, KubeconfigFile)
	}
	return slices.DeleteFunc(ps, func(p string) bool { return protectedPaths[p] })
}

// protectedPaths mirrors the uninstall script's refusal list: directories whose removal would wreck a
// host, never recorded even when a bare host lacked them.
var protectedPaths = map[string]bool{}

func init() {
	for _, p := range strings.Fields(`/ /bin /boot /dev /etc /home /lib /lib64 /opt /proc /root /run /sbin
		/srv /sys /tmp /usr /var /usr/local /usr/local/bin /usr/bin /usr/lib /usr/sbin /var/lib /var/log /opt/bin
		/etc/systemd /etc/systemd/system /etc/init.d /etc/default /etc/sysconfig`) {
		protectedPaths[p] = true
	}
}

// AppendCreated adds p to the created list's content (idempotent), refusing what the uninstall script
// would refuse, so a bad entry fails at install time rather than being skipped at reset.
func AppendCreated(list []byte, p string) ([]byte, error) {
	if err := checkPaths(p); err != nil {
		return nil, fmt.Errorf("recording %s as created: %w", p, err)
	}
	if protectedPaths[p] {
		return nil, fmt.Errorf("recording %s as created: %w: the uninstall never removes it", p, ErrUnsafeValue)
	}
	lines := strings.Split(strings.TrimSuffix(string(list), "\n"), "\n")
	if slices.Contains(lines, p) {
		return list, nil
	}
	out := append([]byte{}, list...)
	if len(out) > 0 && out[len(out)-1] != '\n' {
		out = append(out, '\n')
	}
	return append(out, p+"\n"...), nil
}
