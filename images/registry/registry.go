// Package registry asks an OCI/Docker registry what digest a tag points at
// now: anonymously, or with the Docker CLI's login for the registry (basic
// auth, or a bearer token it fetches with that login). It reads manifests'
// digests only; it never pulls or pushes.
package registry

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/distribution/reference"

	"github.com/ws-tools/ws/images/credentials"
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
// logins may be nil (anonymous).
func Resolve(ctx context.Context, client *http.Client, ref string, logins *credentials.Store) (string, error) {
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
	resp, err := manifestRequest(ctx, client, u, nil)
	if err != nil {
		return "", err
	}
	if resp.StatusCode == http.StatusUnauthorized {
		challenge := resp.Header.Get("WWW-Authenticate")
		resp.Body.Close()
		if logins == nil {
			logins = credentials.Anonymous()
		}
		login, err := logins.For(reference.Domain(named))
		if err != nil {
			return "", err
		}
		authorize, err := authorizer(ctx, client, challenge, login)
		if err != nil {
			var r refusal
			if errors.As(err, &r) {
				return "", &credentials.LoginError{Registry: reference.Domain(named), Err: r}
			}
			return "", fmt.Errorf("authenticate to %s: %w", host, err)
		}
		if resp, err = manifestRequest(ctx, client, u, authorize); err != nil {
			return "", err
		}
		if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
			resp.Body.Close()
			return "", &credentials.LoginError{Registry: reference.Domain(named), Err: refusal("HTTP " + resp.Status)}
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

func manifestRequest(ctx context.Context, client *http.Client, u string, authorize func(*http.Request)) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", manifestTypes)
	if authorize != nil {
		authorize(req)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("ask registry: %w", err)
	}
	return resp, nil
}

var challengeParamRe = regexp.MustCompile(`(\w+)="([^"]*)"`)

// refusal is a registry that wants a login it was not given or did not
// accept; Resolve makes it a credentials.LoginError.
type refusal string

func (r refusal) Error() string { return string(r) }

// authorizer answers a registry's challenge: Basic with the login, or
// Bearer with a token fetched with the login (anonymously when there is
// none: Docker Hub, GHCR and most public registries hand out pull tokens to
// anyone).
func authorizer(ctx context.Context, client *http.Client, challenge string, login credentials.Login) (func(*http.Request), error) {
	scheme, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(challenge)), " ")
	switch {
	case scheme == "basic":
		if login.Username == "" && login.Password == "" {
			return nil, refusal("it asks for a user name and password, and the Docker CLI has none for it")
		}
		return func(r *http.Request) { r.SetBasicAuth(login.Username, login.Password) }, nil
	case scheme == "bearer" && login.RegistryToken != "":
		return bearer(login.RegistryToken), nil
	case scheme == "bearer":
		token, err := fetchToken(ctx, client, challenge, login)
		if err != nil {
			return nil, err
		}
		return bearer(token), nil
	}
	return nil, fmt.Errorf("registry wants %q authentication, which ws does not do", challenge)
}

func bearer(token string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }
}

// fetchToken follows a Bearer challenge to the token service, with the
// login's user name and password (or its identity token, as an OAuth
// refresh token) when there is one.
func fetchToken(ctx context.Context, client *http.Client, challenge string, login credentials.Login) (string, error) {
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
	var req *http.Request
	if login.IdentityToken != "" {
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {login.IdentityToken}, "client_id": {"ws"}}
		for _, k := range []string{"service", "scope"} {
			if params[k] != "" {
				form.Set(k, params[k])
			}
		}
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, realm.String(), strings.NewReader(form.Encode()))
		if err != nil {
			return "", err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		realm.RawQuery = q.Encode()
		if req, err = http.NewRequestWithContext(ctx, http.MethodGet, realm.String(), nil); err != nil {
			return "", err
		}
		if login.Username != "" || login.Password != "" {
			req.SetBasicAuth(login.Username, login.Password)
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		return "", refusal(fmt.Sprintf("token from %s: HTTP %s", realm.Host, resp.Status))
	}
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
