//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ws-tools/ws/cmd/e2e/testenv"
)

const amd64 = "linux/amd64"

// buildWorkspace is a workspace whose lock pins the harness's base, Debian's
// real kubectl and two served tools (a raw one and an archive).
type buildWorkspace struct {
	dir     string
	server  *testenv.ArtifactServer
	url     string
	tools   []testenv.Tool
	kubectl *testenv.Kubectl
	base    string
	image   string // the lock's shared image repository
	// snapshot is base.snapshot's url, if any, and snapshotKey its key.
	snapshot    string
	snapshotKey []byte
	// packages replace testenv.DefaultPackages when set.
	packages []string
}

func newBuildWorkspace(t testing.TB, in *infra, extra ...testenv.Tool) *buildWorkspace {
	t.Helper()
	kubectl, err := os.ReadFile(in.kubectl.Path)
	if err != nil {
		t.Fatal(err)
	}
	tools := append([]testenv.Tool{
		testenv.BinaryTool("kubectl", in.kubectl.Version, amd64, kubectl),
		testenv.ScriptTool("hello", "v0.1.0", amd64),
		testenv.ArchiveTool("greet", "v1.2.0", amd64),
	}, extra...)
	server, url := artifactServer(t, tools...)
	w := &buildWorkspace{dir: t.TempDir(), server: server, url: url, tools: tools, kubectl: in.kubectl, base: in.base}
	w.writeLock(t)
	return w
}

func (w *buildWorkspace) writeLock(t testing.TB) {
	t.Helper()
	packages := testenv.DefaultPackages
	if w.packages != nil {
		packages = w.packages
	}
	spec := testenv.LockSpec{Base: w.base, Packages: packages, Platforms: []string{amd64}, Server: w.url, Tools: w.tools, Image: w.image, Snapshot: w.snapshot, SnapshotKey: w.snapshotKey}
	if err := spec.Write(w.dir); err != nil {
		t.Fatal(err)
	}
}

// build runs ws build and returns the tag it printed, removing the image
// when the test ends.
func (w *buildWorkspace) build(t testing.TB, args ...string) (string, result) {
	t.Helper()
	r := runWs(t, w.dir, append([]string{"build", "--progress", "plain"}, args...)...)
	tag := strings.TrimSpace(r.stdout)
	if r.code == 0 {
		t.Cleanup(func() { exec.Command("docker", "image", "rm", "-f", tag).Run() })
	}
	return tag, r
}

