package demo

import (
	"fmt"
	"os"
	"strings"

	"github.com/ferry-delivery/ferry/installer/site"
	"github.com/ferry-delivery/ferry/test/lab"
)

// SiteName is the demo site's name.
const SiteName = "demo"

// DraftSite is the demo's site.yaml for the lab's hosts: the first a server, the others agents, logging in
// as root with the lab's key. It names no host key: the wizard shows each host's fingerprint on first
// contact and the user accepts it after comparing with the one the demo printed from the lab's
// inventory, which is the step a real site needs too (a site file from a colleague never vouches for
// keys). Lab hosts live only on the lab's bridge.
func DraftSite(inv *lab.Inventory) ([]byte, error) {
	if len(inv.Hosts) == 0 {
		return nil, fmt.Errorf("writing the demo site: the lab has no hosts")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# The demo site: hosts of the site lab %s (make demo). Open it with ferry --site-draft.\n", inv.Lab)
	fmt.Fprintf(&b, "name: %s\ndefaults: {user: %s, auth: {keyFile: %s}}\n", SiteName, inv.Hosts[0].User, inv.Hosts[0].KeyFile)
	b.WriteString(inv.SiteHosts(1))
	// The same validation the wizard and ferryctl apply.
	if _, err := site.Parse([]byte(b.String())); err != nil {
		return nil, fmt.Errorf("writing the demo site: %w", err)
	}
	return []byte(b.String()), nil
}

// WriteDraft writes DraftSite to path (0600: it names the lab's key file).
func WriteDraft(path string, inv *lab.Inventory) error {
	doc, err := DraftSite(inv)
	if err != nil {
		return err
	}
	return os.WriteFile(path, doc, 0o600)
}
