//go:build e2e

package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ws-tools/ws/launcher"
)

// kept is the environment of a run that uses the kept workspace (the
// harness makes every other run --fresh).
var kept = []string{"WS_FRESH="}

func keptContainers(t testing.TB, dir string) []string {
	t.Helper()
	out := dockerOut(t, "ps", "-aq", "--no-trunc", "--filter", "label="+launcher.LabelWorkspace+"="+launcher.WorkspaceID(dir), "--filter", "label="+launcher.LabelKept+"=1")
	return strings.Fields(out)
}

func stopKept(t *testing.T, dir string) {
	t.Helper()
	t.Cleanup(func() { runWsEnv(t, dir, kept, "stop") })
}

// Two runs share one container; a change to the lock, to -e or to a
// secret's ciphertext starts a fresh one and removes the old; --fresh
// leaves nothing running; ws stop ends it and ws ps shows nothing.
func TestKeptWorkspaceIsReusedAndRenewed(t *testing.T) {
	w := secretsWorkspace(t, "pgp")
	stopKept(t, w.dir)
	env := append([]string{"GNUPGHOME=" + gnupgHome(t)}, kept...)
	run := func(args ...string) result {
		t.Helper()
		r := runWsEnv(t, w.dir, env, append([]string{"exec"}, args...)...)
		if r.code != 0 {
			t.Fatalf("ws exec %v exited %d", args, r.code)
		}
		return r
	}
	one := func(what string) string {
		t.Helper()
		ids := keptContainers(t, w.dir)
		if len(ids) != 1 {
			t.Fatalf("%s: want one kept container, have %v", what, ids)
		}
		return ids[0]
	}
	if r := run("--", "sh", "-c", `grep -c token "$KUBECONFIG"`); r.stdout != "1\n" {
		t.Fatalf("the kept workspace lacks the kubeconfig: %q", r.stdout)
	}
	first := one("first run")
	// A credential changed inside is warned about after the command, as in
	// a container of its own.
	if r := run("--", "sh", "-c", `echo "# changed" >>"$KUBECONFIG"`); !strings.Contains(r.stderr, "ws: warning: kubeconfig changed in the workspace") {
		t.Fatalf("no changed-credential warning from the kept container:\n%s", r.stderr)
	}
	run("--", "true")
	if id := one("second run"); id != first {
		t.Fatalf("the second run used another container: %s, then %s", first, id)
	}

	run("-e", "E2E_EXTRA=1", "--", "true")
	withEnv := one("with -e")
	if withEnv == first {
		t.Fatal("a run with another -e reused the container")
	}

	lockPath := filepath.Join(w.dir, "tools.lock")
	appendLock(t, w.dir, "workspace:\n  env: [E2E_FROM_LOCK=1]\n")
	trust(t, w.dir)
	if r := run("-e", "E2E_EXTRA=1", "--", "sh", "-c", `echo "$E2E_FROM_LOCK"`); r.stdout != "1\n" {
		t.Fatalf("the lock's new env is not there: %q", r.stdout)
	}
	newLock := one("after a lock change")
	if newLock == withEnv {
		t.Fatal("a changed tools.lock reused the container")
	}
	_ = lockPath

	// Re-encrypting a secret (same plaintext, new ciphertext) renews it too.
	sops := needSops(t)
	rot := exec.Command(sops.Path, "--disable-version-check", "--rotate", "--in-place", "--input-type", "yaml", "--output-type", "yaml", "kubeconfig")
	rot.Dir, rot.Env = w.dir, append(os.Environ(), env[0])
	if out, err := rot.CombinedOutput(); err != nil {
		t.Fatalf("sops --rotate: %v\n%s", err, out)
	}
	run("-e", "E2E_EXTRA=1", "--", "true")
	if one("after re-encrypting") == newLock {
		t.Fatal("a re-encrypted secret reused the container")
	}

	if r := runWsEnv(t, w.dir, kept, "ps"); !strings.Contains(r.stdout, w.dir) {
		t.Fatalf("ws ps does not list the workspace:\n%s", r.stdout)
	}
	if r := runWsEnv(t, w.dir, kept, "stop"); r.code != 0 || len(keptContainers(t, w.dir)) != 0 {
		t.Fatalf("ws stop exited %d, left %v", r.code, keptContainers(t, w.dir))
	}
	if r := runWsEnv(t, w.dir, kept, "ps"); strings.Contains(r.stdout, w.dir) {
		t.Fatalf("ws ps lists a stopped workspace:\n%s", r.stdout)
	}
	if r := runWsEnv(t, w.dir, env, "exec", "--fresh", "--", "true"); r.code != 0 || len(workspaceContainers(t, w.dir)) != 0 {
		t.Fatalf("--fresh exited %d and left %v", r.code, workspaceContainers(t, w.dir))
	}
}

