package k3s

import (
	"fmt"
	"slices"
)

// Check is one readiness probe (§6) as data: the phase runs Argv on a server (through the Host interface,
// with its own poll interval and timeout) and it passes when the command exits 0 and, if Want is set, its
// trimmed stdout equals Want. Nothing here runs anything.
type Check struct {
	Name string
	Argv []string
	Want string
}

// PreStartChecks run before k3s is first started on a host (§6: `k3s check-config` before).
func PreStartChecks(p Paths) []Check {
	return []Check{{Name: "kernel and host fit k3s (k3s check-config)", Argv: []string{p.Binary(), "check-config"}}}
}

// kubectl builds `k3s kubectl ...` with the full binary path: /opt/bin may not be on root's PATH (§1),
// and §3 says to always call `k3s kubectl` rather than a kubectl that may be someone else's.
func kubectl(p Paths, args ...string) []string {
	return append([]string{p.Binary(), "kubectl"}, args...)
}

func condition(cond string) string {
	return fmt.Sprintf(`jsonpath={.status.conditions[?(@.type=="%s")].status}`, cond)
}

// ReadinessPlan is the ordered list of §6 checks after a start: the API's /readyz, each named node Ready,
// then the packaged deployments Available and traefik's helm jobs Complete, each skipped when disabled.
// Order matters: a later check is meaningless until the earlier ones pass, and the first failing one is
// what the user is shown.
func ReadinessPlan(p Paths, nodes []string, disable []string) []Check {
	checks := []Check{{Name: "API server ready (/readyz)", Argv: kubectl(p, "get", "--raw", "/readyz"), Want: "ok"}}
	for _, n := range nodes {
		checks = append(checks, Check{
			Name: "node " + n + " Ready",
			Argv: kubectl(p, "get", "node", n, "-o", condition("Ready")),
			Want: "True",
		})
	}
	deployments := []struct{ name, component string }{
		{"coredns", "coredns"},
		{"local-path-provisioner", "local-storage"},
		{"metrics-server", "metrics-server"},
	}
	for _, d := range deployments {
		if slices.Contains(disable, d.component) {
			continue
		}
		checks = append(checks, Check{
			Name: "deployment " + d.name + " Available",
			Argv: kubectl(p, "-n", "kube-system", "get", "deployment", d.name, "-o", condition("Available")),
			Want: "True",
		})
	}
	if !slices.Contains(disable, "traefik") {
		for _, j := range []string{"helm-install-traefik-crd", "helm-install-traefik"} {
			checks = append(checks, Check{
				Name: "helm job " + j + " Complete",
				Argv: kubectl(p, "-n", "kube-system", "get", "job", j, "-o", condition("Complete")),
				Want: "True",
			})
		}
	}
	return checks
}
