package host

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Quote must survive every POSIX shell the hosts may log in with.
func TestQuoteRoundTripsThroughShells(t *testing.T) {
	words := []string{"", "plain", "with space", "it's", `"dq"`, "$(id)", "`id`", "a\nb", "*", "back\\slash", "-n", "semi;colon", "ünï"}
	for _, sh := range []string{"sh", "dash", "bash"} {
		path, err := exec.LookPath(sh)
		if err != nil {
			continue
		}
		for _, w := range words {
			out, err := exec.Command(path, "-c", "printf %s "+Quote(w)).Output()
			if err != nil || string(out) != w {
				t.Errorf("%s: Quote(%q) came back as %q (%v)", sh, w, out, err)
			}
		}
	}
}

func TestRedact(t *testing.T) {
	if got := Redact("token=abc abc", []string{"abc", ""}); got != "token=*** ***" {
		t.Fatal(got)
	}
}

func TestSha256LinesOnThisMachine(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "-odd name")
	data := make([]byte, 3<<20+5)
	for i := range data {
		data[i] = byte(i * 7)
	}
	os.WriteFile(p, data, 0o644)
	whole := sha256.Sum256(data)
	mid := sha256.Sum256(data[1<<20 : 3<<20])
	tail := sha256.Sum256(data[2<<20:])
	for _, tc := range []struct {
		line string
		want []byte
	}{
		{Sha256Line(p), whole[:]},
		{Sha256RangeLine(p, 1<<20, 2<<20), mid[:]},
		{Sha256RangeLine(p, 2<<20, int64(len(data))-2<<20), tail[:]},
	} {
		out, err := exec.Command("sh", "-c", tc.line).Output()
		if err != nil {
			t.Fatalf("%s: %v", tc.line, err)
		}
		got, err := ParseSha256sum(out)
		if err != nil || got != hex.EncodeToString(tc.want) {
			t.Fatalf("%s: %q %v", tc.line, got, err)
		}
	}
	if _, err := ParseSha256sum([]byte("sha256sum: x: No such file\n")); err == nil {
		t.Fatal("error output parsed as a digest")
	}
}
