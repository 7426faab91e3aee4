package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-delivery/ferry/internal/testk3s"
	"github.com/ferry-delivery/ferry/internal/testregistry"
)

// TestMain lets a test run this test binary as ferryctl itself (FERRYCTL_TEST_MAIN=1), so signal handling
// is tested on the real main without building a separate binary.
func TestMain(m *testing.M) {
	if os.Getenv("FERRYCTL_TEST_MAIN") == "1" {
		os.Args = append([]string{"ferryctl"}, strings.Fields(os.Getenv("FERRYCTL_TEST_ARGS"))...)
		main()
		os.Exit(0)
	}
	// Hermetic: the trusted keys folder of whoever runs the tests must not change what they see.
	cfg, err := os.MkdirTemp("", "ferryctl-test-config-")
	if err != nil {
		panic(err)
	}
	os.Setenv("XDG_CONFIG_HOME", cfg)
	code := m.Run()
	os.RemoveAll(cfg)
	os.Exit(code)
}

func TestBundleBuildInterruptedByCtrlC(t *testing.T) {
	// A registry slow enough that the pull is still running when the signal arrives.
	reg := testregistry.New(t, testregistry.Options{BytesPerSecond: 1 << 20})
	if _, err := reg.Push(context.Background(), testregistry.ImageSpec{Ref: "ferry-test/web:1.0",
		Platforms: []string{"linux/amd64", "linux/arm64"}, Layers: 2, LayerSize: 2 << 20, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	rel := testk3s.New(t, "v1.31.4+k3s1", "amd64", "arm64")
	chart, _ := filepath.Abs("../../packaging/testdata/chart")
	dir := t.TempDir()
	spec := filepath.Join(dir, "appliance.yaml")
	body := fmt.Sprintf("app: {name: demo, version: 1.2.0}\nk3s: {version: v1.31.4+k3s1, dir: %s}\nplatforms: [linux/amd64, linux/arm64]\n"+
		"chart: %s\nvalues: values.yaml\n", rel.Dir, chart)
	values := fmt.Sprintf("registry: %s\ninit:\n  image: %s/ferry-test/web:1.0\ndb:\n  image:\n    repository: ferry-test/web\n", reg.Host, reg.Host)
	for p, c := range map[string]string{spec: body, filepath.Join(dir, "values.yaml"): values} {
		if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "out", "demo.ferry")
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "FERRYCTL_TEST_MAIN=1",
		"FERRYCTL_TEST_ARGS=bundle build --unsigned -f "+spec+" -o "+out+" --work-dir "+filepath.Join(dir, "work"))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	sc := bufio.NewScanner(stderr)
	signalled := time.Time{}
	for sc.Scan() {
		log.WriteString(sc.Text() + "\n")
		if signalled.IsZero() && strings.HasPrefix(sc.Text(), "pulling images") {
			if err := cmd.Process.Signal(os.Interrupt); err != nil {
				t.Fatal(err)
			}
			signalled = time.Now()
		}
	}
	err = cmd.Wait()
	if signalled.IsZero() {
		t.Fatalf("the build never reached the pull (err %v):\n%s", err, log.String())
	}
	if took := time.Since(signalled); took > 5*time.Second {
		t.Errorf("the build took %v to stop after Ctrl-C", took)
	}
	status, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || status.ExitStatus() != 130 || !strings.Contains(log.String(), "cancelled") {
		t.Fatalf("exit %v, want 130 and \"cancelled\":\n%s", err, log.String())
	}
	entries, _ := os.ReadDir(filepath.Dir(out))
	if len(entries) != 0 {
		t.Fatalf("an interrupted build left %v in the output directory", entries)
	}
}
