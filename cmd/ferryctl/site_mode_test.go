package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-delivery/ferry/appliance/remote"
)

// The site-mode verbs refuse what they cannot do before connecting anywhere.
func TestSiteModeFlagErrors(t *testing.T) {
	dir := t.TempDir()
	siteFile := filepath.Join(dir, "site.yaml")
	os.WriteFile(siteFile, []byte("name: lab\nhosts:\n  - name: n1\n    address: 127.0.0.1\n    role: server\n    user: root\n    auth: {keyFile: id}\n"), 0o600)
	cases := []struct {
		args []string
		want string
		is   error
	}{
		{[]string{"deploy", "--bundle", "x.ferry", "--kubeconfig", "k"}, "", errNeedSite},
		{[]string{"upgrade", "--bundle", "x.ferry"}, "", errNeedSite},
		{[]string{"status", "--site", siteFile, "--kubeconfig", "k", "--app", "a"}, "not both", nil},
		{[]string{"history"}, "--site site.yaml", nil},
		{[]string{"history", "--kubeconfig", "k"}, "--app is required", nil},
		// No history in the records and no --app: which app is meant cannot be told.
		{[]string{"status", "--site", siteFile}, "", remote.ErrNoApp},
		// An app named but never installed from these records: no kubeconfig.
		{[]string{"rollback", "--site", siteFile, "--app", "shop"}, "", remote.ErrNotInstalled},
		// A negative health timeout is refused before anything is opened.
		{[]string{"upgrade", "--site", siteFile, "--bundle", "x.ferry", "--timeout", "-5s"}, "--timeout -5s", nil},
		{[]string{"rollback", "--site", siteFile, "--app", "shop", "--timeout", "-1m"}, "positive duration", nil},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			root := newRootCmd()
			root.SetArgs(c.args)
			root.SetOut(&bytes.Buffer{})
			root.SetErr(&bytes.Buffer{})
			err := root.Execute()
			if err == nil || (c.is != nil && !errors.Is(err, c.is)) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %v / %q", err, c.is, c.want)
			}
		})
	}
}
