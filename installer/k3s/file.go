package k3s

import "io/fs"

// File is one rendered file for a phase to write on a host (temp name, then rename, with this mode).
type File struct {
	Path string
	Mode fs.FileMode
	Data []byte
}

// Modes of the files Ferry writes. Anything that may hold a secret is 0600 (§3: the env file may hold a
// token; §5: the kubeconfig embeds the admin key).
const (
	SecretMode fs.FileMode = 0o600
	UnitMode   fs.FileMode = 0o644
	ScriptMode fs.FileMode = 0o755
)
