//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ws-tools/ws/cmd/e2e/testenv"
	"github.com/ws-tools/ws/cmd/plan"
	"github.com/ws-tools/ws/images/lock"
	"github.com/ws-tools/ws/launcher/gpgrelay"
	"github.com/ws-tools/ws/launcher/hostkeys"
	"github.com/ws-tools/ws/launcher/secrets"
)

// timeIt runs f and returns how long it took.
func timeIt(tb testing.TB, f func()) time.Duration {
	tb.Helper()
	start := time.Now()
	f()
	return time.Since(start)
}

// BenchmarkBuildWarm: ws build when the image exists, against
// `docker image inspect` of it in the same run (target: ws/inspect <= 1.5).
func BenchmarkBuildWarm(b *testing.B) {
	in := needInfra(b)
	w := newBuildWorkspace(b, in)
	tag, r := w.build(b)
	if r.code != 0 {
		b.Fatalf("build exited %d", r.code)
	}
	var ws, inspect time.Duration
	for i := 0; i < b.N; i++ {
		ws += timeIt(b, func() {
			if err := exec.Command(wsBin, "-C", w.dir, "build").Run(); err != nil {
				b.Fatal(err)
			}
		})
		inspect += timeIt(b, func() {
			if err := exec.Command("docker", "image", "inspect", tag).Run(); err != nil {
				b.Fatal(err)
			}
		})
	}
	b.ReportMetric(float64(ws.Milliseconds())/float64(b.N), "ws-build-ms")
	b.ReportMetric(float64(inspect.Milliseconds())/float64(b.N), "docker-inspect-ms")
	b.ReportMetric(float64(ws)/float64(inspect), "ratio")
}

// BenchmarkBuildBumpOneTool: bump one tool and rebuild, against a cold
// build (--no-cache) of the same lock (target: bump/cold <= 0.2), and the
// image's size beyond base + Debian packages + tool binaries (target <= 1 MB).
func BenchmarkBuildBumpOneTool(b *testing.B) {
	in := needInfra(b)
	for _, builder := range []string{"docker", "buildkitd"} {
		b.Run(builder, func(b *testing.B) {
			var args []string
			if builder == "buildkitd" {
				args = []string{"--builder", needBuildkitd(b).Addr}
			}
			var cold, bump time.Duration
			var overhead int64
			for i := 0; i < b.N; i++ {
				w := newBuildWorkspace(b, in)
				cold += timeIt(b, func() {
					if _, r := w.build(b, append(args, "--no-cache")...); r.code != 0 {
						b.Fatalf("cold build exited %d", r.code)
					}
				})
				bumped := testenv.ScriptTool("hello", fmt.Sprintf("v9.%d.%d", time.Now().UnixNano(), i), amd64)
				w.server.Add(bumped)
				w.tools[1] = bumped
				w.writeLock(b)
				var tag string
				bump += timeIt(b, func() {
					var r result
					if tag, r = w.build(b, args...); r.code != 0 {
						b.Fatalf("build after bump exited %d", r.code)
					}
				})
				overhead = sizeOverhead(b, in, w, tag, args)
			}
			b.ReportMetric(float64(cold.Milliseconds())/float64(b.N), "cold-ms")
			b.ReportMetric(float64(bump.Milliseconds())/float64(b.N), "bump-rebuild-ms")
			b.ReportMetric(float64(bump)/float64(cold), "ratio")
			b.ReportMetric(float64(overhead), "overhead-bytes")
		})
	}
}

// sizeOverhead is the image's size minus the same lock's image without tools
// (base + Debian packages) minus the tools' binaries.
func sizeOverhead(b *testing.B, in *infra, w *buildWorkspace, tag string, args []string) int64 {
	b.Helper()
	bare := &buildWorkspace{dir: b.TempDir(), server: w.server, url: w.url, kubectl: w.kubectl, base: w.base}
	bare.writeLock(b)
	bareTag, r := bare.build(b, args...)
	if r.code != 0 {
		b.Fatalf("tool-less build exited %d", r.code)
	}
	var binaries int64
	for _, t := range w.tools {
		n, err := strconv.ParseInt(strings.TrimSpace(dockerOut(b, "run", "--rm", "--label", "ws.e2e=1", "--entrypoint", "", tag, "stat", "-c", "%s", "/usr/local/bin/"+t.Name)), 10, 64)
		if err != nil {
			b.Fatal(err)
		}
		binaries += n
	}
	size := func(ref string) int64 {
		n, err := strconv.ParseInt(strings.TrimSpace(dockerOut(b, "image", "inspect", "--format", "{{.Size}}", ref)), 10, 64)
		if err != nil {
			b.Fatal(err)
		}
		return n
	}
	return size(tag) - size(bareTag) - binaries
}

