// Package testregistry is a test fixture: a real OCI registry (go-containerregistry's pkg/registry) served
// in process over httptest, plain HTTP or TLS, and builders of random multi-arch images pushed to it.
// Tests in any area use it to pull real images without a network; the bundle benchmark runs it in a
// separate process (cmd/testregistry) so every measured tool reads from the same server.
//
// It is for tests and benchmarks only: product code must not import it.
package testregistry
