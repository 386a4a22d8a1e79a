//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ws-tools/ws/cmd/e2e/testenv"
)

// A team's private registry (htpasswd) holds the base image and the shared
// workspace image. ws finds the login where the Docker CLI keeps it, once
// from `docker login` (config.json auths) and once from a credential helper
// on PATH: dockerd's BuildKit and the standalone buildkitd pull the base
// through ws's session, ws build --push pushes, ws build pulls instead of
// building, and ws lock bump base resolves the tag. Without the login each
// of them fails in one line naming the registry, with the docker login hint
// and exit 125. The password shows in no output, --debug included.
func TestPrivateRegistryWithDockerLogins(t *testing.T) {
	t.Parallel()
	in := needInfra(t)
	bk := needBuildkitd(t)
	reg := needAuthRegistry(t)

	loginConfig := t.TempDir()
	login := exec.Command("docker", "--config", loginConfig, "login", "--username", reg.User, "--password-stdin", reg.Addr)
	login.Stdin = strings.NewReader(reg.Password)
	if out, err := login.CombinedOutput(); err != nil {
		t.Fatalf("docker login: %v\n%s", err, out)
	}

	helperConfig, helperBin := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(helperConfig, "config.json"), fmt.Sprintf(`{"credHelpers":{%q:"wse2e"}}`, reg.Addr))
	writeFile(t, filepath.Join(helperBin, "docker-credential-wse2e"), fmt.Sprintf(`#!/bin/sh
[ "$1" = get ] || exit 1
read -r server
if [ "$server" = %q ]; then
  printf '{"ServerURL":"%%s","Username":%q,"Secret":%q}\n' "$server"
else
  echo "credentials not found in native keychain"; exit 1
fi
`, reg.Addr, reg.User, reg.Password))
	os.Chmod(filepath.Join(helperBin, "docker-credential-wse2e"), 0o755)

	noLogin := []string{"DOCKER_CONFIG=" + t.TempDir()}
	var outputs []result
	check := func(r result) result { outputs = append(outputs, r); return r }
	t.Cleanup(func() {
		for _, r := range outputs {
			if strings.Contains(r.stdout+r.stderr, reg.Password) {
				t.Errorf("the registry password is in ws's output:\n%s%s", r.stdout, r.stderr)
			}
		}
	})
	refused := func(t *testing.T, r result, what string) {
		t.Helper()
		if r.code != 125 || !strings.Contains(r.stderr, "ws: registry "+reg.Addr+" refused the login") || !strings.Contains(r.stderr, "hint: docker login "+reg.Addr) {
			t.Fatalf("%s without a login: exit %d, want 125 naming %s with the docker login hint:\n%s", what, r.code, reg.Addr, r.stderr)
		}
		if n := strings.Count(r.stderr, "ws: ") - strings.Count(r.stderr, "ws: warning: "); n != 1 {
			t.Fatalf("%s without a login: %d error lines, want 1:\n%s", what, n, r.stderr)
		}
	}

	for _, c := range []struct {
		name, short string
		env         []string
	}{
		{"docker login auths", "auths", []string{"DOCKER_CONFIG=" + loginConfig}},
		{"credential helper", "helper", []string{"DOCKER_CONFIG=" + helperConfig, "PATH=" + helperBin + string(os.PathListSeparator) + os.Getenv("PATH")}},
	} {
		t.Run(c.name, func(t *testing.T) {
			base := pushBase(t, in, reg, loginConfig, fmt.Sprintf("ws-e2e/base-%s-%d", c.short, time.Now().UnixNano()))
			shared := reg.Addr + "/ws-e2e/shared-" + c.short
			w := newBuildWorkspace(t, in, testenv.ScriptTool("private", fmt.Sprintf("v%d", time.Now().UnixNano()), amd64))
			w.base, w.image = base, shared
			w.writeLock(t)
			trust(t, w.dir) // image: reaches the registry
			tag := mustTag(t, w)
			sharedRef := shared + ":" + strings.TrimPrefix(tag, "ws-tools:")
			t.Cleanup(func() { exec.Command("docker", "image", "rm", "-f", tag, sharedRef).Run() })

			// The base image, pulled by each builder through ws's session
			// (--force: build, do not look for the shared image first).
			refused(t, check(runWsEnv(t, w.dir, noLogin, "build", "--force", "--progress", "plain")), "the base pull by dockerd's BuildKit")
			refused(t, check(runWsEnv(t, w.dir, noLogin, "build", "--force", "--progress", "plain", "--builder", bk.Addr)), "the base pull by the standalone buildkitd")
			if imageExists(tag) {
				t.Fatal("a refused build tagged the image")
			}
			if r := check(runWsEnv(t, w.dir, c.env, "--debug", "build", "--force", "--progress", "plain", "--builder", bk.Addr)); r.code != 0 || !strings.Contains(r.stderr, "built "+tag) {
				t.Fatalf("build on the standalone buildkitd with the login: exit %d:\n%s", r.code, r.stderr)
			}
			dockerOut(t, "image", "rm", tag)
			if r := check(runWsEnv(t, w.dir, c.env, "--debug", "build", "--force", "--progress", "plain")); r.code != 0 || !strings.Contains(r.stderr, "built "+tag) {
				t.Fatalf("build on dockerd's BuildKit with the login: exit %d:\n%s", r.code, r.stderr)
			}

			// The shared image: pushed, then pulled instead of building.
			refused(t, check(runWsEnv(t, w.dir, noLogin, "build", "--push", shared)), "the push")
			if r := check(runWsEnv(t, w.dir, c.env, "--debug", "build", "--push", shared)); r.code != 0 || !strings.Contains(r.stderr, "pushed "+shared+":") {
				t.Fatalf("push with the login: exit %d:\n%s", r.code, r.stderr)
			}
			dockerOut(t, "image", "rm", tag, sharedRef)
			refused(t, check(runWsEnv(t, w.dir, noLogin, "build")), "the pull of the shared image")
			requests := w.server.Requests(w.tools[3], amd64)
			if r := check(runWsEnv(t, w.dir, c.env, "--debug", "build")); r.code != 0 || !strings.Contains(r.stderr, "pulled "+sharedRef+" as "+tag) {
				t.Fatalf("pull with the login: exit %d:\n%s", r.code, r.stderr)
			}
			if w.server.Requests(w.tools[3], amd64) != requests {
				t.Fatal("it built instead of pulling")
			}

			// ws lock bump base follows the tag with the login.
			lockPath := filepath.Join(w.dir, "tools.lock")
			before, _ := os.ReadFile(lockPath)
			refused(t, check(runWsEnv(t, w.dir, noLogin, "lock", "bump", "base")), "ws lock bump base")
			if r := check(runWsEnv(t, w.dir, c.env, "--debug", "lock", "bump", "base")); r.code != 0 || !strings.Contains(r.stderr, "still points at the pinned digest") {
				t.Fatalf("bump base with the login: exit %d:\n%s", r.code, r.stderr)
			}
			if after, _ := os.ReadFile(lockPath); string(after) != string(before) {
				t.Fatalf("bump base changed the lock:\n%s", after)
			}
		})
	}
}

