package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func write(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

func noEnv(string) string { return "" }

func TestLoadMergesDropinsInOrder(t *testing.T) {
	dir := t.TempDir()
	main := filepath.Join(dir, "config.yaml")
	write(t, main, "token: one\ntls-san: [a.example]\nwrite-kubeconfig-mode: \"0644\"\nnode-label: [x=1]\n")
	write(t, filepath.Join(dir, "config.yaml.d", "20-b.yaml"), "token: three\ntls-san+: c.example\n")
	write(t, filepath.Join(dir, "config.yaml.d", "10-a.yaml"), "token: two\ntls-san+: [b.example]\nnode-label: [y=2]\n")
	write(t, filepath.Join(dir, "config.yaml.d", "30-ignored.txt"), "nonsense: true\n")

	c, err := Load("server", []string{"--config", main}, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.String("token"); got != "three" {
		t.Errorf("token = %q, want the last drop-in's value", got)
	}
	if diff := cmp.Diff([]string{"a.example", "b.example", "c.example"}, c.List("tls-san")); diff != "" {
		t.Errorf("tls-san (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"y=2"}, c.List("node-label")); diff != "" {
		t.Errorf("node-label replaced without +: (-want +got):\n%s", diff)
	}
	if got := c.String("write-kubeconfig-mode"); got != "0644" {
		t.Errorf("write-kubeconfig-mode = %q", got)
	}
}

func TestFlagsWinOverFilesAndFilesOverEnv(t *testing.T) {
	dir := t.TempDir()
	main := filepath.Join(dir, "config.yaml")
	write(t, main, "token: fromfile\nnode-name: filenode\n")
	env := func(k string) string {
		return map[string]string{"K3S_TOKEN": "fromenv", "K3S_NODE_NAME": "envnode", "K3S_DATA_DIR": "/envdir"}[k]
	}
	c, err := Load("agent", []string{"-c", main, "--node-name=flagnode", "--debug"}, env)
	if err != nil {
		t.Fatal(err)
	}
	got := []any{c.String("token"), c.String("node-name"), c.String("data-dir"), c.Bool("debug")}
	want := []any{"fromfile", "flagnode", "/envdir", true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Error(diff)
	}
}

func TestUnknownKeyRefused(t *testing.T) {
	dir := t.TempDir()
	main := filepath.Join(dir, "config.yaml")
	write(t, main, "tls-sans: [typo]\n")
	_, err := Load("server", []string{"--config", main}, noEnv)
	if !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("err = %v, want ErrUnknownKey", err)
	}
}

func TestServerOnlyKeySkippedByAgent(t *testing.T) {
	dir := t.TempDir()
	main := filepath.Join(dir, "config.yaml")
	write(t, main, "tls-san: [x]\nserver: https://10.0.0.1:6443\n")
	c, err := Load("agent", []string{"--config", main}, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if c.Has("tls-san") || c.String("server") != "https://10.0.0.1:6443" {
		t.Errorf("agent config: tls-san set=%v server=%q", c.Has("tls-san"), c.String("server"))
	}
	if diff := cmp.Diff([]string{"tls-san"}, c.Skipped); diff != "" {
		t.Error(diff)
	}
}

func TestMissingDefaultFileIsFineNamedIsNot(t *testing.T) {
	if _, err := Load("server", []string{"--config", filepath.Join(t.TempDir(), "nope.yaml")}, noEnv); err == nil {
		t.Error("missing named config file accepted")
	}
	if _, err := Load("server", []string{"--bogus"}, noEnv); err == nil {
		t.Error("unknown flag accepted")
	}
}
