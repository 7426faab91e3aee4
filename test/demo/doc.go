// Package demo builds the DEMO bundles of `make demo` and `make test-demo`: hello-web, a tiny web app
// (test/demo/webapp, a static Go binary built locally for linux/amd64 and linux/arm64 and put into a
// multi-arch OCI image with go-containerregistry over an empty base: nothing is pulled from a registry),
// its Helm chart (Deployment + Service + values.schema.json with replicas and a greeting, so the
// wizard's Settings form has something to show), at versions 1.0.0 and 1.1.0 (1.1.0 changes the binary
// and the default greeting), signed with a demo key generated into the demo's state folder.
//
// The k3s in these bundles is the k3s STAND-IN (test/k3s-standin, version v1.35.8+standin): it runs no
// container, so the web app never actually serves; pods turn Ready once their image is on the node. The
// bundles disable every k3s add-on (the stand-in has none). Demo bundles are for trying Ferry on one
// machine only.
//
// It must never be reachable from a product build: no product package imports test/... (a test in
// internal/archtest fails if one does), and `ferryctl bundle build` refuses the stand-in's k3s version.
package demo
