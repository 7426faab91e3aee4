package nodes

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ferry-delivery/ferry/installer/host"
	"github.com/ferry-delivery/ferry/installer/host/hosttest"
	"github.com/ferry-delivery/ferry/payload"
)

// fakeCtrd models what `k3s ctr -n k8s.io` does on a node, as k3s-contract.md §11 measured it: an import
// fails when a blob an image needs is neither in the archive nor in the content store; images hold
// labels; removing an image garbage-collects the blobs no image references any more.
type fakeCtrd struct {
	mu      sync.Mutex
	root    string
	needs   map[string][]string // manifest digest -> every blob the image needs
	content map[string]bool
	images  map[string]*fakeImage
	// afterList, if set, runs once after the next content listing (to model GC racing a landing).
	afterList func()
	imports   int
}

type fakeImage struct {
	target string
	labels map[string]string
}

func newFakeNode(t *testing.T, name string) (*hosttest.Fake, *fakeCtrd) {
	root := t.TempDir()
	h := hosttest.New(name, root)
	c := &fakeCtrd{root: root, needs: map[string][]string{}, content: map[string]bool{}, images: map[string]*fakeImage{}}
	h.Handler = c.run
	return h, c
}

// know registers the blobs of images so imports can check completeness.
func (c *fakeCtrd) know(t testing.TB, imgs ...v1.Image) {
	t.Helper()
	for _, img := range imgs {
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		m, err := img.Manifest()
		if err != nil {
			t.Fatal(err)
		}
		all := []string{d.String(), m.Config.Digest.String()}
		for _, l := range m.Layers {
			all = append(all, l.Digest.String())
		}
		c.mu.Lock()
		c.needs[d.String()] = all
		c.mu.Unlock()
	}
}

func (c *fakeCtrd) pinned() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for n, img := range c.images {
		if img.labels[PinLabel] == "pinned" {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

func (c *fakeCtrd) has(d string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.content[d]
}

func res(out string) (host.Result, error) { return host.Result{Stdout: []byte(out)}, nil }
func fail(msg string) (host.Result, error) {
	return host.Result{ExitCode: 1, Stderr: []byte(msg)}, nil
}

func (c *fakeCtrd) run(cmd host.Cmd) (host.Result, error) {
	line := cmd.Line
	if line == "uname -m" {
		return res("x86_64\n")
	}
	if strings.HasPrefix(line, "rm -f ") {
		p := strings.Trim(strings.TrimPrefix(line, "rm -f "), "'")
		os.Remove(filepath.Join(c.root, p))
		return res("")
	}
	const pre = "/usr/local/bin/k3s ctr -n k8s.io "
	if !strings.HasPrefix(line, pre) {
		return host.Result{ExitCode: 127, Stderr: []byte("fake: unexpected " + line)}, nil
	}
	if !cmd.Sudo {
		return fail("ctr: permission denied (no sudo)")
	}
	args := strings.Fields(strings.TrimPrefix(line, pre))
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case len(args) == 3 && args[0] == "content" && args[1] == "ls" && args[2] == "-q":
		var ds []string
		for d := range c.content {
			ds = append(ds, d)
		}
		sort.Strings(ds)
		if f := c.afterList; f != nil {
			c.afterList = nil
			defer f()
		}
		return res(strings.Join(ds, "\n") + "\n")
	case len(args) == 3 && args[0] == "images" && args[1] == "ls" && args[2] == "-q":
		var ns []string
		for n := range c.images {
			ns = append(ns, n)
		}
		sort.Strings(ns)
		return res(strings.Join(ns, "\n") + "\n")
	case len(args) == 5 && args[0] == "images" && args[1] == "import" && args[2] == "--platform":
		if args[3] != amd64 {
			return fail("fake: platform " + args[3])
		}
		return c.importArchive(filepath.Join(c.root, args[4]))
	case len(args) == 4 && args[0] == "images" && args[1] == "label":
		img, ok := c.images[args[2]]
		if !ok {
			return fail("image " + args[2] + ": not found")
		}
		k, v, _ := strings.Cut(args[3], "=")
		if v == "" {
			delete(img.labels, k)
		} else {
			img.labels[k] = v
		}
		return res(args[2] + "\n")
	case len(args) == 3 && args[0] == "images" && args[1] == "rm":
		delete(c.images, args[2])
		c.gc()
		return res(args[2] + "\n")
	}
	return fail("fake: unsupported ctr " + strings.Join(args, " "))
}

func (c *fakeCtrd) importArchive(p string) (host.Result, error) {
	f, err := os.Open(p)
	if err != nil {
		return fail(err.Error())
	}
	defer f.Close()
	ac, err := payload.ReadArchiveContents(f)
	if err != nil {
		return fail(err.Error())
	}
	in := map[string]bool{}
	for _, b := range ac.Blobs {
		in[b.String()] = true
	}
	for _, d := range ac.Index.Manifests {
		need, ok := c.needs[d.Digest.String()]
		if !ok {
			return fail("fake: unknown manifest " + d.Digest.String())
		}
		for _, b := range need {
			if !in[b] && !c.content[b] {
				return fail(fmt.Sprintf("ctr: content digest %s: not found", b))
			}
		}
	}
	for b := range in {
		c.content[b] = true
	}
	for _, d := range ac.Index.Manifests {
		n := d.Annotations[annotationName]
		if img, ok := c.images[n]; ok {
			img.target = d.Digest.String()
			continue
		}
		c.images[n] = &fakeImage{target: d.Digest.String(), labels: map[string]string{}}
	}
	c.imports++
	return res("")
}

// gc drops blobs no image references (containerd's GC after an image removal).
func (c *fakeCtrd) gc() {
	used := map[string]bool{}
	for _, img := range c.images {
		for _, b := range c.needs[img.target] {
			used[b] = true
		}
	}
	for b := range c.content {
		if !used[b] {
			delete(c.content, b)
		}
	}
}
