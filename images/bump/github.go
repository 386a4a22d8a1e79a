package bump

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultGitHubAPI is api.github.com; GitHub Enterprise and tests set their own.
const DefaultGitHubAPI = "https://api.github.com"

// Release is the part of a GitHub release that bumping needs.
type Release struct {
	Tag         string    `json:"tag_name"`
	Draft       bool      `json:"draft"`
	Prerelease  bool      `json:"prerelease"`
	PublishedAt time.Time `json:"published_at"`
	Assets      []Asset   `json:"assets"`
}

// Asset is a release file. Digest is "sha256:HEX" where GitHub computed one
// (assets uploaded since mid-2025), empty otherwise.
type Asset struct {
	Name   string `json:"name"`
	Digest string `json:"digest"`
	// URL is where it downloads from (browser_download_url).
	URL string `json:"browser_download_url"`
}

// GitHub reads releases from the GitHub REST API.
type GitHub struct {
	Client *http.Client
	// BaseURL is the API root, e.g. https://api.github.com or
	// https://ghe.example/api/v3.
	BaseURL string
	// Token is sent as a bearer token when set (GITHUB_TOKEN): it lifts the
	// anonymous rate limit of 60 requests an hour.
	Token string
}

// Releases lists a repository's most recent releases (one page of 100, newest
// first, which holds every release a bump would pick).
func (g *GitHub) Releases(ctx context.Context, repo string) ([]Release, error) {
	var out []Release
	err := g.get(ctx, fmt.Sprintf("/repos/%s/releases?per_page=100", repo), &out)
	return out, err
}

// ReleaseByTag returns one release.
func (g *GitHub) ReleaseByTag(ctx context.Context, repo, tag string) (*Release, error) {
	var out Release
	if err := g.get(ctx, fmt.Sprintf("/repos/%s/releases/tags/%s", repo, url.PathEscape(tag)), &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// APIError is a GitHub answer other than 200.
type APIError struct {
	URL    string
	Status string
	Msg    string
}

func (e *APIError) Error() string {
	if e.Msg != "" {
		return fmt.Sprintf("GitHub API %s: %s (%s)", e.URL, e.Status, e.Msg)
	}
	return fmt.Sprintf("GitHub API %s: %s", e.URL, e.Status)
}

// Hint says what to do about it.
func (e *APIError) Hint() string {
	if strings.HasPrefix(e.Status, "403") || strings.HasPrefix(e.Status, "429") {
		return "set GITHUB_TOKEN to lift GitHub's anonymous rate limit"
	}
	if strings.HasPrefix(e.Status, "404") {
		return "check the tool's source: in tools.lock, and the version passed to --to"
	}
	return "try again later, or pass --to VERSION and check the release page"
}

func (g *GitHub) get(ctx context.Context, path string, v any) error {
	base := strings.TrimRight(g.BaseURL, "/")
	if base == "" {
		base = DefaultGitHubAPI
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	if g.Token != "" {
		req.Header.Set("Authorization", "Bearer "+g.Token)
	}
	client := g.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("GitHub API: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var body struct{ Message string }
		json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&body) //nolint:errcheck // the status says enough without it
		return &APIError{URL: req.URL.String(), Status: resp.Status, Msg: body.Message}
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 32<<20)).Decode(v); err != nil {
		return fmt.Errorf("read GitHub API answer from %s: %w", req.URL, err)
	}
	return nil
}
