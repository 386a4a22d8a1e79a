package app

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// fakeUpstream is GitHub's releases API and a download host in one server.
type fakeUpstream struct {
	t        *testing.T
	mu       sync.Mutex
	releases map[string][]map[string]any // repo -> releases, newest first
	files    map[string][]byte           // path -> content
	srv      *httptest.Server
}

func newFakeUpstream(t *testing.T) *fakeUpstream {
	f := &fakeUpstream{t: t, releases: map[string][]map[string]any{}, files: map[string][]byte{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeUpstream) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if b, ok := f.files[r.URL.Path]; ok {
		w.Write(b)
		return
	}
	for repo, rels := range f.releases {
		prefix := "/api/repos/" + repo + "/releases"
		switch {
		case r.URL.Path == prefix:
			json.NewEncoder(w).Encode(rels)
			return
		case strings.HasPrefix(r.URL.Path, prefix+"/tags/"):
			tag := strings.TrimPrefix(r.URL.Path, prefix+"/tags/")
			for _, rel := range rels {
				if rel["tag_name"] == tag {
					json.NewEncoder(w).Encode(rel)
					return
				}
			}
		}
	}
	w.WriteHeader(http.StatusNotFound)
	w.Write([]byte(`{"message":"Not Found"}`))
}

// release publishes tag with one artifact per platform; withDigests puts
// GitHub's asset digests in the API answer.
func (f *fakeUpstream) release(repo, tag string, published time.Time, withDigests bool, artifacts map[string][]byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var assets []map[string]any
	for name, b := range artifacts {
		f.files["/dl/"+repo+"/"+tag+"/"+name] = b
		a := map[string]any{"name": name}
		if withDigests {
			a["digest"] = "sha256:" + sum(b)
		}
		assets = append(assets, a)
	}
	rel := map[string]any{"tag_name": tag, "draft": false, "prerelease": strings.Contains(tag, "-"),
		"published_at": published.UTC().Format(time.RFC3339), "assets": assets}
	f.releases[repo] = append([]map[string]any{rel}, f.releases[repo]...)
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func tarball(name string, content []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(content)), Typeflag: tar.TypeReg})
	tw.Write(content)
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

func greetArtifacts(version string) map[string][]byte {
	return map[string][]byte{
		"greet_linux_amd64.tar.gz": tarball("greet", []byte("greet "+version+" amd64")),
		"greet_linux_arm64.tar.gz": tarball("greet", []byte("greet "+version+" arm64")),
	}
}

func helloArtifacts(version string) map[string][]byte {
	return map[string][]byte{
		"hello-linux-amd64": []byte("hello " + version + " amd64"),
		"hello-linux-arm64": []byte("hello " + version + " arm64"),
	}
}

