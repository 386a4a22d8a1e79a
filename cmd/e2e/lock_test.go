//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/ws-tools/ws/cmd/e2e/testenv"
)

// The harness's base image is in the local registry, pinned by digest, and
// Docker pulls and runs it by that digest, as it will for users' locks.
func TestBaseImagePinnedInLocalRegistry(t *testing.T) {
	in := needInfra(t)
	if !strings.Contains(in.base, "@sha256:") || !strings.HasPrefix(in.base, in.registry.Addr+"/") {
		t.Fatalf("base %q is not a digest-pinned reference into %s", in.base, in.registry.Addr)
	}
	if out, err := exec.Command("docker", "pull", in.base).CombinedOutput(); err != nil {
		t.Fatalf("docker pull %s: %v\n%s", in.base, err, out)
	}
	out, err := exec.Command("docker", "run", "--rm", "--label", "ws.e2e=1", in.base, "cat", "/etc/os-release").CombinedOutput()
	if err != nil {
		t.Fatalf("docker run: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "bookworm") {
		t.Fatalf("base is not Debian bookworm:\n%s", out)
	}
}

// ws lock verify downloads every artifact from the local artifact server,
// Debian's real kubectl among them, and passes; one changed byte in one
// artifact fails it with a message naming tool, platform, URL and both
// digests.
func TestLockVerify(t *testing.T) {
	in := needInfra(t)
	kubectl, err := os.ReadFile(in.kubectl.Path)
	if err != nil {
		t.Fatal(err)
	}
	greet := testenv.ArchiveTool("greet", "v1.2.0", amd64)
	tools := []testenv.Tool{
		testenv.BinaryTool("kubectl", in.kubectl.Version, amd64, kubectl),
		testenv.ScriptTool("hello", "v0.1.0", amd64),
		greet,
	}
	server, url := artifactServer(t, tools...)
	ws := t.TempDir()
	spec := testenv.LockSpec{Base: in.base, Packages: testenv.DefaultPackages, Platforms: []string{amd64}, Server: url, Tools: tools}
	if err := spec.Write(ws); err != nil {
		t.Fatal(err)
	}

	if r := runWs(t, ws, "lock", "verify"); r.code != 0 || !strings.Contains(r.stderr, "verified 3 artifacts") {
		t.Fatalf("verify of a good lock: exit %d\n%s", r.code, r.stderr)
	}
	if server.Requests(tools[0], amd64) != 1 {
		t.Fatalf("kubectl was not downloaded exactly once")
	}

	server.Corrupt(greet, amd64)
	r := runWs(t, ws, "lock", "verify")
	if r.code != 1 {
		t.Fatalf("verify of a corrupted artifact exited %d, want 1", r.code)
	}
	badURL := fmt.Sprintf("%s/greet/v1.2.0/linux-amd64/greet.tar.gz", url)
	want := fmt.Sprintf("ws: checksum mismatch for greet (linux/amd64) from %s: tools.lock pins sha256:%s, download is sha256:",
		badURL, greet.SHA256(amd64))
	if !strings.Contains(r.stderr, want) {
		t.Fatalf("stderr lacks\n  %s\ngot:\n%s", want, r.stderr)
	}
	if !strings.Contains(r.stderr, "hint: ") || !strings.Contains(r.stderr, "1 of 3 artifacts failed verification") {
		t.Fatalf("no hint or summary:\n%s", r.stderr)
	}
	if r.stdout != "" {
		t.Fatalf("stdout should stay clean, got %q", r.stdout)
	}
}

// Bad input in a lock file is reported by the binary as tools.lock:LINE:COL
// with a hint and exit code 125, both by verify --offline and any command.
func TestLockErrorsFromTheBinary(t *testing.T) {
	ws := t.TempDir()
	lockText := `format: 1
base:
  image: debian:bookworm
  packages: [bash]
platforms: [linux/amd64]
tools:
  hello:
    version: v1
    url: https://example.invalid/{{.Version}}/hello
    sha256:
      linux/amd64: NOTHEX
`
	if err := os.WriteFile(ws+"/tools.lock", []byte(lockText), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runWs(t, ws, "lock", "verify", "--offline")
	for _, want := range []string{
		`ws: tools.lock:3:10: base image "debian:bookworm" is not pinned by digest`,
		`ws: tools.lock:11:20: tool "hello": sha256 for linux/amd64 must be 64 lowercase hex digits, got "NOTHEX"`,
		"hint: fix the lines above",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q", want)
		}
	}
	if r.code != 125 {
		t.Fatalf("exit %d, want 125", r.code)
	}
}
