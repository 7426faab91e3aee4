package packaging

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/ferry-delivery/ferry/internal/progress"
)

// ErrChecksumMismatch is returned when a k3s release file does not match its sha256sum entry.
var ErrChecksumMismatch = errors.New("checksum mismatch")

// ErrAssetMissing is returned when a k3s release file is absent or not listed in the release's checksums.
var ErrAssetMissing = errors.New("k3s release asset missing")

// k3sAssets are the local, verified files of one platform, named as in the k3s release.
type k3sAssets struct {
	Binary, Checksums, AirgapImages string
}

// k3s release file names per platform (k3s-contract.md §1).
func k3sBinaryName(platform string) string {
	if platform == PlatformARM64 {
		return "k3s-arm64"
	}
	return "k3s"
}

func k3sArch(platform string) string { return strings.TrimPrefix(platform, "linux/") }

func k3sChecksumName(platform string) string { return "sha256sum-" + k3sArch(platform) + ".txt" }

// Air-gap archive names in order of preference: smallest first.
func k3sAirgapNames(platform string) []string {
	base := "k3s-airgap-images-" + k3sArch(platform) + ".tar"
	return []string{base + ".zst", base + ".gz", base}
}

// parseSHA256Sums reads a sha256sum file ("<hex>  <name>" per line; '*' marks binary mode).
func parseSHA256Sums(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sums := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 2 {
			continue
		}
		sum, file := strings.ToLower(fields[0]), strings.TrimPrefix(fields[1], "*")
		if _, err := hex.DecodeString(sum); err != nil || len(sum) != 64 {
			continue
		}
		sums[filepath.Base(file)] = sum
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(sums) == 0 {
		return nil, fmt.Errorf("%s lists no sha256 sums", filepath.Base(path))
	}
	return sums, nil
}

// hashFile returns the hex sha256 of a file, reporting bytes to sink.
func hashFile(ctx context.Context, path string, sink progress.Sink, phase string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	h := sha256.New()
	if _, err := io.Copy(h, &progressReader{ctx: ctx, r: f, sink: sink, phase: phase,
		msg: filepath.Base(path), total: fi.Size()}); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// verifyAsset checks path against the release's sums, naming the file on mismatch.
func verifyAsset(ctx context.Context, path string, sums map[string]string, sink progress.Sink) error {
	file := filepath.Base(path)
	want, ok := sums[file]
	if !ok {
		return fmt.Errorf("%w: %s is not listed in the release's sha256sum file", ErrAssetMissing, file)
	}
	got, err := hashFile(ctx, path, sink, "checking k3s")
	if err != nil {
		return fmt.Errorf("hashing %s: %w", file, err)
	}
	if got != want {
		return fmt.Errorf("%w: %s has sha256 %s, the release says %s: re-download it", ErrChecksumMismatch, file, got, want)
	}
	return nil
}

// localK3s finds and verifies one platform's assets in a local release directory.
func localK3s(ctx context.Context, dir, platform string, sink progress.Sink) (k3sAssets, error) {
	a := k3sAssets{
		Binary:    filepath.Join(dir, k3sBinaryName(platform)),
		Checksums: filepath.Join(dir, k3sChecksumName(platform)),
	}
	sums, err := parseSHA256Sums(a.Checksums)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return a, fmt.Errorf("%w: %s not found in %s", ErrAssetMissing, k3sChecksumName(platform), dir)
		}
		return a, fmt.Errorf("reading %s: %w", a.Checksums, err)
	}
	for _, n := range k3sAirgapNames(platform) {
		if _, err := os.Stat(filepath.Join(dir, n)); err == nil {
			a.AirgapImages = filepath.Join(dir, n)
			break
		}
	}
	if a.AirgapImages == "" {
		return a, fmt.Errorf("%w: none of %s found in %s", ErrAssetMissing, strings.Join(k3sAirgapNames(platform), ", "), dir)
	}
	if _, err := os.Stat(a.Binary); err != nil {
		return a, fmt.Errorf("%w: %s not found in %s", ErrAssetMissing, filepath.Base(a.Binary), dir)
	}
	for _, p := range []string{a.Binary, a.AirgapImages} {
		if err := verifyAsset(ctx, p, sums, sink); err != nil {
			return a, err
		}
	}
	return a, nil
}