func dockerOut(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command("docker", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func imageExists(tag string) bool {
	return exec.Command("docker", "image", "inspect", tag).Run() == nil
}

func TestBuildWithDockerBuildKit(t *testing.T) {
	in := needInfra(t)
	w := newBuildWorkspace(t, in)
	exec.Command("docker", "image", "rm", "-f", mustTag(t, w)).Run()
	tag, r := w.build(t)
	if r.code != 0 {
		t.Fatalf("ws build exited %d", r.code)
	}
	if !strings.HasPrefix(tag, "ws-tools:") || !imageExists(tag) {
		t.Fatalf("stdout %q is not a built image tag", r.stdout)
	}
	// Every tool runs as a normal user; kubectl is the pinned one.
	out := dockerOut(t, "run", "--rm", "--label", "ws.e2e=1", "--entrypoint", "", "--user", "1000:1000", tag, "kubectl", "version", "--client")
	if !strings.Contains(out, `GitVersion:"`+w.kubectl.Version+`"`) {
		t.Fatalf("kubectl version --client in the image:\n%s", out)
	}
	out = dockerOut(t, "run", "--rm", "--label", "ws.e2e=1", "--entrypoint", "", "--user", "1000:1000", tag, "sh", "-c", "hello && greet && ls -l /usr/local/bin && find /var/lib/apt/lists /var/cache/apt -mindepth 1 | wc -l")
	for _, want := range []string{"hello v0.1.0 linux/amd64", "greet v1.2.0 linux/amd64", "-rwxr-xr-x"} {
		if !strings.Contains(out, want) {
			t.Fatalf("image output lacks %q:\n%s", want, out)
		}
	}
	if lines := strings.Split(strings.TrimSpace(out), "\n"); lines[len(lines)-1] != "0" {
		t.Fatalf("apt lists or caches left in the image:\n%s", out)
	}
	labels := dockerOut(t, "image", "inspect", "--format", "{{json .Config.Labels}}", tag)
	for _, want := range []string{`"dev.ws.tool.kubectl.version":"` + w.kubectl.Version + `"`, `"org.opencontainers.image.title":"ws workspace tools"`, `"dev.ws.lock.sha256":"`} {
		if !strings.Contains(labels, want) {
			t.Fatalf("labels lack %s: %s", want, labels)
		}
	}

	// A second build finds the image by its tag and solves nothing.
	before := w.server.Requests(w.tools[1], amd64)
	tag2, r := w.build(t)
	if r.code != 0 || tag2 != tag || !strings.Contains(r.stderr, "is up to date (nothing built)") {
		t.Fatalf("second build: exit %d, tag %q:\n%s", r.code, tag2, r.stderr)
	}
	if w.server.Requests(w.tools[1], amd64) != before {
		t.Fatal("the second build downloaded artifacts again")
	}
}

func TestBuildRefusesCorruptedArtifact(t *testing.T) {
	in := needInfra(t)
	w := newBuildWorkspace(t, in, testenv.ScriptTool("corrupt-me", "v3.0.0", amd64))
	tag := mustTag(t, w)
	w.server.Corrupt(w.tools[3], amd64)
	_, r := w.build(t)
	if r.code != 125 {
		t.Fatalf("build of a corrupted artifact exited %d, want 125", r.code)
	}
	want := "ws: checksum mismatch for corrupt-me (linux/amd64) from " + w.url + "/corrupt-me/v3.0.0/linux-amd64/corrupt-me: tools.lock pins sha256:" + w.tools[3].SHA256(amd64)
	if !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "hint: ") {
		t.Fatalf("stderr lacks\n  %s\n%s", want, r.stderr)
	}
	if imageExists(tag) {
		t.Fatalf("%s was tagged although the build failed", tag)
	}
}

// mustTag is the tag ws will give w's image.
func mustTag(t testing.TB, w *buildWorkspace) string {
	t.Helper()
	return imageTag(t, w.dir)
}

func rootfsLayers(t testing.TB, tag string) []string {
	t.Helper()
	return strings.Fields(strings.Trim(strings.TrimSpace(dockerOut(t, "image", "inspect", "--format", "{{range .RootFS.Layers}}{{.}} {{end}}", tag)), "[]"))
}

// A standalone buildkitd (the team's shared builder) builds the same image,
// merging the tool layers; bumping one tool then fetches only that tool
// again, and every other layer keeps its digest.
func TestBuildWithStandaloneBuildKit(t *testing.T) {
	in := needInfra(t)
	bk := needBuildkitd(t)
	w := newBuildWorkspace(t, in)
	exec.Command("docker", "image", "rm", "-f", mustTag(t, w)).Run()
	tag, r := w.build(t, "--builder", bk.Addr)
	if r.code != 0 || !strings.Contains(r.stderr, "(tool layers merged)") {
		t.Fatalf("ws build --builder exited %d:\n%s", r.code, r.stderr)
	}
	out := dockerOut(t, "run", "--rm", "--label", "ws.e2e=1", "--entrypoint", "", "--user", "1000:1000", tag, "sh", "-c", "kubectl version --client && hello && greet")
	for _, want := range []string{`GitVersion:"` + w.kubectl.Version + `"`, "hello v0.1.0 linux/amd64", "greet v1.2.0 linux/amd64"} {
		if !strings.Contains(out, want) {
			t.Fatalf("image output lacks %q:\n%s", want, out)
		}
	}
	before := rootfsLayers(t, tag)

	kubectlReqs, greetReqs := w.server.Requests(w.tools[0], amd64), w.server.Requests(w.tools[2], amd64)
	// A version no earlier run fetched: buildkitd's cache outlives runs.
	bumped := testenv.ScriptTool("hello", fmt.Sprintf("v0.2.%d", time.Now().UnixNano()), amd64)
	w.server.Add(bumped)
	w.tools[1] = bumped
	w.writeLock(t)
	tag2, r := w.build(t, "--builder", bk.Addr)
	if r.code != 0 || tag2 == tag {
		t.Fatalf("build after the bump: exit %d, tag %s (was %s)", r.code, tag2, tag)
	}
	if w.server.Requests(w.tools[0], amd64) != kubectlReqs || w.server.Requests(w.tools[2], amd64) != greetReqs {
		t.Fatal("bumping hello fetched kubectl or greet again")
	}
	if w.server.Requests(bumped, amd64) != 1 {
		t.Fatalf("the bumped hello was fetched %d times, want 1", w.server.Requests(bumped, amd64))
	}
	after := rootfsLayers(t, tag2)
	if len(after) != len(before) {
		t.Fatalf("layer count changed from %d to %d", len(before), len(after))
	}
	var changed []int
	for i := range before {
		if before[i] != after[i] {
			changed = append(changed, i)
		}
	}
	if len(changed) != 1 {
		t.Fatalf("bumping one tool changed layers %v of\n%v\n%v", changed, before, after)
	}
	if out := dockerOut(t, "run", "--rm", "--label", "ws.e2e=1", "--entrypoint", "", tag2, "hello"); !strings.Contains(out, "hello "+bumped.Version) {
		t.Fatalf("bumped image runs %q", out)
	}
}

// ws build --push shares the image through the registry; with the image
// gone locally, ws build pulls it instead of building.
func TestBuildPushThenPullInsteadOfBuilding(t *testing.T) {
	in := needInfra(t)
	w := newBuildWorkspace(t, in, testenv.ScriptTool("shared", fmt.Sprintf("v%d", time.Now().UnixNano()), amd64))
	w.image = in.registry.Addr + "/ws-e2e/shared-tools"
	w.writeLock(t)
	trust(t, w.dir) // image: reaches a registry
	tag, r := w.build(t, "--push", w.image)
	shared := w.image + ":" + strings.TrimPrefix(tag, "ws-tools:")
	if r.code != 0 || !strings.Contains(r.stderr, "pushed "+shared) {
		t.Fatalf("build --push: exit %d:\n%s", r.code, r.stderr)
	}
	if d, err := in.registry.Digest(t.Context(), "ws-e2e/shared-tools", strings.TrimPrefix(tag, "ws-tools:")); err != nil || d == "" {
		t.Fatalf("the registry does not have %s: %v", shared, err)
	}
	dockerOut(t, "image", "rm", "-f", tag, shared)
	requests := w.server.Requests(w.tools[3], amd64)

	tag2, r := w.build(t)
	if r.code != 0 || tag2 != tag || !strings.Contains(r.stderr, "pulled "+shared+" as "+tag+" (nothing built)") {
		t.Fatalf("build with the image in the registry: exit %d, tag %s:\n%s", r.code, tag2, r.stderr)
	}
	if w.server.Requests(w.tools[3], amd64) != requests {
		t.Fatal("the pull fetched tool artifacts: it built instead")
	}
	if out := dockerOut(t, "run", "--rm", "--label", "ws.e2e=1", "--entrypoint", "", tag, "shared"); !strings.Contains(out, "shared v") {
		t.Fatalf("pulled image runs %q", out)
	}
}

// Each failure a user can act on is one line naming its subject, a hint,
// exit 125, and no image tagged.
func TestBuildErrors(t *testing.T) {
	in := needInfra(t)
	t.Run("no Docker daemon", func(t *testing.T) {
		w := newBuildWorkspace(t, in)
		t.Setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
		_, r := w.build(t)
		if r.code != 125 || !strings.Contains(r.stderr, "ws: cannot talk to Docker") || !strings.Contains(r.stderr, "hint: start Docker") {
			t.Fatalf("exit %d:\n%s", r.code, r.stderr)
		}
	})
	t.Run("unreachable URL", func(t *testing.T) {
		// A tool BuildKit has never fetched: cached ones need no download.
		w := newBuildWorkspace(t, in, testenv.ScriptTool("unreachable", fmt.Sprintf("v%d", time.Now().UnixNano()), amd64))
		w.url = "http://127.0.0.1:9" // discard port: nothing listens
		w.writeLock(t)
		_, r := w.build(t)
		if r.code != 125 || !strings.Contains(r.stderr, "ws: download unreachable (linux/amd64) from http://127.0.0.1:9/unreachable/") || !strings.Contains(r.stderr, "hint: ") {
			t.Fatalf("exit %d:\n%s", r.code, r.stderr)
		}
		if imageExists(mustTag(t, w)) {
			t.Fatal("tagged after a failed build")
		}
	})
	t.Run("base image not found", func(t *testing.T) {
		w := newBuildWorkspace(t, in)
		w.base = in.registry.Addr + "/ws-e2e/no-such-image:bookworm@sha256:" + strings.Repeat("0", 64)
		w.writeLock(t)
		_, r := w.build(t)
		if r.code != 125 || !strings.Contains(r.stderr, "ws: base image "+w.base+": not found") || !strings.Contains(r.stderr, "hint: ") {
			t.Fatalf("exit %d:\n%s", r.code, r.stderr)
		}
		if imageExists(mustTag(t, w)) {
			t.Fatal("tagged after a failed build")
		}
	})
}
