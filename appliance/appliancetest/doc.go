// Package appliancetest is a small stand-in for helm-controller, klipper-helm and the kubelet that drives
// client-go's and helm-controller's fake clientsets, so the appliance's whole deploy / upgrade / rollback
// state machine can run in unit tests (of the engine, the CLI and the wizard) without a cluster. It is
// not a k3s stand-in: charts are rendered for real with helm's engine (from spec.chartContent, with
// spec.valuesContent and then each spec.valuesSecrets Secret merged as klipper-helm and helm do; a spec
// whose values Secret is missing does not run, as its job's pod could not mount it), but no container runs: Deployments get one pod from their template, Ready unless
// the values ask for sim.mode neverReady or imageMissing; StatefulSets are created Ready with the PVCs of
// their volumeClaimTemplates; sim.mode hold keeps the helm job running until Release.
//
// It must only be imported by tests.
package appliancetest
