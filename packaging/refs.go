package packaging

import (
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/ferry-delivery/ferry/payload"
)

// parseRef parses an image reference the way kubelet and containerd read it: a bare name means Docker
// Hub ("nginx" is docker.io/library/nginx:latest). Registries listed as insecure are reached over HTTP.
func parseRef(s string, insecure []string) (name.Reference, error) {
	var opts []name.Option
	if host := refHost(s); host != "" {
		for _, r := range insecure {
			if r == host {
				opts = append(opts, name.Insecure)
			}
		}
	}
	// "repo:tag@sha256:..." pins the digest; the tag is only a comment then, as in containerd.
	if i := strings.Index(s, "@"); i > 0 {
		base := s[:i]
		if j := strings.LastIndex(base, ":"); j > strings.LastIndex(base, "/") {
			s = base[:j] + s[i:]
		}
	}
	return name.ParseReference(s, opts...)
}

// refHost is the registry part of a reference as written, or "" when the reference has none.
func refHost(s string) string {
	i := strings.Index(s, "/")
	if i < 0 {
		return ""
	}
	h := s[:i]
	if strings.ContainsAny(h, ".:") || h == "localhost" {
		return h
	}
	return ""
}

// canonicalName is the full reference as containerd names an image (docker.io/library/nginx:1.25), spelled
// by payload so the builder's deduplication and the bundle's names agree.
func canonicalName(ref name.Reference) string {
	s, err := payload.CanonicalRef(ref.Name())
	if err != nil { // cannot happen: ref was parsed by the same library
		return ref.Name()
	}
	return s
}

// normalizeRefs parses, canonicalises, deduplicates and sorts references.
func normalizeRefs(refs []string, insecure []string) ([]name.Reference, error) {
	byName := map[string]name.Reference{}
	for _, r := range refs {
		ref, err := parseRef(r, insecure)
		if err != nil {
			return nil, err
		}
		byName[canonicalName(ref)] = ref
	}
	keys := make([]string, 0, len(byName))
	for k := range byName {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]name.Reference, 0, len(keys))
	for _, k := range keys {
		out = append(out, byName[k])
	}
	return out, nil
}
