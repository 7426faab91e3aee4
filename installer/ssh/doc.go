// Package ssh is Ferry's SSH transport: it implements host.Host over golang.org/x/crypto/ssh and
// pkg/sftp. It owns authentication (key file with or without passphrase, password, ssh-agent), jump
// hosts (each with its own login; only channels are opened on a bastion, nothing is run there, and a
// failure there is a JumpError naming it), host key verification against a known_hosts file kept per
// site, one reused connection per host with keepalives and reconnection, sudo with the password fed on
// stdin, and the audit record of every remote command.
//
// It never skips host key verification: an unknown key is ErrUnknownHostKey until the caller accepts its
// exact fingerprint, and a changed key is ErrHostKeyMismatch. It never puts a secret in a command line,
// an error or the audit log. It must not prompt: callers collect passwords and acceptances.
package ssh
