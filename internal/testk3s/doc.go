// Package testk3s is a test fixture: it writes a stand-in k3s release directory (the real release file
// names of k3s-contract.md §1 and correct sha256sum files) and serves one over HTTPS with range support.
// The "k3s binary" here is a stand-in shell script, not k3s: only the names and checksums are real.
//
// Assets writes the few k3s files a bundle source names, with contents of the caller's choosing;
// StandinAssets writes them around the real k3s stand-in binary, for bundles the site lab installs.
//
// It is for tests and benchmarks only: product code must not import it.
package testk3s
