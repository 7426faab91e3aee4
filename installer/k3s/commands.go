package k3s

import "strconv"

// Service commands as argv, for the phases to run through the Host interface (and print in a dry run).

// StartArgv enables and starts the service without waiting for it (§3): with Type=notify and
// TimeoutStartSec=0 a blocking `systemctl start` can hang forever while k3s imports images, so the caller
// polls ReadinessPlan with its own timeout instead.
func StartArgv(i Init, r Role) [][]string {
	if i == OpenRC {
		return [][]string{{"rc-update", "add", r.ServiceName(), "default"}, {"rc-service", r.ServiceName(), "start"}}
	}
	return [][]string{{"systemctl", "daemon-reload"}, {"systemctl", "enable", "--now", "--no-block", r.ServiceName() + ".service"}}
}

// RestartArgv restarts the service after a binary swap or a config change (§3: the install script skips
// restarts when hashes match; Ferry always restarts explicitly). --no-block for the same reason as start.
func RestartArgv(i Init, r Role) [][]string {
	if i == OpenRC {
		return [][]string{{"rc-service", r.ServiceName(), "restart"}}
	}
	return [][]string{{"systemctl", "daemon-reload"}, {"systemctl", "restart", "--no-block", r.ServiceName() + ".service"}}
}

// LogTailArgv prints the last n lines of the service's log, shown when readiness times out.
func LogTailArgv(i Init, r Role, n int) []string {
	if i == OpenRC {
		return []string{"tail", "-n", strconv.Itoa(n), OpenRCLog(r)}
	}
	return []string{"journalctl", "--no-pager", "-o", "cat", "-n", strconv.Itoa(n), "-u", r.ServiceName() + ".service"}
}
