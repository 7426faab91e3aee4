package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-delivery/ferry/appliance"
)

// runCmd executes ferryctl with args under ctx and returns stdout, stderr and the error. Stdin is empty,
// so a confirmation prompt reads "no" instead of waiting on the test's stdin.
func runCmd(ctx context.Context, args ...string) (string, string, error) {
	root := newRootCmd()
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetIn(strings.NewReader(""))
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	return out.String(), errb.String(), err
}

// run is runCmd without a deadline.
func run(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	return runCmd(context.Background(), args...)
}

// useCluster makes the appliance verbs connect to c (restored when the test ends) and returns the path of
// a kubeconfig to pass as --kubeconfig: the flag is still required, its content is never read.
func useCluster(t *testing.T, c *appliance.Cluster) string {
	t.Helper()
	old := applianceConnect
	applianceConnect = func([]byte) (*appliance.Cluster, error) { return c, nil }
	t.Cleanup(func() { applianceConnect = old })
	kc := filepath.Join(t.TempDir(), "k3s.yaml")
	if err := os.WriteFile(kc, []byte("unused: the connection is swapped\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return kc
}
