// Package appliance deploys, upgrades and rolls back the application on a running k3s cluster through
// k3s's embedded helm-controller, gates every change on health, rolls a failed upgrade back by itself, and
// keeps the history of every applied version in the cluster and in the site records.
//
// It must not import the GUI toolkit.
package appliance
