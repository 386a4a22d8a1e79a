// Package registry asks an OCI/Docker registry what digest a tag points at
// now, anonymously or with a bearer token it fetches itself. It reads
// manifests' digests only; it never pulls or pushes.
package registry

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/distribution/reference"
)

// manifestTypes asks for an index first, so a multi-platform image resolves
// to the digest that serves every platform, as `docker pull` would.
var manifestTypes = strings.Join([]string{
	"application/vnd.oci.image.index.v1+json",
	"application/vnd.docker.distribution.manifest.list.v2+json",
	"application/vnd.oci.image.manifest.v1+json",
	"application/vnd.docker.distribution.manifest.v2+json",
}, ", ")

// TagRef splits a base image reference into its name:tag (dropping any
// digest), for resolving again.
func TagRef(ref string) (named reference.Named, tag string, err error) {
	n, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return nil, "", fmt.Errorf("image reference %q: %w", ref, err)
	}
	t, ok := n.(reference.Tagged)
	if !ok {
		return nil, "", fmt.Errorf("image reference %q has no tag to follow", ref)
	}
	return reference.TrimNamed(n), t.Tag(), nil
}

// Resolve returns the digest ("sha256:…") that ref's tag points at now.
func Resolve(ctx context.Context, client *http.Client, ref string) (string, error) {
	named, tag, err := TagRef(ref)
	if err != nil {
		return "", err
	}
	host := reference.Domain(named)
	if host == "docker.io" {
		host = "registry-1.docker.io"
	}
	scheme := "https"
	if isLoopback(host) {
		scheme = "http" // as dockerd does for registries on 127.0.0.0/8
	}
	u := fmt.Sprintf("%s://%s/v2/%s/manifests/%s", scheme, host, reference.Path(named), tag)
	resp, err := manifestRequest(ctx, client, u, "")
	if err != nil {
		return "", err
	}
	if resp.StatusCode == http.StatusUnauthorized {
		challenge := resp.Header.Get("WWW-Authenticate")
		resp.Body.Close()
		token, err := fetchToken(ctx, client, challenge)
		if err != nil {
			return "", fmt.Errorf("authenticate to %s: %w", host, err)
		}
		if resp, err = manifestRequest(ctx, client, u, token); err != nil {
			return "", err
		}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("resolve %s:%s at %s: HTTP %s", reference.FamiliarName(named), tag, host, resp.Status)
	}
	if d := resp.Header.Get("Docker-Content-Digest"); strings.HasPrefix(d, "sha256:") {
		return d, nil
	}
	// Some registries leave the header out: the digest is the body's hash.
	h := sha256.New()
	if _, err := io.Copy(h, io.LimitReader(resp.Body, 4<<20)); err != nil {
		return "", err
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

func manifestRequest(ctx context.Context, client *http.Client, u, token string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", manifestTypes)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("ask registry: %w", err)
	}
	return resp, nil
}

var challengeParamRe = regexp.MustCompile(`(\w+)="([^"]*)"`)

// fetchToken follows a Bearer challenge anonymously (Docker Hub, GHCR and
// most public registries hand out pull tokens to anyone).
func fetchToken(ctx context.Context, client *http.Client, challenge string) (string, error) {
	if !strings.HasPrefix(strings.ToLower(challenge), "bearer ") {
		return "", fmt.Errorf("registry wants %q authentication, which ws does not do", challenge)
	}
	params := map[string]string{}
	for _, m := range challengeParamRe.FindAllStringSubmatch(challenge, -1) {
		params[m[1]] = m[2]
	}
	realm, err := url.Parse(params["realm"])
	if err != nil || realm.Scheme == "" {
		return "", fmt.Errorf("registry challenge has no usable realm: %q", challenge)
	}
	q := realm.Query()
	for _, k := range []string{"service", "scope"} {
		if params[k] != "" {
			q.Set(k, params[k])
		}
	}
	realm.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, realm.String(), nil)
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("token from %s: HTTP %s", realm.Host, resp.Status)
	}
	var body struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&body); err != nil {
		return "", err
	}
	if body.Token != "" {
		return body.Token, nil
	}
	return body.AccessToken, nil
}

func isLoopback(host string) bool {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
