// Package sshtest starts real OpenSSH servers for tests: `sshd -D -f <temp config>` on 127.0.0.1 and a
// free port, with its own host key and authorized keys in a temporary directory, and (only when the
// caller opts in) a throwaway system user with a password and a sudoers entry. Everything it creates is
// removed by t.Cleanup, also when the test fails. It must only be imported by tests.
package sshtest
