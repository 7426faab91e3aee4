// Package payload owns the Ferry bundle format: one file that carries a whole release (k3s binaries and
// air-gap images per platform, the application's Helm chart and values, and every container image in a
// content-addressed OCI image store), described by a signed manifest.
//
// It names every path inside a bundle in one place, reads members by random access without extracting the
// bundle, verifies the signature and every member's checksum, and refuses anything unlisted, duplicated,
// truncated, linked or escaping its root. It writes per-platform image archives on the fly in a form k3s's
// containerd imports.
//
// The container is a ZIP archive with every member stored uncompressed, so a member is a plain byte range
// (random access, no extraction) and the ZIP end record is a standard trailer that still locates the
// archive when it is appended to an executable. docs/bundle-format.md specifies the format; layout.go
// names every path, manifest.go holds the schema, open.go and verify.go the rejection rules.
//
// It must not touch hosts, clusters or the network, and must not import the GUI toolkit.
package payload
