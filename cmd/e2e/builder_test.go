//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ws-tools/ws/cmd/e2e/testenv"
)

// A buildkitd in a container, as buildx's docker-container driver runs one:
// ws reaches it as docker-container://NAME and, through buildx's store, as
// buildx:BUILDER; either way the image lands in the engine and runs.
func TestBuildOnBuildkitdInAContainer(t *testing.T) {
	t.Parallel()
	in := needInfra(t)
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	// buildx names a docker-container node's container buildx_buildkit_NODE.
	node := fmt.Sprintf("wse2e%d", time.Now().UnixNano())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	bk, err := testenv.StartBuildkitdContainer(ctx, repo, in.cache, in.base, "buildx_buildkit_"+node, in.registry.Addr)
	if err != nil {
		unavailable(t, "%v", err)
	}
	t.Cleanup(bk.Stop)

	w := newBuildWorkspace(t, in, testenv.ScriptTool("incontainer", fmt.Sprintf("v%d", time.Now().UnixNano()), amd64))
	tag, r := w.build(t, "--builder", "docker-container://"+bk.Name)
	if r.code != 0 || !strings.Contains(r.stderr, "built "+tag) {
		t.Fatalf("ws build --builder docker-container://%s: exit %d:\n%s", bk.Name, r.code, r.stderr)
	}
	out := dockerOut(t, "run", "--rm", "--label", "ws.e2e=1", "--entrypoint", "", "--user", "1000:1000", tag, "sh", "-c", "kubectl version --client && incontainer")
	for _, want := range []string{`GitVersion:"` + w.kubectl.Version + `"`, "incontainer v"} {
		if !strings.Contains(out, want) {
			t.Fatalf("the image built in the container lacks %q:\n%s", want, out)
		}
	}

	// The same builder by its buildx name, from buildx's store in
	// DOCKER_CONFIG, as `docker buildx create --name ci --driver
	// docker-container` leaves it.
	dockerConfig := t.TempDir()
	store := filepath.Join(dockerConfig, "buildx", "instances")
	if err := os.MkdirAll(store, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(store, "ci"), fmt.Sprintf(`{"Name":"ci","Driver":"docker-container","Nodes":[{"Name":%q,"Endpoint":"unix:///var/run/docker.sock","Platforms":null,"Flags":null,"DriverOpts":null,"Files":null}],"Dynamic":false}`, node))
	env := []string{"DOCKER_CONFIG=" + dockerConfig}
	dockerOut(t, "image", "rm", tag)
	if r := runWsEnv(t, w.dir, env, "build", "--progress", "plain", "--builder", "buildx:ci"); r.code != 0 || !strings.Contains(r.stderr, "built "+tag) {
		t.Fatalf("ws build --builder buildx:ci: exit %d:\n%s", r.code, r.stderr)
	}
	if !imageExists(tag) {
		t.Fatalf("%s is not in the engine after the buildx build", tag)
	}
	// ws doctor asks the builder BUILDKIT_HOST names, and says which.
	trust(t, w.dir)
	r = runWsEnv(t, w.dir, append(env, "BUILDKIT_HOST=buildx:ci"), "doctor")
	if !strings.Contains(r.stdout+r.stderr, "buildx builder ci at docker-container://"+bk.Name) {
		t.Fatalf("ws doctor does not name the buildx builder:\n%s%s", r.stdout, r.stderr)
	}
	if r := runWsEnv(t, w.dir, env, "build", "--builder", "buildx:nosuch"); r.code != 125 || !strings.Contains(r.stderr, "ws: --builder buildx:nosuch is not a buildx builder here") {
		t.Fatalf("an unknown buildx builder: exit %d:\n%s", r.code, r.stderr)
	}
}

// A remote buildkitd with mutual TLS, as a team's shared builder: ws builds
// with buildctl's TLS files, as flags (--tlsdir) and as environment
// (BUILDKIT_HOST and BUILDKIT_TLS_*, which ws exec reads too); without a
// client certificate the builder refuses in one line.
func TestBuildOnMutualTLSBuildkitd(t *testing.T) {
	t.Parallel()
	in := needInfra(t)
	bk := needBuildkitd(t)
	w := newBuildWorkspace(t, in, testenv.ScriptTool("overtls", fmt.Sprintf("v%d", time.Now().UnixNano()), amd64))

	r := runWs(t, w.dir, "build", "--progress", "plain", "--builder", bk.TCPAddr, "--tlscacert", filepath.Join(bk.TLSDir, "ca.pem"))
	if r.code != 125 || strings.Count(r.stderr, "ws: ")-strings.Count(r.stderr, "ws: warning: ") != 1 || !strings.Contains(r.stderr, "ws: buildkitd at "+bk.TCPAddr) {
		t.Fatalf("without a client certificate: exit %d, want 125 and one line naming the builder:\n%s", r.code, r.stderr)
	}
	tag, r := w.build(t, "--builder", bk.TCPAddr, "--tlsdir", bk.TLSDir)
	if r.code != 0 || !strings.Contains(r.stderr, "built "+tag) {
		t.Fatalf("ws build --tlsdir: exit %d:\n%s", r.code, r.stderr)
	}
	if out := dockerOut(t, "run", "--rm", "--label", "ws.e2e=1", "--entrypoint", "", tag, "overtls"); !strings.Contains(out, "overtls v") {
		t.Fatalf("the image built over TLS runs %q", out)
	}
	env := []string{
		"BUILDKIT_HOST=" + bk.TCPAddr,
		"BUILDKIT_TLS_CACERT=" + filepath.Join(bk.TLSDir, "ca.pem"),
		"BUILDKIT_TLS_CERT=" + filepath.Join(bk.TLSDir, "cert.pem"),
		"BUILDKIT_TLS_KEY=" + filepath.Join(bk.TLSDir, "key.pem"),
	}
	if r := runWsEnv(t, w.dir, env, "build", "--force", "--progress", "plain"); r.code != 0 || !strings.Contains(r.stderr, "built "+tag) {
		t.Fatalf("ws build with BUILDKIT_TLS_*: exit %d:\n%s", r.code, r.stderr)
	}
}
