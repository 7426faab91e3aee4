package ssh

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"

	xssh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// knownHostsMu serialises appends to known_hosts files within this process.
var knownHostsMu sync.Mutex

// hostKeyCallback verifies against file, accepting an unknown key only if its fingerprint is in accept
// (which then records it). It remembers the last rejection so Dial can return it unwrapped of x/crypto's
// message.
func hostKeyCallback(file, name string, accept []string, lastErr *error) xssh.HostKeyCallback {
	return func(hostname string, remote net.Addr, key xssh.PublicKey) error {
		err := checkKnown(file, name, hostname, remote, key, accept)
		*lastErr = err
		return err
	}
}

func checkKnown(file, name, hostname string, remote net.Addr, key xssh.PublicKey, accept []string) error {
	if err := ensureFile(file); err != nil {
		return err
	}
	cb, err := knownhosts.New(file)
	if err != nil {
		return fmt.Errorf("reading %s: %w", file, err)
	}
	err = cb(hostname, remote, key)
	if err == nil {
		return nil
	}
	fp := xssh.FingerprintSHA256(key)
	var ke *knownhosts.KeyError
	var re *knownhosts.RevokedError
	switch {
	case errors.As(err, &re):
		return &HostKeyError{Host: name, Addr: hostname, Fingerprint: fp, KeyType: key.Type(), KnownHosts: file, sentinel: ErrHostKeyMismatch}
	case errors.As(err, &ke) && len(ke.Want) > 0:
		e := &HostKeyError{Host: name, Addr: hostname, Fingerprint: fp, KeyType: key.Type(), KnownHosts: file, Line: ke.Want[0].Line, sentinel: ErrHostKeyMismatch}
		for _, w := range ke.Want {
			e.Known = append(e.Known, xssh.FingerprintSHA256(w.Key))
		}
		return e
	case errors.As(err, &ke):
		for _, a := range accept {
			if a == fp {
				return appendKnown(file, hostname, key)
			}
		}
		return &HostKeyError{Host: name, Addr: hostname, Fingerprint: fp, KeyType: key.Type(), KnownHosts: file, sentinel: ErrUnknownHostKey}
	}
	return err
}

func ensureFile(file string) error {
	if _, err := os.Stat(file); err == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(file, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	return f.Close()
}

func appendKnown(file, hostname string, key xssh.PublicKey) error {
	knownHostsMu.Lock()
	defer knownHostsMu.Unlock()
	f, err := os.OpenFile(file, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("recording host key in %s: %w", file, err)
	}
	_, err = fmt.Fprintln(f, knownhosts.Line([]string{knownhosts.Normalize(hostname)}, key))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// knownAlgorithms lists the host key algorithms recorded for addr, so the handshake asks the server for a
// key we can verify instead of whichever type it prefers (which would look like a changed key).
func knownAlgorithms(file, addr string) []string {
	if _, err := os.Stat(file); err != nil {
		return nil
	}
	cb, err := knownhosts.New(file)
	if err != nil {
		return nil
	}
	// A throwaway key never matches, so the error lists every recorded key for the address.
	pub, _, _ := ed25519.GenerateKey(bytes.NewReader(make([]byte, 64)))
	probe, _ := xssh.NewPublicKey(pub)
	err = cb(addr, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, probe)
	var ke *knownhosts.KeyError
	if !errors.As(err, &ke) {
		return nil
	}
	var algs []string
	seen := map[string]bool{}
	add := func(a string) {
		if !seen[a] {
			seen[a] = true
			algs = append(algs, a)
		}
	}
	for _, w := range ke.Want {
		switch t := w.Key.Type(); t {
		case xssh.KeyAlgoRSA:
			add(xssh.KeyAlgoRSASHA512)
			add(xssh.KeyAlgoRSASHA256)
			add(t)
		default:
			add(t)
		}
	}
	return algs
}
