package appliance

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The API server is reachable only through the caller's dialer, as over an SSH session: the kubeconfig
// names 127.0.0.1:6443 (the server's own loopback), the test server listens elsewhere, and TLS is
// verified against the kubeconfig's CA end to end.
func TestConnectDialsThroughCallerDialer(t *testing.T) {
	var mu sync.Mutex
	var auth []string
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auth = append(auth, r.Header.Get("Authorization"))
		mu.Unlock()
		switch r.URL.Path {
		case "/api/v1/namespaces/ferry-system/secrets":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"kind":"SecretList","apiVersion":"v1","metadata":{},"items":[{"metadata":{"name":"ferry-record-shop-000001","namespace":"ferry-system"}}]}`)
		case "/apis/helm.cattle.io/v1/namespaces/ferry-system/helmcharts":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"kind":"HelmChartList","apiVersion":"helm.cattle.io/v1","metadata":{},"items":[{"metadata":{"name":"shop"},"spec":{"targetNamespace":"shop"}}]}`)
		default:
			http.NotFound(w, r)
		}
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the wrong-CA handshake below is expected to fail
	srv.StartTLS()
	defer srv.Close()
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})

	var dialed []string
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		mu.Lock()
		dialed = append(dialed, addr)
		mu.Unlock()
		var d net.Dialer
		return d.DialContext(ctx, "tcp", srv.Listener.Addr().String())
	}
	kubeconfig := func(ca []byte) []byte {
		return fmt.Appendf(nil, `apiVersion: v1
kind: Config
clusters:
- name: default
  cluster:
    server: https://127.0.0.1:6443
    certificate-authority-data: %s
users:
- name: default
  user:
    token: s3cret-token
contexts:
- name: default
  context: {cluster: default, user: default}
current-context: default
`, b64(ca))
	}

	c, err := Connect(kubeconfig(caPEM), dial)
	if err != nil {
		t.Fatal(err)
	}
	list, err := c.Kube.CoreV1().Secrets(DefaultNamespace).List(context.Background(), metav1.ListOptions{})
	if err != nil || len(list.Items) != 1 || list.Items[0].Name != "ferry-record-shop-000001" {
		t.Fatalf("listing through the dialer: %v %+v", err, list)
	}
	charts, err := c.Helm.HelmV1().HelmCharts(DefaultNamespace).List(context.Background(), metav1.ListOptions{})
	if err != nil || len(charts.Items) != 1 || charts.Items[0].Spec.TargetNamespace != "shop" {
		t.Fatalf("helm-controller client through the dialer: %v", err)
	}
	mu.Lock()
	if len(dialed) == 0 || dialed[0] != "127.0.0.1:6443" {
		t.Errorf("dialed %v, want the kubeconfig's 127.0.0.1:6443 handed to the dialer", dialed)
	}
	if auth[0] != "Bearer s3cret-token" {
		t.Errorf("authorization %q", auth[0])
	}
	mu.Unlock()

	// A CA that did not sign the server's certificate must fail: the dialer carries bytes, TLS still checks.
	// (httptest servers all share one certificate, so the wrong CA is made here.)
	wrongCA := selfSignedCA(t)
	bad, err := Connect(kubeconfig(wrongCA), dial)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.Kube.CoreV1().Secrets(DefaultNamespace).List(context.Background(), metav1.ListOptions{}); err == nil {
		t.Fatal("a server certificate not signed by the kubeconfig's CA was accepted")
	}

	if _, err := Connect(kubeconfig(caPEM), nil); !errors.Is(err, ErrNoDialer) {
		t.Fatalf("no dialer: %v", err)
	}
	if _, err := Connect([]byte("not: [a kubeconfig"), dial); err == nil {
		t.Fatal("garbage kubeconfig accepted")
	}
}

func selfSignedCA(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "other-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