var pushDigestRe = regexp.MustCompile(`digest: (sha256:[0-9a-f]{64})`)

// pushBase copies the harness's base image into the login registry as
// repo:bookworm and returns its digest-pinned reference there.
func pushBase(t *testing.T, in *infra, reg *testenv.AuthRegistry, dockerConfig, repo string) string {
	t.Helper()
	ref := reg.Addr + "/" + repo + ":bookworm"
	dockerOut(t, "pull", "-q", in.base)
	// An image of its own (the e2e base with a label naming the repository):
	// a digest dockerd's BuildKit has seen before, from any registry, is
	// served from its content store without asking a registry at all.
	cid := strings.TrimSpace(dockerOut(t, "create", "--label", "ws.e2e=1", in.base, "true"))
	dockerOut(t, "commit", "--change", "LABEL ws.e2e.repository="+repo, cid, ref)
	dockerOut(t, "rm", cid)
	out, err := exec.Command("docker", "--config", dockerConfig, "push", ref).CombinedOutput()
	exec.Command("docker", "image", "rm", ref).Run()
	if err != nil {
		t.Fatalf("docker push %s: %v\n%s", ref, err, out)
	}
	m := pushDigestRe.FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("docker push %s printed no digest:\n%s", ref, out)
	}
	return ref + "@" + m[1]
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
