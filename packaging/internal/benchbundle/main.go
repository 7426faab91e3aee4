// Command benchbundle compares `ferryctl bundle build` with `crane pull --format oci` on the same images,
// served by one in-process registry running in its own process (cmd/testregistry), and prints the time
// ratio Ferry/crane and Ferry's peak RSS. Both tools run as subprocesses built before any timing; each
// round starts from empty output and work directories, the tools' order alternates between rounds, and
// dirty pages are synced (untimed) before each run, so neither tool pays for the other's writeback. Run through `make bench-bundle` (>= 1 GiB) or
// `make bench-bundle-smoke` (small, for CI: it checks the pipeline, its ratio is noise).
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/ferry-delivery/ferry/internal/testk3s"
	"github.com/ferry-delivery/ferry/payload"
)

const craneModule = "github.com/google/go-containerregistry/cmd/crane@v0.22.1"

func main() {
	total := flag.Int64("total", 1<<30, "bytes of random layers across all images and platforms")
	layerSize := flag.Int64("layer-size", 32<<20, "bytes per layer")
	rounds := flag.Int("rounds", 2, "timed rounds of each tool (the best of each is compared)")
	dir := flag.String("dir", "", "scratch directory (default: a new temp dir, removed afterwards)")
	strict := flag.Bool("strict", false, "exit 1 when a target (ratio <= 1.2, RSS <= 200 MB) is missed")
	flag.Parse()
	if err := run(*total, *layerSize, *rounds, *dir, *strict); err != nil {
		fmt.Fprintln(os.Stderr, "bench-bundle:", err)
		os.Exit(1)
	}
}

func run(total, layerSize int64, rounds int, dir string, strict bool) error {
	if dir == "" {
		d, err := os.MkdirTemp("", "ferry-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	bin := filepath.Join(dir, "bin")
	fmt.Println("building ferryctl, crane and the test registry (not timed)")
	if err := sh("go", "build", "-o", filepath.Join(bin, "ferryctl"), "./cmd/ferryctl"); err != nil {
		return err
	}
	if err := sh("go", "build", "-o", filepath.Join(bin, "testregistry"), "./internal/testregistry/cmd/testregistry"); err != nil {
		return err
	}
	install := exec.Command("go", "install", craneModule)
	install.Env = append(os.Environ(), "GOBIN="+bin)
	install.Stdout, install.Stderr = os.Stderr, os.Stderr
	if err := install.Run(); err != nil {
		return fmt.Errorf("installing crane: %w", err)
	}

	// Four images, two platforms each, as many equal layers as reach total.
	refs := []string{"ferry-test/web:1.0", "ferry-test/db:1.0", "ferry-test/init:1.0", "ferry-test/tools:2.0"}
	perImagePlatform := total / int64(len(refs)*2)
	layers := max(1, int((perImagePlatform+layerSize-1)/layerSize))
	if perImagePlatform < layerSize {
		layerSize = perImagePlatform
	}
	fmt.Printf("starting registry: %d images x 2 platforms x %d layers of %d MiB\n", len(refs), layers, layerSize>>20)
	srv := exec.Command(filepath.Join(bin, "testregistry"), "-refs", strings.Join(refs, ","),
		"-layers", fmt.Sprint(layers), "-layer-size", fmt.Sprint(layerSize))
	srv.Stderr = os.Stderr
	stdin, err := srv.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := srv.StdoutPipe()
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		return err
	}
	defer func() { stdin.Close(); _ = srv.Wait() }()
	var info struct {
		Host  string   `json:"host"`
		Refs  []string `json:"refs"`
		Bytes int64    `json:"bytes"`
	}
	line, err := bufio.NewReader(stdout).ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("reading the registry's address: %w", err)
	}
	if err := json.Unmarshal(line, &info); err != nil {
		return err
	}

	spec, key, err := writeAppliance(dir, info.Host, info.Refs)
	if err != nil {
		return err
	}
	var craneBest, ferryBest, pullBest time.Duration
	var ferryRSS, craneRSS int64
	var perRound []float64
	for r := 0; r < rounds; r++ {
		out := filepath.Join(dir, "round")
		if err := os.RemoveAll(out); err != nil {
			return err
		}
		args := append(append([]string{"pull", "--format", "oci"}, info.Refs...), filepath.Join(out, "crane"))
		var ct, ft, fw, ccpu, fcpu time.Duration
		var crss, frss int64
		runCrane := func() (err error) {
			ct, _, crss, ccpu, err = timed("", filepath.Join(bin, "crane"), args...)
			if err != nil {
				return fmt.Errorf("crane: %w", err)
			}
			return nil
		}
		runFerry := func() (err error) {
			ft, fw, frss, fcpu, err = timed(payload.PhaseWrite, filepath.Join(bin, "ferryctl"), "bundle", "build", "-f", spec, "-o", filepath.Join(out, "bench.ferry"),
				"--key", key, "--work-dir", filepath.Join(out, "work"))
			if err != nil {
				return fmt.Errorf("ferryctl: %w", err)
			}
			return nil
		}
		// Alternate which tool goes first: whichever runs second otherwise pays for the first one's
		// dirty pages being written back (timed also syncs before starting the clock).
		first, second := runCrane, runFerry
		if r%2 == 1 {
			first, second = runFerry, runCrane
		}
		if err := first(); err != nil {
			return err
		}
		if err := second(); err != nil {
			return err
		}
		// The bundle is written while the images download; ferry's progress shows the write phase once
		// the pull is done, so the second figure is the part of the write that did not overlap the pull.
		fmt.Printf("round %d: crane %v (cpu %v, peak RSS %d MB), ferry %v = gather+pull %v + rest of bundle write %v (cpu %v, peak RSS %d MB), load %s\n", r+1,
			ct.Round(time.Millisecond), ccpu.Round(time.Millisecond), crss/1e6, ft.Round(time.Millisecond), fw.Round(time.Millisecond),
			(ft - fw).Round(time.Millisecond), fcpu.Round(time.Millisecond), frss/1e6, loadavg())
		perRound = append(perRound, ft.Seconds()/ct.Seconds())
		if craneBest == 0 || ct < craneBest {
			craneBest = ct
		}
		if ferryBest == 0 || ft < ferryBest {
			ferryBest = ft
		}
		if pullBest == 0 || fw < pullBest {
			pullBest = fw
		}
		ferryRSS, craneRSS = max(ferryRSS, frss), max(craneRSS, crss)
	}
	ratio := ferryBest.Seconds() / craneBest.Seconds()
	fmt.Printf("images: %d MiB of layers (%d images x 2 platforms)\n", info.Bytes>>20, len(info.Refs))
	fmt.Printf("crane pull --format oci: %v   ferryctl bundle build: %v (best of %d)\n", craneBest.Round(time.Millisecond), ferryBest.Round(time.Millisecond), rounds)
	fmt.Printf("ratio ferry/crane: %.2f (target <= 1.20)\n", ratio)
	sort.Float64s(perRound)
	fmt.Printf("median of the per-round ratios: %.2f (range %.2f-%.2f)\n", perRound[len(perRound)/2], perRound[0], perRound[len(perRound)-1])
	fmt.Printf("ratio ferry's gather+pull (until its pull ended; the bundle is written meanwhile)/crane: %.2f\n", pullBest.Seconds()/craneBest.Seconds())
	fmt.Printf("ferry peak RSS: %d MB (target <= 200 MB); crane peak RSS: %d MB\n", ferryRSS/1e6, craneRSS/1e6)
	if strict && (ratio > 1.2 || ferryRSS > 200e6) {
		return fmt.Errorf("target missed")
	}
	return nil
}

