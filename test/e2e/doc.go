// Package e2e holds end-to-end scenarios on the site lab: the ferryctl binary driving a whole site
// (install, deploy, upgrade, rollback, history) over SSH, with the k3s stand-in as k3s in TEST bundles
// only. Each scenario has its own lab ID (FERRY_E2E_LAB_ID overrides it) and make target: `make
// test-e2e` (lab 4, site lifecycle), `make test-e2e-rollback` (lab 10), `make test-e2e-kill` (lab 11),
// `make bench-upgrade` (lab 12), `make stress-upgrade` (lab 14, one HelmChart spec write and one helm
// revision per upgrade); each is skipped otherwise. What they share (lab bring-up, key pair, TEST k3s,
// bundle writing, site file, the ferryctl runner, blob accounting, helm revisions and trace) lives once
// in helpers_test.go, so each test reads as its steps.
package e2e
