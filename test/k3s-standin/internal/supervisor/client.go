package supervisor

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ferry-delivery/ferry/test/k3s-standin/internal/pki"
)

// ErrCAHashMismatch means the server's CA is not the one the token names: wrong server or tampering.
var ErrCAHashMismatch = errors.New("server CA does not match the token's CA hash")

// FetchCA gets the server's CA from /cacerts. As in k3s, that first request cannot verify the server
// yet; the token's CA hash is the trust anchor, checked here before the CA is used for anything.
func FetchCA(ctx context.Context, server string, tok pki.Token) ([]byte, error) {
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // verified by the token's hash below
	}}
	b, err := get(ctx, c, strings.TrimSuffix(server, "/")+"/cacerts", "")
	if err != nil {
		return nil, fmt.Errorf("fetching the CA from %s: %w", server, err)
	}
	if tok.CAHash != "" && pki.HashCA(b) != tok.CAHash {
		return nil, fmt.Errorf("joining %s: %w", server, ErrCAHashMismatch)
	}
	return b, nil
}

// FetchNodeCredentials asks the server for this node's client certificate.
func FetchNodeCredentials(ctx context.Context, server string, ca []byte, tok pki.Token, node string) (NodeCredentials, error) {
	var nc NodeCredentials
	b, err := get(ctx, verifying(ca), strings.TrimSuffix(server, "/")+NodeKubeconfigPath+"?node="+url.QueryEscape(node), tok.Password)
	if err != nil {
		return nc, fmt.Errorf("fetching node credentials from %s: %w", server, err)
	}
	return nc, json.Unmarshal(b, &nc)
}

// FetchBootstrap gets the CA material a joining server shares with the first server.
func FetchBootstrap(ctx context.Context, server string, ca []byte, tok pki.Token) (map[string][]byte, error) {
	out := map[string][]byte{}
	b, err := get(ctx, verifying(ca), strings.TrimSuffix(server, "/")+BootstrapPath, tok.Password)
	if err != nil {
		return nil, fmt.Errorf("fetching bootstrap data from %s: %w", server, err)
	}
	return out, json.Unmarshal(b, &out)
}

func verifying(ca []byte) *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

func get(ctx context.Context, c *http.Client, u, password string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	if password != "" {
		req.SetBasicAuth("node", password)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	return b, nil
}
