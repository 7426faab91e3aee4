// Package packaging builds Ferry bundles on an internet-connected build machine: it reads an appliance
// spec (appliance.yaml), gathers and checks the k3s release assets for every platform, loads and lints the
// Helm chart, discovers the images the chart uses by rendering it, pulls every image for every platform
// into an OCI image layout, and hands the staged release to package payload to be written and signed.
// The bundle is written while the images download (payload.ImageStager): the pull stages each verified
// blob and the writer copies it in the bundle's fixed order as soon as it is there.
//
// Everything fetched is kept in a work directory, content-addressed and verified before it takes its
// final name, so an interrupted build resumes where it stopped; the bundle file itself appears only when
// complete (payload.Write renames it into place).
//
// It must not touch target hosts or clusters, must not define the bundle layout (payload owns it), and
// must not import the GUI toolkit.
package packaging
