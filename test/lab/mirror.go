package lab

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Suite is the Debian release the hosts run.
const Suite = "bookworm"

// ErrNoMirror means apt's configuration names no mirror serving Debian's main suite.
var ErrNoMirror = errors.New("no Debian mirror for " + Suite + " found in apt's sources")

// AptMirror returns the URI of the Debian mirror apt on this machine uses for suite, read from
// /etc/apt/sources.list and /etc/apt/sources.list.d (one-line and deb822 formats). The lab uses the
// machine's own mirror rather than a hard-coded one, as a site without internet has its own.
func AptMirror(etcApt, suite string) (string, error) {
	files := []string{filepath.Join(etcApt, "sources.list")}
	more, _ := filepath.Glob(filepath.Join(etcApt, "sources.list.d", "*"))
	sort.Strings(more)
	files = append(files, more...)
	for _, f := range files {
		r, err := os.Open(f)
		if err != nil {
			continue
		}
		var uri string
		switch {
		case strings.HasSuffix(f, ".sources"):
			uri = mirrorFromDeb822(r, suite)
		case strings.HasSuffix(f, ".list"):
			uri = mirrorFromOneLine(r, suite)
		}
		r.Close()
		if uri != "" {
			return uri, nil
		}
	}
	return "", fmt.Errorf("reading %s: %w (pass a mirror explicitly)", etcApt, ErrNoMirror)
}

// servesMain accepts a source entry for the plain suite with the main component (not -security or
// -updates, which debootstrap cannot start from).
func servesMain(suites, components []string, suite string) bool {
	hasSuite, hasMain := false, false
	for _, s := range suites {
		hasSuite = hasSuite || s == suite
	}
	for _, c := range components {
		hasMain = hasMain || c == "main"
	}
	return hasSuite && hasMain
}

func mirrorFromOneLine(r io.Reader, suite string) string {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) < 4 || f[0] != "deb" {
			continue
		}
		f = f[1:]
		if strings.HasPrefix(f[0], "[") { // options like [arch=amd64 signed-by=...]
			for len(f) > 0 && !strings.HasSuffix(f[0], "]") {
				f = f[1:]
			}
			if len(f) > 0 {
				f = f[1:]
			}
		}
		if len(f) >= 3 && servesMain(f[1:2], f[2:], suite) {
			return f[0]
		}
	}
	return ""
}

func mirrorFromDeb822(r io.Reader, suite string) string {
	sc := bufio.NewScanner(r)
	stanza := map[string]string{}
	check := func() string {
		defer clear(stanza)
		if en, ok := stanza["enabled"]; ok && en == "no" {
			return ""
		}
		if !contains(strings.Fields(stanza["types"]), "deb") {
			return ""
		}
		uris := strings.Fields(stanza["uris"])
		if len(uris) > 0 && servesMain(strings.Fields(stanza["suites"]), strings.Fields(stanza["components"]), suite) {
			return uris[0]
		}
		return ""
	}
	key := ""
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.TrimSpace(line) == "":
			if u := check(); u != "" {
				return u
			}
			key = ""
		case strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t"):
			if key != "" {
				stanza[key] += " " + strings.TrimSpace(line)
			}
		default:
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			key = strings.ToLower(strings.TrimSpace(k))
			stanza[key] = strings.TrimSpace(v)
		}
	}
	return check()
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
