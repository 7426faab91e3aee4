// Package payload owns the Ferry bundle format: one file that carries a whole release (k3s binaries and
// air-gap images per platform, the application's Helm chart and values, and every container image in a
// content-addressed OCI image store), described by a signed manifest.
//
// It names every path inside a bundle in one place, reads members by random access without extracting the
// bundle, verifies the signature and every member's checksum, and refuses anything unlisted, duplicated,
// truncated, linked or escaping its root. It writes per-platform image archives on the fly in a form k3s's
// containerd imports.
//
// It must not touch hosts, clusters or the network, and must not import the GUI toolkit.
package payload
