package remote

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/ferry-delivery/ferry/appliance"
	"github.com/ferry-delivery/ferry/appliance/nodes"
	"github.com/ferry-delivery/ferry/installer"
	"github.com/ferry-delivery/ferry/installer/host"
	"github.com/ferry-delivery/ferry/installer/k3s"
	"github.com/ferry-delivery/ferry/installer/site"
)

// APIAddr is where k3s's API server listens on a server host; Ferry reaches it through SSH only, so
// nothing on the site network has to be opened for the laptop.
const APIAddr = "127.0.0.1:6443"

var (
	// ErrNotInstalled means the site records hold no kubeconfig: the cluster was never installed from
	// this laptop's records.
	ErrNotInstalled = errors.New("the site is not installed")
	// ErrNoAPI means no server's API answered through its SSH connection.
	ErrNoAPI = errors.New("no server's API is reachable")
	// ErrNoApp means the app to act on could not be told from the site records.
	ErrNoApp = errors.New("no app found in the site records")
)

// Dialer is a host that can open TCP connections from its side (installer/ssh.Host does).
type Dialer interface {
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
}

// Options tune Open and the verbs.
type Options struct {
	// Installer carries the credentials' sources, accepted host keys and progress of the connect.
	Installer installer.Options
	// Appliance is the base of every verb's options; RecordsDir, NodeImages, Charts and Keep are set by
	// the Session.
	Appliance appliance.Options
	// Keep is how many versions stay rollback-ready on the nodes and in the cluster (default
	// appliance.DefaultKeep, 3).
	Keep int
	// TempDir holds image archives built before upload (default os.TempDir()).
	TempDir string
	// APIAddr is the API server's address as seen from a server (default APIAddr).
	APIAddr string
}

// Session is one site opened for managing its app. Its verbs run one at a time.
type Session struct {
	Site    *site.Site
	Cluster *appliance.Cluster
	// Nodes lands images and places charts; its Stats say what was sent to each node.
	Nodes *nodes.Site
	// Server is the server whose API the session talks to.
	Server string

	conn   *installer.Connection
	o      Options
	holder *holder
}

// Open connects every host of s and the appliance to the cluster's API through the first server that
// answers. The caller closes the Session.
func Open(ctx context.Context, s *site.Site, o Options) (*Session, error) {
	if o.Keep <= 0 {
		o.Keep = appliance.DefaultKeep
	}
	if o.APIAddr == "" {
		o.APIAddr = APIAddr
	}
	kube, err := os.ReadFile(filepath.Join(s.RecordsDir(), installer.KubeconfigRecord))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("opening site %s: %w: no kubeconfig in %s; run the install first", s.Name, ErrNotInstalled, s.RecordsDir())
	}
	if err != nil {
		return nil, fmt.Errorf("opening site %s: reading kubeconfig: %w", s.Name, err)
	}
	conn, err := installer.Connect(ctx, s, o.Installer)
	if err != nil {
		return nil, err
	}
	sess := &Session{Site: s, conn: conn, o: o}
	ok := false
	defer func() {
		if !ok {
			conn.Close()
		}
	}()
	api, name, err := firstAPI(ctx, s, conn, o.APIAddr)
	if err != nil {
		return nil, err
	}
	sess.Server = name
	// Whatever address the kubeconfig names, the API server is the one on the server we tunnel through.
	dial := func(ctx context.Context, network, _ string) (net.Conn, error) {
		return api.DialContext(ctx, network, o.APIAddr)
	}
	if sess.Cluster, err = appliance.Connect(kube, dial); err != nil {
		return nil, fmt.Errorf("opening site %s: connecting to the cluster through %s: %w", s.Name, name, err)
	}
	if sess.Nodes, err = targets(ctx, s, conn); err != nil {
		return nil, err
	}
	sess.Nodes.TempDir, sess.Nodes.Sink = o.TempDir, o.Appliance.Sink
	if sess.holder, err = newHolder(s.RecordsDir()); err != nil {
		return nil, fmt.Errorf("opening site %s: %w", s.Name, err)
	}
	ok = true
	return sess, nil
}

// firstAPI returns the first server, in site order, whose API port answers through its SSH connection.
func firstAPI(ctx context.Context, s *site.Site, conn *installer.Connection, addr string) (Dialer, string, error) {
	var errs []error
	for _, sv := range s.Servers() {
		d, ok := conn.Hosts[sv.Name].(Dialer)
		if !ok {
			errs = append(errs, fmt.Errorf("%s: its connection cannot open TCP tunnels", sv.Name))
			continue
		}
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			if ctx.Err() != nil {
				return nil, "", ctx.Err()
			}
			errs = append(errs, err)
			continue
		}
		c.Close()
		return d, sv.Name, nil
	}
	return nil, "", fmt.Errorf("opening site %s: %w (is k3s running? `ferryctl status` after `systemctl start k3s` on a server): %w", s.Name, ErrNoAPI, errors.Join(errs...))
}

// targets describes every host for nodes.Site, learning each one's k3s bin dir (the installer falls
// back to /opt/bin where /usr/local/bin is read-only).
func targets(ctx context.Context, s *site.Site, conn *installer.Connection) (*nodes.Site, error) {
	ns := &nodes.Site{}
	var errs []error
	for _, h := range s.Hosts {
		hh := conn.Hosts[h.Name]
		res, err := hh.Run(ctx, host.Cmd{Line: fmt.Sprintf("test -x %s/k3s && echo usr || echo opt", k3s.DefaultBinDir)})
		if err != nil {
			errs = append(errs, fmt.Errorf("finding k3s on %s: %w", h.Name, err))
			continue
		}
		p := k3s.NewPaths(strings.TrimSpace(string(res.Stdout)) == "usr", s.DataDir())
		ns.Targets = append(ns.Targets, nodes.Target{Host: hh, Server: h.Role == site.RoleServer, Paths: p})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("opening site %s: %w", s.Name, err)
	}
	return ns, nil
}

// Close ends every connection and releases the session's liveness lock.
func (s *Session) Close() {
	s.conn.Close()
	s.holder.Close()
}

// options are the appliance options of one verb.
func (s *Session) options() appliance.Options {
	o := s.o.Appliance
	o.RecordsDir = s.Site.RecordsDir()
	o.NodeImages, o.Charts = s.Nodes, s.Nodes
	o.Keep = s.o.Keep
	if s.holder != nil {
		o.Liveness = s.holder
	}
	return o
}

// App is the app the site records hold history of (the appliance mirrors records under
// <records>/<app>/); exactly one is expected.
func (s *Session) App() (string, error) { return AppOf(s.Site) }

// AppOf reads the app name from a site's records without connecting.
func AppOf(s *site.Site) (string, error) {
	ents, err := os.ReadDir(s.RecordsDir())
	if errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("%w: %s does not exist; install and deploy from this site file first", ErrNoApp, s.RecordsDir())
	}
	if err != nil {
		return "", fmt.Errorf("reading site records: %w", err)
	}
	var apps []string
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		m, _ := filepath.Glob(filepath.Join(s.RecordsDir(), e.Name(), "ferry-record-*.json"))
		if len(m) > 0 {
			apps = append(apps, e.Name())
		}
	}
	switch len(apps) {
	case 1:
		return apps[0], nil
	case 0:
		return "", fmt.Errorf("%w: %s holds no history; deploy the app first, or name it with --app", ErrNoApp, s.RecordsDir())
	}
	return "", fmt.Errorf("%w: %s holds history of %s; name one with --app", ErrNoApp, s.RecordsDir(), strings.Join(apps, ", "))
}
