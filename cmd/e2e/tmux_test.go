//go:build e2e

package e2e

import (
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// terminal is a tmux session: a real terminal for ws enter, ws exec -t and
// pinentry, read back with capture-pane.
type terminal struct {
	t    *testing.T
	sock string
}

// newTerminal starts argv in a detached width×height tmux session, killed
// when the test ends.
func newTerminal(t *testing.T, width, height string, argv ...string) *terminal {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		unavailable(t, "tmux is not installed")
	}
	term := &terminal{t: t, sock: filepath.Join(t.TempDir(), "tmux.sock")}
	term.tmux(append([]string{"new-session", "-d", "-x", width, "-y", height}, argv...)...)
	t.Cleanup(func() { exec.Command("tmux", "-S", term.sock, "kill-server").Run() })
	return term
}

func (term *terminal) tmux(args ...string) string {
	term.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-S", term.sock}, args...)...).CombinedOutput()
	if err != nil {
		term.t.Fatalf("tmux %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// send types keys (tmux key names, such as Enter or C-c).
func (term *terminal) send(keys ...string) { term.tmux(append([]string{"send-keys"}, keys...)...) }

// waitFor returns the screen once ok holds for it, failing after a minute.
func (term *terminal) waitFor(what string, ok func(screen string) bool) string {
	term.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		screen := term.tmux("capture-pane", "-p", "-J")
		if ok(screen) {
			return screen
		}
		if time.Now().After(deadline) {
			term.t.Fatalf("waiting for %s; the screen shows:\n%s", what, screen)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitForText waits for text to be on the screen.
func (term *terminal) waitForText(text string) string {
	term.t.Helper()
	return term.waitFor(strconv.Quote(text), func(s string) bool { return strings.Contains(s, text) })
}
