//go:build e2e

package e2e

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ws-tools/ws/cmd/e2e/testenv"
	"github.com/ws-tools/ws/images/lock"
)

// connCounter is a TCP listener that counts the connections made to it
// and closes each at once: a Vault server or registry nobody may reach.
type connCounter struct {
	ln net.Listener
	n  atomic.Int32
}

func newConnCounter(t testing.TB) *connCounter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &connCounter{ln: ln}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			c.n.Add(1)
			conn.Close()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return c
}

func (c *connCounter) addr() string { return c.ln.Addr().String() }

// hostileFixture is testdata/hostile/NAME with its placeholders filled.
func hostileFixture(t testing.TB, name string, vars map[string]string) string {
	t.Helper()
	repo, _ := filepath.Abs("../..")
	b, err := os.ReadFile(filepath.Join(repo, "testdata/hostile", name))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for k, v := range vars {
		s = strings.ReplaceAll(s, "{{"+k+"}}", v)
	}
	return s
}

// untrustedWorkspace is a fresh clone, as it were: a generated lock (not
// built, not trusted) with the fixtures' sections appended.
func untrustedWorkspace(t *testing.T, vars map[string]string, fixtures ...string) *buildWorkspace {
	t.Helper()
	w := newBuildWorkspace(t, needInfra(t))
	f, err := os.OpenFile(filepath.Join(w.dir, "tools.lock"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, name := range fixtures {
		f.WriteString(hostileFixture(t, name, vars))
	}
	return w
}

// hostileCase is one fixture and what else the workspace needs for it.
type hostileCase struct {
	name, fixture string
	// setup adds files to the workspace (a symlink, a sops file).
	setup func(t *testing.T, dir string, vars map[string]string)
	// parseError: refused by the parser, trusted or not.
	parseError string
}

func hostileCases() []hostileCase {
	return []hostileCase{
		{name: "WS_UID=0", fixture: "env-ws-uid.yaml", parseError: "workspace env: WS_UID is set by ws itself"},
		{name: "LD_PRELOAD", fixture: "env-ld-preload.yaml", parseError: "workspace env: LD_PRELOAD is set by ws itself"},
		{name: "docker socket", fixture: "docker-socket.yaml"},
		{name: "~/.ssh", fixture: "ssh-dir.yaml"},
		{name: "network host", fixture: "network-host.yaml"},
		{name: "colliding image", fixture: "image-collide.yaml"},
		{name: "gpg signing", fixture: "gpg-sign.yaml"},
		{name: "secret symlink", fixture: "secret-symlink.yaml", setup: func(t *testing.T, dir string, _ map[string]string) {
			outside := t.TempDir()
			copySecretFixtures(t, outside, "pgp")
			if err := os.Symlink(filepath.Join(outside, "kubeconfig"), filepath.Join(dir, "kubeconfig")); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "fingerprint as gpg option", setup: func(t *testing.T, dir string, vars map[string]string) {
			os.WriteFile(filepath.Join(dir, "kubeconfig"), []byte(hostileFixture(t, "sops-fp-option/kubeconfig", vars)), 0o644)
		}},
		{name: "vault address", setup: func(t *testing.T, dir string, vars map[string]string) {
			os.WriteFile(filepath.Join(dir, "kubeconfig"), []byte(hostileFixture(t, "sops-vault/kubeconfig", vars)), 0o644)
		}},
	}
}

// Untrusted and without a terminal, every hostile lock is refused in one
// line with a hint and exit 125: no container, no image built or pulled,
// nothing decrypted (the Vault listener and the fake registry see no
// connection, the GPG agent is never asked).
func TestHostileLocksRefusedWithoutConsent(t *testing.T) {
	needInfra(t)
	for _, tc := range hostileCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			vault, registry := newConnCounter(t), newConnCounter(t)
			vars := map[string]string{"VAULT": "http://" + vault.addr(), "REGISTRY": registry.addr()}
			var fixtures []string
			if tc.fixture != "" {
				fixtures = append(fixtures, tc.fixture)
			}
			w := untrustedWorkspace(t, vars, fixtures...)
			if tc.setup != nil {
				tc.setup(t, w.dir, vars)
			}
			gpgHome := gnupgHome(t)
			env := []string{"GNUPGHOME=" + gpgHome, "VAULT_TOKEN=ws-e2e-vault-token"}
			for _, args := range [][]string{{"exec", "--", "id"}, {"enter"}, {"doctor"}, {"build"}} {
				if args[0] == "build" && tc.fixture == "" {
					continue // a lock with no workspace section or image builds without consent, like ws lock verify
				}
				r := runWsEnv(t, w.dir, env, args...)
				if args[0] == "doctor" && tc.parseError != "" {
					// An invalid lock is one of the doctor's failed checks.
					if r.code != 1 || !strings.Contains(r.stdout, tc.parseError) {
						t.Fatalf("ws doctor: exit %d, want 1 and %q:\n%s", r.code, tc.parseError, r.stdout)
					}
					continue
				}
				want := "is not trusted"
				if tc.parseError != "" {
					want = tc.parseError
				}
				lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
				if r.code != 125 || !strings.Contains(lines[0], want) || !strings.HasPrefix(lines[len(lines)-1], "hint: ") {
					t.Fatalf("ws %v: exit %d, want 125 and %q with a hint:\n%s", args, r.code, want, r.stderr)
				}
			}
			if left := workspaceContainers(t, w.dir); len(left) != 0 {
				t.Fatalf("containers left: %v", left)
			}
			if tc.parseError == "" {
				if err := exec.Command("docker", "image", "inspect", imageTag(t, w.dir)).Run(); err == nil {
					t.Fatalf("the image was built or pulled before consent")
				}
			}
			if n := vault.n.Load() + registry.n.Load(); n != 0 {
				t.Fatalf("%d connections to the test's Vault/registry listeners before consent", n)
			}
		})
	}
}