// BenchmarkExec: `ws exec -- true` with the image present, against the
// docker CLI starting the same image with the same work (docker run --rm
// --init, the entrypoint's user setup) in the same run (target <= 1.0), and
// the peak memory of the ws process.
func BenchmarkExec(b *testing.B) {
	w := execWorkspace(b)
	tag := imageTag(b, w.dir)
	var ws, docker time.Duration
	var maxRSS int64
	for i := 0; i < b.N; i++ {
		cmd := wsCmd(b, w.dir, "exec", "--", "true")
		ws += timeIt(b, func() {
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("ws exec: %v\n%s", err, out)
			}
		})
		// GNU time reads the peak resident set of ws alone.
		measured := wsCmd(b, w.dir, "exec", "--", "true")
		measured.Args = append([]string{"/usr/bin/time", "-f", "%M"}, measured.Args...)
		measured.Path = "/usr/bin/time"
		out, err := measured.CombinedOutput()
		if err != nil {
			b.Fatalf("time ws exec: %v\n%s", err, out)
		}
		fields := strings.Fields(string(out))
		if kb, err := strconv.ParseInt(fields[len(fields)-1], 10, 64); err == nil && kb > maxRSS {
			maxRSS = kb
		}
		docker += timeIt(b, func() {
			out, err := exec.Command("docker", "run", "--rm", "--init", "--user", "1000:1000", "-e", "WS_UID=1000", "-e", "WS_GID=1000",
				"-e", "WS_USER=bench", "-e", "WS_HOME=/home/bench", tag, "true").CombinedOutput()
			if err != nil {
				b.Fatalf("docker run: %v\n%s", err, out)
			}
		})
	}
	b.ReportMetric(float64(ws.Milliseconds())/float64(b.N), "ws-exec-ms")
	b.ReportMetric(float64(docker.Milliseconds())/float64(b.N), "docker-run-ms")
	b.ReportMetric(float64(ws)/float64(docker), "ratio")
	b.ReportMetric(float64(maxRSS)/1024, "ws-peak-rss-MB")
}

// BenchmarkEnterFirstPrompt: time from starting `ws enter` in a tmux
// window to its prompt on screen (reported; no baseline target).
func BenchmarkEnterFirstPrompt(b *testing.B) {
	w := execWorkspace(b)
	var total time.Duration
	for i := 0; i < b.N; i++ {
		sock := filepath.Join(b.TempDir(), "tmux.sock")
		start := time.Now()
		if out, err := exec.Command("tmux", "-S", sock, "new-session", "-d", "-x", "80", "-y", "24", wsBin, "-C", w.dir, "enter").CombinedOutput(); err != nil {
			b.Fatalf("tmux: %v\n%s", err, out)
		}
		for {
			out, _ := exec.Command("tmux", "-S", sock, "capture-pane", "-p").Output()
			if strings.Contains(string(out), "@ws-") {
				break
			}
			if time.Since(start) > time.Minute {
				b.Fatalf("no prompt:\n%s", out)
			}
			time.Sleep(5 * time.Millisecond)
		}
		total += time.Since(start)
		exec.Command("tmux", "-S", sock, "send-keys", "exit", "Enter").Run()
		time.Sleep(500 * time.Millisecond)
		exec.Command("tmux", "-S", sock, "kill-server").Run()
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "first-prompt-ms")
}

