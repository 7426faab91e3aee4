package sshtest

import (
	"os"
	"os/exec"
	"os/user"
	"strings"
	"testing"
)

// UserEnv opts tests into creating the throwaway system user; `make test-installer` sets it.
const UserEnv = "FERRY_TEST_SYSTEM_USER"

// TestUser is the throwaway login created for sudo and password tests.
const TestUser = "ferrytest"

// EnsureUser creates the system user ferrytest with the given login shell and password, allowed to sudo
// with that password, and removes user, home and sudoers entry at cleanup. It skips unless UserEnv=1,
// because it changes the machine's user database.
func EnsureUser(t testing.TB, shell, password string) {
	t.Helper()
	if os.Getenv(UserEnv) != "1" {
		t.Skipf("set %s=1 (make test-installer) to create the throwaway user %s", UserEnv, TestUser)
	}
	SshdPath(t)
	for _, tool := range []string{"useradd", "chpasswd", "sudo", "userdel"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (scripts/install-deps.sh lab)", tool)
		}
	}
	if _, err := user.Lookup(TestUser); err == nil {
		removeUser()
	}
	run(t, "", "useradd", "--create-home", "--shell", shell, TestUser)
	t.Cleanup(removeUser)
	run(t, TestUser+":"+password+"\n", "chpasswd")
	if err := os.WriteFile("/etc/sudoers.d/"+TestUser, []byte(TestUser+" ALL=(ALL:ALL) ALL\n"), 0o440); err != nil {
		t.Fatal(err)
	}
}

func removeUser() {
	os.Remove("/etc/sudoers.d/" + TestUser)
	// --force: a session the test's own sshd still holds must not keep the user alive.
	exec.Command("userdel", "--force", "--remove", TestUser).Run()
}

func run(t testing.TB, stdin string, name string, args ...string) {
	t.Helper()
	c := exec.Command(name, args...)
	c.Stdin = strings.NewReader(stdin)
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v: %s", name, args, err, out)
	}
}
