// Package site reads and validates site.yaml, the description of one customer site: its hosts (address,
// role, login, credentials by reference, jump host) and k3s options. The format is documented in
// docs/site-file.md.
//
// It never holds a secret read from the file: passwords and passphrases are named by environment
// variable or prompted for by the caller. It must not dial or touch hosts.
package site