// BenchmarkExecWithSecrets: `ws exec -- true` with two PGP-encrypted
// secrets (kubeconfig, talosconfig) against docker run of the same image
// in the same run (target <= 1.2), and the decrypt step alone (sops through
// the gpg-agent, as ws does it).
func BenchmarkExecWithSecrets(b *testing.B) {
	w := execWorkspace(b)
	copySecretFixtures(b, w.dir, "pgp")
	repo, _ := filepath.Abs("../..")
	home, err := os.MkdirTemp("", "ws-gpg-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		exec.Command("gpgconf", "--homedir", home, "--kill", "all").Run()
		os.RemoveAll(home)
	})
	if out, err := exec.Command("gpg", "--homedir", home, "--batch", "--import", filepath.Join(repo, "testdata/gpg/key.sec.asc")).CombinedOutput(); err != nil {
		b.Fatalf("import: %v\n%s", err, out)
	}
	b.Setenv("GNUPGHOME", home)
	tag := imageTag(b, w.dir)
	var ws, docker, decrypt time.Duration
	for i := 0; i < b.N; i++ {
		ws += timeIt(b, func() {
			if out, err := wsCmd(b, w.dir, "exec", "--", "true").CombinedOutput(); err != nil {
				b.Fatalf("ws exec: %v\n%s", err, out)
			}
		})
		docker += timeIt(b, func() {
			if out, err := exec.Command("docker", "run", "--rm", "--init", "--user", "1000:1000", "-e", "WS_UID=1000", "-e", "WS_GID=1000",
				"-e", "WS_USER=bench", "-e", "WS_HOME=/home/bench", tag, "true").CombinedOutput(); err != nil {
				b.Fatalf("docker run: %v\n%s", err, out)
			}
		})
		decrypt += timeIt(b, func() {
			if _, _, err := secrets.Decrypt(w.dir, plan.Secrets(&lock.Lock{})); err != nil {
				b.Fatal(err)
			}
		})
	}
	b.ReportMetric(float64(ws.Milliseconds())/float64(b.N), "ws-exec-ms")
	b.ReportMetric(float64(docker.Milliseconds())/float64(b.N), "docker-run-ms")
	b.ReportMetric(float64(ws)/float64(docker), "ratio")
	b.ReportMetric(float64(decrypt.Microseconds())/1000/float64(b.N), "decrypt-ms")
}

// BenchmarkKeptExec: `ws exec -- true` into the kept workspace container
// against `docker exec` of the same command into the same running
// container, in the same run (target <= 1.3).
func BenchmarkKeptExec(b *testing.B) {
	w := execWorkspace(b)
	id := warmKept(b, w.dir)
	var ws, docker time.Duration
	for i := 0; i < b.N; i++ {
		cmd := wsCmd(b, w.dir, "exec", "--", "true")
		cmd.Env = append(cmd.Env, "WS_FRESH=")
		ws += timeIt(b, func() {
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("ws exec: %v\n%s", err, out)
			}
		})
		docker += timeIt(b, func() {
			if out, err := exec.Command("docker", "exec", id, "true").CombinedOutput(); err != nil {
				b.Fatalf("docker exec: %v\n%s", err, out)
			}
		})
	}
	b.ReportMetric(float64(ws.Milliseconds())/float64(b.N), "ws-kept-exec-ms")
	b.ReportMetric(float64(docker.Milliseconds())/float64(b.N), "docker-exec-ms")
	b.ReportMetric(float64(ws)/float64(docker), "ratio")
}

