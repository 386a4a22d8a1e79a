//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ws-tools/ws/cmd/e2e/testenv"
)

// plaintextMarker is in every fixture's plaintext. It is put together at
// run time so that no file on disk (this test's binary, the fixture script)
// holds it whole and a leak check cannot find it by accident.
var plaintextMarker = strings.Join([]string{"WS_E2E", "PLAINTEXT", "MARKER", "pgp"}, "_")

// gnupgHome is a throwaway GNUPGHOME with fixture keys (the passphrase-less
// one unless named) and its agent running; never the developer's keyring.
func gnupgHome(t testing.TB, keys ...string) string {
	t.Helper()
	home, err := os.MkdirTemp("", "ws-gpg-") // short: socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(home, 0o700)
	t.Cleanup(func() {
		exec.Command("gpgconf", "--homedir", home, "--kill", "all").Run()
		os.RemoveAll(home)
	})
	repo, _ := filepath.Abs("../..")
	if len(keys) == 0 {
		keys = []string{"key.sec.asc"}
	}
	for _, k := range keys {
		if out, err := exec.Command("gpg", "--homedir", home, "--batch", "--import", filepath.Join(repo, "testdata/gpg", k)).CombinedOutput(); err != nil {
			t.Fatalf("import: %v\n%s", err, out)
		}
	}
	return home
}

// secretsWorkspace has the pgp-encrypted kubeconfig and talosconfig at its
// root, as the usual GitOps layout does.
func secretsWorkspace(t *testing.T, kind string) *buildWorkspace {
	t.Helper()
	w := execWorkspace(t)
	copySecretFixtures(t, w.dir, kind)
	return w
}

// copySecretFixtures puts testdata/sops/KIND's encrypted kubeconfig and
// talosconfig (those it has) at the workspace root dir.
func copySecretFixtures(t testing.TB, dir, kind string) {
	t.Helper()
	repo, _ := filepath.Abs("../..")
	for _, f := range []string{"kubeconfig", "talosconfig"} {
		b, err := os.ReadFile(filepath.Join(repo, "testdata/sops", kind, f))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func runWsEnv(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	cmd := wsCmd(t, dir, args...)
	cmd.Env = append(cmd.Env, env...)
	return collect(t, cmd)
}

func TestSecretsReachKubectlFromMemoryOnly(t *testing.T) {
	w := secretsWorkspace(t, "pgp")
	gpgHome := gnupgHome(t)
	env := []string{"GNUPGHOME=" + gpgHome}
	// A TLS endpoint that accepts only the token from the decrypted kubeconfig.
	api := httptest.NewTLSServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer ws-e2e-token-pgp" {
			http.Error(rw, `{"kind":"Status","status":"Failure","code":401}`, http.StatusUnauthorized)
			return
		}
		fmt.Fprint(rw, `{"ok":"token accepted"}`)
	}))
	t.Cleanup(api.Close)

	r := runWsEnv(t, w.dir, env, "exec", "--network", "host", "--", "sh", "-c",
		`kubectl --kubeconfig "$KUBECONFIG" --server `+api.URL+` get --raw /ws-e2e; echo;
		 stat -c '%a %u' "$TALOSCONFIG"; grep -c 'PLAINTEXT_MARKER_p[g]p' "$TALOSCONFIG"; stat -f -c %T /run/ws; stat -c '%a %u' /run/ws`)
	want := fmt.Sprintf("{\"ok\":\"token accepted\"}\n600 %d\n1\ntmpfs\n700 %d\n", os.Getuid(), os.Getuid())
	if r.code != 0 || r.stdout != want {
		t.Fatalf("exit %d, stdout %q, want %q", r.code, r.stdout, want)
	}
	// Without the token, the endpoint says no: the test can fail.
	if r := runWsEnv(t, w.dir, env, "exec", "--network", "host", "--", "env", "-u", "KUBECONFIG", "kubectl", "--server", api.URL, "--insecure-skip-tls-verify", "get", "--raw", "/ws-e2e"); r.code == 0 {
		t.Fatal("the endpoint accepted a request without the token")
	}

	// A run killed with SIGKILL leaves its container; the plaintext is
	// still only in that container's memory, even after the command printed
	// it (Docker keeps no log of the workspace's output) and with every
	// debug line ws writes.
	cmd := wsCmd(t, w.dir, "--debug", "exec", "--", "sh", "-c", `cat "$TALOSCONFIG"; sleep 60`)
	cmd.Env = append(cmd.Env, env...)
	var stdout syncBuffer
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(stdout.String(), plaintextMarker) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(stdout.String(), plaintextMarker) {
		cmd.Process.Kill()
		t.Fatalf("the command did not print the decrypted talosconfig; stderr:\n%s", stderr.String())
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	left := workspaceContainers(t, w.dir)
	if len(left) == 0 {
		t.Fatal("no container left after SIGKILL: the check below would prove nothing")
	}
	t.Cleanup(func() {
		for _, id := range left {
			exec.Command("docker", "rm", "-f", id).Run()
		}
	})
	assertNoPlaintext(t, r.stderr+stderr.String())
}