// writeAppliance writes a spec for the test chart with its images pointed at host, the remaining refs
// listed explicitly, a stand-in k3s release and a signing key.
func writeAppliance(dir, host string, refs []string) (spec, key string, err error) {
	rel, err := testk3s.WriteRelease(filepath.Join(dir, "k3s"), "v1.31.4+k3s1", "amd64", "arm64")
	if err != nil {
		return "", "", err
	}
	chart, err := filepath.Abs("packaging/testdata/chart")
	if err != nil {
		return "", "", err
	}
	values := fmt.Sprintf("registry: %s\ninit:\n  image: %s/ferry-test/init:1.0\n", host, host)
	if err := os.WriteFile(filepath.Join(dir, "values.yaml"), []byte(values), 0o644); err != nil {
		return "", "", err
	}
	body := fmt.Sprintf("app: {name: bench, version: 1.0.0}\nk3s: {version: v1.31.4+k3s1, dir: %s}\nplatforms: [linux/amd64, linux/arm64]\nchart: %s\nvalues: values.yaml\nimages:\n", rel.Dir, chart)
	for _, r := range refs {
		body += "  - " + r + "\n"
	}
	spec = filepath.Join(dir, "appliance.yaml")
	if err := os.WriteFile(spec, []byte(body), 0o644); err != nil {
		return "", "", err
	}
	k, err := payload.GenerateKey()
	if err != nil {
		return "", "", err
	}
	base := filepath.Join(dir, "vendor")
	_ = os.Remove(base + ".key")
	_ = os.Remove(base + ".pub")
	return spec, base + ".key", payload.WriteKeyPair(base, k)
}

// loadavg is the 1-minute load average: on a shared machine the ratio means little without it.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}

// timed runs a command and returns its wall time, the time until a stderr line first contained mark
// (its progress output names phases), its peak RSS in bytes and its CPU time (user + system).
func timed(mark, name string, args ...string) (time.Duration, time.Duration, int64, time.Duration, error) {
	// Write back what earlier runs left dirty, untimed: each tool is timed for its own work only (Ferry
	// fsyncs its bundle itself; neither tool's staged files are synced).
	syscall.Sync()
	cmd := exec.Command(name, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return 0, 0, 0, 0, err
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, 0, 0, err
	}
	var errb strings.Builder
	var marked time.Duration
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		if mark != "" && marked == 0 && strings.HasPrefix(sc.Text(), mark) {
			marked = time.Since(start)
		}
		errb.WriteString(sc.Text() + "\n")
	}
	err = cmd.Wait()
	el := time.Since(start)
	if err != nil {
		return 0, 0, 0, 0, fmt.Errorf("%w: %s", err, errb.String())
	}
	var rss int64
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		rss = ru.Maxrss * 1024 // Linux reports KiB
	}
	return el, marked, rss, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), nil
}

func sh(name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	return cmd.Run()
}
