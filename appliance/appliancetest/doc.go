// Package appliancetest is a small stand-in for helm-controller, klipper-helm and the kubelet that drives
// client-go's and helm-controller's fake clientsets, so the appliance's whole deploy / upgrade / rollback
// state machine can run in unit tests (of the engine, the CLI and the wizard) without a cluster. It is
// not a k3s stand-in: no chart is rendered; the workloads are fixed (Deployment web, StatefulSet db with a
// PVC) and the chart values choose the outcome. It must only be imported by tests.
package appliancetest
