package images

import (
	"context"
	"time"

	"github.com/distribution/reference"
)

// Missing returns which of refs have no image in containerd. A digest reference matches an image with
// that repository and target digest, a tagged one an image of that exact name.
func (c *Containerd) Missing(ctx context.Context, refs []string) ([]string, error) {
	imgs, err := c.cachedList(ctx)
	if err != nil {
		return nil, err
	}
	have := map[string]bool{}
	for _, img := range imgs {
		if n := normalize(img.Name); n != "" {
			have[n] = true
			if named, err := reference.ParseNormalizedNamed(img.Name); err == nil {
				have[named.Name()+"@"+img.Digest] = true
			}
		}
	}
	var missing []string
	for _, r := range refs {
		named, err := reference.ParseNormalizedNamed(r)
		if err != nil {
			missing = append(missing, r)
			continue
		}
		key := reference.TagNameOnly(named).String()
		if d, ok := named.(reference.Digested); ok {
			key = named.Name() + "@" + d.Digest().String()
		}
		if !have[key] {
			missing = append(missing, r)
		}
	}
	return missing, nil
}

// cachedList lists images at most once a second: the kubelet asks for every pod on every pass.
func (c *Containerd) cachedList(ctx context.Context) ([]Image, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cache != nil && time.Since(c.cacheAt) < time.Second {
		return c.cache, nil
	}
	imgs, err := c.List(ctx)
	if err != nil {
		return nil, err
	}
	c.cache, c.cacheAt = imgs, time.Now()
	return imgs, nil
}

// invalidate drops the cached list after an import.
func (c *Containerd) invalidate() {
	c.mu.Lock()
	c.cache = nil
	c.mu.Unlock()
}
