package k3s

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func stepList(steps []UpgradeStep) []string {
	var s []string
	for _, st := range steps {
		s = append(s, fmt.Sprintf("%d %s %s", st.Wave, st.Kind, st.Host))
	}
	return s
}

func TestPlanUpgrade(t *testing.T) {
	ha := []UpgradeNode{
		{"srv-1", true, "v1.32.6+k3s1"}, {"srv-2", true, "v1.32.6+k3s1"}, {"srv-3", true, "v1.32.6+k3s1"},
		{"wk-1", false, "v1.32.6+k3s1"}, {"wk-2", false, "v1.32.5+k3s1"},
	}
	tests := []struct {
		name   string
		nodes  []UpgradeNode
		target string
		want   []string
	}{
		{"HA minor upgrade: servers one at a time, then agents", ha, "v1.33.4+k3s1", []string{
			"0 snapshot srv-1",
			"1 stage-images srv-1", "1 stage-images srv-2", "1 stage-images srv-3", "1 stage-images wk-1", "1 stage-images wk-2",
			"2 swap-binary srv-1", "3 wait-ready srv-1", "4 swap-binary srv-2", "5 wait-ready srv-2",
			"6 swap-binary srv-3", "7 wait-ready srv-3",
			"8 swap-binary wk-1", "8 swap-binary wk-2", "9 wait-ready wk-1", "9 wait-ready wk-2",
		}},
		{"resume after srv-1 and srv-2 were done", []UpgradeNode{
			{"srv-1", true, "v1.33.4+k3s1"}, {"srv-2", true, "v1.33.4+k3s1"}, {"srv-3", true, "v1.32.6+k3s1"},
			{"wk-1", false, "v1.32.6+k3s1"},
		}, "v1.33.4+k3s1", []string{
			"0 snapshot srv-1", "1 stage-images srv-3", "1 stage-images wk-1",
			"2 swap-binary srv-3", "3 wait-ready srv-3", "4 swap-binary wk-1", "5 wait-ready wk-1",
		}},
		{"k3s build bump within a patch", []UpgradeNode{{"s", true, "v1.33.4+k3s1"}}, "v1.33.4+k3s2", []string{
			"0 snapshot s", "1 stage-images s", "2 swap-binary s", "3 wait-ready s",
		}},
		{"already there", []UpgradeNode{{"s", true, "v1.33.4+k3s1"}, {"a", false, "1.33.4+k3s1"}}, "v1.33.4+k3s1", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := PlanUpgrade(tt.nodes, tt.target)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, stepList(got)); d != "" {
				t.Error(d)
			}
			for _, st := range got {
				if st.Version != tt.target {
					t.Errorf("step %v carries version %s", st, st.Version)
				}
			}
		})
	}
}

func TestPlanUpgradeRefuses(t *testing.T) {
	tests := []struct {
		name   string
		nodes  []UpgradeNode
		target string
		err    error
		substr string
	}{
		{"skips a minor", []UpgradeNode{{"s", true, "v1.31.9+k3s1"}}, "v1.33.4+k3s1", ErrSkipsMinor, "upgrade to v1.32 first"},
		{"one agent lags two minors", []UpgradeNode{{"s", true, "v1.32.1+k3s1"}, {"a", false, "v1.31.2+k3s1"}}, "v1.33.0+k3s1", ErrSkipsMinor, "a runs v1.31.2+k3s1"},
		{"major jump", []UpgradeNode{{"s", true, "v1.33.0+k3s1"}}, "v2.0.0+k3s1", ErrSkipsMinor, ""},
		{"downgrade", []UpgradeNode{{"s", true, "v1.33.4+k3s2"}}, "v1.33.4+k3s1", ErrDowngrade, "snapshot restore"},
		{"agent newer than servers", []UpgradeNode{{"s", true, "v1.32.1+k3s1"}, {"a", false, "v1.33.0+k3s1"}}, "v1.33.0+k3s1", ErrKubeletTooNew, "agent a"},
		{"no server", []UpgradeNode{{"a", false, "v1.32.1+k3s1"}}, "v1.33.0+k3s1", ErrNoServerToLead, ""},
		{"bad target", []UpgradeNode{{"s", true, "v1.32.1+k3s1"}}, "latest", ErrBadVersion, ""},
		{"bad node version", []UpgradeNode{{"s", true, "v1.32.1-beta.1"}}, "v1.32.2+k3s1", ErrBadVersion, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			steps, err := PlanUpgrade(tt.nodes, tt.target)
			if !errors.Is(err, tt.err) || !strings.Contains(fmt.Sprint(err), tt.substr) || steps != nil {
				t.Fatalf("steps %v, err = %v; want %v mentioning %q", steps, err, tt.err, tt.substr)
			}
		})
	}
}
