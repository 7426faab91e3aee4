//go:build tools

// This file pins the versions of the project's required libraries in go.mod before every package uses
// them, so parallel work on different packages agrees on one version of each. It is never built.
package internal

import (
	_ "fyne.io/fyne/v2"
	_ "github.com/google/go-cmp/cmp"
	_ "github.com/google/go-containerregistry/pkg/registry"
	_ "github.com/google/go-containerregistry/pkg/v1/layout"
	_ "github.com/k3s-io/helm-controller/pkg/apis/helm.cattle.io/v1"
	_ "github.com/k3s-io/helm-controller/pkg/generated/clientset/versioned"
	_ "github.com/klauspost/compress/zstd"
	_ "github.com/mholt/archives"
	_ "github.com/pkg/sftp"
	_ "golang.org/x/crypto/ssh"
	_ "helm.sh/helm/v3/pkg/chart/loader"
	_ "k8s.io/client-go/kubernetes"
	_ "sigs.k8s.io/yaml"
)
