package appliance

import (
	"context"
	"sort"
)

// Blob is one content-addressed blob (layer, config or manifest) an image needs on a node.
type Blob struct {
	Digest string `json:"digest"`
	Size   int64  `json:"size"`
}

// VersionImages lists, per platform ("linux/amd64"), the images of one app version and every blob they
// need. The bundle format provides it; records keep it so retention knows what each kept version pins.
type VersionImages struct {
	Images map[string][]string `json:"images,omitempty"`
	Blobs  map[string][]Blob   `json:"blobs,omitempty"`
}

// Node is one cluster node as the image landing side knows it.
type Node struct {
	Name     string
	Platform string // "linux/amd64", "linux/arm64"
}

// BlobSet is the set of blob digests present in a node's containerd content store.
type BlobSet map[string]bool

// LandRequest asks for the blobs a node lacks for one version's images on its platform.
type LandRequest struct {
	App      string
	Version  string
	Platform string
	Images   []string
	Missing  []Blob // only these travel
}

// NodeImages is the node side of image delivery; the installer implements it over SSH. Present must
// report what the node's containerd has; Land must leave every image of the request imported AND
// pinned so that kubelet GC and k3s restarts keep it (see docs/appliance.md for the strategy).
type NodeImages interface {
	Nodes(ctx context.Context) ([]Node, error)
	Present(ctx context.Context, node Node) (BlobSet, error)
	Land(ctx context.Context, node Node, req LandRequest) error
}

// NodePlan is what one node needs for a version.
type NodePlan struct {
	Node    Node
	Missing []Blob
	Bytes   int64 // sum of Missing sizes: what goes on the wire to this node
}

// Plan is shown before an upgrade: versions, images changed, and bytes per node.
type Plan struct {
	App           string
	From, To      string
	ImagesAdded   []string
	ImagesRemoved []string
	Nodes         []NodePlan
	TotalBytes    int64
}

// PlanImages computes per node which blobs of next are missing, and which images change against prev.
// A blob counted for one node is counted for every node that lacks it: each node's containerd is its own.
func PlanImages(prev, next VersionImages, nodes []Node, present map[string]BlobSet) Plan {
	var p Plan
	old, neu := imageSet(prev), imageSet(next)
	for img := range neu {
		if !old[img] {
			p.ImagesAdded = append(p.ImagesAdded, img)
		}
	}
	for img := range old {
		if !neu[img] {
			p.ImagesRemoved = append(p.ImagesRemoved, img)
		}
	}
	sort.Strings(p.ImagesAdded)
	sort.Strings(p.ImagesRemoved)
	for _, n := range nodes {
		np := NodePlan{Node: n}
		have := present[n.Name]
		seen := map[string]bool{}
		for _, b := range next.Blobs[n.Platform] {
			if have[b.Digest] || seen[b.Digest] {
				continue
			}
			seen[b.Digest] = true
			np.Missing = append(np.Missing, b)
			np.Bytes += b.Size
		}
		p.TotalBytes += np.Bytes
		p.Nodes = append(p.Nodes, np)
	}
	return p
}

func imageSet(v VersionImages) map[string]bool {
	out := map[string]bool{}
	for _, imgs := range v.Images {
		for _, i := range imgs {
			out[i] = true
		}
	}
	return out
}
