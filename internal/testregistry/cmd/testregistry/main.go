// Command testregistry serves random multi-arch images from an in-process registry (package
// testregistry) in its own process, so benchmarks can point several tools at the same server. It prints
// one JSON line {"host":..., "refs":[...], "bytes":N} on stdout once the images are pushed, then serves
// until stdin closes or it is signalled. Test and benchmark use only.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/ferry-delivery/ferry/internal/testregistry"
)

func main() {
	refs := flag.String("refs", "ferry-test/web:1.0,ferry-test/db:1.0", "comma-separated repo:tag to push")
	platforms := flag.String("platforms", "linux/amd64,linux/arm64", "comma-separated platforms of each image")
	layers := flag.Int("layers", 2, "layers per platform image")
	layerSize := flag.Int64("layer-size", 1<<20, "random bytes per layer")
	tls := flag.Bool("tls", false, "serve HTTPS")
	flag.Parse()

	reg, err := testregistry.Start(testregistry.Options{TLS: *tls})
	if err != nil {
		fmt.Fprintln(os.Stderr, "testregistry:", err)
		os.Exit(1)
	}
	defer reg.Close()
	out := struct {
		Host  string   `json:"host"`
		Refs  []string `json:"refs"`
		Bytes int64    `json:"bytes"`
	}{Host: reg.Host}
	for i, r := range strings.Split(*refs, ",") {
		p, err := reg.Push(context.Background(), testregistry.ImageSpec{Ref: r, Platforms: strings.Split(*platforms, ","),
			Layers: *layers, LayerSize: *layerSize, Seed: int64(i + 1)})
		if err != nil {
			fmt.Fprintln(os.Stderr, "testregistry:", err)
			os.Exit(1)
		}
		out.Refs = append(out.Refs, p.Ref)
		out.Bytes += p.Size
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		os.Exit(1)
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	eof := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); close(eof) }()
	select {
	case <-stop:
	case <-eof:
	}
}