// assertNoPlaintext looks for the marker under Docker's data root, in
// docker inspect of every container, in ws's output and in the host's
// temporary folders.
func assertNoPlaintext(t *testing.T, logs string) {
	t.Helper()
	if strings.Contains(logs, plaintextMarker) {
		t.Fatal("the plaintext marker is in ws's output")
	}
	root := strings.TrimSpace(dockerOut(t, "info", "--format", "{{.DockerRootDir}}"))
	// The checkout and Go's build cache may sit in a temp folder; they hold
	// test code, not anything ws wrote.
	repo, _ := filepath.Abs("../..")
	gocache, _ := exec.Command("go", "env", "GOCACHE").Output()
	for _, dir := range []string{root, os.TempDir(), "/var/tmp"} {
		out, _ := exec.Command("grep", "-r", "-l", "-a", "--exclude-dir=proc",
			"--exclude-dir="+filepath.Base(repo), "--exclude-dir="+filepath.Base(strings.TrimSpace(string(gocache))),
			plaintextMarker, dir).Output()
		if hits := strings.TrimSpace(string(out)); hits != "" {
			t.Fatalf("the plaintext marker is on disk under %s:\n%s", dir, hits)
		}
	}
	ids := strings.Fields(dockerOut(t, "ps", "-aq"))
	if len(ids) > 0 {
		if out := dockerOut(t, append([]string{"inspect"}, ids...)...); strings.Contains(out, plaintextMarker) {
			t.Fatal("the plaintext marker is in docker inspect")
		}
	}
}

// The forwarded agent decrypts inside; the restricted socket refuses to
// export secret keys, and there is no private key material in the container.
func TestGPGAgentForwardedWithoutPrivateKeys(t *testing.T) {
	w := secretsWorkspace(t, "pgp")
	gpgHome := gnupgHome(t)
	fpr, _ := os.ReadFile("../../testdata/gpg/key.fpr")
	enc := exec.Command("gpg", "--homedir", gpgHome, "--batch", "--trust-model", "always", "--armor", "--encrypt", "-r", strings.TrimSpace(string(fpr)), "-o", filepath.Join(w.dir, "message.asc"))
	enc.Stdin = strings.NewReader("decrypted through the forwarded agent\n")
	if out, err := enc.CombinedOutput(); err != nil {
		t.Fatalf("encrypt: %v\n%s", err, out)
	}
	env := []string{"GNUPGHOME=" + gpgHome}
	r := runWsEnv(t, w.dir, env, "exec", "--", "gpg", "--batch", "--decrypt", "message.asc")
	if r.code != 0 || r.stdout != "decrypted through the forwarded agent\n" {
		t.Fatalf("gpg --decrypt inside: exit %d, %q", r.code, r.stdout)
	}
	r = runWsEnv(t, w.dir, env, "exec", "--", "gpg", "--batch", "--armor", "--export-secret-keys")
	if r.code == 0 || !strings.Contains(r.stderr, "Forbidden") {
		t.Fatalf("--export-secret-keys: exit %d\n%s", r.code, r.stderr)
	}
	r = runWsEnv(t, w.dir, env, "exec", "--", "sh", "-c", `ls -A "$GNUPGHOME"; find / -xdev -name private-keys-v1.d 2>/dev/null | wc -l`)
	if r.code != 0 || strings.Contains(r.stdout, "private-keys") || !strings.HasSuffix(r.stdout, "0\n") {
		t.Fatalf("GNUPGHOME inside: %q", r.stdout)
	}
}

