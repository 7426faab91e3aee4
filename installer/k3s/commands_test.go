package k3s

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestServiceCommands(t *testing.T) {
	tests := []struct {
		name string
		got  [][]string
		want [][]string
	}{
		{"systemd start", StartArgv(Systemd, RoleServerFirst), [][]string{
			{"systemctl", "daemon-reload"}, {"systemctl", "enable", "--now", "--no-block", "k3s.service"}}},
		{"openrc start agent", StartArgv(OpenRC, RoleAgent), [][]string{
			{"rc-update", "add", "k3s-agent", "default"}, {"rc-service", "k3s-agent", "start"}}},
		{"systemd restart agent", RestartArgv(Systemd, RoleAgent), [][]string{
			{"systemctl", "daemon-reload"}, {"systemctl", "restart", "--no-block", "k3s-agent.service"}}},
		{"logs", [][]string{LogTailArgv(Systemd, RoleServerJoin, 50), LogTailArgv(OpenRC, RoleServerJoin, 50)}, [][]string{
			{"journalctl", "--no-pager", "-o", "cat", "-n", "50", "-u", "k3s.service"}, {"tail", "-n", "50", "/var/log/k3s.log"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if d := cmp.Diff(tt.want, tt.got); d != "" {
				t.Error(d)
			}
		})
	}
	// §3: no systemctl call may block on a Type=notify start.
	for _, argv := range append(StartArgv(Systemd, RoleServerFirst), RestartArgv(Systemd, RoleAgent)...) {
		if (slices.Contains(argv, "start") || slices.Contains(argv, "restart") || slices.Contains(argv, "--now")) &&
			!slices.Contains(argv, "--no-block") {
			t.Errorf("blocking: %s", strings.Join(argv, " "))
		}
	}
}
