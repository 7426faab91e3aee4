package k3s

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/Masterminds/semver/v3"
)

// Upgrade plan errors: each is a decision the caller shows as is.
var (
	ErrBadVersion     = errors.New("not a k3s version")
	ErrSkipsMinor     = errors.New("upgrade would skip a minor version")
	ErrDowngrade      = errors.New("target is older than a running node")
	ErrKubeletTooNew  = errors.New("an agent is newer than the servers")
	ErrNoServerToLead = errors.New("no server in the upgrade")
)

// UpgradeNode is one node's state before a k3s upgrade.
type UpgradeNode struct {
	Host    string
	Server  bool
	Version string // as `k3s --version` / the node's kubeletVersion reports it, e.g. v1.33.4+k3s1
}

// StepKind names what a phase does in a k3s upgrade (§7).
type StepKind string

const (
	StepSnapshot    StepKind = "snapshot"     // k3s etcd-snapshot save (or copy the SQLite db) on the first server
	StepStageImages StepKind = "stage-images" // new image archive on the node, temp name + rename; old kept
	StepSwapBinary  StepKind = "swap-binary"  // keep the old binary, rename the new one into place, restart
	StepWaitReady   StepKind = "wait-ready"   // node Ready and reporting Version
)

// UpgradeStep is one step on one host. Steps with the same Wave may run in parallel; waves run in order.
type UpgradeStep struct {
	Wave    int
	Kind    StepKind
	Host    string
	Version string
}

// PlanUpgrade orders a k3s upgrade to target (§7): snapshot first, stage the images on every node, then
// servers one at a time (swap, restart, wait Ready at the new version), then the agents. It refuses a
// plan that skips a minor version on any node, a downgrade (that is a rollback: old binary plus a
// snapshot restore), and a cluster whose agents are already newer than its oldest server, since a kubelet
// must never be newer than the apiserver. Nodes already at target get no steps, so a re-run after an
// interruption resumes.
func PlanUpgrade(nodes []UpgradeNode, target string) ([]UpgradeStep, error) {
	to, err := parseK3sVersion(target)
	if err != nil {
		return nil, fmt.Errorf("planning k3s upgrade: %w", err)
	}
	var errs []error
	var oldestServer *semver.Version
	var servers, agents, pending []UpgradeNode
	current := map[string]*semver.Version{}
	for _, n := range nodes {
		v, err := parseK3sVersion(n.Version)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", n.Host, err))
			continue
		}
		current[n.Host] = v
		switch c := compareK3s(v, to); {
		case c > 0:
			errs = append(errs, fmt.Errorf("%w: %s runs %s, target %s; roll back with the old binary and a snapshot restore instead",
				ErrDowngrade, n.Host, v.Original(), to.Original()))
		case c == 0:
		case v.Major() != to.Major() || to.Minor() > v.Minor()+1:
			errs = append(errs, fmt.Errorf("%w: %s runs %s, target %s; upgrade to v%d.%d first",
				ErrSkipsMinor, n.Host, v.Original(), to.Original(), v.Major(), v.Minor()+1))
		default:
			pending = append(pending, n)
		}
		if n.Server {
			servers = append(servers, n)
			if oldestServer == nil || compareK3s(v, oldestServer) < 0 {
				oldestServer = v
			}
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("planning k3s upgrade to %s: %w", target, errors.Join(errs...))
	}
	if len(servers) == 0 {
		return nil, fmt.Errorf("planning k3s upgrade to %s: %w: servers must lead", target, ErrNoServerToLead)
	}
	for _, n := range nodes {
		if !n.Server {
			agents = append(agents, n)
			if v := current[n.Host]; compareK3s(v, oldestServer) > 0 {
				errs = append(errs, fmt.Errorf("%w: agent %s runs %s, oldest server %s", ErrKubeletTooNew,
					n.Host, v.Original(), oldestServer.Original()))
			}
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("planning k3s upgrade to %s: %w", target, errors.Join(errs...))
	}
	if len(pending) == 0 {
		return nil, nil
	}
	needs := func(n UpgradeNode) bool { return compareK3s(current[n.Host], to) != 0 }
	steps := []UpgradeStep{{Wave: 0, Kind: StepSnapshot, Host: servers[0].Host, Version: to.Original()}}
	for _, n := range pending {
		steps = append(steps, UpgradeStep{Wave: 1, Kind: StepStageImages, Host: n.Host, Version: to.Original()})
	}
	wave := 2
	for _, s := range servers {
		if !needs(s) {
			continue
		}
		steps = append(steps,
			UpgradeStep{Wave: wave, Kind: StepSwapBinary, Host: s.Host, Version: to.Original()},
			UpgradeStep{Wave: wave + 1, Kind: StepWaitReady, Host: s.Host, Version: to.Original()})
		wave += 2
	}
	var swaps, waits []UpgradeStep
	for _, a := range agents {
		if needs(a) {
			swaps = append(swaps, UpgradeStep{Wave: wave, Kind: StepSwapBinary, Host: a.Host, Version: to.Original()})
			waits = append(waits, UpgradeStep{Wave: wave + 1, Kind: StepWaitReady, Host: a.Host, Version: to.Original()})
		}
	}
	return append(append(steps, swaps...), waits...), nil
}

// parseK3sVersion reads v1.33.4+k3s1 (also without the v or the +k3sN).
func parseK3sVersion(s string) (*semver.Version, error) {
	v, err := semver.NewVersion(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %w", ErrBadVersion, s, err)
	}
	if v.Prerelease() != "" && !strings.HasPrefix(v.Prerelease(), "rc") {
		return nil, fmt.Errorf("%w: %q: unexpected pre-release %q", ErrBadVersion, s, v.Prerelease())
	}
	return v, nil
}

// compareK3s orders versions like semver, then by the k3s release number in the build metadata:
// semver ignores metadata, but v1.33.4+k3s2 is a newer build than v1.33.4+k3s1.
func compareK3s(a, b *semver.Version) int {
	if c := a.Compare(b); c != 0 {
		return c
	}
	return k3sRelease(a) - k3sRelease(b)
}

func k3sRelease(v *semver.Version) int {
	n, err := strconv.Atoi(strings.TrimPrefix(v.Metadata(), "k3s"))
	if err != nil {
		return 0
	}
	return n
}