// The real sops CLI inside the workspace, as a user editing the
// repository's secrets runs it: it decrypts through the forwarded agent, and
// encrypts a new file to the recipient whose public key ws put beside it.
func TestSopsInsideWorkspace(t *testing.T) {
	in := needInfra(t)
	sops := needSops(t)
	bin, err := os.ReadFile(sops.Path)
	if err != nil {
		t.Fatal(err)
	}
	w := newBuildWorkspace(t, in, testenv.BinaryTool("sops", sops.Version, amd64, bin))
	copySecretFixtures(t, w.dir, "pgp")
	repo, _ := filepath.Abs("../..")
	if _, r := w.build(t); r.code != 0 {
		t.Fatalf("build exited %d", r.code)
	}
	trust(t, w.dir)
	fpr, _ := os.ReadFile(filepath.Join(repo, "testdata/gpg/key.fpr"))
	gpgHome := gnupgHome(t)
	env := []string{"GNUPGHOME=" + gpgHome}

	r := runWsEnv(t, w.dir, env, "exec", "--", "sh", "-c", `
		sops --disable-version-check --decrypt --input-type yaml --output-type yaml kubeconfig | grep -c 'token: ws-e2e-token-pgp'
		printf 'password: typed-in-the-workspace\n' >new.yaml
		sops --disable-version-check --encrypt --pgp `+strings.TrimSpace(string(fpr))+` --in-place new.yaml || exit 1
		grep -c typed-in-the-workspace new.yaml
		sops --disable-version-check --decrypt new.yaml`)
	if r.code != 0 || r.stdout != "1\n0\npassword: typed-in-the-workspace\n" {
		t.Fatalf("sops inside: exit %d, stdout %q\n%s", r.code, r.stdout, r.stderr)
	}
	// The host's own keys decrypt what sops wrote inside: it is encrypted to
	// the real recipient, not to something only the container knew.
	host := exec.Command(sops.Path, "--disable-version-check", "--decrypt", filepath.Join(w.dir, "new.yaml"))
	host.Env = append(os.Environ(), env...)
	if out, err := host.CombinedOutput(); err != nil || string(out) != "password: typed-in-the-workspace\n" {
		t.Fatalf("sops --decrypt on the host: %v\n%s", err, out)
	}
}

