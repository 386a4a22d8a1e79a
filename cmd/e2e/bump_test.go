//go:build e2e

package e2e

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ws-tools/ws/cmd/e2e/testenv"
)

// A bump killed with SIGKILL while it downloads leaves tools.lock exactly as
// it was, and no temporary file beside it.
func TestLockBumpKilledMidRunLeavesLockIntact(t *testing.T) {
	old := testenv.ScriptTool("hello", "v1.0.0", amd64)
	next := testenv.ScriptTool("hello", "v1.1.0", amd64)
	artifacts := testenv.NewArtifactServer(old, next)
	downloading := make(chan struct{}, 1)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/api/repos/acme/hello/releases":
			json.NewEncoder(w).Encode([]map[string]any{{"tag_name": "v1.1.0", "published_at": time.Now().Add(-48 * time.Hour).Format(time.RFC3339)}})
		case strings.Contains(r.URL.Path, "v1.1.0"):
			select { // hang the download until the test is over
			case downloading <- struct{}{}:
			default:
			}
			<-release
		default:
			artifacts.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs first: lets the hung handler end
	dir := t.TempDir()
	spec := testenv.LockSpec{Base: "debian:bookworm@sha256:" + strings.Repeat("a", 64), Packages: testenv.DefaultPackages, Platforms: []string{amd64}, Server: srv.URL, Tools: []testenv.Tool{old}}
	text, err := spec.Render()
	if err != nil {
		t.Fatal(err)
	}
	text = strings.Replace(text, "  hello:\n", "  hello:\n    source: github:acme/hello\n", 1)
	lockPath := filepath.Join(dir, "tools.lock")
	if err := os.WriteFile(lockPath, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(wsBin, "lock", "bump", "--github-api", srv.URL+"/api", "hello")
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case <-downloading:
	case err := <-exited:
		t.Fatalf("bump ended (%v) before downloading the new artifact:\n%s", err, stderr.String())
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-exited
		t.Fatalf("bump never downloaded the new artifact:\n%s", stderr.String())
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-exited
	after, err := os.ReadFile(lockPath)
	if err != nil {
		t.Fatal(err)
	}
	if string(after) != text {
		t.Fatalf("tools.lock changed by a killed bump:\n%s", after)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("files left beside tools.lock: %v", entries)
	}
}

// ws lock bump base moves the base image to the digest its tag points at
// in the (local) registry now, and is a no-op when nothing moved.
func TestLockBumpBaseFromLocalRegistry(t *testing.T) {
	in := needInfra(t)
	repo := fmt.Sprintf("ws-e2e/bump-base-%d", time.Now().UnixNano())
	ref := in.registry.Addr + "/" + repo + ":stable"
	push := func(content string) string { return pushMarkerImage(t, in, repo, content) }
	first := push("one")
	dir := t.TempDir()
	lockText := fmt.Sprintf("format: 1\nbase:\n  # the team's base\n  image: %s@%s  # pinned\n  packages: [bash]\nplatforms: [linux/amd64]\ntools: {}\n", ref, first)
	lockPath := filepath.Join(dir, "tools.lock")
	if err := os.WriteFile(lockPath, []byte(lockText), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := runWs(t, dir, "lock", "bump", "base"); r.code != 0 {
		t.Fatalf("bump of an unmoved base exited %d", r.code)
	}
	if b, _ := os.ReadFile(lockPath); string(b) != lockText {
		t.Fatalf("unmoved base rewrote the lock:\n%s", b)
	}

	second := push("two")
	if second == first {
		t.Fatal("the second push did not move the tag")
	}
	r := runWs(t, dir, "lock", "bump", "base")
	if r.code != 0 {
		t.Fatalf("bump base exited %d", r.code)
	}
	want := strings.Replace(lockText, first, second, 1)
	if b, _ := os.ReadFile(lockPath); string(b) != want {
		t.Fatalf("lock after bump base:\n%s\nwant:\n%s", b, want)
	}
}

// pushMarkerImage pushes a one-file image as REGISTRY/repo:stable and
// returns its digest.
func pushMarkerImage(t testing.TB, in *infra, repo, content string) string {
	t.Helper()
	ref := in.registry.Addr + "/" + repo + ":stable"
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "etc/marker", Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg})
	tw.Write([]byte(content))
	tw.Close()
	imp := exec.Command("docker", "import", "-", ref)
	imp.Stdin = &buf
	if out, err := imp.CombinedOutput(); err != nil {
		t.Fatalf("docker import: %v\n%s", err, out)
	}
	if out, err := exec.Command("docker", "push", ref).CombinedOutput(); err != nil {
		t.Fatalf("docker push: %v\n%s", err, out)
	}
	exec.Command("docker", "image", "rm", ref).Run()
	d, err := in.registry.Digest(t.Context(), repo, "stable")
	if err != nil || d == "" {
		t.Fatalf("digest of %s: %q %v", ref, d, err)
	}
	return d
}
