package k3s

import (
	"errors"
	"fmt"
)

// ErrSELinuxUnsupported: an enforcing host without container-selinux and k3s-selinux cannot run k3s's
// containers; the packages must come offline with the bundle (§3).
var ErrSELinuxUnsupported = errors.New("SELinux is enforcing but container-selinux and k3s-selinux are not installed")

// SELinuxDecision applies §3 to a host's SELinux mode ("enforcing", "permissive", "disabled" or "" when
// absent) and whether both policy packages are installed: it returns the value of the selinux config key
// and a warning to show, or refuses.
func SELinuxDecision(mode string, policyInstalled bool) (selinux bool, warning string, err error) {
	switch mode {
	case "enforcing":
		if !policyInstalled {
			return false, "", fmt.Errorf("%w: install both packages offline, or set SELinux to permissive", ErrSELinuxUnsupported)
		}
		return true, "", nil
	case "permissive":
		if !policyInstalled {
			return false, "SELinux is permissive and the k3s policy is not installed: k3s runs, but turning enforcing on later breaks it", nil
		}
		return true, "", nil
	case "", "disabled":
		return false, "", nil
	}
	return false, "", fmt.Errorf("reading SELinux mode: unexpected %q", mode)
}
