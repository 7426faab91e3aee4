package realengine

import (
	"testing"

	"github.com/ferry-delivery/ferry/appliance"
	"github.com/ferry-delivery/ferry/installer"
)

// Every step the real engine reports has an id of its own across all operations (the wizard translates
// titles by id, so two steps under one id would show one title), and the lists follow the engines' own.
func TestPhaseListsHaveUniqueIDs(t *testing.T) {
	lists := PhaseLists()
	want := map[string]int{
		OpInstall:  len(installer.InstallPhases()) + len(appliance.Phases("deploy")),
		OpUpgrade:  len(appliance.Phases("upgrade")),
		OpRollback: len(appliance.Phases("rollback")),
	}
	seen := map[string]string{}
	for op, n := range want {
		if len(lists[op]) != n || n == 0 {
			t.Errorf("%s: %d steps, want the engines' %d", op, len(lists[op]), n)
		}
		for _, p := range lists[op] {
			if p.ID == "" || p.Title == "" {
				t.Errorf("%s: step %+v lacks an id or a title", op, p)
			}
			if other, dup := seen[p.ID]; dup {
				t.Errorf("id %q is a step of both %s and %s", p.ID, other, op)
			}
			seen[p.ID] = op
		}
	}
	if len(lists) != len(want) {
		t.Errorf("PhaseLists has %d operations, the test knows %d", len(lists), len(want))
	}
}
