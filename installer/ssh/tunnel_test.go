package ssh

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/ferry-delivery/ferry/installer/ssh/sshtest"
	xssh "golang.org/x/crypto/ssh"
)

// echoServer listens on the host's loopback (here: this machine, which the test sshd runs on) and
// echoes every connection back.
func echoServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	return l.Addr().String()
}

func roundTrip(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
	if string(buf) != msg {
		t.Fatalf("echo = %q, want %q", buf, msg)
	}
}

func TestDialContextThroughSSH(t *testing.T) {
	s := sshtest.Start(t, sshtest.Options{})
	h := dial(t, rootConfig(t, s, t.TempDir()))
	addr := echoServer(t)
	ctx := context.Background()

	c, err := h.DialContext(ctx, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, c, "through the tunnel")
	c.Close()

	// Nothing listening: the server's refusal comes back as an error naming the host, no retry loop.
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := dead.Addr().String()
	dead.Close()
	_, err = h.DialContext(ctx, "tcp", deadAddr)
	var oc *xssh.OpenChannelError
	if !errors.As(err, &oc) {
		t.Fatalf("dial to closed port: err = %v, want OpenChannelError", err)
	}

	if _, err := h.DialContext(ctx, "udp", addr); err == nil {
		t.Fatal("udp accepted")
	}

	// A cut connection is replaced on the next dial.
	h.drop()
	c, err = h.DialContext(ctx, "tcp", addr)
	if err != nil {
		t.Fatalf("dial after drop: %v", err)
	}
	roundTrip(t, c, "after reconnect")
	c.Close()

	// A cancelled context is honoured.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := h.DialContext(cctx, "tcp", addr); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled dial: err = %v", err)
	}
}
