// Package jumplab holds the jump host scenario on the site lab (test/lab): one lab host is a bastion with
// an account of its own (user gate, no shell, its own key) that lets in only that account; another is a
// target whose sshd accepts root only from the bastion's address, so it is reachable only through the
// bastion. The wizard's real engine and the installer (ferryctl's path) reach it with the bastion's own
// login and fail, naming the bastion, with the host's. Run it with `make test-jumphost` (root, lab ID
// $(JUMP_LAB_ID), default 50); plain `go test` skips it.
package jumplab
