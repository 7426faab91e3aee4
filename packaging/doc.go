// Package packaging builds Ferry bundles on an internet-connected build machine: it reads an appliance
// spec, gathers and checks the k3s release assets for every platform, loads and lints the Helm chart,
// discovers the images the chart uses by rendering it, pulls every image for every platform, and hands
// the staged release to package payload to be written and signed.
//
// It must not touch target hosts or clusters, and must not import the GUI toolkit.
package packaging
