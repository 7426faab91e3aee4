// Package hosttest provides Fake, a host.Host for unit tests: commands are answered by a script of
// responses and recorded, and the remote filesystem is a local temporary directory. It must only be
// imported by tests.
package hosttest