// After ws trust, what the lock may never do is still refused, and the
// file-level defences hold: no symlinked secret, no gpg option from a sops
// file, no Vault token sent, no image standing in for another's.
func TestHostileLocksAfterTrust(t *testing.T) {
	in := needInfra(t)
	for _, tc := range hostileCases() {
		if tc.fixture == "docker-socket.yaml" || tc.fixture == "ssh-dir.yaml" || tc.fixture == "network-host.yaml" {
			continue // consented mounts and networks work: TestTrustedBoundaryAsAnotherUser
		}
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			vault := newConnCounter(t)
			vars := map[string]string{"VAULT": "http://" + vault.addr(), "REGISTRY": in.registry.Addr}
			var fixtures []string
			if tc.fixture != "" {
				fixtures = append(fixtures, tc.fixture)
			}
			w := untrustedWorkspace(t, vars, fixtures...)
			if tc.setup != nil {
				tc.setup(t, w.dir, vars)
			}
			r := runWs(t, w.dir, "trust")
			if tc.parseError != "" {
				if r.code != 125 || !strings.Contains(r.stderr, "tools.lock:") || !strings.Contains(r.stderr, tc.parseError) {
					t.Fatalf("ws trust of a lock setting %s: exit %d\n%s", tc.name, r.code, r.stderr)
				}
				return
			}
			if r.code != 0 {
				t.Fatalf("ws trust exited %d", r.code)
			}
			env := []string{"GNUPGHOME=" + gnupgHome(t), "VAULT_TOKEN=ws-e2e-vault-token"}
			switch tc.name {
			case "colliding image":
				victim := newBuildWorkspace(t, in)
				victim.tools, victim.url, victim.server = w.tools, w.url, w.server
				victim.writeLock(t)
				vtag, vr := victim.build(t)
				if vr.code != 0 {
					t.Fatalf("victim build exited %d", vr.code)
				}
				vid := dockerOut(t, "image", "inspect", "--format", "{{.Id}}", vtag)
				htag, hr := w.build(t)
				if hr.code != 0 || htag == vtag {
					t.Fatalf("the lock with image: got tag %s (exit %d), the same lock without it %s", htag, hr.code, vtag)
				}
				if id := dockerOut(t, "image", "inspect", "--format", "{{.Id}}", vtag); id != vid {
					t.Fatalf("the victim's image changed: %s -> %s", vid, id)
				}
			default:
				r := runWsEnv(t, w.dir, env, "exec", "--", "true")
				lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
				if r.code != 125 || len(lines) != 2 || !strings.HasPrefix(lines[1], "hint: ") {
					t.Fatalf("exit %d, want 125 and one line with a hint:\n%s", r.code, r.stderr)
				}
				if tc.name == "secret symlink" && !strings.Contains(lines[0], "symbolic link") {
					t.Fatalf("symlink not named: %s", lines[0])
				}
				if _, err := os.Stat(filepath.Join(w.dir, ".g")); err == nil {
					t.Fatalf("gpg took a fingerprint as --homedir=.g")
				}
				if n := vault.n.Load(); n != 0 {
					t.Fatalf("ws let sops reach the Vault address in the file (%d connections)", n)
				}
				if left := workspaceContainers(t, w.dir); len(left) != 0 {
					t.Fatalf("containers left: %v", left)
				}
			}
		})
	}
}

