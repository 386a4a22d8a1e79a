//go:build e2e

package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ws-tools/ws/launcher"
)

// execWorkspace is a workspace whose image is built, in a folder every
// user can reach (t.TempDir's parents are private to root).
func execWorkspace(t testing.TB) *buildWorkspace {
	t.Helper()
	in := needInfra(t)
	w := newBuildWorkspace(t, in)
	dir, err := os.MkdirTemp("", "ws-e2e-workspace-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	t.Cleanup(func() { os.RemoveAll(dir) })
	b, _ := os.ReadFile(filepath.Join(w.dir, "tools.lock"))
	os.WriteFile(filepath.Join(dir, "tools.lock"), b, 0o644)
	w.dir = dir
	if _, r := w.build(t); r.code != 0 {
		t.Fatalf("build exited %d", r.code)
	}
	trust(t, dir)
	return w
}

// wsCmd is ws started in dir with an isolated HOME.
func wsCmd(t testing.TB, dir string, args ...string) *exec.Cmd {
	t.Helper()
	home := t.TempDir()
	cmd := exec.Command(wsBin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+home)
	return cmd
}

func workspaceContainers(t testing.TB, dir string) []string {
	t.Helper()
	out := dockerOut(t, "ps", "-aq", "--filter", "label="+launcher.LabelWorkspace+"="+launcher.WorkspaceID(dir))
	return strings.Fields(out)
}

func TestExecAsCallerWithUID1500AndGID20(t *testing.T) {
	w := execWorkspace(t)
	os.Chown(w.dir, 1500, 20)
	home, _ := os.MkdirTemp("", "ws-e2e-home-")
	t.Cleanup(func() { os.RemoveAll(home) })
	os.Chown(home, 1500, 20)
	docker, err := user.LookupGroup("docker")
	if err != nil {
		unavailable(t, "no docker group for a non-root user to reach the daemon: %v", err)
	}
	asAlice := func(args ...string) result {
		t.Helper()
		cmd := exec.Command("setpriv", append([]string{"--reuid=1500", "--regid=20", "--groups=" + docker.Gid, "--", wsBin}, args...)...)
		cmd.Dir = w.dir
		cmd.Env = []string{"HOME=" + home, "USER=alice", "PATH=/usr/bin:/bin"}
		return collect(t, cmd)
	}
	if r := asAlice("trust"); r.code != 0 {
		t.Fatalf("ws trust as alice exited %d", r.code)
	}
	r := asAlice("exec", "--", "sh", "-c", `id -u; id -g; whoami; pwd; echo "$HOME"; touch made-inside; grep Cap /proc/self/status`)
	if r.code != 0 {
		t.Fatalf("exit %d", r.code)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	want := []string{"1500", "20", "alice", w.dir, "/home/alice"}
	for i, wl := range want {
		if i >= len(lines) || lines[i] != wl {
			t.Fatalf("line %d: got %q, want %q\n%s", i, lines, wl, r.stdout)
		}
	}
	for _, capLine := range lines[len(want):] {
		if !strings.HasSuffix(capLine, "0000000000000000") {
			t.Fatalf("the process has capabilities: %q", capLine)
		}
	}
	if len(lines) != len(want)+5 {
		t.Fatalf("want 5 Cap lines:\n%s", r.stdout)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(w.dir, "made-inside"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Uid != 1500 || st.Gid != 20 {
		t.Fatalf("file made in the workspace is owned by %d:%d, want 1500:20", st.Uid, st.Gid)
	}
}

func TestExecExitStatusAndStreams(t *testing.T) {
	w := execWorkspace(t)
	cases := []struct {
		args []string
		code int
	}{
		{[]string{"sh", "-c", "exit 42"}, 42},
		{[]string{"sh", "-c", "kill -TERM $$"}, 143},
		{[]string{"no-such-command"}, 127},
		{[]string{"/etc/passwd"}, 126},
		{[]string{"true"}, 0},
	}
	for _, c := range cases {
		if r := runWs(t, w.dir, append([]string{"exec", "--"}, c.args...)...); r.code != c.code {
			t.Errorf("ws exec -- %v exited %d, want %d", c.args, r.code, c.code)
		}
	}
	// argv reaches the command as given, and the streams stay apart.
	r := runWs(t, w.dir, "exec", "--", "sh", "-c", `printf '%s|' "$@"; echo; echo to-stderr >&2`, "sh", "a b", "$HOME", "'q'")
	if r.stdout != "a b|$HOME|'q'|\n" || r.stderr != "to-stderr\n" {
		t.Fatalf("stdout %q stderr %q", r.stdout, r.stderr)
	}
	// 100 MB through stdin arrive whole.
	data := bytes.Repeat([]byte("0123456789abcdef"), 100<<20/16)
	sum := sha256.Sum256(data)
	cmd := wsCmd(t, w.dir, "exec", "--", "sha256sum")
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Fields(string(out)); len(got) == 0 || got[0] != hex.EncodeToString(sum[:]) {
		t.Fatalf("sha256sum inside: %q, want %x", out, sum)
	}
	if left := workspaceContainers(t, w.dir); len(left) != 0 {
		t.Fatalf("containers left behind: %v", left)
	}
}

// startSleeping starts `ws exec -- sleep 60` in dir and returns once its
// container has been up for a moment.
func startSleeping(t *testing.T, dir string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := wsCmd(t, dir, "exec", "--", "sleep", "60")
	cmd.Env = append(cmd.Env, env...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(workspaceContainers(t, dir)) == 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(time.Second) // let sleep itself start
	return cmd
}

// assertSIGTERMEndsRun: SIGTERM to ws ends the command (143) within 10 s
// and leaves no container.
func assertSIGTERMEndsRun(t *testing.T, cmd *exec.Cmd, dir string) {
	t.Helper()
	t0 := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 143 {
		t.Fatalf("ws after SIGTERM: %v, want exit 143", err)
	}
	if d := time.Since(t0); d > 10*time.Second {
		t.Fatalf("ws took %s to exit after SIGTERM", d)
	}
	if left := workspaceContainers(t, dir); len(left) != 0 {
		t.Fatalf("containers left after SIGTERM: %v", left)
	}
}

func TestExecSignalsAndCleanup(t *testing.T) {
	w := execWorkspace(t)
	assertSIGTERMEndsRun(t, startSleeping(t, w.dir), w.dir)

	cmd := startSleeping(t, w.dir)
	cmd.Process.Kill()
	cmd.Wait()
	left := workspaceContainers(t, w.dir)
	if len(left) != 1 {
		t.Fatalf("after kill -9 want the one orphaned container, got %v", left)
	}
	t.Cleanup(func() { exec.Command("docker", "rm", "-f", left[0]).Run() })
	if r := runWs(t, w.dir, "exec", "--", "true"); r.code != 0 {
		t.Fatalf("next exec exited %d", r.code)
	}
	if after := workspaceContainers(t, w.dir); len(after) != 0 {
		t.Fatalf("the next ws exec did not remove %v: %v", left, after)
	}
}

func TestExecInParallel(t *testing.T) {
	w := execWorkspace(t)
	var wg sync.WaitGroup
	codes := make([]int, 8)
	outs := make([]string, 8)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := wsCmd(t, w.dir, "exec", "--", "true")
			var buf bytes.Buffer
			cmd.Stdout, cmd.Stderr = &buf, &buf
			err := cmd.Run()
			if ee, ok := err.(*exec.ExitError); ok {
				codes[i] = ee.ExitCode()
			} else if err != nil {
				codes[i] = -1
			}
			outs[i] = buf.String()
		}()
	}
	wg.Wait()
	for i, c := range codes {
		if c != 0 {
			t.Errorf("exec %d exited %d:\n%s", i, c, outs[i])
		}
	}
	if left := workspaceContainers(t, w.dir); len(left) != 0 {
		t.Fatalf("containers left: %v", left)
	}
}

// tmux drives a real terminal: ws enter must show a prompt, follow window
// resizes, pass the shell's exit status back, and leave the terminal sane.
func TestEnterInTmux(t *testing.T) {
	w := execWorkspace(t)
	status := filepath.Join(t.TempDir(), "status")
	// The outer shell runs ws enter, then records its status and the
	// terminal's settings once ws is gone.
	script := fmt.Sprintf("cd %s && PS1='outer$ ' %s enter; echo $? > %s.tmp; stty -a >> %s.tmp; mv %s.tmp %s; sleep 600",
		w.dir, wsBin, status, status, status, status)
	term := newTerminal(t, "80", "24", "sh", "-c", script)
	waitFor := term.waitFor
	tmux := term.tmux
	pane := waitFor("the prompt", func(p string) bool {
		// capture-pane drops trailing blanks: a prompt line ends in $ or #.
		for _, line := range strings.Split(p, "\n") {
			if l := strings.TrimSpace(line); strings.HasSuffix(l, "$") || strings.HasSuffix(l, "#") {
				return true
			}
		}
		return false
	})
	if !strings.Contains(pane, "@ws-") {
		t.Fatalf("the prompt does not show the workspace host name:\n%s", pane)
	}
	tmux("send-keys", "stty size", "Enter")
	waitFor("stty size 24 80", func(p string) bool { return strings.Contains(p, "24 80") })
	tmux("resize-window", "-x", "100", "-y", "30")
	time.Sleep(300 * time.Millisecond)
	tmux("send-keys", "clear; stty size", "Enter")
	waitFor("stty size 30 100 after the resize", func(p string) bool { return strings.Contains(p, "30 100") })
	// Ctrl-P Ctrl-Q reach the program (Docker's default detach keys would
	// swallow them and detach): cat -v shows them.
	tmux("send-keys", "clear; stty -ixon; cat -v", "Enter")
	time.Sleep(300 * time.Millisecond)
	tmux("send-keys", "C-p", "C-q", "Enter")
	waitFor("^P^Q echoed by cat -v", func(p string) bool { return strings.Contains(p, "^P^Q") })
	tmux("send-keys", "C-d")
	tmux("send-keys", "exit 3", "Enter")
	deadline := time.Now().Add(30 * time.Second)
	var got []byte
	for {
		var err error
		if got, err = os.ReadFile(status); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ws enter did not end; pane:\n%s", tmux("capture-pane", "-p"))
		}
		time.Sleep(200 * time.Millisecond)
	}
	lines := strings.SplitN(string(got), "\n", 2)
	if lines[0] != "3" {
		t.Fatalf("ws enter exited %q, want 3", lines[0])
	}
	modes := map[string]bool{}
	for _, f := range strings.Fields(lines[1]) {
		modes[f] = true
	}
	for _, mode := range []string{"icanon", "echo", "icrnl", "opost", "isig"} {
		if !modes[mode] {
			t.Fatalf("terminal not restored (%s missing):\n%s", mode, lines[1])
		}
	}
	if left := workspaceContainers(t, w.dir); len(left) != 0 {
		t.Fatalf("containers left: %v", left)
	}
}

// The workspace section of tools.lock adds env and mounts to every run;
// the entrypoint's test hook makes its setup fail, which ws reports with
// exit 125 and no container left.
func TestExecWorkspaceConfigAndSetupFailure(t *testing.T) {
	w := execWorkspace(t)
	shared := t.TempDir()
	os.WriteFile(filepath.Join(shared, "note"), []byte("from the host\n"), 0o644)
	lockPath := filepath.Join(w.dir, "tools.lock")
	b, _ := os.ReadFile(lockPath)
	cfg := fmt.Sprintf("workspace:\n  env: [E2E_GREETING=hello from the lock]\n  mounts: [\"%s:/mnt/shared:ro\"]\n", shared)
	os.WriteFile(lockPath, append(b, []byte(cfg)...), 0o644)
	trust(t, w.dir) // the test's own env and mount
	r := runWs(t, w.dir, "exec", "-e", "E2E_FLAG=flag", "--", "sh", "-c", `echo "$E2E_GREETING/$E2E_FLAG"; cat /mnt/shared/note; touch /mnt/shared/x 2>/dev/null || echo read-only`)
	if r.code != 0 || r.stdout != "hello from the lock/flag\nfrom the host\nread-only\n" {
		t.Fatalf("exit %d, stdout %q", r.code, r.stdout)
	}
	// The hook is ws's own variable, read from the caller's environment:
	// -e cannot set WS_* names.
	r = runWsEnv(t, w.dir, []string{"WS_ENTRYPOINT_FAIL=setup"}, "exec", "--", "true")
	if r.code != 125 || !strings.Contains(r.stderr, "ws: workspace setup: failing on purpose") {
		t.Fatalf("setup failure: exit %d:\n%s", r.code, r.stderr)
	}
	if left := workspaceContainers(t, w.dir); len(left) != 0 {
		t.Fatalf("containers left: %v", left)
	}
}

// --read-only: the image cannot be changed, yet the caller is a named user
// with a writable HOME, /tmp and repository.
func TestExecReadOnly(t *testing.T) {
	w := execWorkspace(t)
	r := runWs(t, w.dir, "exec", "--read-only", "--", "sh", "-c",
		`id -un >/dev/null && echo named; touch /etc/x 2>/dev/null || echo etc-ro; touch "$HOME/x" && echo home-ok; touch /tmp/x && echo tmp-ok; touch ./x && echo repo-ok`)
	if r.code != 0 || r.stdout != "named\netc-ro\nhome-ok\ntmp-ok\nrepo-ok\n" {
		t.Fatalf("exit %d, stdout %q", r.code, r.stdout)
	}
	if left := workspaceContainers(t, w.dir); len(left) != 0 {
		t.Fatalf("containers left: %v", left)
	}
}