// With idle: 5s the container ends itself 5 to 10 s after the last
// command, also when the ws that started it was killed with SIGKILL, and
// no plaintext is left anywhere.
func TestKeptWorkspaceEndsWhenIdle(t *testing.T) {
	w := secretsWorkspace(t, "pgp")
	stopKept(t, w.dir)
	appendLock(t, w.dir, "workspace:\n  idle: 5s\n")
	env := append([]string{"GNUPGHOME=" + gnupgHome(t)}, kept...)
	gone := func(from time.Time) time.Duration {
		t.Helper()
		for time.Since(from) < 30*time.Second {
			if len(keptContainers(t, w.dir)) == 0 {
				return time.Since(from)
			}
			time.Sleep(200 * time.Millisecond)
		}
		t.Fatal("the kept container is still there 30 s after the last command")
		return 0
	}
	if r := runWsEnv(t, w.dir, env, "exec", "--", "true"); r.code != 0 {
		t.Fatalf("exit %d", r.code)
	}
	if d := gone(time.Now()); d < 4*time.Second || d > 11*time.Second {
		t.Fatalf("the idle container went after %s, want 5-10 s", d)
	}

	cmd := wsCmd(t, w.dir, "exec", "--", "sh", "-c", "sleep 2; cat $TALOSCONFIG >/dev/null")
	cmd.Env = append(cmd.Env, env...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for len(keptContainers(t, w.dir)) == 0 {
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	cmd.Process.Kill()
	cmd.Wait()
	killed := time.Now()
	if d := gone(killed); d < 4*time.Second || d > 14*time.Second {
		t.Fatalf("after kill -9 of ws the container went after %s, want the command's 2 s and then 5-10 s", d)
	}
	assertNoPlaintext(t, "")
}

// Exec semantics against the kept container: exit statuses, signals,
// argv, streams, stdin, and parallel runs.
func TestKeptExecSemantics(t *testing.T) {
	w := execWorkspace(t)
	stopKept(t, w.dir)
	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"sh", "-c", "exit 42"}, 42},
		{[]string{"sh", "-c", "kill -TERM $$"}, 143},
		{[]string{"no-such-command"}, 127},
		{[]string{"/etc/passwd"}, 126},
		{[]string{"true"}, 0},
	} {
		if r := runWsEnv(t, w.dir, kept, append([]string{"exec", "--"}, c.args...)...); r.code != c.code {
			t.Errorf("ws exec -- %v exited %d, want %d", c.args, r.code, c.code)
		}
	}
	id := keptContainers(t, w.dir)
	r := runWsEnv(t, w.dir, kept, "exec", "--", "sh", "-c", `printf '%s|' "$@"; pwd; echo to-stderr >&2`, "sh", "a b", "$HOME", "'q'")
	if r.stdout != "a b|$HOME|'q'|"+w.dir+"\n" || r.stderr != "to-stderr\n" {
		t.Fatalf("stdout %q stderr %q", r.stdout, r.stderr)
	}
	data := bytes.Repeat([]byte("0123456789abcdef"), 10<<20/16)
	sum := sha256.Sum256(data)
	cmd := wsCmd(t, w.dir, "exec", "--", "sha256sum")
	cmd.Env = append(cmd.Env, kept...)
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	if got := strings.Fields(string(out)); err != nil || len(got) == 0 || got[0] != hex.EncodeToString(sum[:]) {
		t.Fatalf("sha256sum of 10 MB inside: %q %v, want %x", out, err, sum)
	}

	// SIGTERM to ws reaches the command's process group: 143.
	cmd = wsCmd(t, w.dir, "exec", "--", "sh", "-c", "sleep 60")
	cmd.Env = append(cmd.Env, kept...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	t0 := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	err = cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 143 || time.Since(t0) > 10*time.Second {
		t.Fatalf("ws after SIGTERM: %v after %s, want exit 143", err, time.Since(t0))
	}

	var wg sync.WaitGroup
	codes := make([]int, 8)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := wsCmd(t, w.dir, "exec", "--", "sh", "-c", "sleep 0.5; echo ok")
			c.Env = append(c.Env, kept...)
			out, err := c.Output()
			if ee, ok := err.(*exec.ExitError); ok {
				codes[i] = ee.ExitCode()
			} else if err != nil || string(out) != "ok\n" {
				codes[i] = -1
			}
		}()
	}
	wg.Wait()
	for i, c := range codes {
		if c != 0 {
			t.Errorf("parallel exec %d exited %d", i, c)
		}
	}
	if after := keptContainers(t, w.dir); len(after) != 1 || after[0] != id[0] {
		t.Fatalf("the runs did not share the one kept container: %v, then %v", id, after)
	}

	// A container that goes away under a command: exit 125, said plainly.
	cmd = wsCmd(t, w.dir, "exec", "--", "sleep", "60")
	cmd.Env = append(cmd.Env, kept...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	exec.Command("docker", "rm", "-f", id[0]).Run()
	err = cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 125 || !strings.Contains(stderr.String(), "the workspace container stopped while the command ran") {
		t.Fatalf("container removed under a command: %v\n%s", err, stderr.String())
	}
}