func TestSecretsFailuresLeaveNothing(t *testing.T) {
	w := secretsWorkspace(t, "age")
	key, _ := filepath.Abs("../../testdata/age/keys.txt")
	r := runWsEnv(t, w.dir, []string{"SOPS_AGE_KEY_FILE=" + key}, "exec", "--no-gpg", "--", "sh", "-c", `grep token "$KUBECONFIG"`)
	if r.code != 0 || !strings.Contains(r.stdout, "ws-e2e-token-age") {
		t.Fatalf("age with its key: exit %d %q", r.code, r.stdout)
	}
	cases := []struct {
		name   string
		env    []string
		setup  func()
		want   string
		reason string
	}{
		{"age without its key", []string{"SOPS_AGE_KEY_FILE=/nonexistent"}, nil,
			"ws: kubeconfig: this host cannot decrypt it (recipients: age age1", "age: SOPS_AGE_KEY_FILE (/nonexistent) cannot be read"},
		{"not encrypted", []string{"SOPS_AGE_KEY_FILE=" + key}, func() {
			os.WriteFile(filepath.Join(w.dir, "kubeconfig"), []byte("apiVersion: v1\nkind: Config\n"), 0o644)
		}, "ws: kubeconfig: not encrypted with sops", ""},
		{"MAC mismatch", []string{"SOPS_AGE_KEY_FILE=" + key}, func() {
			b, _ := os.ReadFile("../../testdata/sops/age/kubeconfig")
			os.WriteFile(filepath.Join(w.dir, "kubeconfig"), bytes.Replace(b, []byte(`lastmodified: "2026`), []byte(`lastmodified: "2025`), 1), 0o644)
		}, "ws: kubeconfig: MAC mismatch", ""},
		{"stopped agent", nil, func() {
			b, _ := os.ReadFile("../../testdata/sops/pgp/kubeconfig")
			os.WriteFile(filepath.Join(w.dir, "kubeconfig"), b, 0o644)
		}, "ws: kubeconfig: this host cannot decrypt it (recipients: pgp", "pgp: the gpg-agent is not running"},
		{"passphrase and no terminal for pinentry", nil, func() {
			b, _ := os.ReadFile("../../testdata/sops/passphrase/kubeconfig")
			os.WriteFile(filepath.Join(w.dir, "kubeconfig"), b, 0o644)
		}, "ws: kubeconfig: this host cannot decrypt it (recipients: pgp", "needs its passphrase and pinentry has nowhere to ask"},
	}
	for _, c := range cases {
		if c.setup != nil {
			c.setup()
		}
		env := c.env
		switch c.name {
		case "stopped agent":
			home := gnupgHome(t)
			os.WriteFile(filepath.Join(home, "gpg.conf"), []byte("no-autostart\n"), 0o600)
			exec.Command("gpgconf", "--homedir", home, "--kill", "gpg-agent").Run()
			env = append(env, "GNUPGHOME="+home)
		case "passphrase and no terminal for pinentry":
			home := gnupgHome(t, "passphrase-key.sec.asc")
			env = append(env, "GNUPGHOME="+home, "GPG_TTY=", "DISPLAY=", "WAYLAND_DISPLAY=")
		}
		r := runWsEnv(t, w.dir, env, "exec", "--", "true")
		lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
		if r.code != 125 || !strings.HasPrefix(lines[0], c.want) || !strings.Contains(lines[0], c.reason) || len(lines) != 2 || !strings.HasPrefix(lines[1], "hint: ") {
			t.Errorf("%s: exit %d\n%s", c.name, r.code, r.stderr)
		}
		if left := workspaceContainers(t, w.dir); len(left) != 0 {
			t.Errorf("%s: containers left %v", c.name, left)
		}
	}
}

