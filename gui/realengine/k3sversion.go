package realengine

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/Masterminds/semver/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// labelControlPlane is the role label k3s puts on every server's Node.
const labelControlPlane = "node-role.kubernetes.io/control-plane"

// k3sVersion reads the k3s version the servers run from their Nodes' kubeletVersion (what k3s reports as
// its own version, e.g. v1.33.4+k3s1). When the servers differ, which happens while a k3s upgrade goes
// through them one at a time or after one stopped halfway, each version is listed with its servers, newest
// first ("v1.33.4+k3s1 (cp-1, cp-2) · v1.32.8+k3s1 (cp-3)"), and mixed is set: the engineer must see it
// rather than one of the versions. names maps Node names (the installer's host names) to the wizard's.
// A cluster without the role label on any Node (not one k3s set up) is read from all its Nodes; no Node
// at all gives "".
func k3sVersion(ctx context.Context, kube kubernetes.Interface, names map[string]string) (v string, mixed bool, err error) {
	nodes, err := kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", false, fmt.Errorf("reading the k3s version: %w", err)
	}
	byVersion := map[string][]string{}
	servers := 0
	for _, n := range nodes.Items {
		if n.Labels[labelControlPlane] == "true" {
			servers++
		}
	}
	for _, n := range nodes.Items {
		if servers > 0 && n.Labels[labelControlPlane] != "true" {
			continue
		}
		name := n.Name
		if w, ok := names[name]; ok {
			name = w
		}
		ver := n.Status.NodeInfo.KubeletVersion
		if ver == "" {
			ver = "?" // a Node that never reported: shown as unknown, not dropped
		}
		byVersion[ver] = append(byVersion[ver], name)
	}
	versions := make([]string, 0, len(byVersion))
	for ver := range byVersion {
		versions = append(versions, ver)
	}
	sort.Slice(versions, func(i, j int) bool { return newer(versions[i], versions[j]) })
	switch len(versions) {
	case 0:
		return "", false, nil
	case 1:
		return versions[0], false, nil
	}
	parts := make([]string, len(versions))
	for i, ver := range versions {
		hosts := byVersion[ver]
		sort.Strings(hosts)
		parts[i] = ver + " (" + strings.Join(hosts, ", ") + ")"
	}
	return strings.Join(parts, " · "), true, nil
}

// newer orders k3s versions newest first; a version that does not parse goes last, by name.
func newer(a, b string) bool {
	va, ea := semver.NewVersion(a)
	vb, eb := semver.NewVersion(b)
	switch {
	case ea == nil && eb == nil:
		if c := va.Compare(vb); c != 0 {
			return c > 0
		}
		return a > b // the same Kubernetes version, another k3s build: v1.33.4+k3s2 before +k3s1
	case ea == nil:
		return true
	case eb == nil:
		return false
	}
	return a < b
}
