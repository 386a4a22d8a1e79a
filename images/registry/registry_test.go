package registry

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ws-tools/ws/images/credentials"
)

// A registry that demands a bearer token, as Docker Hub does.
func TestResolveFollowsBearerChallenge(t *testing.T) {
	t.Parallel()
	const digest = "sha256:" + "ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12"
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/token":
			if r.URL.Query().Get("scope") != "repository:library/debian:pull" {
				t.Errorf("scope %q", r.URL.Query().Get("scope"))
			}
			w.Write([]byte(`{"token":"t0k"}`))
		case r.URL.Path == "/v2/library/debian/manifests/bookworm-slim":
			if r.Header.Get("Authorization") != "Bearer t0k" {
				w.Header().Set("WWW-Authenticate", `Bearer realm="`+srv.URL+`/token",service="reg",scope="repository:library/debian:pull"`)
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			if !strings.HasPrefix(r.Header.Get("Accept"), "application/vnd.oci.image.index.v1+json") {
				t.Errorf("index not asked for first: %q", r.Header.Get("Accept"))
			}
			w.Header().Set("Docker-Content-Digest", digest)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	got, err := Resolve(context.Background(), srv.Client(), host+"/library/debian:bookworm-slim@sha256:"+strings.Repeat("0", 64), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got != digest {
		t.Fatalf("digest %s, want %s", got, digest)
	}
	if _, err := Resolve(context.Background(), srv.Client(), host+"/library/debian:trixie", nil); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("missing tag: %v", err)
	}
}

func TestTagRefNeedsTag(t *testing.T) {
	t.Parallel()
	if _, _, err := TagRef("debian@sha256:" + strings.Repeat("0", 64)); err == nil {
		t.Fatal("a digest-only reference has no tag to follow")
	}
	n, tag, err := TagRef("debian:bookworm-slim@sha256:" + strings.Repeat("0", 64))
	if err != nil || n.String() != "docker.io/library/debian" || tag != "bookworm-slim" {
		t.Fatalf("%v %q %v", n, tag, err)
	}
}

// A registry with htpasswd-style Basic auth, as a team's private one: the
// Docker CLI's login opens it; none, or a wrong one, is a LoginError.
func TestResolveBasicAuthWithDockerLogin(t *testing.T) {
	t.Parallel()
	const digest = "sha256:" + "cd34cd34cd34cd34cd34cd34cd34cd34cd34cd34cd34cd34cd34cd34cd34cd34"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "team" || p != "s3cret-pw" {
			w.Header().Set("WWW-Authenticate", `Basic realm="private"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Docker-Content-Digest", digest)
	}))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	ref := host + "/base/debian:bookworm"
	login := func(pw string) *credentials.Store {
		dir := t.TempDir()
		auth := base64.StdEncoding.EncodeToString([]byte("team:" + pw))
		if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"auths":{"`+host+`":{"auth":"`+auth+`"}}}`), 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := credentials.LoadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	got, err := Resolve(context.Background(), srv.Client(), ref, login("s3cret-pw"))
	if err != nil || got != digest {
		t.Fatalf("with the login: %q, %v", got, err)
	}
	for name, store := range map[string]*credentials.Store{"no login": nil, "wrong password": login("wrong-pw")} {
		_, err := Resolve(context.Background(), srv.Client(), ref, store)
		var le *credentials.LoginError
		if !errors.As(err, &le) || le.Registry != host {
			t.Fatalf("%s: want a LoginError naming %s, got %v", name, host, err)
		}
		if strings.Contains(err.Error(), "pw") {
			t.Fatalf("%s: the error shows the password: %v", name, err)
		}
	}
}

// Created reads a multi-platform image's build time from the configs of the
// asked platforms' images (the newest), behind the same bearer login.
func TestCreatedReadsThePlatformsConfigs(t *testing.T) {
	t.Parallel()
	var srv *httptest.Server
	files := map[string]string{
		"/v2/library/debian/manifests/sha256:" + strings.Repeat("1", 64): `{"manifests":[` +
			`{"digest":"sha256:aa","platform":{"os":"linux","architecture":"amd64"}},` +
			`{"digest":"sha256:bb","platform":{"os":"linux","architecture":"arm64","variant":"v8"}},` +
			`{"digest":"sha256:cc","platform":{"os":"linux","architecture":"s390x"}}]}`,
		"/v2/library/debian/manifests/sha256:aa": `{"config":{"digest":"sha256:ca"}}`,
		"/v2/library/debian/manifests/sha256:bb": `{"config":{"digest":"sha256:cb"}}`,
		"/v2/library/debian/manifests/sha256:cc": `{"config":{"digest":"sha256:cc"}}`,
		"/v2/library/debian/blobs/sha256:ca":     `{"created":"2026-11-10T00:00:00Z"}`,
		"/v2/library/debian/blobs/sha256:cb":     `{"created":"2026-11-11T08:30:00Z"}`,
		"/v2/library/debian/blobs/sha256:cc":     `{"created":"2026-11-20T00:00:00Z"}`,
	}
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/token" {
			w.Write([]byte(`{"token":"t0k"}`))
			return
		}
		if r.Header.Get("Authorization") != "Bearer t0k" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="`+srv.URL+`/token",service="reg"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if body, ok := files[r.URL.Path]; ok {
			w.Write([]byte(body))
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	ref := host + "/library/debian:bookworm@sha256:" + strings.Repeat("1", 64)
	got, err := Created(context.Background(), srv.Client(), ref, []ocispecs.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64", Variant: "v8"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := "2026-11-11T08:30:00Z"; got.Format(time.RFC3339) != want {
		t.Fatalf("created %s, want %s (the newest of amd64 and arm64, not s390x)", got.Format(time.RFC3339), want)
	}
	if _, err := Created(context.Background(), srv.Client(), ref, []ocispecs.Platform{{OS: "linux", Architecture: "riscv64"}}, nil); err == nil || !strings.Contains(err.Error(), "no image for") {
		t.Fatalf("a platform the image lacks: %v", err)
	}
}
