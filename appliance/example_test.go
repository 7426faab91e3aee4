package appliance_test

import (
	"fmt"

	"github.com/ferry-delivery/ferry/appliance"
)

// PlanImages shows the engineer, before an upgrade, what each node will receive: only the blobs its
// containerd lacks.
func ExamplePlanImages() {
	prev := appliance.VersionImages{Images: map[string][]string{"linux/amd64": {"shop:1.0.0", "db:15"}}}
	next := appliance.VersionImages{
		Images: map[string][]string{"linux/amd64": {"shop:2.0.0", "db:15"}},
		Blobs: map[string][]appliance.Blob{"linux/amd64": {
			{Digest: "sha256:base", Size: 30 << 20}, {Digest: "sha256:shop-2-top", Size: 2 << 20}, {Digest: "sha256:db", Size: 80 << 20},
		}},
	}
	nodes := []appliance.Node{{Name: "server-1", Platform: "linux/amd64"}, {Name: "new-agent", Platform: "linux/amd64"}}
	present := map[string]appliance.BlobSet{"server-1": {"sha256:base": true, "sha256:db": true}}
	p := appliance.PlanImages(prev, next, nodes, present)
	fmt.Println("added:", p.ImagesAdded, "removed:", p.ImagesRemoved)
	for _, n := range p.Nodes {
		fmt.Printf("%s: %d blob(s), %d MiB\n", n.Node.Name, len(n.Missing), n.Bytes>>20)
	}
	// Output:
	// added: [shop:2.0.0] removed: [shop:1.0.0]
	// server-1: 1 blob(s), 2 MiB
	// new-agent: 3 blob(s), 112 MiB
}

// Retain says which versions stay ready for rollback and which image blobs must stay pinned.
func ExampleRetain() {
	rec := func(seq int, v string, s appliance.RecordState) appliance.Record {
		return appliance.Record{Seq: seq, Version: v, State: s}
	}
	p := appliance.Retain([]appliance.Record{
		rec(1, "1.0.0", appliance.StateSucceeded), rec(2, "1.1.0", appliance.StateSucceeded),
		rec(3, "2.0.0", appliance.StateRolledBack), rec(4, "1.1.0", appliance.StateSucceeded),
		rec(5, "2.0.1", appliance.StateSucceeded), rec(6, "2.1.0", appliance.StateSucceeded),
	}, 3)
	fmt.Println("keep:", p.Keep, "prune:", p.Prune)
	// Output:
	// keep: [2.1.0 2.0.1 1.1.0] prune: [1.0.0]
}