// With ws's shims on PATH, kubectl typed in a subdirectory of a trusted
// workspace runs the pinned kubectl in the kept container with the
// decrypted kubeconfig; outside any workspace it is the host's kubectl.
func TestShimsRunThePinnedToolInsideAndTheHostsOutside(t *testing.T) {
	w := secretsWorkspace(t, "pgp")
	stopKept(t, w.dir)
	in := needInfra(t)
	home := t.TempDir()
	shims := filepath.Join(home, "shims")
	hostBin := filepath.Join(home, "host-bin")
	os.MkdirAll(hostBin, 0o755)
	if err := os.Symlink(in.kubectl.Path, filepath.Join(hostBin, "kubectl")); err != nil {
		t.Fatal(err)
	}
	r := runWsEnv(t, w.dir, kept, "shims", "install", shims)
	if r.code != 0 || !strings.Contains(r.stdout, "export PATH='"+shims+"'") {
		t.Fatalf("ws shims install exited %d:\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, tool := range []string{"kubectl", "hello", "greet"} {
		if _, err := os.Stat(filepath.Join(shims, tool)); err != nil {
			t.Fatalf("no shim for %s: %v", tool, err)
		}
	}
	hostKubeconfig := filepath.Join(home, "host-kubeconfig")
	os.WriteFile(hostKubeconfig, []byte("apiVersion: v1\nkind: Config\ncurrent-context: host-context\ncontexts: [{name: host-context, context: {cluster: c}}]\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"), 0o644)
	path := shims + ":" + hostBin + ":" + os.Getenv("PATH")
	typed := func(dir string, args ...string) result {
		t.Helper()
		cmd := exec.Command("kubectl", args...)
		cmd.Path = filepath.Join(shims, "kubectl")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "PATH="+path, "WS_FRESH=", "GNUPGHOME="+gnupgHome(t), "KUBECONFIG="+hostKubeconfig)
		return collect(t, cmd)
	}
	sub := filepath.Join(w.dir, "clusters", "prod")
	os.MkdirAll(sub, 0o755)
	if r := typed(sub, "config", "current-context"); r.code != 0 || r.stdout != "ws-e2e\n" {
		t.Fatalf("in the workspace: exit %d, stdout %q (want the decrypted kubeconfig's context)", r.code, r.stdout)
	}
	// Shell completion calls the tool's own __complete: through the shim
	// it is the pinned kubectl's answer.
	if r := typed(sub, "__complete", "config", "current-c"); r.code != 0 || !strings.HasPrefix(r.stdout, "current-context") {
		t.Fatalf("completion through the shim: exit %d, stdout %q", r.code, r.stdout)
	}
	if r := typed(sub, "get", "--raw", "/nope", "--request-timeout=1s"); r.code == 0 {
		t.Fatalf("a failing kubectl exited 0 through the shim")
	}
	if r := typed(home, "config", "current-context"); r.code != 0 || r.stdout != "host-context\n" {
		t.Fatalf("outside: exit %d, stdout %q (want the host's kubectl and kubeconfig)", r.code, r.stdout)
	}
	// Outside, with no host kubectl either: 127, naming who pins it.
	cmd := exec.Command(filepath.Join(shims, "kubectl"), "version")
	cmd.Dir = home
	cmd.Env = append(os.Environ(), "PATH="+shims, "WS_FRESH=") // the shim names ws by its absolute path
	if r := collect(t, cmd); r.code != 127 || !strings.Contains(r.stderr, "pinned by "+w.dir) {
		t.Fatalf("no kubectl anywhere: exit %d\n%s", r.code, r.stderr)
	}
}

// ws enter with a kept container: a prompt, the terminal's size followed,
// the shell's exit status passed back.
func TestKeptEnterInTmux(t *testing.T) {
	w := execWorkspace(t)
	stopKept(t, w.dir)
	if r := runWsEnv(t, w.dir, kept, "exec", "--", "true"); r.code != 0 {
		t.Fatalf("first run exited %d", r.code)
	}
	id := keptContainers(t, w.dir)
	status := filepath.Join(t.TempDir(), "status")
	term := newTerminal(t, "100", "30", "sh", "-c", "cd "+w.dir+" && WS_FRESH= "+wsBin+" enter; echo $? >"+status+"; sleep 600")
	term.waitFor("the prompt", func(s string) bool { return strings.Contains(s, "@ws-") })
	term.send("stty size", "Enter")
	term.waitForText("30 100")
	term.tmux("resize-window", "-x", "90", "-y", "20")
	time.Sleep(300 * time.Millisecond)
	term.send("clear; stty size", "Enter")
	term.waitForText("20 90")
	term.send("exit 3", "Enter")
	deadline := time.Now().Add(20 * time.Second)
	for {
		if b, err := os.ReadFile(status); err == nil && strings.TrimSpace(string(b)) != "" {
			if strings.TrimSpace(string(b)) != "3" {
				t.Fatalf("ws enter exited %s, want 3", b)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("ws enter did not end")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if after := keptContainers(t, w.dir); len(after) != 1 || after[0] != id[0] {
		t.Fatalf("ws enter did not use the kept container %v: %v", id, after)
	}
}
