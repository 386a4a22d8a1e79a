//go:build e2e

package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ws-tools/ws/cmd/e2e/testenv"
)

// genKey makes an ed25519/cv25519 key without passphrase in home and
// returns its fingerprint.
func genKey(t testing.TB, home, uid string) string {
	t.Helper()
	gen := exec.Command("gpg", "--homedir", home, "--batch", "--passphrase", "", "--quick-gen-key", uid, "future-default", "default", "never")
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("gpg --quick-gen-key %s: %v\n%s", uid, err, out)
	}
	out, err := exec.Command("gpg", "--homedir", home, "--batch", "--with-colons", "--list-keys", "--", uid).Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Split(line, ":"); f[0] == "fpr" {
			return f[9]
		}
	}
	t.Fatalf("no fingerprint for %s", uid)
	return ""
}

// relayWorkspace: an agent holding three keys (alice and bob, the
// recipients of the workspace's kubeconfig, and carol, unrelated), an image
// with the real sops, a message to carol in the repository.
type relayWorkspace struct {
	*buildWorkspace
	home              string
	alice, bob, carol string
	env               []string
	sops              *testenv.Sops
}

func newRelayWorkspace(t *testing.T) *relayWorkspace {
	t.Helper()
	in := needInfra(t)
	sops := needSops(t)
	bin, err := os.ReadFile(sops.Path)
	if err != nil {
		t.Fatal(err)
	}
	w := &relayWorkspace{buildWorkspace: newBuildWorkspace(t, in, testenv.BinaryTool("sops", sops.Version, amd64, bin)), sops: sops}
	w.home = gnupgHome(t, "key.pub.asc") // a public key only: the three below are the agent's
	w.alice = genKey(t, w.home, "Alice <alice@ws.test>")
	w.bob = genKey(t, w.home, "Bob <bob@ws.test>")
	w.carol = genKey(t, w.home, "Carol <carol@ws.test>")
	w.env = []string{"GNUPGHOME=" + w.home}

	plain := filepath.Join(t.TempDir(), "kubeconfig.yaml")
	writeFile(t, plain, "apiVersion: v1\nkind: Config\ncurrent-context: relay-e2e\ntoken: for-alice-and-bob\n")
	enc := exec.Command(sops.Path, "--disable-version-check", "--encrypt", "--pgp", w.alice+","+w.bob, plain)
	enc.Env = append(os.Environ(), w.env...)
	out, err := enc.Output()
	if err != nil {
		t.Fatalf("sops --encrypt: %v", err)
	}
	writeFile(t, filepath.Join(w.dir, "kubeconfig"), string(out))
	pub, err := exec.Command("gpg", "--homedir", w.home, "--batch", "--armor", "--export", "--", w.carol).Output()
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(w.dir, "carol.pub.asc"), string(pub))
	msg := exec.Command("gpg", "--homedir", w.home, "--batch", "--trust-model", "always", "--armor", "--encrypt", "-r", w.carol, "-o", filepath.Join(w.dir, "to-carol.asc"))
	msg.Stdin = strings.NewReader("for carol only\n")
	if out, err := msg.CombinedOutput(); err != nil {
		t.Fatalf("encrypt to carol: %v\n%s", err, out)
	}
	if _, r := w.build(t); r.code != 0 {
		t.Fatalf("build exited %d", r.code)
	}
	trust(t, w.dir)
	return w
}

