package ssh

import (
	"errors"
	"fmt"
	"strings"
)

var (
	// ErrUnknownHostKey means the host's key is not in the site's known_hosts and was not accepted.
	ErrUnknownHostKey = errors.New("unknown host key")
	// ErrHostKeyMismatch means the host presented a key other than the one recorded for it.
	ErrHostKeyMismatch = errors.New("host key mismatch")
	// ErrAuthFailed means the server refused every offered credential.
	ErrAuthFailed = errors.New("authentication failed")
	// ErrPassphraseNeeded means the key file is encrypted and no passphrase was given.
	ErrPassphraseNeeded = errors.New("key passphrase needed")
)

// HostKeyError carries what a user needs to decide about a host key. It matches ErrUnknownHostKey or
// ErrHostKeyMismatch with errors.Is.
type HostKeyError struct {
	Host        string   // site name of the host
	Addr        string   // host:port as dialled
	Fingerprint string   // SHA256:... of the key presented
	KeyType     string   // e.g. ssh-ed25519
	Known       []string // fingerprints recorded for this address (mismatch only)
	KnownHosts  string   // the known_hosts file consulted
	Line        int      // first known_hosts line for this address (mismatch only)
	sentinel    error
}

func (e *HostKeyError) Unwrap() error { return e.sentinel }

func (e *HostKeyError) Error() string {
	if e.sentinel == ErrUnknownHostKey {
		return fmt.Sprintf("%s: host %s (%s) is not known yet; its %s key has fingerprint %s. "+
			"Compare it with `ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub` on the host's console, then re-run with --accept-host-key %s",
			ErrUnknownHostKey, e.Host, e.Addr, e.KeyType, e.Fingerprint, e.Fingerprint)
	}
	return fmt.Sprintf("%s: host %s (%s) presented %s key %s, but %s line %d records %s. "+
		"This is either a reinstalled host or someone intercepting the connection: confirm the new key on the host's console, "+
		"then delete that line and accept the new key",
		ErrHostKeyMismatch, e.Host, e.Addr, e.KeyType, e.Fingerprint, e.KnownHosts, e.Line, strings.Join(e.Known, ", "))
}

// JumpError is a failure to reach or log into the jump host (bastion) a host is reached through: the
// host behind it was not contacted. Err keeps the cause visible to errors.Is (ErrAuthFailed,
// ErrPassphraseNeeded, a HostKeyError whose Addr is the bastion's).
type JumpError struct {
	Name string // the bastion's name in messages, e.g. "cp1 (jump host bastion)"
	Addr string // the bastion's host:port
	Err  error
}

func (e *JumpError) Unwrap() error { return e.Err }

func (e *JumpError) Error() string {
	return fmt.Sprintf("through jump host %s: %v", e.Addr, e.Err)
}
