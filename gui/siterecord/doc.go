// Package siterecord stores what the wizard remembers about each site in the user's config dir, one folder
// per site:
//
//	<root>/<site>/site.json     hosts (no secrets), bundle, app, version
//	<root>/<site>/known_hosts   accepted SSH host keys, 0600
//	<root>/<site>/kubeconfig    cluster admin credentials, 0600
//	<root>/<site>/history.json  releases as last seen
//	<root>/<site>/audit.log     one line per action the wizard started
//
// Passwords and key passphrases, a jump host's own included, are never written: engine.Host and
// engine.Login mark them `json:"-"` (the record keeps which of them a login needs).
//
// TODO(engine): the engine (installer/appliance) keeps its own per-site state and audit log; when it lands,
// move this layout there so ferryctl and the wizard share one record. It must not import fyne.io.
package siterecord
