// Package appliance deploys, upgrades and rolls back the application on a running k3s cluster through
// k3s's embedded helm-controller, gates every change on health, rolls a failed upgrade back by itself, and
// keeps the history of every applied version in the cluster and in the site records.
//
// It owns: the HelmChart spec Ferry applies (BuildSpec), the health verdict (Evaluate, a pure function of
// a Snapshot), the history records and stored charts in the Ferry namespace (Store), the retention and
// image plans (Retain, PlanImages), and the verbs Deploy, Upgrade, Rollback, Status and History.
//
// It must not: import the GUI toolkit; open network paths of its own (the API server is reached only
// through the caller's dialer, see Connect); delete a HelmChart (that uninstalls the app and can lose PVC
// data) or any PVC; delete any pod except, during a rollback, a not-Ready pod of the revision being undone
// that keeps its StatefulSet from rolling back (Kubernetes' "forced rollback", unstick.go); use helm-controller's reinstall failure policy; write into k3s's manifests directory
// (k3s re-applies it at every start and would revert a rollback); run commands on nodes (image landing is
// the NodeImages interface, implemented by the installer); let a secret value (SecretPaths) leave the
// cluster in plain text: the laptop mirror, Results, progress events and errors are redacted or scrubbed,
// only the in-cluster record keeps the plaintext rollback needs; nor sit in a HelmChart, which is not a
// Secret: secret values go to an immutable values Secret named by spec.valuesSecrets. See
// docs/appliance.md.
package appliance
