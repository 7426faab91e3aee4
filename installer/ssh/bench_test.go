package ssh

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/ferry-delivery/ferry/installer/host"
	"github.com/ferry-delivery/ferry/installer/ssh/sshtest"
	"github.com/ferry-delivery/ferry/installer/transfer"
	"github.com/ferry-delivery/ferry/internal/fsutil"
)

// TestBenchUpload compares Ferry's verified upload (the host hashes every byte and checks it against the
// expected sha256 before the atomic rename) with OpenSSH scp of the same 1 GiB file to the same sshd, in
// the same run. Like the install phase, it passes the hash the bundle manifest holds (taken before the
// clock starts); FERRY_BENCH_NOSUM=1 leaves it out, so Ferry also hashes the local file. It alternates
// the two for FERRY_BENCH_ROUNDS rounds (default 3), prints each round with the load average, and
// compares each one's best run, since the machine is shared. Run with `make bench-upload`.
func TestBenchUpload(t *testing.T) {
	if os.Getenv("FERRY_BENCH_UPLOAD") != "1" {
		t.Skip("set FERRY_BENCH_UPLOAD=1 (make bench-upload)")
	}
	// Production chunk sizes, not the small ones TestMain sets for the unit tests.
	transfer.VerifyChunk = 64 << 20
	if v := os.Getenv("FERRY_BENCH_STREAMS"); v != "" {
		transfer.Streams, _ = strconv.Atoi(v)
	}
	size := int64(1 << 30)
	if v := os.Getenv("FERRY_BENCH_BYTES"); v != "" {
		size, _ = strconv.ParseInt(v, 10, 64)
	}
	s := sshtest.Start(t, sshtest.Options{SftpServer: true})
	dir := t.TempDir()
	src := filepath.Join(dir, "payload.bin")
	writeRandom(t, src, size)

	kh := filepath.Join(dir, "scp_known_hosts")
	os.WriteFile(kh, []byte(knownhosts.Line([]string{knownhosts.Normalize(s.Addr())}, s.HostKey)+"\n"), 0o600)
	out := t.TempDir()
	h := dial(t, rootConfig(t, s, t.TempDir()))
	ctx := context.Background()
	var opts host.UploadOptions
	if os.Getenv("FERRY_BENCH_NOSUM") != "1" {
		var err error
		if opts.Sha256, err = fsutil.SHA256File(src); err != nil {
			t.Fatal(err)
		}
	}
	rounds := 3
	if v := os.Getenv("FERRY_BENCH_ROUNDS"); v != "" {
		rounds, _ = strconv.Atoi(v)
	}

	var bestScp, bestFerry time.Duration
	for round := range rounds {
		dst := filepath.Join(out, fmt.Sprintf("scp-%d", round))
		start := time.Now()
		cmd := exec.Command("scp", "-q", "-i", s.ClientKey, "-P", strconv.Itoa(s.Port), "-o", "BatchMode=yes",
			"-o", "UserKnownHostsFile="+kh, "-o", "StrictHostKeyChecking=yes", src, "root@127.0.0.1:"+dst)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("scp: %v: %s", err, b)
		}
		dScp := time.Since(start)
		if bestScp == 0 || dScp < bestScp {
			bestScp = dScp
		}
		os.Remove(dst)

		dst = filepath.Join(out, fmt.Sprintf("ferry-%d", round))
		start = time.Now()
		res, err := h.Upload(ctx, src, dst, opts)
		if err != nil {
			t.Fatal(err)
		}
		if res.Sent != size || res.Skipped {
			t.Fatalf("ferry upload did not send the whole file: %+v", res)
		}
		dFerry := time.Since(start)
		if bestFerry == 0 || dFerry < bestFerry {
			bestFerry = dFerry
		}
		os.Remove(dst)
		fmt.Printf("bench-upload: round %d  scp %v  ferry %v  ratio %.2f  load %s\n", round+1,
			dScp.Round(time.Millisecond), dFerry.Round(time.Millisecond), dScp.Seconds()/dFerry.Seconds(), loadAvg())
	}
	mib := float64(size) / (1 << 20)
	scpRate, ferryRate := mib/bestScp.Seconds(), mib/bestFerry.Seconds()
	fmt.Printf("bench-upload: best of %d, sha256 given: %v, %d MiB  scp %.1f MiB/s (%v)  ferry verified %.1f MiB/s (%v)  ratio ferry/scp = %.2f (target >= 1.0)\n",
		rounds, opts.Sha256 != "", int(mib), scpRate, bestScp.Round(time.Millisecond), ferryRate, bestFerry.Round(time.Millisecond), ferryRate/scpRate)
}

func writeRandom(t *testing.T, path string, size int64) {
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := rand.NewChaCha8([32]byte{1, 2, 3})
	w := bufio.NewWriterSize(f, 1<<20)
	buf := make([]byte, 1<<20)
	for n := int64(0); n < size; n += int64(len(buf)) {
		r.Read(buf)
		if rem := size - n; rem < int64(len(buf)) {
			buf = buf[:rem]
		}
		w.Write(buf)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
}

// loadAvg is the 1-, 5- and 15-minute load average, to judge how shared the machine was.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
