package ssh

import (
	"context"
	"errors"
	"io"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-delivery/ferry/installer/host"
	"github.com/ferry-delivery/ferry/installer/ssh/sshtest"
)

// silentProxy forwards TCP to target and, while held, stops forwarding without closing anything: a cut
// cable or a dead router, where no RST ever arrives.
type silentProxy struct {
	l    net.Listener
	hold atomic.Bool
	wg   sync.WaitGroup
}

func newSilentProxy(t *testing.T, target string) *silentProxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &silentProxy{l: l}
	var conns []net.Conn
	var mu sync.Mutex
	t.Cleanup(func() {
		p.hold.Store(false)
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		p.wg.Wait()
	})
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c, u)
			mu.Unlock()
			p.wg.Add(2)
			go p.pipe(c, u)
			go p.pipe(u, c)
		}
	}()
	return p
}

func (p *silentProxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		for p.hold.Load() {
			time.Sleep(10 * time.Millisecond)
			if n == 0 && err != nil {
				break
			}
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if err != io.EOF {
				dst.Close()
			}
			return
		}
	}
}

func (p *silentProxy) port() int { return p.l.Addr().(*net.TCPAddr).Port }

func TestKeepAliveDetectsSilentLinkAndReconnects(t *testing.T) {
	s := sshtest.Start(t, sshtest.Options{})
	p := newSilentProxy(t, s.Addr())
	rec := t.TempDir()
	cfg := Config{Name: "node1", Address: "127.0.0.1", Port: p.port(), User: "root", KeyFile: s.ClientKey,
		KnownHosts: filepath.Join(rec, "known_hosts"), AcceptHostKeys: []string{s.Fingerprint}, KeepAlive: 200 * time.Millisecond, DialTimeout: time.Second}
	h := dial(t, cfg)
	ctx := context.Background()
	if _, err := h.Run(ctx, host.Cmd{Line: "true"}); err != nil {
		t.Fatal(err)
	}

	// The link goes silent: the keepalive notices and drops the connection, and the reconnection attempt
	// is bounded by the dial timeout, so the command fails instead of hanging forever.
	p.hold.Store(true)
	start := time.Now()
	_, err := h.Run(ctx, host.Cmd{Line: "echo never"})
	if err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("command on a silent link: err %v after %v, want a failure within seconds", err, time.Since(start))
	}
	if !errors.Is(err, errConnLost) && !errors.Is(err, io.EOF) {
		t.Logf("failure on the silent link: %v", err)
	}

	// The link comes back: the next command reconnects by itself.
	p.hold.Store(false)
	res, err := h.Run(ctx, host.Cmd{Line: "echo back"})
	if err != nil || string(res.Stdout) != "back\n" {
		t.Fatalf("after the link returned: %q %v", res.Stdout, err)
	}
}
