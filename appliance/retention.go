package appliance

import "sort"

// DefaultKeep is how many versions stay ready for rollback (current included).
const DefaultKeep = 3

// RetentionPlan says which versions stay rollback-ready and what that pins on the nodes.
type RetentionPlan struct {
	Keep  []string // versions, current first
	Prune []string // versions that may be dropped
	// Pinned holds, per platform, every blob a kept version needs: these must stay pinned on every node.
	Pinned map[string]BlobSet
	// Prunable holds, per platform, blobs only pruned versions use: the node side may unpin them.
	Prunable map[string]BlobSet
	// PrunableCharts are chart Secrets no kept version references.
	PrunableCharts []string
	// PrunableStaticCharts are server-side chart files no kept version references.
	PrunableStaticCharts []string
	// PrunableValues are values Secrets (secret values of a version) that no record of a kept or
	// in-progress version references; versions with the same secrets share one, which then stays.
	PrunableValues []string
}

// Retain keeps the current version and the newest other successfully applied versions, n in all. It is a
// pure function of the records; acting on it (unpinning, deleting archives) is the node side's job.
func Retain(records []Record, n int) RetentionPlan {
	if n < 1 {
		n = DefaultKeep
	}
	// Newest success per version decides recency; the current version is the newest success overall.
	last := map[string]Record{}
	for _, r := range records {
		if r.State != StateSucceeded {
			continue
		}
		if cur, ok := last[r.Version]; !ok || cur.Seq < r.Seq {
			last[r.Version] = r
		}
	}
	ordered := make([]Record, 0, len(last))
	for _, r := range last {
		ordered = append(ordered, r)
	}
	sort.Slice(ordered, func(i, j int) bool { return ordered[i].Seq > ordered[j].Seq })

	p := RetentionPlan{Pinned: map[string]BlobSet{}, Prunable: map[string]BlobSet{}}
	keptCharts := map[string]bool{}
	keptStatic := map[string]bool{}
	for i, r := range ordered {
		if i < n {
			p.Keep = append(p.Keep, r.Version)
			keptCharts[r.ChartRef] = true
			keptStatic[r.StaticChart] = true
			addBlobs(p.Pinned, r.Images)
		} else {
			p.Prune = append(p.Prune, r.Version)
		}
	}
	kept := map[string]bool{}
	for _, v := range p.Keep {
		kept[v] = true
	}
	// A change still in progress may become current: its images stay pinned too.
	for _, r := range records {
		if r.State == StateInProgress {
			kept[r.Version] = true
			addBlobs(p.Pinned, r.Images)
		}
	}
	// Anything recorded but not kept (including failed versions) is a pruning candidate unless pinned.
	charts, static := map[string]bool{}, map[string]bool{}
	for _, r := range records {
		if kept[r.Version] {
			continue
		}
		for plat, blobs := range r.Images.Blobs {
			for _, b := range blobs {
				if p.Pinned[plat][b.Digest] {
					continue
				}
				if p.Prunable[plat] == nil {
					p.Prunable[plat] = BlobSet{}
				}
				p.Prunable[plat][b.Digest] = true
			}
		}
		if r.ChartRef != "" && !keptCharts[r.ChartRef] {
			charts[r.ChartRef] = true
		}
		if r.StaticChart != "" && !keptStatic[r.StaticChart] {
			static[r.StaticChart] = true
		}
	}
	keptValues, values := map[string]bool{}, map[string]bool{}
	for _, r := range records {
		if r.ValuesRef != "" && kept[r.Version] {
			keptValues[r.ValuesRef] = true
		}
	}
	for _, r := range records {
		if r.ValuesRef != "" && !keptValues[r.ValuesRef] {
			values[r.ValuesRef] = true
		}
	}
	for v := range values {
		p.PrunableValues = append(p.PrunableValues, v)
	}
	sort.Strings(p.PrunableValues)
	for c := range charts {
		p.PrunableCharts = append(p.PrunableCharts, c)
	}
	sort.Strings(p.PrunableCharts)
	for c := range static {
		p.PrunableStaticCharts = append(p.PrunableStaticCharts, c)
	}
	sort.Strings(p.PrunableStaticCharts)
	return p
}

func addBlobs(into map[string]BlobSet, v VersionImages) {
	for plat, blobs := range v.Blobs {
		if into[plat] == nil {
			into[plat] = BlobSet{}
		}
		for _, b := range blobs {
			into[plat][b.Digest] = true
		}
	}
}
