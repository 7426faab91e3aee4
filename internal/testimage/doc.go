// Package testimage builds the small container images tests and scenarios ship: random (incompressible)
// linux images of a chosen architecture, the next version of one that changes only its last layer, and
// an image as a tar of an OCI image layout, the archive form containerd (and so k3s's air-gap import)
// reads.
//
// It is for tests and benchmarks only: product code must not import it.
package testimage
