package lab

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"time"

	"golang.org/x/crypto/ssh"
)

// Dial opens an SSH connection to h with cfg, giving up when ctx ends or after timeout (0: no limit).
// The host key is always verified by cfg's callback.
func Dial(ctx context.Context, h Host, cfg *ssh.ClientConfig, timeout time.Duration) (*ssh.Client, error) {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", h.Addr())
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", h.Name, err)
	}
	// The handshake has no context; a deadline bounds it instead (a cut link stalls it forever).
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	c, chans, reqs, err := ssh.NewClientConn(conn, h.Addr(), cfg)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("opening SSH to %s: %w", h.Name, err)
	}
	_ = conn.SetDeadline(time.Time{})
	return ssh.NewClient(c, chans, reqs), nil
}

// Output runs cmd in a new session on c, feeding stdin (may be nil), and returns stdout and stderr.
// When ctx ends the session is closed.
func Output(ctx context.Context, c *ssh.Client, cmd string, stdin io.Reader) (stdout, stderr string, err error) {
	s, err := c.NewSession()
	if err != nil {
		return "", "", fmt.Errorf("opening session: %w", err)
	}
	defer s.Close()
	var o, e bytes.Buffer
	s.Stdout, s.Stderr, s.Stdin = &o, &e, stdin
	stop := context.AfterFunc(ctx, func() { s.Close() })
	defer stop()
	err = s.Run(cmd)
	if ctx.Err() != nil {
		err = ctx.Err()
	}
	if err != nil {
		err = fmt.Errorf("running %q: %w: %s", cmd, err, bytes.TrimSpace(e.Bytes()))
	}
	return o.String(), e.String(), err
}
