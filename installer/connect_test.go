package installer

import (
	"context"
	"errors"
	"testing"

	"github.com/ferry-delivery/ferry/installer/host"
	"github.com/ferry-delivery/ferry/installer/host/hosttest"
	"github.com/ferry-delivery/ferry/installer/site"
	"github.com/ferry-delivery/ferry/installer/ssh"
)

// closingFake records whether the connection to it was closed.
type closingFake struct {
	*hosttest.Fake
	closed *int
}

func (c closingFake) Close() error { *c.closed++; return nil }

// Connect hands back every host by name; one unreachable host fails the call, names that host, and
// closes the connections already opened.
func TestConnect(t *testing.T) {
	s := writeSite(t, fakeSite)
	down := errors.New("no route to host")
	var closed int
	dial := func(unreachable string) func(context.Context, site.Host, ssh.Config) (host.Host, error) {
		return func(_ context.Context, h site.Host, cfg ssh.Config) (host.Host, error) {
			if cfg.KnownHosts != s.RecordsDir()+"/known_hosts" {
				t.Errorf("%s: known_hosts %q, want the site's", h.Name, cfg.KnownHosts)
			}
			if h.Name == unreachable {
				return nil, down
			}
			return closingFake{hosttest.New(h.Name, t.TempDir()), &closed}, nil
		}
	}
	c, err := Connect(context.Background(), s, Options{Dial: dial("")})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Hosts) != 3 || c.Hosts["a1"].Name() != "a1" || len(c.Names) != 3 || c.Names[0] != "cp1" {
		t.Fatalf("hosts %v, names %v", c.Hosts, c.Names)
	}
	c.Close()
	if closed != 3 {
		t.Fatalf("%d connections closed, want 3", closed)
	}

	closed = 0
	_, err = Connect(context.Background(), s, Options{Dial: dial("a2"), Parallel: 1})
	if !errors.Is(err, down) {
		t.Fatalf("unreachable host: err = %v", err)
	}
	if closed != 2 {
		t.Fatalf("%d connections closed after the failure, want the 2 opened", closed)
	}
}
