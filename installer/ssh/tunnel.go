package ssh

import (
	"context"
	"errors"
	"fmt"
	"net"

	xssh "golang.org/x/crypto/ssh"
)

// DialContext opens a TCP connection from the host to addr through its SSH connection (a direct-tcpip
// channel, as `ssh -W`): the laptop reaches a port that listens only on the host's loopback, such as
// the k3s API on 127.0.0.1:6443, without opening anything on the site network.
//
// Like Run, it reconnects once if the SSH connection turns out to have died; an established tunnel
// does not survive a drop, so callers that keep connections (client-go's transport) simply dial again.
func (h *Host) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, fmt.Errorf("dialling %s through %s: network %q not supported over SSH (tcp only)", addr, h.cfg.Name, network)
	}
	for attempt := 0; ; attempt++ {
		c, err := h.getClient(ctx)
		if err != nil {
			return nil, err
		}
		conn, err := c.DialContext(ctx, network, addr)
		if err == nil {
			return conn, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		// A refused forward (nothing listening, forwarding disabled) is the server's answer on a
		// live connection: retrying would not change it. Only a dead transport is worth a reconnect.
		var refused *xssh.OpenChannelError
		if attempt == 0 && !errors.As(err, &refused) {
			h.discard(c)
			continue
		}
		return nil, fmt.Errorf("dialling %s through %s: %w", addr, h.cfg.Name, err)
	}
}