// BenchmarkKeptEnterFirstPrompt: `ws enter` with a kept container to its
// prompt in tmux, against `docker exec -it` of a login shell into the same
// container (target <= 1.3).
func BenchmarkKeptEnterFirstPrompt(b *testing.B) {
	w := execWorkspace(b)
	id := warmKept(b, w.dir)
	prompt := func(argv ...string) time.Duration {
		sock := filepath.Join(b.TempDir(), "tmux.sock")
		start := time.Now()
		if out, err := exec.Command("tmux", append([]string{"-S", sock, "new-session", "-d", "-x", "80", "-y", "24", "-e", "WS_FRESH="}, argv...)...).CombinedOutput(); err != nil {
			b.Fatalf("tmux: %v\n%s", err, out)
		}
		defer exec.Command("tmux", "-S", sock, "kill-server").Run()
		for {
			out, _ := exec.Command("tmux", "-S", sock, "capture-pane", "-p").Output()
			if strings.Contains(string(out), "@ws-") {
				return time.Since(start)
			}
			if time.Since(start) > time.Minute {
				b.Fatalf("no prompt:\n%s", out)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	var ws, docker time.Duration
	for i := 0; i < b.N; i++ {
		ws += prompt(wsBin, "-C", w.dir, "enter")
		docker += prompt("docker", "exec", "-it", "-e", "HOME=/root", "-w", w.dir, id, "/bin/bash", "-l")
	}
	b.ReportMetric(float64(ws.Milliseconds())/float64(b.N), "ws-kept-enter-ms")
	b.ReportMetric(float64(docker.Milliseconds())/float64(b.N), "docker-exec-it-ms")
	b.ReportMetric(float64(ws)/float64(docker), "ratio")
}

// BenchmarkStartup: ws's own start-up against `docker --version` in the
// same run (target <= 1.0 for both): `ws --version`, and a warm `ws exec`
// from its start to its exec call into the kept container (read off its
// --debug log as it happens).
func BenchmarkStartup(b *testing.B) {
	w := execWorkspace(b)
	warmKept(b, w.dir)
	toExec := func() time.Duration {
		cmd := wsCmd(b, w.dir, "--debug", "exec", "--", "true")
		cmd.Env = append(cmd.Env, "WS_FRESH=")
		stderr, _ := cmd.StderrPipe()
		start := time.Now()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		var took time.Duration
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if took == 0 && strings.Contains(sc.Text(), "exec into the kept container") {
				took = time.Since(start)
			}
		}
		cmd.Wait()
		if took == 0 {
			b.Fatal("ws exec did not exec into the kept container")
		}
		return took
	}
	var version, exec1, docker time.Duration
	for i := 0; i < b.N; i++ {
		version += timeIt(b, func() { exec.Command(wsBin, "--version").Run() })
		exec1 += toExec()
		docker += timeIt(b, func() { exec.Command("docker", "--version").Run() })
	}
	b.ReportMetric(float64(version.Microseconds())/1000/float64(b.N), "ws-version-ms")
	b.ReportMetric(float64(exec1.Microseconds())/1000/float64(b.N), "ws-exec-to-exec-call-ms")
	b.ReportMetric(float64(docker.Microseconds())/1000/float64(b.N), "docker-version-ms")
	b.ReportMetric(float64(version)/float64(docker), "version-ratio")
	b.ReportMetric(float64(exec1)/float64(docker), "exec-ratio")
}

// BenchmarkShim: a shim's `kubectl version --client` against `ws exec --
// kubectl version --client`, both into the kept container (target <= 1.05).
func BenchmarkShim(b *testing.B) {
	w := execWorkspace(b)
	b.Cleanup(func() { wsCmd(b, w.dir, "stop").Run() })
	shims := filepath.Join(b.TempDir(), "shims")
	install := wsCmd(b, w.dir, "shims", "install", shims)
	if out, err := install.CombinedOutput(); err != nil {
		b.Fatalf("ws shims install: %v\n%s", err, out)
	}
	run := func(cmd *exec.Cmd) time.Duration {
		cmd.Dir = w.dir
		cmd.Env = append(os.Environ(), "WS_FRESH=")
		return timeIt(b, func() {
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("%v: %v\n%s", cmd.Args, err, out)
			}
		})
	}
	run(exec.Command(wsBin, "exec", "--", "true")) // start the kept container
	var shim, ws time.Duration
	for i := 0; i < b.N; i++ {
		shim += run(exec.Command(filepath.Join(shims, "kubectl"), "version", "--client"))
		ws += run(exec.Command(wsBin, "exec", "--", "kubectl", "version", "--client"))
	}
	b.ReportMetric(float64(shim.Milliseconds())/float64(b.N), "shim-ms")
	b.ReportMetric(float64(ws.Milliseconds())/float64(b.N), "ws-exec-ms")
	b.ReportMetric(float64(shim)/float64(ws), "ratio")
}

// warmKept starts dir's kept workspace container with a first ws exec,
// stops it when the benchmark ends, and returns its ID.
func warmKept(b *testing.B, dir string) string {
	b.Helper()
	b.Cleanup(func() { wsCmd(b, dir, "stop").Run() })
	warm := wsCmd(b, dir, "exec", "--", "true")
	warm.Env = append(warm.Env, "WS_FRESH=")
	if out, err := warm.CombinedOutput(); err != nil {
		b.Fatalf("first ws exec: %v\n%s", err, out)
	}
	return keptContainers(b, dir)[0]
}

// BenchmarkSopsDecryptThroughRelay: the real sops decrypting a
// two-recipient file through ws's GPG relay, against the same through the
// agent's extra socket directly (what the workspace got before the relay).
// Both clients use a GNUPGHOME like the workspace's: public keys only, the
// agent socket a symlink. Target: ratio ≤ 1.1.
func BenchmarkSopsDecryptThroughRelay(b *testing.B) {
	sops := needSops(b)
	home := gnupgHome(b, "key.pub.asc")
	alice, bob := genKey(b, home, "Alice <alice@ws.test>"), genKey(b, home, "Bob <bob@ws.test>")
	b.Setenv("GNUPGHOME", home)
	dir := b.TempDir()
	writeFile(b, filepath.Join(dir, "plain.yaml"), "token: for-alice-and-bob\n")
	enc, err := exec.Command(sops.Path, "--disable-version-check", "--encrypt", "--pgp", alice+","+bob, filepath.Join(dir, "plain.yaml")).Output()
	if err != nil {
		b.Fatalf("sops --encrypt: %v", err)
	}
	secret := filepath.Join(dir, "secret.yaml")
	writeFile(b, secret, string(enc))
	extra, err := exec.Command("gpgconf", "--list-dirs", "agent-extra-socket").Output()
	if err != nil {
		b.Fatal(err)
	}
	pub, err := exec.Command("gpg", "--batch", "--export", "--", alice, bob).Output()
	if err != nil {
		b.Fatal(err)
	}
	relayDir, err := os.MkdirTemp("", "ws-relay-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(relayDir) })
	relay, err := gpgrelay.Start(relayDir, strings.TrimSpace(string(extra)), gpgrelay.Policy{Decrypt: hostkeys.DecryptionKeygrips(context.Background(), []string{alice, bob})}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(relay.Close)
	client := func(socket string) string {
		h, err := os.MkdirTemp("", "ws-client-")
		if err != nil {
			b.Fatal(err)
		}
		os.Chmod(h, 0o700)
		b.Cleanup(func() { os.RemoveAll(h) })
		writeFile(b, filepath.Join(h, "gpg.conf"), "no-autostart\n")
		writeFile(b, filepath.Join(h, "pubring.gpg"), string(pub))
		if err := os.Symlink(socket, filepath.Join(h, "S.gpg-agent")); err != nil {
			b.Fatal(err)
		}
		return h
	}
	direct, relayed := client(strings.TrimSpace(string(extra))), client(relay.Path())
	decrypt := func(gnupgHome string) time.Duration {
		return timeIt(b, func() {
			cmd := exec.Command(sops.Path, "--disable-version-check", "--decrypt", secret)
			cmd.Env = append(os.Environ(), "GNUPGHOME="+gnupgHome)
			if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "for-alice-and-bob") {
				b.Fatalf("sops --decrypt (GNUPGHOME %s): %v\n%s", gnupgHome, err, out)
			}
		})
	}
	decrypt(direct) // warm: gpg's trustdb, the agent's key cache
	decrypt(relayed)
	var d, r time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d += decrypt(direct)
		r += decrypt(relayed)
	}
	b.ReportMetric(float64(d.Microseconds())/float64(b.N)/1000, "direct-ms")
	b.ReportMetric(float64(r.Microseconds())/float64(b.N)/1000, "relay-ms")
	b.ReportMetric(float64(r)/float64(d), "ratio")
	if blocked := relay.Blocked(); len(blocked) > 0 {
		b.Fatalf("the relay blocked %v of a plain decryption", blocked)
	}
}

// BenchmarkPackageStepCold: a cold (--no-cache) build of the Debian
// packages pinned to a snapshot (the package step with its own apt
// configuration, version checks and clamped file times) against today's
// floating apt-get install of the same packages from the same mirror. The
// locks hold no tools, so the build is the package step and the entrypoint.
func BenchmarkPackageStepCold(b *testing.B) {
	in := needInfra(b)
	write := func(snapshot string) string {
		dir := b.TempDir()
		spec := testenv.LockSpec{Base: in.base, Packages: testenv.DefaultPackages, Platforms: []string{amd64}, Snapshot: snapshot}
		if err := spec.Write(dir); err != nil {
			b.Fatal(err)
		}
		return dir
	}
	floating, pinned := write(""), write(testenv.DebianMirror())
	if r := runWs(b, pinned, "lock", "bump", "packages"); r.code != 0 {
		b.Fatalf("ws lock bump packages: exit %d\n%s", r.code, r.stderr)
	}
	build := func(dir string) time.Duration {
		return timeIt(b, func() {
			if r := runWs(b, dir, "build", "--no-cache"); r.code != 0 {
				b.Fatalf("ws build --no-cache in %s: exit %d\n%s", dir, r.code, r.stderr)
			}
		})
	}
	var pinnedTime, floatingTime time.Duration
	for i := 0; i < b.N; i++ {
		floatingTime += build(floating)
		pinnedTime += build(pinned)
	}
	b.ReportMetric(float64(pinnedTime.Milliseconds())/float64(b.N), "pinned-ms")
	b.ReportMetric(float64(floatingTime.Milliseconds())/float64(b.N), "apt-get-install-ms")
	b.ReportMetric(float64(pinnedTime)/float64(floatingTime), "ratio")
}