// The lock's secrets list replaces the convention: its files go where it
// says under their names; a listed file that is missing stops the run
// before anything starts.
func TestConfiguredSecrets(t *testing.T) {
	w := secretsWorkspace(t, "pgp") // the conventional files are there too
	repo, _ := filepath.Abs("../..")
	b, err := os.ReadFile(filepath.Join(repo, "testdata/sops/pgp/kubeconfig"))
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(w.dir, "clusters/prod"), 0o755)
	os.WriteFile(filepath.Join(w.dir, "clusters/prod/kubeconfig"), b, 0o644)
	lockPath := filepath.Join(w.dir, "tools.lock")
	lockText, _ := os.ReadFile(lockPath)
	withSecrets := func(entries ...string) {
		cfg := "workspace:\n  secrets:\n"
		for _, e := range entries {
			cfg += "    - " + e + "\n"
		}
		os.WriteFile(lockPath, append(append([]byte{}, lockText...), cfg...), 0o644)
		trust(t, w.dir) // the test's own new secrets list
	}
	env := []string{"GNUPGHOME=" + gnupgHome(t)}

	withSecrets("{file: clusters/prod/kubeconfig, env: KUBECONFIG, name: prod-kubeconfig}")
	r := runWsEnv(t, w.dir, env, "exec", "--", "sh", "-c", `echo "$KUBECONFIG"; grep -c 'token: ws-e2e-token-pgp' "$KUBECONFIG"; echo "${TALOSCONFIG:-no talosconfig}"`)
	if want := "/run/ws/prod-kubeconfig\n1\nno talosconfig\n"; r.code != 0 || r.stdout != want {
		t.Fatalf("exit %d, stdout %q, want %q\n%s", r.code, r.stdout, want, r.stderr)
	}

	withSecrets("{file: clusters/prod/kubeconfig, env: KUBECONFIG, name: prod-kubeconfig}",
		"{file: clusters/staging/kubeconfig, env: STAGING_KUBECONFIG, name: staging-kubeconfig}")
	r = runWsEnv(t, w.dir, env, "exec", "--", "true")
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	if r.code != 125 || len(lines) != 2 || !strings.HasPrefix(lines[0], "ws: clusters/staging/kubeconfig: no such file, but tools.lock lists it under workspace secrets") || !strings.HasPrefix(lines[1], "hint: ") {
		t.Fatalf("missing listed file: exit %d\n%s", r.code, r.stderr)
	}
	if left := workspaceContainers(t, w.dir); len(left) != 0 {
		t.Fatalf("containers left: %v", left)
	}
}

// ws doctor runs every check and says which fail, with hints; --json too.
func TestDoctor(t *testing.T) {
	w := secretsWorkspace(t, "pgp")
	b, _ := os.ReadFile("../../testdata/sops/age/talosconfig")
	os.WriteFile(filepath.Join(w.dir, "talosconfig"), b, 0o644)
	key, _ := filepath.Abs("../../testdata/age/keys.txt")
	env := []string{"GNUPGHOME=" + gnupgHome(t), "SOPS_AGE_KEY_FILE=" + key}
	r := runWsEnv(t, w.dir, env, "doctor", "--json")
	var checks []struct {
		Check string
		OK    bool
	}
	if err := json.Unmarshal([]byte(r.stdout), &checks); err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, c := range checks {
		names[c.Check] = c.OK
	}
	for _, want := range []string{"tools.lock", "docker", "buildkit", "image", "gpg agent", "pinentry", "secret kubeconfig", "secret talosconfig"} {
		if ok, found := names[want]; !found || !ok {
			t.Errorf("check %q: found %v, ok %v", want, found, ok)
		}
	}
	if r.code != 0 {
		t.Fatalf("doctor with everything in place exited %d", r.code)
	}
	r = runWsEnv(t, w.dir, []string{"GNUPGHOME=" + gnupgHome(t), "SOPS_AGE_KEY_FILE=/nonexistent"}, "doctor")
	if r.code != 1 || !strings.Contains(r.stdout, "secret talosconfig  FAIL    talosconfig: this host cannot decrypt it") || !strings.Contains(r.stdout, "hint: for age: point SOPS_AGE_KEY_FILE at your age identity file") {
		t.Fatalf("doctor without the age key: exit %d\n%s", r.code, r.stdout)
	}

	// The BuildKit row asks the builder ws would use: dockerd's, a
	// standalone buildkitd named by BUILDKIT_HOST, or one that is not there.
	buildkit := func(env ...string) (bool, string) {
		r := runWsEnv(t, w.dir, append(env, "GNUPGHOME="+gnupgHome(t), "SOPS_AGE_KEY_FILE="+key), "doctor", "--json")
		var checks []struct {
			Check, Detail, Hint string
			OK                  bool
		}
		if err := json.Unmarshal([]byte(r.stdout), &checks); err != nil {
			t.Fatalf("doctor --json: %v\n%s", err, r.stdout)
		}
		for _, c := range checks {
			if c.Check == "buildkit" {
				return c.OK, c.Detail + " / " + c.Hint
			}
		}
		t.Fatalf("no buildkit check:\n%s", r.stdout)
		return false, ""
	}
	if ok, detail := buildkit(); !ok || !strings.HasPrefix(detail, "the Docker daemon's BuildKit") || !strings.Contains(detail, "linux/amd64") {
		t.Errorf("dockerd's BuildKit: ok %v, %s", ok, detail)
	}
	bk := needBuildkitd(t)
	if ok, detail := buildkit("BUILDKIT_HOST=" + bk.Addr); !ok || !strings.HasPrefix(detail, "buildkitd at "+bk.Addr+" (builds for linux/amd64") {
		t.Errorf("standalone buildkitd: ok %v, %s", ok, detail)
	}
	if ok, detail := buildkit("BUILDKIT_HOST=unix:///nonexistent/buildkitd.sock"); ok || !strings.Contains(detail, "buildkitd at unix:///nonexistent/buildkitd.sock does not answer") || !strings.Contains(detail, "unset BUILDKIT_HOST") {
		t.Errorf("no buildkitd there: ok %v, %s", ok, detail)
	}
}

