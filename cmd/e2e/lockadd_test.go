//go:build e2e

package e2e

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

// fakeRelease serves one GitHub release of acme/greeter, as GitHub's API
// and download host would: zips only (like tflint), with asset digests.
func fakeRelease(t *testing.T) string {
	t.Helper()
	files := map[string][]byte{}
	var assets []map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch p := r.URL.Path; {
		case strings.HasPrefix(p, "/api/repos/acme/greeter/releases"):
			rel := map[string]any{"tag_name": "v1.0.0", "assets": assets, "published_at": "2026-11-01T00:00:00Z"}
			if strings.HasSuffix(p, "/releases") {
				json.NewEncoder(w).Encode([]any{rel})
			} else {
				json.NewEncoder(w).Encode(rel)
			}
		case files[p] != nil:
			w.Write(files[p])
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	for _, arch := range []string{"amd64", "arm64"} {
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		h := &zip.FileHeader{Name: "greeter", Method: zip.Deflate}
		h.SetMode(0o755)
		wr, _ := zw.CreateHeader(h)
		wr.Write([]byte("#!/bin/sh\necho \"greeter v1.0.0 ($*)\"\n"))
		zw.Close()
		name := "greeter_linux_" + arch + ".zip"
		p := "/acme/greeter/releases/download/v1.0.0/" + name
		files[p] = buf.Bytes()
		sum := sha256.Sum256(buf.Bytes())
		assets = append(assets, map[string]any{"name": name, "browser_download_url": srv.URL + p, "digest": "sha256:" + hex.EncodeToString(sum[:])})
	}
	files["/acme/greeter/releases/download/v1.0.0/checksums.txt"] = []byte("whatever\n")
	assets = append(assets, map[string]any{"name": "checksums.txt", "browser_download_url": srv.URL + "/acme/greeter/releases/download/v1.0.0/checksums.txt"})
	return srv.URL
}

// ws lock add pins a tool from a release, and the next ws exec builds it
// into the image (unzipped by the package stage) and runs it.
func TestLockAddedToolRunsInTheWorkspace(t *testing.T) {
	w := execWorkspace(t)
	api := fakeRelease(t)
	before, _ := os.ReadFile(w.dir + "/tools.lock")
	r := runWs(t, w.dir, "lock", "add", "github:acme/greeter", "--github-api", api+"/api")
	if r.code != 0 || !strings.Contains(r.stderr, "added greeter v1.0.0") {
		t.Fatalf("ws lock add exited %d:\n%s", r.code, r.stderr)
	}
	after, _ := os.ReadFile(w.dir + "/tools.lock")
	if !bytes.HasPrefix(after, before) || !strings.Contains(string(after), "url: '"+api+"/acme/greeter/releases/download/{{.Version}}/greeter_{{.OS}}_{{.Arch}}.zip'") {
		t.Fatalf("tools.lock after add:\n%s", after)
	}
	// The user's own ws lock add keeps their consent, new download host and all.
	r = runWs(t, w.dir, "exec", "--", "greeter", "--version")
	if r.code != 0 || r.stdout != "greeter v1.0.0 (--version)\n" {
		t.Fatalf("exit %d, stdout %q", r.code, r.stdout)
	}
}
