package appliance

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/releaseutil"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

const (
	// releaseSecretType is the type of helm's release Secrets (sh.helm.release.v1.<name>.vN).
	releaseSecretType = "helm.sh/release.v1"
	// LabelConfigHash is the label klipper-helm puts on the release it made, holding the config hash of the
	// helm-controller job that made it (without its "SHA256=" prefix, cut to 63 characters).
	LabelConfigHash = "helmcharts.helm.cattle.io/configHash"
	// jobLabelChart is on helm-controller's job and its pods.
	jobLabelChart = "helmcharts.helm.cattle.io/chart"
)

// Release is a decoded helm release record, with the labels of the Secret that held it.
type Release struct {
	*release.Release
	ConfigHash string
}

// decodeRelease reads a helm release Secret the way helm's storage driver writes it: JSON, gzipped,
// base64-encoded into data["release"].
func decodeRelease(s *corev1.Secret) (*Release, error) {
	raw, ok := s.Data["release"]
	if !ok {
		return nil, fmt.Errorf("decoding helm release %s: no release data", s.Name)
	}
	b, err := base64.StdEncoding.DecodeString(string(raw))
	if err != nil {
		return nil, fmt.Errorf("decoding helm release %s: %w", s.Name, err)
	}
	if len(b) > 3 && bytes.Equal(b[0:3], []byte{0x1f, 0x8b, 0x08}) {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("decoding helm release %s: %w", s.Name, err)
		}
		if b, err = io.ReadAll(io.LimitReader(zr, 64<<20)); err != nil {
			return nil, fmt.Errorf("decoding helm release %s: %w", s.Name, err)
		}
	}
	var rls release.Release
	if err := json.Unmarshal(b, &rls); err != nil {
		return nil, fmt.Errorf("decoding helm release %s: %w", s.Name, err)
	}
	rls.Labels = s.Labels
	return &Release{Release: &rls, ConfigHash: s.Labels[LabelConfigHash]}, nil
}

// decodeReleases decodes the release Secrets of one release name, newest revision first. Secrets of other
// releases or types are skipped; a Secret that does not decode is an error (helm could not read it either).
func decodeReleases(name string, secrets []corev1.Secret) ([]*Release, error) {
	var out []*Release
	for i := range secrets {
		s := &secrets[i]
		if s.Type != releaseSecretType || s.Labels["owner"] != "helm" || s.Labels["name"] != name {
			continue
		}
		r, err := decodeRelease(s)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version > out[j].Version })
	return out, nil
}

// workloadRef names one workload rendered by a release.
type workloadRef struct {
	Kind, Namespace, Name string
}

func (w workloadRef) String() string { return w.Kind + " " + w.Namespace + "/" + w.Name }

// workloadKinds are the kinds whose rollout decides health.
var workloadKinds = map[string]int{"Deployment": 0, "StatefulSet": 1, "DaemonSet": 2, "Job": 3}

// releaseWorkloads lists the Deployments, StatefulSets, DaemonSets and Jobs in a release's manifest: the
// objects whose rollout decides health. Helm hooks are not in the manifest and are not waited for.
func releaseWorkloads(r *Release, defaultNS string) ([]workloadRef, error) {
	return releaseObjects(r, defaultNS, workloadKinds)
}

// releaseObjects lists the objects of the given kinds in a release's manifest, in helm's install order.
func releaseObjects(r *Release, defaultNS string, kinds map[string]int) ([]workloadRef, error) {
	var out []workloadRef
	manifests := releaseutil.SplitManifests(r.Manifest)
	keys := make([]string, 0, len(manifests))
	for k := range manifests {
		keys = append(keys, k)
	}
	sort.Sort(releaseutil.BySplitManifestsOrder(keys))
	for _, k := range keys {
		var head struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal([]byte(manifests[k]), &head); err != nil {
			return nil, fmt.Errorf("reading manifest of release %s v%d: %w", r.Name, r.Version, err)
		}
		if _, ok := kinds[head.Kind]; ok {
			ns := head.Metadata.Namespace
			if ns == "" {
				ns = defaultNS
			}
			out = append(out, workloadRef{Kind: head.Kind, Namespace: ns, Name: strings.TrimSpace(head.Metadata.Name)})
		}
	}
	return out, nil
}