// A decrypted credential changed inside (kubectl config use-context…) dies
// with the tmpfs: the login shell says so when it exits, naming the file.
func TestEnterWarnsAboutChangedCredential(t *testing.T) {
	w := secretsWorkspace(t, "pgp")
	gpgHome := gnupgHome(t)
	term := newTerminal(t, "200", "40", "sh", "-c",
		fmt.Sprintf("cd %s && GNUPGHOME=%s %s enter; echo ws-ended; sleep 600", w.dir, gpgHome, wsBin))
	term.waitForText("@ws-")
	term.send(`echo '# changed' >> "$KUBECONFIG"; echo appended`, "Enter")
	term.waitForText("appended")
	term.send("exit", "Enter")
	screen := term.waitForText("ws-ended")
	if !strings.Contains(screen, "ws: warning: kubeconfig changed in the workspace and was not written back") {
		t.Fatalf("no warning for the changed kubeconfig:\n%s", screen)
	}
	if strings.Contains(screen, "talosconfig changed") {
		t.Fatalf("warning for the unchanged talosconfig:\n%s", screen)
	}
}

// A single command that changes a decrypted credential gets the same
// warning as a shell, while its exit status and signals pass as before.
func TestExecWarnsAboutChangedCredential(t *testing.T) {
	w := secretsWorkspace(t, "pgp")
	env := []string{"GNUPGHOME=" + gnupgHome(t)}
	warning := "ws: warning: kubeconfig changed in the workspace and was not written back"

	r := runWsEnv(t, w.dir, env, "exec", "--", "sh", "-c", `echo '# changed' >> "$KUBECONFIG"; echo done; exit 5`)
	if r.code != 5 || r.stdout != "done\n" || !strings.Contains(r.stderr, warning) || strings.Contains(r.stderr, "talosconfig changed") {
		t.Fatalf("after changing kubeconfig: exit %d, stdout %q, stderr:\n%s", r.code, r.stdout, r.stderr)
	}
	r = runWsEnv(t, w.dir, env, "exec", "--", "kubectl", "config", "view", "--minify", "-o", "jsonpath={.users[0].name}")
	if r.code != 0 || r.stdout == "" || strings.Contains(r.stderr, "warning") {
		t.Fatalf("reading only: exit %d, stdout %q, stderr:\n%s", r.code, r.stdout, r.stderr)
	}

	// The watcher does not get in the way of a signal.
	assertSIGTERMEndsRun(t, startSleeping(t, w.dir, env...), w.dir)
}

