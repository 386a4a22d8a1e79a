package app

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ws-tools/ws/images/lock"
)

// release is one upstream release as testdata/releases.json records it.
type release struct {
	Repo   string   `json:"repo"`
	Tag    string   `json:"tag"`
	Layout []string `json:"layout"`
	Zip    bool     `json:"zip"`
	Raw    bool     `json:"raw"`
	Assets []string `json:"assets"`
	Others []struct {
		Tag string `json:"tag"`
	} `json:"others"`
	Want struct {
		Name, URL, Extract, Checksums string
		TagInURL                      string            `json:"tag_in_url"`
		Assets                        map[string]string `json:"assets"`
	} `json:"want"`
}

func loadReleases(t *testing.T) []release {
	t.Helper()
	b, err := os.ReadFile("testdata/releases.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct{ Projects []release }
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	return d.Projects
}

// fakeGitHub serves releases the way GitHub's API and download host do:
// the release JSON (with asset digests), and each asset's bytes, made
// with the layout the release really has.
type fakeGitHub struct {
	srv       *httptest.Server
	files     map[string][]byte // escaped download path → bytes
	rels      map[string][]map[string]any
	downloads atomic.Int32
	// badDigest makes the API publish a wrong digest for this asset.
	badDigest string
	down      bool
}

func newFakeGitHub(t *testing.T, rels []release) *fakeGitHub {
	t.Helper()
	f := &fakeGitHub{files: map[string][]byte{}, rels: map[string][]map[string]any{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	for _, r := range rels {
		var assets []map[string]any
		for _, name := range r.Assets {
			p := "/" + r.Repo + "/releases/download/" + url.PathEscape(r.Tag) + "/" + name
			body := artifact(r, name)
			f.files[p] = body
			sum := sha256.Sum256(body)
			assets = append(assets, map[string]any{"name": name, "browser_download_url": f.srv.URL + p, "digest": "sha256:" + hex.EncodeToString(sum[:])})
		}
		list := []map[string]any{{"tag_name": r.Tag, "assets": assets, "published_at": "2026-11-01T00:00:00Z"}}
		for _, o := range r.Others {
			list = append(list, map[string]any{"tag_name": o.Tag, "assets": []any{}, "published_at": "2026-11-02T00:00:00Z"})
		}
		f.rels[r.Repo] = list
	}
	return f
}

func (f *fakeGitHub) serve(w http.ResponseWriter, r *http.Request) {
	if f.down {
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
		return
	}
	p := r.URL.EscapedPath()
	if rest, ok := strings.CutPrefix(p, "/api/repos/"); ok {
		parts := strings.SplitN(rest, "/", 4) // owner, repo, "releases", ["tags/TAG"]
		rels := f.rels[parts[0]+"/"+parts[1]]
		if len(parts) == 4 {
			tag, _ := url.PathUnescape(strings.TrimPrefix(parts[3], "tags/"))
			for _, rel := range rels {
				if rel["tag_name"] == tag {
					f.publish(w, rel)
					return
				}
			}
			http.NotFound(w, r)
			return
		}
		f.publish(w, rels)
		return
	}
	if b, ok := f.files[p]; ok {
		f.downloads.Add(1)
		w.Write(b)
		return
	}
	http.NotFound(w, r)
}

func (f *fakeGitHub) publish(w http.ResponseWriter, v any) {
	b, _ := json.Marshal(v)
	if f.badDigest != "" {
		var rels []map[string]any
		if json.Unmarshal(b, &rels) != nil {
			var one map[string]any
			json.Unmarshal(b, &one)
			rels = []map[string]any{one}
		}
		for _, rel := range rels {
			for _, a := range rel["assets"].([]any) {
				if am := a.(map[string]any); am["name"] == f.badDigest {
					am["digest"] = "sha256:" + strings.Repeat("0", 64)
				}
			}
		}
		if strings.HasPrefix(string(b), "[") {
			b, _ = json.Marshal(rels)
		} else {
			b, _ = json.Marshal(rels[0])
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

// artifact is an asset's bytes: a raw script, or an archive with the
// release's layout ("*" marks an executable, {stem} the asset's name
// without its extension).
func artifact(r release, name string) []byte {
	script := []byte("#!/bin/sh\necho " + name + "\n")
	stem := strings.TrimSuffix(strings.TrimSuffix(name, ".tar.gz"), ".zip")
	switch {
	case strings.HasSuffix(name, ".tar.gz"):
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		tw := tar.NewWriter(zw)
		for _, l := range r.Layout {
			mode := int64(0o644)
			if strings.HasPrefix(l, "*") {
				mode, l = 0o755, l[1:]
			}
			tw.WriteHeader(&tar.Header{Name: strings.ReplaceAll(l, "{stem}", stem), Mode: mode, Size: int64(len(script)), Typeflag: tar.TypeReg})
			tw.Write(script)
		}
		tw.Close()
		zw.Close()
		return buf.Bytes()
	case strings.HasSuffix(name, ".zip"):
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		for _, l := range r.Layout {
			mode := os.FileMode(0o644)
			if strings.HasPrefix(l, "*") {
				mode, l = 0o755, l[1:]
			}
			h := &zip.FileHeader{Name: strings.ReplaceAll(l, "{stem}", stem), Method: zip.Deflate}
			h.SetMode(mode)
			w, _ := zw.CreateHeader(h)
			w.Write(script)
		}
		zw.Close()
		return buf.Bytes()
	}
	return append(script, []byte(name)...) // raw binaries, checksum files, packages
}

// addWorkspace is a lock with one tool served by the fake, for ws lock add
// to add to.
func addWorkspace(t *testing.T, f *fakeGitHub) (dir string) {
	t.Helper()
	dir = t.TempDir()
	body := []byte("#!/bin/sh\necho existing\n")
	var shas []string
	for _, arch := range []string{"amd64", "arm64"} {
		p := "/existing/v1/linux/" + arch + "/existing"
		f.files[p] = body
		sum := sha256.Sum256(body)
		shas = append(shas, hex.EncodeToString(sum[:]))
	}
	text := fmt.Sprintf(`# a comment that must survive
format: 1
base:
  image: registry.example/debian:bookworm@sha256:%s
platforms: [linux/amd64, linux/arm64]
tools:
  existing:
    version: v1
    url: %s/existing/{{.Version}}/{{.OS}}/{{.Arch}}/existing
    sha256:
      linux/amd64: %s
      linux/arm64: %s
`, strings.Repeat("a", 64), f.srv.URL, shas[0], shas[1])
	if err := os.WriteFile(filepath.Join(dir, "tools.lock"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestLockAddFromRealReleaseShapes(t *testing.T) {
	t.Parallel()
	rels := loadReleases(t)
	if len(rels) < 8 {
		t.Fatalf("want at least eight upstream projects, have %d", len(rels))
	}
	f := newFakeGitHub(t, rels)
	for _, r := range rels {
		t.Run(r.Repo, func(t *testing.T) {
			t.Parallel()
			dir := addWorkspace(t, f)
			before, _ := os.ReadFile(filepath.Join(dir, "tools.lock"))
			e, _, stderr := testEnv(dir)
			if code := run(context.Background(), e, []string{"ws", "lock", "add", "github:" + r.Repo, "--github-api", f.srv.URL + "/api"}); code != 0 {
				t.Fatalf("ws lock add exited %d:\n%s", code, stderr)
			}
			after, _ := os.ReadFile(filepath.Join(dir, "tools.lock"))
			if !bytes.HasPrefix(after, before) {
				t.Fatalf("the rest of tools.lock changed:\n%s", after)
			}
			l, err := lock.Parse(lock.FileName, after)
			if err != nil {
				t.Fatal(err)
			}
			tool := l.Tool(r.Want.Name)
			if tool == nil {
				t.Fatalf("no tool %q in:\n%s", r.Want.Name, after)
			}
			tagExpr := r.Want.TagInURL
			if tagExpr == "" {
				tagExpr = "{{.Version}}"
			}
			if want := f.srv.URL + "/" + r.Repo + "/releases/download/" + tagExpr + "/" + r.Want.URL; tool.URL != want || tool.Extract != r.Want.Extract || tool.Version != r.Tag {
				t.Fatalf("url %q extract %q version %q\nwant %q extract %q version %q", tool.URL, tool.Extract, tool.Version, want, r.Want.Extract, r.Tag)
			}
			for _, p := range l.Platforms {
				a, err := tool.Artifact(p)
				if err != nil {
					t.Fatal(err)
				}
				if got := path.Base(a.URL); got != r.Want.Assets[p.String()] {
					t.Errorf("%s: renders %s, the real asset is %s", p, got, r.Want.Assets[p.String()])
				}
			}
			if (tool.Checksums != nil) != (r.Want.Checksums != "") || (tool.Checksums != nil && path.Base(tool.Checksums.URL) != r.Want.Checksums) {
				t.Errorf("checksums: %+v, want the release's %q", tool.Checksums, r.Want.Checksums)
			}
			e, _, stderr = testEnv(dir)
			if code := run(context.Background(), e, []string{"ws", "lock", "verify"}); code != 0 {
				t.Fatalf("ws lock verify exited %d:\n%s", code, stderr)
			}
			e, _, stderr = testEnv(dir)
			if code := run(context.Background(), e, []string{"ws", "lock", "remove", r.Want.Name}); code != 0 {
				t.Fatalf("ws lock remove exited %d:\n%s", code, stderr)
			}
			if back, _ := os.ReadFile(filepath.Join(dir, "tools.lock")); !bytes.Equal(back, before) {
				t.Fatalf("add then remove is not byte-identical:\n%s", back)
			}
		})
	}
}

// Ambiguity, a missing platform and failures leave tools.lock as it was.
func TestLockAddRefusals(t *testing.T) {
	t.Parallel()
	rels := []release{
		{Repo: "acme/twins", Tag: "v1.0.0", Layout: []string{"*twins"}, Assets: []string{
			"twins_linux_amd64.tar.gz", "twins-cli_linux_amd64.tar.gz", "twins_linux_arm64.tar.gz", "twins-cli_linux_arm64.tar.gz"}},
		{Repo: "acme/amd64only", Tag: "v2.0.0", Layout: []string{"*amd64only"}, Assets: []string{
			"amd64only_linux_amd64.tar.gz", "amd64only_darwin_arm64.tar.gz", "checksums.txt"}},
		{Repo: "acme/tampered", Tag: "v3.0.0", Layout: []string{"*tampered"}, Assets: []string{
			"tampered_linux_amd64.tar.gz", "tampered_linux_arm64.tar.gz"}},
	}
	tests := []struct {
		name, source string
		args         []string
		setup        func(f *fakeGitHub)
		want         []string
	}{
		{"two assets fit", "github:acme/twins", nil, nil, []string{"2 assets fit linux/amd64", "twins_linux_amd64.tar.gz, twins-cli_linux_amd64.tar.gz", "hint: pick with --asset"}},
		{"no linux/arm64 asset", "github:acme/amd64only", nil, nil, []string{"no asset for linux/arm64", "amd64only_linux_amd64.tar.gz, amd64only_darwin_arm64.tar.gz"}},
		{"wrong published digest", "github:acme/tampered", nil, func(f *fakeGitHub) { f.badDigest = "tampered_linux_arm64.tar.gz" }, []string{"checksum mismatch", "tampered_linux_arm64.tar.gz"}},
		{"unreachable API", "github:acme/twins", nil, func(f *fakeGitHub) { f.down = true }, []string{"503"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeGitHub(t, rels)
			if tt.setup != nil {
				tt.setup(f)
			}
			dir := addWorkspace(t, f)
			before, _ := os.ReadFile(filepath.Join(dir, "tools.lock"))
			e, _, stderr := testEnv(dir)
			code := run(context.Background(), e, append([]string{"ws", "lock", "add", tt.source, "--github-api", f.srv.URL + "/api"}, tt.args...))
			if code != exitWsFailed {
				t.Fatalf("exit %d, want %d:\n%s", code, exitWsFailed, stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			if after, _ := os.ReadFile(filepath.Join(dir, "tools.lock")); !bytes.Equal(after, before) {
				t.Fatalf("tools.lock changed:\n%s", after)
			}
		})
	}
	// --asset settles the twins.
	f := newFakeGitHub(t, rels)
	dir := addWorkspace(t, f)
	e, _, stderr := testEnv(dir)
	if code := run(context.Background(), e, []string{"ws", "lock", "add", "github:acme/twins", "--asset", "twins-cli_*", "--name", "twins", "--github-api", f.srv.URL + "/api"}); code != 0 {
		t.Fatalf("--asset: exit %d\n%s", code, stderr)
	}
}

// Outside GitHub: a URL template and a version, each platform downloaded
// once and pinned.
func TestLockAddFromURL(t *testing.T) {
	t.Parallel()
	rel := release{Repo: "hashicorp/terraform", Tag: "v1.9.8", Layout: []string{"LICENSE.txt", "*terraform"}}
	f := newFakeGitHub(t, nil)
	for _, arch := range []string{"amd64", "arm64"} {
		name := "terraform_1.9.8_linux_" + arch + ".tar.gz"
		f.files["/terraform/1.9.8/"+name] = artifact(rel, name)
	}
	dir := addWorkspace(t, f)
	e, _, stderr := testEnv(dir)
	tmpl := f.srv.URL + "/terraform/{{trimV .Version}}/terraform_{{trimV .Version}}_{{.OS}}_{{.Arch}}.tar.gz"
	if code := run(context.Background(), e, []string{"ws", "lock", "add", "terraform", "--url", tmpl, "--version", "v1.9.8"}); code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	l, err := lock.Load(filepath.Join(dir, "tools.lock"))
	if err != nil {
		t.Fatal(err)
	}
	if tool := l.Tool("terraform"); tool == nil || tool.URL != tmpl || tool.Extract != "terraform" || len(tool.SHA256) != 2 {
		t.Fatalf("tool %+v", tool)
	}
	if n := f.downloads.Load(); n < 2 {
		t.Fatalf("%d downloads", n)
	}
}