// downloadK3s fetches one platform's assets from an https release directory into cacheDir, resuming
// partial downloads and verifying each file against the release's sha256sum file. Files already
// present and matching are not fetched again.
func downloadK3s(ctx context.Context, client *http.Client, baseURL, version, cacheDir, platform string, sink progress.Sink) (k3sAssets, error) {
	// As k3s's install script does: "+" travels as %2B (a literal + may be read as a space).
	base := strings.ReplaceAll(baseURL, "{version}", strings.ReplaceAll(url.PathEscape(version), "+", "%2B"))
	base = strings.TrimSuffix(base, "/") + "/"
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return k3sAssets{}, fmt.Errorf("downloading k3s: %w", err)
	}
	// Builds of different apps share this cache: the second waits rather than resuming the same .part.
	unlock, err := lockDir(ctx, cacheDir, true)
	if err != nil {
		return k3sAssets{}, err
	}
	defer unlock()
	a := k3sAssets{
		Binary:    filepath.Join(cacheDir, k3sBinaryName(platform)),
		Checksums: filepath.Join(cacheDir, k3sChecksumName(platform)),
	}
	// The checksum file is small and the root of trust for the rest: always fetch it afresh.
	_ = os.Remove(a.Checksums)
	if err := download(ctx, client, base+k3sChecksumName(platform), a.Checksums, sink); err != nil {
		return a, err
	}
	sums, err := parseSHA256Sums(a.Checksums)
	if err != nil {
		return a, fmt.Errorf("reading %s: %w", k3sChecksumName(platform), err)
	}
	for _, n := range k3sAirgapNames(platform) {
		if _, ok := sums[n]; ok {
			a.AirgapImages = filepath.Join(cacheDir, n)
			break
		}
	}
	if a.AirgapImages == "" {
		return a, fmt.Errorf("%w: the release lists none of %s", ErrAssetMissing, strings.Join(k3sAirgapNames(platform), ", "))
	}
	for _, p := range []string{a.Binary, a.AirgapImages} {
		if err := verifyAsset(ctx, p, sums, sink); err == nil {
			continue // already downloaded and intact
		}
		if err := download(ctx, client, base+filepath.Base(p), p, sink); err != nil {
			return a, err
		}
		if err := verifyAsset(ctx, p, sums, sink); err != nil {
			// A corrupt partial download must not be resumed again: start over next time.
			_ = os.Remove(p)
			return a, err
		}
	}
	return a, nil
}

// download fetches u into dst through dst+".part", resuming an existing .part with a Range request.
func download(ctx context.Context, client *http.Client, u, dst string, sink progress.Sink) error {
	name := filepath.Base(dst)
	part := dst + ".part"
	f, err := os.OpenFile(part, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("downloading %s: %w", name, err)
	}
	defer f.Close()
	offset, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return fmt.Errorf("downloading %s: %w", name, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("downloading %s: %w", name, err)
	}
	if offset > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", offset))
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("downloading %s: %w", name, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusPartialContent && offset > 0:
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && offset > 0:
		// The .part is already complete (or longer than the file): start over to be sure.
		_ = f.Close()
		_ = os.Remove(part)
		return download(ctx, client, u, dst, sink)
	case resp.StatusCode == http.StatusOK:
		// The server ignored the range (or there was none): rewrite from the start.
		if err := f.Truncate(0); err != nil {
			return fmt.Errorf("downloading %s: %w", name, err)
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("downloading %s: %w", name, err)
		}
		offset = 0
	default:
		return fmt.Errorf("downloading %s from %s: %s", name, u, resp.Status)
	}
	total := int64(-1)
	if resp.ContentLength >= 0 {
		total = offset + resp.ContentLength
	}
	pr := &progressReader{ctx: ctx, r: resp.Body, sink: sink, phase: "downloading k3s", msg: name, done: offset, total: total}
	if _, err := io.Copy(f, pr); err != nil {
		return fmt.Errorf("downloading %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("downloading %s: %w", name, err)
	}
	if err := os.Rename(part, dst); err != nil {
		return fmt.Errorf("downloading %s: %w", name, err)
	}
	return nil
}
