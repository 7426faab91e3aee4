// Package e2e holds end-to-end scenarios on the site lab: the ferryctl binary driving a whole site
// (install, deploy, upgrade, rollback, history) over SSH, with the k3s stand-in as k3s in TEST bundles
// only. Run through `make test-e2e` (lab ID 4); skipped otherwise.
package e2e