// A daemon that is not on this host cannot mount a FIFO or the agent
// socket: the secrets then go in through docker exec. A TCP proxy to the
// real daemon's socket stands in for the remote daemon.
func TestSecretsDeliveredByExecToRemoteDaemon(t *testing.T) {
	w := secretsWorkspace(t, "pgp")
	env := []string{"GNUPGHOME=" + gnupgHome(t), "DOCKER_HOST=" + dockerTCPProxy(t)}
	r := runWsEnv(t, w.dir, env, "exec", "--", "sh", "-c",
		`grep -c 'PLAINTEXT_MARKER_p[g]p' "$TALOSCONFIG"; stat -c '%a %u' "$KUBECONFIG"; ls -A /run/ws | tr '\n' ' '; echo '# changed' >> "$TALOSCONFIG"`)
	want := fmt.Sprintf("1\n600 %d\n.sums agent gnupg kubeconfig talosconfig ", os.Getuid())
	if r.code != 0 || r.stdout != want {
		t.Fatalf("exit %d, stdout %q, want %q\n%s", r.code, r.stdout, want, r.stderr)
	}
	if strings.Contains(r.stderr, "GPG agent not forwarded") ||
		!strings.Contains(r.stderr, "ws: warning: talosconfig changed in the workspace") {
		t.Fatalf("stderr:\n%s", r.stderr)
	}
	assertNoPlaintext(t, r.stderr)
}

// dockerTCPProxy serves the local daemon's API on a loopback TCP port and
// returns it as a DOCKER_HOST.
func dockerTCPProxy(t *testing.T) string {
	t.Helper()
	socket := "/var/run/docker.sock"
	if h := os.Getenv("DOCKER_HOST"); strings.HasPrefix(h, "unix://") {
		socket = strings.TrimPrefix(h, "unix://")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer client.Close()
				daemon, err := net.Dial("unix", socket)
				if err != nil {
					return
				}
				defer daemon.Close()
				done := make(chan struct{}, 2)
				go func() { io.Copy(daemon, client); daemon.(*net.UnixConn).CloseWrite(); done <- struct{}{} }()
				go func() { io.Copy(client, daemon); client.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
				<-done
				<-done
			}()
		}
	}()
	return "tcp://" + ln.Addr().String()
}

// A key with a passphrase: pinentry asks on the caller's terminal (ws
// tells gpg which one; GPG_TTY is unset) before any container exists,
// and the command then gets the decrypted file.
func TestPinentryAsksOnTheCallersTerminal(t *testing.T) {
	w := execWorkspace(t)
	repo, _ := filepath.Abs("../..")
	b, err := os.ReadFile(filepath.Join(repo, "testdata/sops/passphrase/kubeconfig"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(w.dir, "kubeconfig"), b, 0o644)
	passphrase, _ := os.ReadFile(filepath.Join(repo, "testdata/gpg/passphrase-key.passphrase"))
	gpgHome := gnupgHome(t, "passphrase-key.sec.asc")

	term := newTerminal(t, "120", "30", "env", "-u", "GPG_TTY", "-u", "DISPLAY", "GNUPGHOME="+gpgHome, "sh", "-c",
		fmt.Sprintf(`cd %s && %s exec -- sh -c 'grep -c ws-e2e-token "$KUBECONFIG"'; echo "ws-ended $?"; sleep 600`, w.dir, wsBin))
	term.waitForText("Please enter the passphrase")
	if left := workspaceContainers(t, w.dir); len(left) != 0 {
		t.Fatalf("a container exists while pinentry asks: %v", left)
	}
	term.send(strings.TrimSpace(string(passphrase)), "Enter")
	if screen := term.waitForText("ws-ended"); !strings.Contains(screen, "1\nws-ended 0") {
		t.Fatalf("after the passphrase:\n%s", screen)
	}
}

// syncBuffer is a bytes.Buffer that a running command writes while the test
// reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
