package packaging

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ferry-delivery/ferry/internal/testk3s"
)

func TestLocalK3sVerifiesAssets(t *testing.T) {
	rel := testk3s.New(t, testK3sVersion, "amd64", "arm64")
	for _, plat := range []string{PlatformAMD64, PlatformARM64} {
		a, err := localK3s(context.Background(), rel.Dir, plat, nil)
		if err != nil {
			t.Fatalf("%s: %v", plat, err)
		}
		arch := strings.TrimPrefix(plat, "linux/")
		want := k3sAssets{
			Binary:       filepath.Join(rel.Dir, map[string]string{"amd64": "k3s", "arm64": "k3s-arm64"}[arch]),
			Checksums:    filepath.Join(rel.Dir, "sha256sum-"+arch+".txt"),
			AirgapImages: filepath.Join(rel.Dir, "k3s-airgap-images-"+arch+".tar"),
		}
		if d := cmp.Diff(want, a); d != "" {
			t.Fatalf("%s assets (-want +got):\n%s", plat, d)
		}
	}
}

func TestLocalK3sRefusesTamperedAsset(t *testing.T) {
	for _, file := range []string{"k3s-arm64", "k3s-airgap-images-arm64.tar"} {
		t.Run(file, func(t *testing.T) {
			rel := testk3s.New(t, testK3sVersion, "amd64", "arm64")
			flipByte(t, filepath.Join(rel.Dir, file), 100)
			_, err := localK3s(context.Background(), rel.Dir, PlatformARM64, nil)
			if !errors.Is(err, ErrChecksumMismatch) {
				t.Fatalf("tampered %s accepted or wrong error: %v", file, err)
			}
			if !strings.Contains(err.Error(), file) {
				t.Fatalf("error does not name %s: %v", file, err)
			}
			// The other platform's files are intact and still accepted.
			if _, err := localK3s(context.Background(), rel.Dir, PlatformAMD64, nil); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestLocalK3sMissingFiles(t *testing.T) {
	for _, file := range []string{"k3s", "sha256sum-amd64.txt", "k3s-airgap-images-amd64.tar"} {
		t.Run(file, func(t *testing.T) {
			rel := testk3s.New(t, testK3sVersion, "amd64")
			if err := os.Remove(filepath.Join(rel.Dir, file)); err != nil {
				t.Fatal(err)
			}
			_, err := localK3s(context.Background(), rel.Dir, PlatformAMD64, nil)
			if !errors.Is(err, ErrAssetMissing) || !strings.Contains(err.Error(), file) {
				t.Fatalf("missing %s: %v", file, err)
			}
		})
	}
	// A file present but not listed in the sums is refused too (it cannot be checked).
	rel := testk3s.New(t, testK3sVersion, "amd64")
	writeFile(t, filepath.Join(rel.Dir, "sha256sum-amd64.txt"), rel.Files["k3s"]+"  k3s\n")
	_, err := localK3s(context.Background(), rel.Dir, PlatformAMD64, nil)
	if !errors.Is(err, ErrAssetMissing) || !strings.Contains(err.Error(), "k3s-airgap-images-amd64.tar") {
		t.Fatalf("unlisted airgap archive: %v", err)
	}
}

func TestDownloadK3sOverHTTPS(t *testing.T) {
	rel := testk3s.New(t, testK3sVersion, "amd64", "arm64")
	srv := testk3s.Serve(t, rel.Dir)
	cache := t.TempDir()
	ctx := context.Background()
	base := srv.URL + "/releases/{version}" // the server ignores the directory; the escaping is checked below
	a, err := downloadK3s(ctx, srv.Client, base, testK3sVersion, cache, PlatformARM64, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{a.Binary, a.Checksums, a.AirgapImages} {
		if sum, _ := hashFile(ctx, p, nil, ""); sum != rel.Files[filepath.Base(p)] {
			t.Fatalf("%s downloaded with sha256 %s, want %s", p, sum, rel.Files[filepath.Base(p)])
		}
	}
	if got := srv.Requests("k3s-arm64"); len(got) != 1 || got[0] != "" {
		t.Fatalf("binary requests %q, want one full GET", got)
	}

	// A second run re-checks the sums but fetches nothing large again.
	if _, err := downloadK3s(ctx, srv.Client, base, testK3sVersion, cache, PlatformARM64, nil); err != nil {
		t.Fatal(err)
	}
	if got := srv.Requests("k3s-arm64"); len(got) != 1 {
		t.Fatalf("binary fetched again on re-run: %q", got)
	}

	// An interrupted download resumes from where it stopped.
	full, err := os.ReadFile(filepath.Join(rel.Dir, "k3s-airgap-images-amd64.tar"))
	if err != nil {
		t.Fatal(err)
	}
	half := len(full) / 2
	if err := os.WriteFile(filepath.Join(cache, "k3s-airgap-images-amd64.tar.part"), full[:half], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := downloadK3s(ctx, srv.Client, base, testK3sVersion, cache, PlatformAMD64, nil); err != nil {
		t.Fatal(err)
	}
	if got, want := srv.Requests("k3s-airgap-images-amd64.tar"), []string{"bytes=" + itoa(half) + "-"}; !cmp.Equal(got, want) {
		t.Fatalf("airgap requests %q, want %q", got, want)
	}
}

func TestDownloadK3sRefusesCorruptMirror(t *testing.T) {
	rel := testk3s.New(t, testK3sVersion, "amd64")
	flipByte(t, filepath.Join(rel.Dir, "k3s"), 10) // the mirror serves a binary that does not match its sums
	srv := testk3s.Serve(t, rel.Dir)
	cache := t.TempDir()
	_, err := downloadK3s(context.Background(), srv.Client, srv.URL, testK3sVersion, cache, PlatformAMD64, nil)
	if !errors.Is(err, ErrChecksumMismatch) || !strings.Contains(err.Error(), "k3s has sha256") {
		t.Fatalf("corrupt download accepted or wrong error: %v", err)
	}
	if _, err := os.Stat(filepath.Join(cache, "k3s")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the corrupt binary was kept in the cache: %v", err)
	}
}

func TestDownloadK3sEscapesVersion(t *testing.T) {
	rel := testk3s.New(t, testK3sVersion, "amd64")
	srv := testk3s.Serve(t, rel.Dir)
	var paths []string
	client := *srv.Client
	client.Transport = roundTripFunc(func(r *http.Request) (*http.Response, error) {
		paths = append(paths, r.URL.EscapedPath())
		return srv.Client.Transport.RoundTrip(r)
	})
	if _, err := downloadK3s(context.Background(), &client, srv.URL+"/download/{version}", testK3sVersion, t.TempDir(), PlatformAMD64, nil); err != nil {
		t.Fatal(err)
	}
	if want := "/download/v1.31.4%2Bk3s1/sha256sum-amd64.txt"; len(paths) == 0 || paths[0] != want {
		t.Fatalf("first request %q, want %q", paths, want)
	}
}

func flipByte(t *testing.T, p string, off int) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[off%len(b)] ^= 0xff
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestDownloadK3sWaitsForAnotherBuild(t *testing.T) {
	rel := testk3s.New(t, testK3sVersion, "amd64")
	srv := testk3s.Serve(t, rel.Dir)
	cache := t.TempDir()
	unlock, err := lockDir(context.Background(), cache, false)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := downloadK3s(ctx, srv.Client, srv.URL, testK3sVersion, cache, PlatformAMD64, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("download did not wait for the lock holder: %v", err)
	}
	if got := srv.Requests("sha256sum-amd64.txt"); len(got) != 0 {
		t.Fatalf("fetched while another build held the cache: %q", got)
	}
	done := make(chan error, 1)
	go func() {
		_, err := downloadK3s(context.Background(), srv.Client, srv.URL, testK3sVersion, cache, PlatformAMD64, nil)
		done <- err
	}()
	time.Sleep(100 * time.Millisecond)
	unlock()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
