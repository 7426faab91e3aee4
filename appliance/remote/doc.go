// Package remote joins the installer's SSH hosts and the appliance: a Session is a site, as a site.yaml
// and its records directory describe it, opened for managing its app. It connects every host (host keys
// verified against the site's known_hosts only), reaches the Kubernetes API at 127.0.0.1:6443 on the
// first reachable server through that server's SSH connection with the kubeconfig the install stored,
// and hands the appliance verbs nodes.Site for image landing and chart placement. After a successful
// change it prunes what appliance.Retain no longer keeps. While open it holds an flock'ed lock file under
// <records>/.holders (appliance.Liveness), so the next session on this laptop knows at once that a
// change left in progress by a killed process has no process behind it.
//
// It is the one place cmd/ferryctl and the wizard's adapter (gui/realengine) get a managed site from, so
// both act the same. It decides nothing the appliance or the installer decides, and never imports fyne.io.
package remote
