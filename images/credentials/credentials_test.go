package credentials

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeConfig(t *testing.T, body string) *Store {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The header dockerd gets for a pull or push carries the login config.json
// holds for the reference's registry, and nothing for other registries.
func TestHeaderCarriesTheRegistrysLogin(t *testing.T) {
	auth := base64.StdEncoding.EncodeToString([]byte("team:pw1"))
	s := writeConfig(t, `{"auths":{"reg.example:5000":{"auth":"`+auth+`"},"https://index.docker.io/v1/":{"auth":"`+base64.StdEncoding.EncodeToString([]byte("hub:pw2"))+`"}}}`)
	for ref, want := range map[string]string{
		"reg.example:5000/team/ws:abc": "team",
		"alpine:3":                     "hub",
		"docker.io/library/debian:12":  "hub",
		"ghcr.io/other/image:1":        "",
	} {
		h, err := s.Header(ref)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := base64.URLEncoding.DecodeString(h)
		if err != nil {
			t.Fatalf("%s: header %q is not base64url: %v", ref, h, err)
		}
		var got struct{ Username string }
		if err := json.Unmarshal(raw, &got); err != nil {
			t.Fatal(err)
		}
		if got.Username != want {
			t.Errorf("%s: user %q, want %q", ref, got.Username, want)
		}
	}
}

// credHelpers sends a registry to docker-credential-NAME on PATH, as the
// Docker CLI does; a helper that fails is named in the error.
func TestCredentialHelperOnPath(t *testing.T) {
	bin := t.TempDir()
	helper := "#!/bin/sh\nread server\nif [ \"$1\" = get ] && [ \"$server\" = reg.example:5000 ]; then\n" +
		"  echo '{\"ServerURL\":\"reg.example:5000\",\"Username\":\"robot\",\"Secret\":\"helper-pw\"}'\nelse echo 'credentials not found in native keychain'; exit 1; fi\n"
	if err := os.WriteFile(filepath.Join(bin, "docker-credential-wstest"), []byte(helper), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	s := writeConfig(t, `{"credHelpers":{"reg.example:5000":"wstest","broken.example":"absent"}}`)
	l, err := s.For("reg.example:5000")
	if err != nil || l.Username != "robot" || l.Password != "helper-pw" {
		t.Fatalf("login %+v, %v", l, err)
	}
	_, err = s.For("broken.example")
	var he *HelperError
	if !errors.As(err, &he) || he.Helper != "docker-credential-absent" || !strings.Contains(he.Hint(), "docker-credential-absent") {
		t.Fatalf("a missing helper: %v", err)
	}
}

// How dockerd and BuildKit word a refused login, and what is not one.
func TestIsAuthFailure(t *testing.T) {
	for msg, want := range map[string]bool{
		`Head "http://127.0.0.1:5001/v2/ws/manifests/x": no basic auth credentials`: true,
		`unauthorized: authentication required`:                                     true,
		`failed to resolve source metadata for 127.0.0.1:5001/base@sha256:0: unexpected status from HEAD request to http://…: 401 Unauthorized`: true,
		`pull access denied for wsx, repository does not exist or may require 'docker login'`:                                                   true,
		`manifest unknown`:   false,
		`connection refused`: false,
	} {
		if got := IsAuthFailure(errors.New(msg)); got != want {
			t.Errorf("%q: %v, want %v", msg, got, want)
		}
	}
}

// DOCKER_AUTH_CONFIG (CI's way to log in without a file) comes before
// config.json, as in the Docker CLI.
func TestDockerAuthConfigEnvFirst(t *testing.T) {
	t.Setenv("DOCKER_AUTH_CONFIG", `{"auths":{"reg.example:5000":{"auth":"`+base64.StdEncoding.EncodeToString([]byte("ci:env-pw"))+`"}}}`)
	s := writeConfig(t, `{"auths":{"reg.example:5000":{"auth":"`+base64.StdEncoding.EncodeToString([]byte("file:file-pw"))+`"}}}`)
	l, err := s.For("reg.example:5000")
	if err != nil || l.Username != "ci" || l.Password != "env-pw" {
		t.Fatalf("login %+v, %v", l, err)
	}
}