// bumpWorkspace writes a lock pinning greet v1.0.0 and hello v1.0.0 as
// published by f, with comments that must survive.
func bumpWorkspace(t *testing.T, f *fakeUpstream) string {
	t.Helper()
	dir := t.TempDir()
	g, h := greetArtifacts("v1.0.0"), helloArtifacts("v1.0.0")
	text := fmt.Sprintf(`# team tools; keep this comment
format: 1
base:
  image: debian:bookworm-slim@sha256:%[1]s
  packages: [bash]
platforms: [linux/amd64, linux/arm64]
tools:
  greet:  # the tarball one
    source: github:acme/greet
    version: v1.0.0
    url: %[2]s/dl/acme/greet/{{.Version}}/greet_{{.OS}}_{{.Arch}}.tar.gz
    extract: greet
    sha256:
      linux/amd64: %[3]s  # checked by hand
      linux/arm64: %[4]s
  hello:
    source: github:acme/hello
    version: "v1.0.0"
    url: %[2]s/dl/acme/hello/{{.Version}}/hello-{{.OS}}-{{.Arch}}
    checksums:
      url: %[2]s/dl/acme/hello/{{.Version}}/SHA256SUMS
      signature: %[2]s/dl/acme/hello/{{.Version}}/SHA256SUMS.asc
      key: keys/hello.asc
    sha256:
      linux/amd64: %[5]s
      linux/arm64: %[6]s
`, strings.Repeat("a", 64), f.srv.URL, sum(g["greet_linux_amd64.tar.gz"]), sum(g["greet_linux_arm64.tar.gz"]),
		sum(h["hello-linux-amd64"]), sum(h["hello-linux-arm64"]))
	if err := os.WriteFile(filepath.Join(dir, "tools.lock"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// signingKey makes an OpenPGP key and writes its public half to path.
func signingKey(t *testing.T, path string) *openpgp.Entity {
	t.Helper()
	e, err := openpgp.NewEntity("hello release", "", "release@example.invalid", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		t.Fatal(err)
	}
	if path != "" {
		os.MkdirAll(filepath.Dir(path), 0o755)
		var buf bytes.Buffer
		w, err := armor.Encode(&buf, openpgp.PublicKeyType, nil)
		if err != nil {
			t.Fatal(err)
		}
		e.Serialize(w)
		w.Close()
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// publishSigned adds hello's SHA256SUMS for tag, signed by signer.
func (f *fakeUpstream) publishSigned(t *testing.T, tag string, signer *openpgp.Entity, artifacts map[string][]byte) {
	t.Helper()
	var sums bytes.Buffer
	for name, b := range artifacts {
		fmt.Fprintf(&sums, "%s  %s\n", sum(b), name)
	}
	var sig bytes.Buffer
	if err := openpgp.ArmoredDetachSign(&sig, signer, bytes.NewReader(sums.Bytes()), nil); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.files["/dl/acme/hello/"+tag+"/SHA256SUMS"] = sums.Bytes()
	f.files["/dl/acme/hello/"+tag+"/SHA256SUMS.asc"] = sig.Bytes()
}

func runBump(t *testing.T, f *fakeUpstream, dir string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	e, out, errb := testEnv(dir)
	argv := append([]string{"ws", "lock", "bump", "--github-api", f.srv.URL + "/api"}, args...)
	code = run(context.Background(), e, argv)
	return code, out.String(), errb.String()
}

func readLock(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "tools.lock"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestBumpWithAssetDigests(t *testing.T) {
	t.Parallel()
	f := newFakeUpstream(t)
	old := time.Now().Add(-30 * 24 * time.Hour)
	f.release("acme/greet", "v1.0.0", old, true, greetArtifacts("v1.0.0"))
	f.release("acme/greet", "v1.1.0", old.Add(time.Hour), true, greetArtifacts("v1.1.0"))
	f.release("acme/greet", "v1.2.0-rc.1", old.Add(2*time.Hour), true, greetArtifacts("v1.2.0-rc.1"))
	dir := bumpWorkspace(t, f)
	before := readLock(t, dir)

	code, _, stderr := runBump(t, f, dir, "greet")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	newArts := greetArtifacts("v1.1.0")
	want := strings.NewReplacer(
		"version: v1.0.0\n    url: "+f.srv.URL+"/dl/acme/greet", "version: v1.1.0\n    url: "+f.srv.URL+"/dl/acme/greet",
		sum(greetArtifacts("v1.0.0")["greet_linux_amd64.tar.gz"]), sum(newArts["greet_linux_amd64.tar.gz"]),
		sum(greetArtifacts("v1.0.0")["greet_linux_arm64.tar.gz"]), sum(newArts["greet_linux_arm64.tar.gz"]),
	).Replace(before)
	if got := readLock(t, dir); got != want {
		t.Fatalf("lock after bump:\n%s\nwant (only greet's version and digests changed):\n%s", got, want)
	}
	if !strings.Contains(stderr, "greet: v1.0.0 -> v1.1.0 (checksums: GitHub asset digest; every artifact downloaded and checked)") {
		t.Fatalf("stderr:\n%s", stderr)
	}

	// Bumping again finds nothing newer (the rc is a pre-release): same bytes.
	code, _, stderr = runBump(t, f, dir, "greet")
	if code != 0 || readLock(t, dir) != want || !strings.Contains(stderr, "tools.lock unchanged") {
		t.Fatalf("second bump: exit %d, changed=%v\n%s", code, readLock(t, dir) != want, stderr)
	}
}

func TestBumpWithSignedChecksumFile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		signer  func(pinned *openpgp.Entity) *openpgp.Entity
		corrupt bool
		want    string
	}{
		{"good signature", func(p *openpgp.Entity) *openpgp.Entity { return p }, false, ""},
		{"signature by another key", func(*openpgp.Entity) *openpgp.Entity { return signingKey(t, "") }, false,
			`does not verify with the key pinned in tools.lock: signed by a key other than the pinned one`},
		{"bad signature", func(p *openpgp.Entity) *openpgp.Entity { return p }, true,
			`does not verify with the key pinned in tools.lock: openpgp: invalid signature`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeUpstream(t)
			dir := bumpWorkspace(t, f)
			pinned := signingKey(t, filepath.Join(dir, "keys", "hello.asc"))
			old := time.Now().Add(-30 * 24 * time.Hour)
			f.release("acme/hello", "v1.0.0", old, false, helloArtifacts("v1.0.0"))
			f.release("acme/hello", "v2.0.0", old, false, helloArtifacts("v2.0.0"))
			f.publishSigned(t, "v2.0.0", tt.signer(pinned), helloArtifacts("v2.0.0"))
			if tt.corrupt {
				f.files["/dl/acme/hello/v2.0.0/SHA256SUMS"] = append(f.files["/dl/acme/hello/v2.0.0/SHA256SUMS"], '\n')
			}
			before := readLock(t, dir)
			code, _, stderr := runBump(t, f, dir, "hello")
			if tt.want == "" {
				if code != 0 || !strings.Contains(stderr, "hello: v1.0.0 -> v2.0.0 (checksums: signed checksum file") {
					t.Fatalf("exit %d:\n%s", code, stderr)
				}
				if !strings.Contains(readLock(t, dir), sum(helloArtifacts("v2.0.0")["hello-linux-arm64"])) {
					t.Fatal("new digest not written")
				}
				return
			}
			if code == 0 || !strings.Contains(stderr, `ws: tool "hello": signature of `) || !strings.Contains(stderr, tt.want) || !strings.Contains(stderr, "hint: ") {
				t.Fatalf("exit %d, want failure with %q:\n%s", code, tt.want, stderr)
			}
			if readLock(t, dir) != before {
				t.Fatal("a failed bump changed tools.lock")
			}
		})
	}
}

func TestBumpRefusesArtifactThatDoesNotMatchPublishedDigest(t *testing.T) {
	t.Parallel()
	f := newFakeUpstream(t)
	old := time.Now().Add(-30 * 24 * time.Hour)
	f.release("acme/greet", "v1.1.0", old, true, greetArtifacts("v1.1.0"))
	// The download host serves other bytes than GitHub's digest says.
	f.files["/dl/acme/greet/v1.1.0/greet_linux_arm64.tar.gz"] = tarball("greet", []byte("tampered"))
	dir := bumpWorkspace(t, f)
	before := readLock(t, dir)
	code, _, stderr := runBump(t, f, dir, "greet")
	if code != exitWsFailed || !strings.Contains(stderr, "ws: checksum mismatch for greet (linux/arm64)") {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	if readLock(t, dir) != before {
		t.Fatal("a failed bump changed tools.lock")
	}
}

func TestBumpMinAgeSkipsFreshRelease(t *testing.T) {
	t.Parallel()
	f := newFakeUpstream(t)
	f.release("acme/greet", "v1.1.0", time.Now().Add(-10*24*time.Hour), true, greetArtifacts("v1.1.0"))
	f.release("acme/greet", "v1.2.0", time.Now().Add(-2*24*time.Hour), true, greetArtifacts("v1.2.0"))
	dir := bumpWorkspace(t, f)
	code, _, stderr := runBump(t, f, dir, "--min-age", "7d", "acme/greet")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "greet: v1.0.0 -> v1.1.0") || !strings.Contains(stderr, "skipped v1.2.0: published 48h0m0s ago, younger than --min-age 168h0m0s") {
		t.Fatalf("stderr:\n%s", stderr)
	}
	if !strings.Contains(readLock(t, dir), "version: v1.1.0") {
		t.Fatal("v1.1.0 not pinned")
	}
}

func TestBumpDryRunPrintsDiffAndWritesNothing(t *testing.T) {
	t.Parallel()
	f := newFakeUpstream(t)
	f.release("acme/greet", "v1.3.0", time.Now().Add(-24*time.Hour), true, greetArtifacts("v1.3.0"))
	dir := bumpWorkspace(t, f)
	before := readLock(t, dir)
	code, stdout, stderr := runBump(t, f, dir, "greet", "--to", "1.3.0", "--dry-run")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	for _, want := range []string{
		"--- a/tools.lock\n+++ b/tools.lock\n",
		"-    version: v1.0.0\n+    version: v1.3.0\n",
		"+      linux/amd64: " + sum(greetArtifacts("v1.3.0")["greet_linux_amd64.tar.gz"]) + "  # checked by hand\n",
	} {
		if !strings.Contains(stdout, want) {
			t.Fatalf("diff lacks %q:\n%s", want, stdout)
		}
	}
	if readLock(t, dir) != before {
		t.Fatal("--dry-run wrote tools.lock")
	}
}

func TestBumpJSON(t *testing.T) {
	t.Parallel()
	f := newFakeUpstream(t)
	f.release("acme/greet", "v1.1.0", time.Now().Add(-24*time.Hour), true, greetArtifacts("v1.1.0"))
	dir := bumpWorkspace(t, f)
	code, stdout, stderr := runBump(t, f, dir, "--json", "greet")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	var out bumpJSON
	if err := json.Unmarshal([]byte(stdout), &out); err != nil {
		t.Fatal(err)
	}
	if !out.Written || len(out.Changes) != 1 || out.Changes[0].To != "v1.1.0" || len(out.Changes[0].Checksums) != 2 || !out.Changes[0].Checksums[1].Verified {
		t.Fatalf("json: %+v", out)
	}
}

func TestBumpUsageErrors(t *testing.T) {
	t.Parallel()
	f := newFakeUpstream(t)
	dir := bumpWorkspace(t, f)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"nosuch"}, `ws: no tool "nosuch" in tools.lock (tools: greet, hello; or base, packages)`},
		{[]string{"--to", "v2", "greet", "hello"}, "ws: --to pins one tool: name exactly one"},
		{[]string{"--min-age", "soon", "greet"}, `ws: --min-age "soon" is not an age`},
	} {
		code, _, stderr := runBump(t, f, dir, tt.args...)
		if code != exitWsFailed || !strings.Contains(stderr, tt.want) || !strings.Contains(stderr, "hint: ") {
			t.Errorf("%v: exit %d:\n%s", tt.args, code, stderr)
		}
	}
}

