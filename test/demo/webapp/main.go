// Command webapp is the demo application's only program: a static HTTP server that answers every request
// with a greeting and its version. It is built CGO_ENABLED=0 for amd64 and arm64 by test/demo and put
// into the demo's container image; `version` is set with -ldflags -X. The greeting comes from the chart's
// settings through $GREETING.
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"
)

var version = "dev"

func main() {
	greeting := os.Getenv("GREETING")
	if greeting == "" {
		greeting = "Hello from Ferry"
	}
	addr := os.Getenv("LISTEN")
	if addr == "" {
		addr = ":8080"
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s (hello-web %s)\n", greeting, version)
	})
	http.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	log.Printf("hello-web %s listening on %s", version, addr)
	log.Fatal(http.ListenAndServe(addr, nil))
}
