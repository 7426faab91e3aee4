package lab

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
)

// ensureBridge creates the lab's bridge with the machine's address on the lab subnet. The bridge has no
// uplink and no NAT, the hosts get no default route, and forwarding between the bridge and any other
// interface is dropped, so nothing on the lab subnet can reach beyond this machine.
func ensureBridge(ctx context.Context, id int) error {
	br := LabName(id)
	if err := subnetFree(id); err != nil {
		return err
	}
	if _, err := net.InterfaceByName(br); err != nil {
		if out, err := run(ctx, "ip", "link", "add", "name", br, "type", "bridge"); err != nil {
			return fmt.Errorf("creating bridge %s: %w: %s", br, err, out)
		}
	}
	// No IPv6 on the bridge: no router advertisements, no link-local chatter, nothing to route.
	_ = os.WriteFile("/proc/sys/net/ipv6/conf/"+br+"/disable_ipv6", []byte("1"), 0o644)
	if !bridgeHasAddr(id) {
		if out, err := run(ctx, "ip", "addr", "add", bridgeAddr(id)+"/24", "dev", br); err != nil {
			return fmt.Errorf("addressing bridge %s: %w: %s", br, err, out)
		}
	}
	if out, err := run(ctx, "ip", "link", "set", br, "up"); err != nil {
		return fmt.Errorf("bringing up bridge %s: %w: %s", br, err, out)
	}
	for _, rule := range forwardRules(id) {
		if _, err := run(ctx, "iptables", append([]string{"-C"}, rule...)...); err != nil {
			if out, err := run(ctx, "iptables", append([]string{"-I"}, rule...)...); err != nil {
				return fmt.Errorf("adding forward guard for %s: %w: %s", br, err, out)
			}
		}
	}
	return nil
}

// forwardRules drop anything routed between the lab bridge and another interface (defence in depth: the
// hosts have no route out anyway). The comment marks them as the lab's own.
func forwardRules(id int) [][]string {
	br := LabName(id)
	c := []string{"-m", "comment", "--comment", br}
	return [][]string{
		append([]string{"FORWARD", "-i", br, "!", "-o", br}, append(c, "-j", "DROP")...),
		append([]string{"FORWARD", "-o", br, "!", "-i", br}, append(c, "-j", "DROP")...),
	}
}

// subnetFree refuses a lab subnet that some other interface of the machine already uses.
func subnetFree(id int) error {
	_, sn, _ := net.ParseCIDR(Subnet(id))
	ifs, err := net.Interfaces()
	if err != nil {
		return err
	}
	for _, ifc := range ifs {
		if ifc.Name == LabName(id) {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && (sn.Contains(ipn.IP) || ipn.Contains(sn.IP)) {
				return fmt.Errorf("%w: lab subnet %s overlaps %s on %s; pick another lab ID", ErrBadOptions, Subnet(id), ipn, ifc.Name)
			}
		}
	}
	return nil
}

func bridgeHasAddr(id int) bool {
	ifc, err := net.InterfaceByName(LabName(id))
	if err != nil {
		return false
	}
	addrs, _ := ifc.Addrs()
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.String() == bridgeAddr(id) {
			return true
		}
	}
	return false
}

// deleteNetwork removes the lab's bridge, any veth of its machines left behind, and its forward guard.
func deleteNetwork(ctx context.Context, id int) error {
	var errs []string
	for _, l := range labLinks(id) {
		if out, err := run(ctx, "ip", "link", "del", l); err != nil && linkExists(l) {
			errs = append(errs, fmt.Sprintf("deleting %s: %v: %s", l, err, out))
		}
	}
	for _, rule := range forwardRules(id) {
		for range 10 { // a crashed run may have added a rule twice
			if _, err := run(ctx, "iptables", append([]string{"-C"}, rule...)...); err != nil {
				break
			}
			_, _ = run(ctx, "iptables", append([]string{"-D"}, rule...)...)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("removing lab network: %s", strings.Join(errs, "; "))
	}
	return nil
}

// labLinks lists the interfaces carrying lab id's names: its veths first, then its bridge.
func labLinks(id int) []string {
	ifs, _ := net.Interfaces()
	var veths, br []string
	for _, ifc := range ifs {
		switch {
		case strings.HasPrefix(ifc.Name, vethName(LabName(id)+"-")):
			veths = append(veths, ifc.Name)
		case ifc.Name == LabName(id):
			br = append(br, ifc.Name)
		}
	}
	return append(veths, br...)
}

func linkExists(name string) bool {
	_, err := net.InterfaceByName(name)
	return err == nil
}

func forwardRulesPresent(ctx context.Context, id int) bool {
	for _, rule := range forwardRules(id) {
		if _, err := run(ctx, "iptables", append([]string{"-C"}, rule...)...); err == nil {
			return true
		}
	}
	return false
}
