//go:build unix

package remote

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A child process holds a session lock; while it runs its token is not gone, once SIGKILLed it is, and
// the lock file is cleared. Tokens of other laptops (no file here) and malformed ones are never gone.
func TestHolderGoneAfterSIGKILL(t *testing.T) {
	if dir := os.Getenv("FERRY_HOLDER_CHILD"); dir != "" {
		h, err := newHolder(dir)
		if err != nil {
			os.Exit(3)
		}
		os.Stdout.WriteString(h.Token() + "\n")
		select {} // held until killed
	}
	dir := t.TempDir()
	me, err := newHolder(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer me.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHolderGoneAfterSIGKILL$")
	cmd.Env = append(os.Environ(), "FERRY_HOLDER_CHILD="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		t.Fatalf("child: %v", err)
	}
	child := strings.TrimSpace(line)
	if me.Gone(child) {
		cmd.Process.Kill()
		t.Fatal("a running holder was called gone")
	}
	if me.Gone(me.Token()) {
		t.Fatal("this process's own holder was called gone")
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL: no clean-up runs in the child
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if _, err := os.Stat(filepath.Join(dir, holdersDir, child+".lock")); err != nil {
		t.Fatalf("the killed child's lock file should still be there: %v", err)
	}
	if !me.Gone(child) {
		t.Fatal("a SIGKILLed holder is not called gone")
	}
	if !me.Gone(child) {
		t.Fatal("a SIGKILLed holder is not called gone the second time (status, then the re-run, must both see it)")
	}
	// A new session sweeps lock files of dead holders once they are old, not before.
	lock := filepath.Join(dir, holdersDir, child+".lock")
	other, err := newHolder(dir)
	if err != nil {
		t.Fatal(err)
	}
	other.Close()
	if _, err := os.Stat(lock); err != nil {
		t.Fatalf("a young dead holder's lock file was swept: %v", err)
	}
	old := time.Now().Add(-2 * staleHolder)
	if err := os.Chtimes(lock, old, old); err != nil {
		t.Fatal(err)
	}
	other, err = newHolder(dir)
	if err != nil {
		t.Fatal(err)
	}
	other.Close()
	if _, err := os.Stat(lock); !os.IsNotExist(err) {
		t.Fatalf("an old dead holder's lock file was not swept: %v", err)
	}
	for _, tok := range []string{"", "../../etc/passwd", strings.Repeat("a", 32), "zz" + strings.Repeat("0", 30)} {
		if me.Gone(tok) {
			t.Errorf("token %q called gone", tok)
		}
	}
	me.Close()
	if _, err := os.Stat(filepath.Join(dir, holdersDir, me.Token()+".lock")); !os.IsNotExist(err) {
		t.Fatal("Close left the lock file")
	}
}