// The bot flow: Renovate moves only the version (its regex manager cannot
// compute checksums), then runs `ws lock bump --to NEW DEPNAME` as a
// post-upgrade task, which refreshes every checksum for that version.
func TestBumpRefreshesChecksumsAfterRenovate(t *testing.T) {
	t.Parallel()
	f := newFakeUpstream(t)
	f.release("acme/greet", "v1.4.0", time.Now().Add(-24*time.Hour), true, greetArtifacts("v1.4.0"))
	f.release("acme/hello", "v1.0.0", time.Now().Add(-24*time.Hour), true, helloArtifacts("v1.0.0"))
	dir := bumpWorkspace(t, f)
	renovated := strings.Replace(readLock(t, dir), "version: v1.0.0\n    url: "+f.srv.URL+"/dl/acme/greet", "version: v1.4.0\n    url: "+f.srv.URL+"/dl/acme/greet", 1)
	os.WriteFile(filepath.Join(dir, "tools.lock"), []byte(renovated), 0o644)

	e, _, stderr := testEnv(dir)
	if code := run(context.Background(), e, []string{"ws", "lock", "verify"}); code != exitCheckFailed {
		t.Fatalf("verify of a Renovate-only bump exited %d, want %d (stale checksums):\n%s", code, exitCheckFailed, stderr)
	}
	// The command Renovate runs, as testdata/renovate/renovate.json and the
	// README give it.
	raw, err := os.ReadFile("../../testdata/renovate/renovate.json")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		PostUpgradeTasks struct{ Commands []string } `json:"postUpgradeTasks"`
	}
	if err := json.Unmarshal(raw, &cfg); err != nil || len(cfg.PostUpgradeTasks.Commands) != 1 {
		t.Fatalf("renovate.json postUpgradeTasks: %v", err)
	}
	command := strings.NewReplacer("{{{newVersion}}}", "v1.4.0", "{{{depName}}}", "acme/greet").Replace(cfg.PostUpgradeTasks.Commands[0])
	args := strings.Fields(command)
	if len(args) < 3 || args[0] != "ws" || args[1] != "lock" || args[2] != "bump" {
		t.Fatalf("post-upgrade command %q is not ws lock bump", command)
	}
	code, _, errText := runBump(t, f, dir, args[3:]...)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, errText)
	}
	e, _, stderr = testEnv(dir)
	if code := run(context.Background(), e, []string{"ws", "lock", "verify"}); code != 0 {
		t.Fatalf("verify after the refresh exited %d:\n%s", code, stderr)
	}
}