// Inside the workspace the agent decrypts for the secrets' recipients
// only: sops works; carol's message, signing and key export are refused
// and ws says what it blocked. With --gpg-sign, git signs with
// user.signingkey and the host verifies the commit.
func TestGPGRelayLetsOnlyTheWorkspacesKeysThrough(t *testing.T) {
	t.Parallel()
	w := newRelayWorkspace(t)

	r := runWsEnv(t, w.dir, w.env, "exec", "--", "sops", "--disable-version-check", "--decrypt", "--input-type", "yaml", "--output-type", "yaml", "kubeconfig")
	if r.code != 0 || !strings.Contains(r.stdout, "token: for-alice-and-bob") || strings.Contains(r.stderr, "blocked") {
		t.Fatalf("sops -d of the recipients' file inside: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// Public keys are public: importing carol's is all it took before.
	r = runWsEnv(t, w.dir, w.env, "exec", "--", "sh", "-c", "gpg --batch --import carol.pub.asc 2>/dev/null; gpg --batch --decrypt to-carol.asc")
	if r.code == 0 || strings.Contains(r.stdout, "for carol only") || !strings.Contains(r.stderr, "ws: blocked 1 decryption request from the workspace") {
		t.Fatalf("decrypting carol's message inside: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runWsEnv(t, w.dir, w.env, "exec", "--", "sh", "-c", "echo sign me | gpg --batch --clearsign")
	if r.code == 0 || strings.Contains(r.stdout, "BEGIN PGP SIGNATURE") || !strings.Contains(r.stderr, "ws: blocked 1 signing request from the workspace") {
		t.Fatalf("clearsign inside: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runWsEnv(t, w.dir, w.env, "exec", "--", "gpg", "--batch", "--armor", "--export-secret-keys")
	if r.code == 0 || strings.Contains(r.stdout, "PRIVATE KEY") || !strings.Contains(r.stderr, "ws: blocked") {
		t.Fatalf("--export-secret-keys inside: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// Signing by consent: git commit -S inside, verified on the host.
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", w.dir}, args...)...)
		cmd.Env = append(os.Environ(), w.env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	git("init", "-q")
	git("config", "user.name", "Alice")
	git("config", "user.email", "alice@ws.test")
	git("config", "user.signingkey", w.alice)
	trust(t, w.dir) // the .git guards are new mounts
	r = runWsEnv(t, w.dir, w.env, "exec", "--", "git", "commit", "-q", "--allow-empty", "-S", "-m", "signed inside")
	if r.code == 0 || !strings.Contains(r.stderr, "ws: blocked 1 signing request") {
		t.Fatalf("git commit -S without --gpg-sign: exit %d\n%s", r.code, r.stderr)
	}
	r = runWsEnv(t, w.dir, w.env, "exec", "--gpg-sign", "--", "git", "commit", "-q", "--allow-empty", "-S", "-m", "signed inside")
	if r.code != 0 || strings.Contains(r.stderr, "blocked") {
		t.Fatalf("git commit -S with --gpg-sign: exit %d\n%s", r.code, r.stderr)
	}
	if out := git("verify-commit", "-v", "HEAD"); !strings.Contains(out, "Good signature") {
		t.Fatalf("git verify-commit on the host:\n%s", out)
	}
	// Consent covers the signing key only: decrypting carol's stays refused.
	r = runWsEnv(t, w.dir, w.env, "exec", "--gpg-sign", "--", "sh", "-c", "gpg --batch --import carol.pub.asc 2>/dev/null; gpg --batch --decrypt to-carol.asc")
	if r.code == 0 || !strings.Contains(r.stderr, "ws: blocked 1 decryption request") {
		t.Fatalf("carol's message with --gpg-sign: exit %d\n%s", r.code, r.stderr)
	}
}

// The agent gone between two requests: the next one fails with gpg's own
// "no agent" error and the command's exit status; ws killed mid-command
// leaves no relay socket behind.
func TestGPGRelayWithoutItsAgent(t *testing.T) {
	t.Parallel()
	w := newRelayWorkspace(t)
	runDir := runtimeDir(t)
	env := append(w.env, "XDG_RUNTIME_DIR="+runDir)

	// First decryption works; the test then stops the agent; the second
	// fails and the script's exit status is gpg's.
	cmd := wsCmd(t, w.dir, "exec", "--", "sh", "-c", `
		sops --disable-version-check --decrypt --input-type yaml --output-type yaml kubeconfig >/dev/null || exit 90
		touch .first-done
		while [ ! -e .agent-gone ]; do sleep 0.1; done
		sops --disable-version-check --decrypt --input-type yaml --output-type yaml kubeconfig`)
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, filepath.Join(w.dir, ".first-done"))
	if out, err := exec.Command("gpgconf", "--homedir", w.home, "--kill", "gpg-agent").CombinedOutput(); err != nil {
		t.Fatalf("kill the agent: %v\n%s", err, out)
	}
	writeFile(t, filepath.Join(w.dir, ".agent-gone"), "")
	cmd.Wait() // the exit code below is what matters
	code := cmd.ProcessState.ExitCode()
	t.Logf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	if code == 0 || code == 90 || code == 125 || !strings.Contains(stderr.String(), "no gpg-agent") {
		t.Fatalf("decrypting after the agent went: exit %d (want sops' own failure)", code)
	}
	if sockets := findSockets(t, runDir); len(sockets) != 0 {
		t.Fatalf("relay sockets left after the run: %v", sockets)
	}
	if left, _ := os.ReadDir(filepath.Join(runDir, "ws-agent")); len(left) != 0 {
		t.Fatalf("a fresh run left its relay directory: %v", left)
	}

	// ws killed (SIGTERM, as a closing terminal does) mid-command.
	exec.Command("gpgconf", "--homedir", w.home, "--launch", "gpg-agent").Run()
	os.Remove(filepath.Join(w.dir, ".first-done"))
	cmd = wsCmd(t, w.dir, "exec", "--", "sh", "-c", "touch .first-done; sleep 60")
	cmd.Env = append(cmd.Env, env...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, filepath.Join(w.dir, ".first-done"))
	if len(findSockets(t, runDir)) != 1 {
		t.Fatalf("no relay socket while the command runs: %v", findSockets(t, runDir))
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("ws did not end within 30s of SIGTERM")
	}
	if sockets := findSockets(t, runDir); len(sockets) != 0 {
		t.Fatalf("relay sockets left after ws was killed: %v", sockets)
	}
}

func waitFor(t *testing.T, path string) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			return
		}
	}
	t.Fatalf("%s did not appear", path)
}

func findSockets(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err == nil && info.Mode()&os.ModeSocket != 0 {
			out = append(out, path)
		}
		return nil
	})
	return out
}

// Through an engine ws cannot mount host sockets into (a TCP proxy to the
// daemon, as for a remote DOCKER_HOST): the relay's far end runs in the
// workspace and its connections travel over an exec stream. sops decrypts
// and encrypts inside, the same requests are refused, and the socket lives
// in the workspace's tmpfs only.
func TestGPGRelayOverARemoteEngine(t *testing.T) {
	t.Parallel()
	w := newRelayWorkspace(t)
	runDir := runtimeDir(t)
	env := append(w.env, "DOCKER_HOST="+dockerTCPProxy(t), "XDG_RUNTIME_DIR="+runDir)

	r := runWsEnv(t, w.dir, env, "exec", "--", "sh", "-c", `
		sops --disable-version-check --decrypt --input-type yaml --output-type yaml kubeconfig | grep -c for-alice-and-bob
		printf 'password: typed-in-the-workspace\n' >new.yaml
		sops --disable-version-check --encrypt --pgp `+w.bob+` --in-place new.yaml || exit 1
		grep -c typed-in-the-workspace new.yaml
		sops --disable-version-check --decrypt new.yaml
		stat -f -c %T /run/ws/agent; stat -c %F /run/ws/agent/S.gpg-agent`)
	want := "1\n0\npassword: typed-in-the-workspace\ntmpfs\nsocket\n"
	if r.code != 0 || r.stdout != want || strings.Contains(r.stderr, "blocked") {
		t.Fatalf("sops inside over a remote engine: exit %d, stdout %q, want %q\n%s", r.code, r.stdout, want, r.stderr)
	}
	r = runWsEnv(t, w.dir, env, "exec", "--", "sh", "-c", "gpg --batch --import carol.pub.asc 2>/dev/null; gpg --batch --decrypt to-carol.asc")
	if r.code == 0 || strings.Contains(r.stdout, "for carol only") || !strings.Contains(r.stderr, "ws: blocked 1 decryption request") {
		t.Fatalf("carol's message over a remote engine: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runWsEnv(t, w.dir, env, "exec", "--", "sh", "-c", "echo sign me | gpg --batch --clearsign")
	if r.code == 0 || !strings.Contains(r.stderr, "ws: blocked 1 signing request") {
		t.Fatalf("clearsign over a remote engine: exit %d\n%s", r.code, r.stderr)
	}
	if sockets := findSockets(t, runDir); len(sockets) != 0 {
		t.Fatalf("a socket on the host with a remote engine: %v", sockets)
	}
	r = runWsEnv(t, w.dir, env, "doctor")
	if !strings.Contains(r.stdout, "relay: Engine API stream") {
		t.Fatalf("ws doctor does not show the stream relay:\n%s", r.stdout)
	}
}

// A kept workspace: the first run starts it with the relay's directory
// mounted; a later run execs straight in and serves the relay again, and
// between runs nothing listens.
func TestGPGRelayInAKeptWorkspace(t *testing.T) {
	t.Parallel()
	w := newRelayWorkspace(t)
	runDir := runtimeDir(t)
	env := append(append([]string{}, kept...), append(w.env, "XDG_RUNTIME_DIR="+runDir)...)
	t.Cleanup(func() { runWsEnv(t, w.dir, env, "stop") })
	for i := 0; i < 2; i++ {
		r := runWsEnv(t, w.dir, env, "exec", "--", "sops", "--disable-version-check", "--decrypt", "--input-type", "yaml", "--output-type", "yaml", "kubeconfig")
		if r.code != 0 || !strings.Contains(r.stdout, "for-alice-and-bob") {
			t.Fatalf("run %d in the kept workspace: exit %d\n%s", i+1, r.code, r.stderr)
		}
		if n := len(keptContainers(t, w.dir)); n != 1 {
			t.Fatalf("run %d: %d kept containers, want 1", i+1, n)
		}
		if sockets := findSockets(t, runDir); len(sockets) != 0 {
			t.Fatalf("run %d: the relay still listens after ws ended: %v", i+1, sockets)
		}
	}
	r := runWsEnv(t, w.dir, env, "exec", "--", "sh", "-c", "gpg --batch --import carol.pub.asc 2>/dev/null; gpg --batch --decrypt to-carol.asc")
	if r.code == 0 || !strings.Contains(r.stderr, "ws: blocked 1 decryption request") {
		t.Fatalf("carol's message in the kept workspace: exit %d\n%s", r.code, r.stderr)
	}
}

// runtimeDir is an XDG_RUNTIME_DIR for ws: short, since the relay's socket
// path lives under it.
func runtimeDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "ws-run-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}
