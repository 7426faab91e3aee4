// Package installlab holds the installer's Bootstrap scenarios on the site lab (test/lab): Ferry's own
// phases install the k3s stand-in (test/k3s-standin, never shipped) from a test bundle on real
// systemd-nspawn hosts over SSH, re-run as a no-op, and reset. Run them with `make test-install` (root,
// lab IDs 1-2); plain `go test` skips them.
package installlab
