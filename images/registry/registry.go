// Package registry asks an OCI/Docker registry what digest a tag points at
// now, and when an image was built: anonymously, or with the Docker CLI's
// login for the registry (basic auth, or a bearer token it fetches with that
// login). It reads manifests and image configs only; it never pulls layers
// or pushes.
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
	"time"

	"github.com/distribution/reference"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

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
	repo := newRepository(client, named, logins)
	resp, err := repo.get(ctx, "manifests/"+tag, manifestTypes)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("resolve %s:%s at %s: HTTP %s", reference.FamiliarName(named), tag, repo.host, resp.Status)
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

// Created is when the image ref (name:tag or name@digest) was built, as its
// config says: for a multi-platform image, the newest of the given
// platforms' images. logins may be nil (anonymous).
func Created(ctx context.Context, client *http.Client, ref string, platforms []ocispecs.Platform, logins *credentials.Store) (time.Time, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return time.Time{}, fmt.Errorf("image reference %q: %w", ref, err)
	}
	target := "latest"
	if d, ok := named.(reference.Digested); ok {
		target = d.Digest().String()
	} else if t, ok := named.(reference.Tagged); ok {
		target = t.Tag()
	}
	repo := newRepository(client, reference.TrimNamed(named), logins)
	var m manifest
	if err := repo.getJSON(ctx, "manifests/"+target, manifestTypes, &m); err != nil {
		return time.Time{}, err
	}
	images := []manifest{m}
	if len(m.Manifests) > 0 {
		images = nil
		for _, want := range platforms {
			for _, d := range m.Manifests {
				if d.Platform.OS == want.OS && d.Platform.Architecture == want.Architecture && d.Platform.Variant == want.Variant {
					var im manifest
					if err := repo.getJSON(ctx, "manifests/"+d.Digest, manifestTypes, &im); err != nil {
						return time.Time{}, err
					}
					images = append(images, im)
				}
			}
		}
		if len(images) == 0 {
			return time.Time{}, fmt.Errorf("%s has no image for %v", ref, platforms)
		}
	}
	var newest time.Time
	for _, im := range images {
		var cfg struct {
			Created time.Time `json:"created"`
		}
		if im.Config.Digest == "" {
			return time.Time{}, fmt.Errorf("%s: a manifest without a config", ref)
		}
		if err := repo.getJSON(ctx, "blobs/"+im.Config.Digest, "*/*", &cfg); err != nil {
			return time.Time{}, err
		}
		if cfg.Created.After(newest) {
			newest = cfg.Created
		}
	}
	if newest.IsZero() {
		return time.Time{}, fmt.Errorf("%s: its config says no build time (created)", ref)
	}
	return newest, nil
}

// manifest is what Created reads of an image manifest or index.
type manifest struct {
	Manifests []struct {
		Digest   string            `json:"digest"`
		Platform ocispecs.Platform `json:"platform"`
	} `json:"manifests"`
	Config struct {
		Digest string `json:"digest"`
	} `json:"config"`
}

// repository is one image repository on its registry; it answers the
// registry's login challenge once and reuses the answer.
type repository struct {
	client    *http.Client
	named     reference.Named
	host      string
	root      string // scheme://host/v2/path
	logins    *credentials.Store
	authorize func(*http.Request)
}

func newRepository(client *http.Client, named reference.Named, logins *credentials.Store) *repository {
	host := reference.Domain(named)
	if host == "docker.io" {
		host = "registry-1.docker.io"
	}
	scheme := "https"
	if isLoopback(host) {
		scheme = "http" // as dockerd does for registries on 127.0.0.0/8
	}
	if logins == nil {
		logins = credentials.Anonymous()
	}
	return &repository{client: client, named: named, host: host, root: fmt.Sprintf("%s://%s/v2/%s", scheme, host, reference.Path(named)), logins: logins}
}

// get asks for what (manifests/REF or blobs/DIGEST), logging in when the
// registry wants it.
func (r *repository) get(ctx context.Context, what, accept string) (*http.Response, error) {
	u := r.root + "/" + what
	resp, err := request(ctx, r.client, u, accept, r.authorize)
	if err != nil || resp.StatusCode != http.StatusUnauthorized || r.authorize != nil {
		if err == nil && r.authorize != nil && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden) {
			resp.Body.Close()
			return nil, &credentials.LoginError{Registry: reference.Domain(r.named), Err: refusal("HTTP " + resp.Status)}
		}
		return resp, err
	}
	challenge := resp.Header.Get("WWW-Authenticate")
	resp.Body.Close()
	login, err := r.logins.For(reference.Domain(r.named))
	if err != nil {
		return nil, err
	}
	authorize, err := authorizer(ctx, r.client, challenge, login)
	if err != nil {
		var ref refusal
		if errors.As(err, &ref) {
			return nil, &credentials.LoginError{Registry: reference.Domain(r.named), Err: ref}
		}
		return nil, fmt.Errorf("authenticate to %s: %w", r.host, err)
	}
	r.authorize = authorize
	return r.get(ctx, what, accept)
}

// getJSON reads what into v.
func (r *repository) getJSON(ctx context.Context, what, accept string, v any) error {
	resp, err := r.get(ctx, what, accept)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s/%s at %s: HTTP %s", reference.FamiliarName(r.named), what, r.host, resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(v); err != nil {
		return fmt.Errorf("%s/%s at %s: %w", reference.FamiliarName(r.named), what, r.host, err)
	}
	return nil
}

func request(ctx context.Context, client *http.Client, u, accept string, authorize func(*http.Request)) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", accept)
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