// asUser runs ws as uid:gid (with the docker group, to reach the daemon)
// with its own HOME, the way a non-root user on a laptop does.
func asUser(t *testing.T, uid, gid, name, home, dir string, args ...string) result {
	t.Helper()
	docker, err := user.LookupGroup("docker")
	if err != nil {
		unavailable(t, "no docker group for a non-root user to reach the daemon: %v", err)
	}
	cmd := exec.Command("setpriv", append([]string{"--reuid=" + uid, "--regid=" + gid, "--groups=" + docker.Gid, "--", wsBin}, args...)...)
	cmd.Dir = dir
	cmd.Env = []string{"HOME=" + home, "USER=" + name, "PATH=/usr/bin:/bin"}
	return collect(t, cmd)
}

// A non-root user (UID 1500, GID 20: dialout in the Debian image) trusts
// a workspace that mounts the Docker socket and their ~/.ssh: the mounts
// are there (they consented), yet nothing in the container runs as root
// or holds a capability, at any point, and .git's code paths are read-only
// while commits still work.
func TestTrustedBoundaryAsAnotherUser(t *testing.T) {
	w := execWorkspace(t)
	// docker-socket.yaml and ssh-dir.yaml in one section.
	appendLock(t, w.dir, "workspace:\n  mounts: [\"/var/run/docker.sock:/var/run/docker.sock\", \"~/.ssh:/mnt/ssh\"]\n")
	home, _ := os.MkdirTemp("", "ws-e2e-home-")
	t.Cleanup(func() { os.RemoveAll(home) })
	os.MkdirAll(filepath.Join(home, ".ssh"), 0o700)
	os.WriteFile(filepath.Join(home, ".ssh", "known_hosts"), []byte("buildbox ssh-ed25519 AAAA\n"), 0o600)
	for _, p := range []string{home, filepath.Join(home, ".ssh"), filepath.Join(home, ".ssh", "known_hosts"), w.dir} {
		os.Chown(p, 1500, 20)
	}
	gitAs := func(args ...string) {
		t.Helper()
		cmd := exec.Command("setpriv", append([]string{"--reuid=1500", "--regid=20", "--clear-groups", "--", "git", "-c", "user.name=Alice", "-c", "user.email=alice@example.test"}, args...)...)
		cmd.Dir = w.dir
		cmd.Env = []string{"HOME=" + home, "PATH=/usr/bin:/bin"}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	gitAs("init", "-q")
	gitAs("commit", "-q", "--allow-empty", "-m", "on the host")
	as := func(args ...string) result { return asUser(t, "1500", "20", "alice", home, w.dir, args...) }

	if r := as("exec", "--", "true"); r.code != 125 || !strings.Contains(r.stderr, "is not trusted") {
		t.Fatalf("alice has not trusted it yet: exit %d\n%s", r.code, r.stderr)
	}
	if r := as("trust"); r.code != 0 || !strings.Contains(r.stdout, "!! gives the workspace root on this host") {
		t.Fatalf("ws trust exited %d, or did not say the socket gives root:\n%s", r.code, r.stdout)
	}
	r := as("exec", "--", "sh", "-c", `id -u; id -g; test -S /var/run/docker.sock && echo docker-socket; cat /mnt/ssh/known_hosts
		grep -h -E '^Cap(Eff|Prm|Bnd):' /proc/1/status /proc/self/status
		echo '#!/bin/sh' > .git/hooks/pre-commit 2>/dev/null && echo hook-planted || echo hooks-read-only
		git config core.fsmonitor 'touch /tmp/pwned' 2>/dev/null && echo config-written || echo config-read-only
		git -c user.name=Alice -c user.email=alice@example.test commit -q --allow-empty -m 'from the workspace' && echo committed`)
	want := "1500\n20\ndocker-socket\nbuildbox ssh-ed25519 AAAA\n"
	if r.code != 0 || !strings.HasPrefix(r.stdout, want) {
		t.Fatalf("exit %d, stdout %q, want it to start with %q", r.code, r.stdout, want)
	}
	caps := 0
	sc := bufio.NewScanner(strings.NewReader(r.stdout))
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, "Cap") {
			caps++
			if !strings.HasSuffix(line, "0000000000000000") {
				t.Fatalf("a process holds capabilities: %q", line)
			}
		}
	}
	if caps != 6 {
		t.Fatalf("want CapPrm, CapEff, CapBnd of PID 1 and of the command:\n%s", r.stdout)
	}
	for _, want := range []string{"hooks-read-only", "config-read-only", "committed"} {
		if !strings.Contains(r.stdout, want) {
			t.Fatalf("git inside: %q lacks %s", r.stdout, want)
		}
	}
	if out, _ := exec.Command("git", "-c", "safe.directory=*", "-C", w.dir, "log", "-1", "--format=%s").Output(); strings.TrimSpace(string(out)) != "from the workspace" {
		t.Fatalf("the commit made inside is not on the host: %q", out)
	}

	// No process in the container has UID 0 at any point: watch it with
	// docker top from start to end of a run.
	done := make(chan result, 1)
	go func() { done <- as("exec", "--", "sh", "-c", "sleep 3") }()
	seen := 0
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case r := <-done:
			if r.code != 0 {
				t.Fatalf("sleep run exited %d", r.code)
			}
			if seen == 0 {
				t.Fatal("docker top never saw the workspace's processes")
			}
			return
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the run did not end")
		}
		for _, id := range workspaceContainers(t, w.dir) {
			// docker top needs the pid column to pick the container's processes.
			out, err := exec.Command("docker", "top", id, "-eo", "pid,ruid,euid,suid,comm").Output()
			if err != nil {
				continue // not running yet, or gone
			}
			for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n")[1:] {
				f := strings.Fields(line)
				seen++
				if len(f) < 4 || f[1] != "1500" || f[2] != "1500" || f[3] != "1500" {
					t.Fatalf("a process in the workspace does not run as the caller: %q\n%s", line, out)
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func appendLock(t testing.TB, dir, text string) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, "tools.lock"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

// A teammate's version bump on the same download host needs no new
// consent; a new mount does, and says what changed; a lock another user
// owns is refused whatever the record says.
func TestTrustFollowsWhatTheLockReaches(t *testing.T) {
	w := execWorkspace(t)
	bumped := testenv.ScriptTool("hello", "v0.2.0", amd64)
	w.server.Add(bumped)
	lockPath := filepath.Join(w.dir, "tools.lock")
	b, _ := os.ReadFile(lockPath)
	var old testenv.Tool
	for _, tool := range w.tools {
		if tool.Name == "hello" {
			old = tool
		}
	}
	text := strings.Replace(string(b), "version: "+old.Version, "version: "+bumped.Version, 1)
	text = strings.Replace(text, old.SHA256(amd64), bumped.SHA256(amd64), 1)
	os.WriteFile(lockPath, []byte(text), 0o644)
	if r := runWs(t, w.dir, "exec", "--", "hello"); r.code != 0 || !strings.Contains(r.stdout, "v0.2.0") {
		t.Fatalf("after a version bump: exit %d, stdout %q", r.code, r.stdout)
	}

	appendLock(t, w.dir, hostileFixture(t, "docker-socket.yaml", nil))
	r := runWs(t, w.dir, "exec", "--", "true")
	if r.code != 125 || !strings.Contains(r.stderr, "changed what it reaches") || !strings.Contains(r.stderr, "+ mount /var/run/docker.sock:/var/run/docker.sock") {
		t.Fatalf("a new mount ran without consent: exit %d\n%s", r.code, r.stderr)
	}
	term := newTerminal(t, "160", "40", "sh", "-c", "cd "+w.dir+" && "+wsBin+" exec -- echo ran-after-consent; sleep 600")
	screen := term.waitForText("Trust this workspace? [y/N]")
	for _, want := range []string{"Changed since you trusted it:", "+ mount /var/run/docker.sock:/var/run/docker.sock", "!! gives the workspace root on this host"} {
		if !strings.Contains(screen, want) {
			t.Fatalf("the prompt lacks %q:\n%s", want, screen)
		}
	}
	term.send("n", "Enter")
	term.waitForText("not trusted; nothing was started")
	if left := workspaceContainers(t, w.dir); len(left) != 0 {
		t.Fatalf("containers left after no: %v", left)
	}

	trust(t, w.dir)
	if err := os.Chown(lockPath, 1600, 1600); err != nil {
		t.Fatal(err)
	}
	r = runWs(t, w.dir, "exec", "--", "true")
	if r.code != 125 || !strings.Contains(r.stderr, "owned by UID 1600, not by you") || !strings.Contains(r.stderr, "CVE-2022-24765") {
		t.Fatalf("a lock owned by another user: exit %d\n%s", r.code, r.stderr)
	}
}

// On a terminal, an untrusted workspace shows each thing its lock asks,
// saying what gives host root, and asks y/N: no starts nothing, yes runs.
func TestTrustPromptInTmux(t *testing.T) {
	// What docker-socket.yaml, ssh-dir.yaml, network-host.yaml and
	// image-collide.yaml ask, in one lock.
	w := untrustedWorkspace(t, map[string]string{"REGISTRY": needInfra(t).registry.Addr}, "image-collide.yaml")
	appendLock(t, w.dir, "workspace:\n  mounts: [\"/var/run/docker.sock:/var/run/docker.sock\", \"~/.ssh:/mnt/ssh\"]\n  network: host\n  env: [E2E_FROM_THE_LOCK=1]\n")
	home, _ := os.UserHomeDir()
	os.MkdirAll(filepath.Join(home, ".ssh"), 0o700)
	copySecretFixtures(t, w.dir, "pgp")
	gpgHome := gnupgHome(t)
	run := "cd " + w.dir + " && GNUPGHOME=" + gpgHome + " " + wsBin + " exec -- echo ran-after-yes; echo ws-exit-$?; sleep 600"

	term := newTerminal(t, "200", "50", "sh", "-c", run)
	screen := term.waitForText("Trust this workspace? [y/N]")
	for _, want := range []string{
		"mount /var/run/docker.sock from this host at /var/run/docker.sock (read-write)",
		"!! gives the workspace root on this host: the container engine's socket",
		"mount " + filepath.Join(home, ".ssh") + " from this host at /mnt/ssh (read-write)",
		"pull the workspace image from " + needInfra(t).registry.Addr + "/ws-e2e/victim-tools instead of building it",
		"use the network host",
		"set the variables E2E_FROM_THE_LOCK",
		"decrypt with your keys, into the workspace's memory: kubeconfig as $KUBECONFIG",
		"decrypt through your GPG agent with the keys of",
		"download tools from http://127.0.0.1:",
		"build from the base image " + lock.Repository(needInfra(t).base),
	} {
		if !strings.Contains(strings.ReplaceAll(screen, "\n", ""), want) {
			t.Fatalf("the prompt lacks %q:\n%s", want, screen)
		}
	}
	term.send("Enter") // the default is no
	term.waitForText("ws-exit-125")
	if left := workspaceContainers(t, w.dir); len(left) != 0 {
		t.Fatalf("containers left after no: %v", left)
	}

	term = newTerminal(t, "200", "50", "sh", "-c", run)
	term.waitForText("Trust this workspace? [y/N]")
	term.send("y", "Enter")
	term.waitForText("ran-after-yes")
	term.waitForText("ws-exit-0")
	if r := runWs(t, w.dir, "trust", "--show"); !strings.Contains(r.stdout, "Trusted.") {
		t.Fatalf("yes did not record the consent:\n%s", r.stdout)
	}
}
