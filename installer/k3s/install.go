package k3s

import "fmt"

// Init is the service manager of a host, from the facts phase.
type Init int

const (
	Systemd Init = iota
	OpenRC
)

// NodeFilesInput is everything that decides the files of one node.
type NodeFilesInput struct {
	Paths   Paths
	Cluster Cluster
	Node    Node
	Token   Token
	Init    Init
	// Env is the service environment (proxy settings...). Never a token: that goes in the token file.
	Env map[string]string
}

// NodeFiles renders, in the order to write them, every file a node needs besides the binary and the image
// archives (§3, §4, §8): the reset scripts first, so a host can be reset from the moment anything else of
// k3s is on it; the token before the config that points at it; the service last, since starting it is
// what the following phase does.
func NodeFiles(in NodeFilesInput) ([]File, error) {
	fail := func(err error) ([]File, error) {
		return nil, fmt.Errorf("rendering k3s files for %s: %w", in.Node.Name, err)
	}
	if in.Token.Secret() == "" {
		return fail(fmt.Errorf("%w: no token", ErrInvalidToken))
	}
	cfg, err := in.Cluster.ConfigFor(in.Node)
	if err != nil {
		return fail(err)
	}
	var files []File
	add := func(f File, err error) error {
		if err == nil {
			files = append(files, f)
		}
		return err
	}
	r := in.Node.Role
	if err := add(KillallScript(in.Paths)); err != nil {
		return fail(err)
	}
	if err := add(UninstallScript(in.Paths)); err != nil {
		return fail(err)
	}
	files = append(files, in.Token.File(TokenFile))
	if err := add(cfg.File()); err != nil {
		return fail(err)
	}
	if in.Cluster.EmbeddedRegistry {
		// §8: every node, servers and agents, needs the mirror entry.
		if err := add(EmbeddedMirror().File()); err != nil {
			return fail(err)
		}
	}
	switch in.Init {
	case Systemd:
		if err := add(EnvFile(SystemdEnvFile(r), in.Env)); err != nil {
			return fail(err)
		}
		if err := add(SystemdUnit(in.Paths, r)); err != nil {
			return fail(err)
		}
	case OpenRC:
		if err := add(EnvFile(OpenRCEnvFile(r), in.Env)); err != nil {
			return fail(err)
		}
		if err := add(OpenRCService(in.Paths, r)); err != nil {
			return fail(err)
		}
	default:
		return fail(fmt.Errorf("%w: unknown init system %d", ErrInvalidConfig, in.Init))
	}
	return files, nil
}
